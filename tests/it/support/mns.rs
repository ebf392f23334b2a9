//! An MNS client for tests that signs requests exactly as the official Python SDK does
//! (headers, Content-MD5 as base64 of the hex digest, the HMAC-SHA1 string to sign) and
//! returns status, headers and body raw, so tests can check the protocol byte for byte.

use bucketbus::mns::signature::{SignedParts, content_md5, sign};
use reqwest::header::HeaderMap;

pub const ACCESS_KEY_ID: &str = "AKIDtest";
pub const ACCESS_KEY_SECRET: &str = "0123456789abcdef-test-secret";

/// Config (TOML) giving the broker the test access key.
pub const MNS_CONFIG: &str = r#"
[[mns.access_keys]]
id = "AKIDtest"
secret = "0123456789abcdef-test-secret"
"#;

pub const XMLNS: &str = "http://mns.aliyuncs.com/doc/v1/";

/// A response as received.
#[derive(Debug)]
pub struct MnsResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl MnsResponse {
    /// The text of the first `<name>` element of the body (entities resolved).
    pub fn element(&self, name: &str) -> Option<String> {
        elements(&self.body, name).into_iter().next()
    }

    /// The texts of every `<name>` element of the body, in order.
    pub fn elements(&self, name: &str) -> Vec<String> {
        elements(&self.body, name)
    }

    /// The error code of an `<Error>` body, after checking it has all four children the SDK
    /// requires and that its RequestId is the `x-mns-request-id` header.
    pub fn error_code(&self) -> String {
        assert!(
            self.status >= 400,
            "not an error: {} {}",
            self.status,
            self.body
        );
        for child in ["Code", "Message", "RequestId", "HostId"] {
            assert!(
                self.element(child).is_some(),
                "no <{child}> in {}",
                self.body
            );
        }
        assert_eq!(
            self.element("RequestId").unwrap(),
            self.header("x-mns-request-id").unwrap()
        );
        self.element("Code").unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Element texts by local name (a test helper: flat search, fine for MNS documents).
pub fn elements(body: &str, name: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    let mut depth_inside = 0usize;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(s) => {
                if current.is_some() {
                    depth_inside += 1;
                } else if s.local_name().as_ref() == name.as_bytes() {
                    current = Some(String::new());
                }
            }
            Event::Empty(s) if current.is_none() && s.local_name().as_ref() == name.as_bytes() => {
                out.push(String::new());
            }
            Event::Text(t) => {
                if let Some(text) = current.as_mut() {
                    text.push_str(&t.xml10_content().unwrap());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(text) = current.as_mut() {
                    match r.resolve_char_ref().unwrap() {
                        Some(c) => text.push(c),
                        None => text.push_str(
                            quick_xml::escape::resolve_predefined_entity(&r.decode().unwrap())
                                .unwrap(),
                        ),
                    }
                }
            }
            Event::End(_) if current.is_some() => {
                if depth_inside == 0 {
                    out.push(current.take().unwrap());
                } else {
                    depth_inside -= 1;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// A signing MNS client for one broker address.
#[derive(Clone)]
pub struct MnsClient {
    base: String,
    id: String,
    secret: String,
    http: reqwest::Client,
}

impl MnsClient {
    pub fn new(addr: std::net::SocketAddr) -> MnsClient {
        MnsClient::with_key(addr, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    }

    pub fn with_key(addr: std::net::SocketAddr, id: &str, secret: &str) -> MnsClient {
        MnsClient {
            base: format!("http://{addr}"),
            id: id.into(),
            secret: secret.into(),
            http: reqwest::Client::new(),
        }
    }

    /// A signed request, as the SDK sends it.
    pub async fn call(&self, method: &str, resource: &str, body: Option<&str>) -> MnsResponse {
        self.call_with(method, resource, body, &[], |_| {}).await
    }

    /// A signed request with extra `x-mns-*` (or other) headers, signed over; `tamper` edits
    /// the headers after signing.
    pub async fn call_with(
        &self,
        method: &str,
        resource: &str,
        body: Option<&str>,
        extra: &[(&str, &str)],
        tamper: impl FnOnce(&mut HeaderMap),
    ) -> MnsResponse {
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut headers = HeaderMap::new();
        headers.insert("date", date.parse().unwrap());
        headers.insert("x-mns-version", "2015-06-06".parse().unwrap());
        let (md5, content_type) = match body {
            Some(body) => (content_md5(body.as_bytes()), "text/xml;charset=UTF-8"),
            None => (String::new(), ""),
        };
        if body.is_some() {
            headers.insert("content-md5", md5.parse().unwrap());
            headers.insert("content-type", content_type.parse().unwrap());
        }
        for (name, value) in extra {
            let name: reqwest::header::HeaderName = name.parse().unwrap();
            headers.insert(name, value.parse().unwrap());
        }
        let md5 = headers
            .get("content-md5")
            .map_or(String::new(), |v| v.to_str().unwrap().to_string());
        let mns_headers: Vec<(&str, &str)> = headers
            .iter()
            .filter(|(n, _)| n.as_str().starts_with("x-mns-"))
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        let parts = SignedParts {
            method,
            content_md5: &md5,
            content_type,
            date: &date,
            mns_headers: &mns_headers,
            resource,
        };
        let signature = sign(&self.secret, &parts.string_to_sign());
        headers.insert(
            "authorization",
            format!("MNS {}:{signature}", self.id).parse().unwrap(),
        );
        tamper(&mut headers);
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{resource}", self.base))
            .headers(headers);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.expect("the broker answers");
        MnsResponse {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }
}

/// `<Root xmlns="…">inner</Root>` with the SDK's declaration.
pub fn doc(root: &str, inner: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><{root} xmlns=\"{XMLNS}\">{inner}</{root}>")
}
