//! An HTTP/1.1 endpoint that records each request as a plain Python `http.server` endpoint
//! would see it: the request target as sent, and the header names with their case as sent
//! (the official MNS verifier selects `x-mns-*` headers case-sensitively). Answers 201, as the
//! official MNS sample endpoint does.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug)]
pub struct RawRequest {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// Names as sent, values without surrounding whitespace, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    /// The first header named `name`, compared case-insensitively (as Python's
    /// `self.headers[name]`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request's path (the target without its query).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

pub struct RawReceiver {
    pub addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<RawRequest>>>,
    server: tokio::task::JoinHandle<()>,
}

impl RawReceiver {
    pub async fn start() -> RawReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, recorded.clone()));
            }
        });
        RawReceiver {
            addr,
            requests,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RawRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for RawReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves the requests of one (keep-alive) connection until the client closes it.
async fn serve(stream: TcpStream, requests: Arc<Mutex<Vec<RawRequest>>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, target) = (method.to_string(), target.to_string());
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header line");
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let request = RawRequest {
            method,
            target,
            headers,
            body: Vec::new(),
        };
        let length: usize = request
            .header("content-length")
            .map_or(0, |v| v.parse().expect("a numeric Content-Length"));
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        requests
            .lock()
            .unwrap()
            .push(RawRequest { body, ..request });
        let answer = b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n";
        if reader.get_mut().write_all(answer).await.is_err() {
            return;
        }
    }
}
