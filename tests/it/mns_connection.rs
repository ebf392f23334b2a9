//! The MNS API on keep-alive connections, byte for byte over raw TCP: a request answered with
//! its body unread (refused before the body is read, or an unknown route) is answered with
//! `connection: close`, so a keep-alive client such as the Python SDK reconnects instead of
//! writing its next request into a connection the broker drops (it used to get
//! `NetWorkException: Broken pipe`); a request whose body was read keeps the connection.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use bucketbus::mns::signature::{SignedParts, content_md5, sign};

use crate::support::fresh_broker;
use crate::support::mns::{ACCESS_KEY_ID, ACCESS_KEY_SECRET, MNS_CONFIG, doc};

/// A response head and body as read off the connection.
struct Raw {
    head: String,
    body: String,
}

impl Raw {
    fn status(&self) -> u16 {
        self.head[9..12].parse().unwrap()
    }

    /// A header's value (names compared case-insensitively).
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads one response (head, then `Content-Length` bytes of body).
async fn read_response(stream: &mut TcpStream) -> Raw {
    let mut bytes = Vec::new();
    let end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed before a response: {bytes:?}");
        bytes.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
    let mut raw = Raw {
        head,
        body: String::new(),
    };
    let length: usize = raw
        .header("content-length")
        .map_or(0, |v| v.parse().unwrap());
    let mut body = bytes[end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed inside a body");
        body.extend_from_slice(&chunk[..n]);
    }
    raw.body = String::from_utf8(body).unwrap();
    raw
}

/// A request head signed with the test key, as the SDK signs it.
fn signed_head(method: &str, resource: &str, body: &str, host: &str) -> String {
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let md5 = content_md5(body.as_bytes());
    let content_type = "text/xml;charset=UTF-8";
    let parts = SignedParts {
        method,
        content_md5: &md5,
        content_type,
        date: &date,
        mns_headers: &[("x-mns-version", "2015-06-06")],
        resource,
    };
    let signature = sign(ACCESS_KEY_SECRET, &parts.string_to_sign());
    format!(
        "{method} {resource} HTTP/1.1\r\nhost: {host}\r\nconnection: keep-alive\r\n\
         content-length: {}\r\ncontent-md5: {md5}\r\ncontent-type: {content_type}\r\n\
         date: {date}\r\nx-mns-version: 2015-06-06\r\n\
         authorization: MNS {ACCESS_KEY_ID}:{signature}\r\n\r\n",
        body.len()
    )
}

#[tokio::test]
async fn an_answer_that_leaves_the_body_unread_closes_the_connection() {
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let addr = broker.mns_addr();
    let body = doc("Message", "<MessageBody>aGVsbG8=</MessageBody>");
    // The head and the first half of the body: the broker answers without waiting for the
    // rest, which it will never read.
    let cases = [
        (
            "no signature",
            format!(
                "POST /queues/q1/messages HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n\
                 content-type: text/xml;charset=UTF-8\r\n\r\n",
                body.len()
            ),
            "MissingAuthorizationHeader",
        ),
        (
            "unknown route",
            signed_head("PUT", "/no-such-route", &body, &addr.to_string()),
            "InvalidRequestURL",
        ),
    ];
    for (case, head, code) in cases {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream
            .write_all(&body.as_bytes()[..body.len() / 2])
            .await
            .unwrap();
        let answer = read_response(&mut stream).await;
        assert_eq!(answer.status(), 400, "{case}: {}", answer.body);
        assert!(
            answer.body.contains(&format!("<Code>{code}</Code>")),
            "{case}"
        );
        assert_eq!(answer.header("connection"), Some("close"), "{case}");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert!(
            rest.is_empty(),
            "{case}: nothing after the answer: {rest:?}"
        );
    }
}

#[tokio::test]
async fn an_error_after_the_body_was_read_keeps_the_connection() {
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let addr = broker.mns_addr();
    let body = doc("Message", "<MessageBody>aGVsbG8=</MessageBody>");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for _ in 0..2 {
        let head = signed_head("POST", "/queues/missing/messages", &body, &addr.to_string());
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        let answer = read_response(&mut stream).await;
        assert_eq!(answer.status(), 404, "{}", answer.body);
        assert!(answer.body.contains("<Code>QueueNotExist</Code>"));
        assert_eq!(answer.header("connection"), None, "{}", answer.head);
    }
}
