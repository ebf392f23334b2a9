//! What every MNS route shares: the authenticated request (signature checked before the body
//! is read, then Content-MD5 checked against the body), and the response envelope that gives
//! every answer its `x-mns-request-id` / `x-mns-version` headers and every error its `<Error>`
//! body.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::Utc;

use super::MnsState;
use super::auth::API_VERSION;
use super::error::MnsError;
use super::query::Query;
use super::xml::{self, Element, Writer};

/// The largest request body: a batch of 16 messages of 64 KiB each, XML-escaped.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

pub const XML_CONTENT_TYPE: &str = "text/xml;charset=utf-8";

/// A request whose signature checked out.
#[derive(Debug)]
pub struct MnsRequest {
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `http://host[:port]` as the client addressed the broker, for Location and URLs.
    pub base_url: String,
}

impl MnsRequest {
    /// The body's root element, which must be `root`.
    pub fn xml(&self, root: &str) -> Result<Element, MnsError> {
        let element = self.xml_any()?;
        if element.name != root {
            return Err(MnsError::schema(
                root,
                format!(
                    "the document's root is <{}>, expected <{root}>",
                    element.name
                ),
            ));
        }
        Ok(element)
    }

    /// The body's root element, whatever it is; an empty body is an empty `<root/>`-less error.
    pub fn xml_any(&self) -> Result<Element, MnsError> {
        if self.body.is_empty() {
            return Err(MnsError::malformed_xml("the request has no body"));
        }
        xml::parse(&self.body)
    }

    /// A request header (list calls' `x-mns-prefix` etc.).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Set once the request's body has been read to its end. A request answered with its body
/// unread (a signature refused before the body is read, an unknown route) must not leave the
/// connection open: the unread bytes would arrive as the next request, or, as hyper does,
/// the connection is dropped under a keep-alive client (the Python SDK's next call then fails
/// with `NetWorkException: Broken pipe`). [`envelope`] answers those with `connection: close`.
#[derive(Clone, Default)]
struct BodyRead(Arc<AtomicBool>);

impl FromRequest<MnsState> for MnsRequest {
    type Rejection = MnsError;

    async fn from_request(request: Request, state: &MnsState) -> Result<Self, MnsError> {
        let (parts, body) = request.into_parts();
        state
            .verifier
            .verify(&parts.method, &parts.uri, &parts.headers, Utc::now())?;
        let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| {
                MnsError::invalid_argument(format!(
                    "The request body is too large or was cut off (at most {MAX_BODY_BYTES} bytes)."
                ))
            })?;
        if let Some(read) = parts.extensions.get::<BodyRead>() {
            read.0.store(true, Ordering::Release);
        }
        if let Some(md5) = parts.headers.get("content-md5") {
            check_content_md5(md5.as_bytes(), &body)?;
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost");
        Ok(MnsRequest {
            query: Query::parse(parts.uri.query()),
            base_url: format!("{}://{host}", state.scheme),
            headers: parts.headers,
            body,
        })
    }
}

/// The SDKs send base64 of the hex digest; RFC 1864 says base64 of the raw digest: both are
/// accepted, anything else is `InvalidDegist` (sic, the service's code).
fn check_content_md5(value: &[u8], body: &[u8]) -> Result<(), MnsError> {
    use md5::{Digest as _, Md5};
    let digest = Md5::digest(body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap_or_default();
    if decoded.eq_ignore_ascii_case(hex.as_bytes()) || decoded == digest.as_slice() {
        Ok(())
    } else {
        Err(MnsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidDegist",
            "The Content-MD5 you specified is invalid: it does not match the body.",
        ))
    }
}

/// The answer to CreateQueue, CreateTopic and Subscribe: `201` when `created`, `204` when it
/// already existed alike; `Location` (the resource's URL under the request's base URL) either
/// way, since the SDKs read it unconditionally.
pub fn created_at(request: &MnsRequest, created: bool, path: &str) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    };
    let location = format!("{}{path}", request.base_url);
    (status, [(header::LOCATION, location)]).into_response()
}

/// A 201/200 answer with an XML body.
pub fn xml_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, XML_CONTENT_TYPE)], body).into_response()
}

/// Adds the MNS headers to every answer and renders errors (also axum's own rejections, so a
/// client never gets a body its SDK cannot parse); closes the connection after answering a
/// request whose body was left unread (see [`BodyRead`]).
pub async fn envelope(mut request: Request, next: Next) -> Response {
    let body_read = BodyRead::default();
    let has_body = declares_body(request.headers());
    request.extensions_mut().insert(body_read.clone());
    let request_id = crate::format::mns_signing::new_request_id();
    let host_id = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| "bucketbus".to_string(), |h| format!("http://{h}"));
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let mut response = next.run(request).await;
    let error = response.extensions_mut().remove::<MnsError>().or_else(|| {
        let status = response.status();
        let xml = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/xml"));
        (status.is_client_error() || status.is_server_error())
            .then_some(())
            .filter(|()| !xml)
            .map(|()| match status {
                StatusCode::PAYLOAD_TOO_LARGE => MnsError::invalid_argument(format!(
                    "The request body is too large (at most {MAX_BODY_BYTES} bytes)."
                )),
                s if s.is_client_error() => MnsError::invalid_request_url(method.as_str(), &path),
                _ => MnsError::internal(&format!("{method} {path} answered {status}"), false),
            })
    });
    if let Some(error) = error {
        if error.status.is_server_error() {
            tracing::warn!(%method, %path, code = error.code, request_id, "MNS request failed.");
        } else {
            tracing::debug!(%method, %path, code = error.code, message = %error.message, request_id, "MNS request refused.");
        }
        let mut body = Writer::new("Error");
        body.text("Code", error.code)
            .text("Message", &error.message)
            .text("RequestId", &request_id)
            .text("HostId", &host_id);
        response = xml_response(error.status, body.finish());
    }
    let headers = response.headers_mut();
    headers.insert(
        "x-mns-request-id",
        HeaderValue::from_str(&request_id).expect("hex is a valid header value"),
    );
    headers.insert("x-mns-version", HeaderValue::from_static(API_VERSION));
    if has_body && !body_read.0.load(Ordering::Acquire) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Whether a request comes with a body (`Content-Length` above 0, or chunked).
fn declares_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_md5_in_the_sdk_and_the_rfc_forms_is_accepted() {
        let body = br#"<?xml version="1.0" encoding="utf-8"?><Queue xmlns="http://mns.aliyuncs.com/doc/v1/"></Queue>"#;
        assert!(check_content_md5(b"MGUxNDBjOGJhYjI1ZWUyOTcyN2NmMDQ5NmEzMDIyNTM=", body).is_ok());
        assert!(check_content_md5(b"DhQMi6sl7ilyfPBJajAiUw==", body).is_ok());
        let err = check_content_md5(b"MGUxNDBjOGJhYjI1ZWUyOTcyN2NmMDQ5NmEzMDIyNTM=", b"other")
            .unwrap_err();
        assert_eq!(err.code, "InvalidDegist");
        assert!(check_content_md5(b"not base64!", body).is_err());
    }
}
