//! The MNS-compatible REST API (version 2015-06-06), so consumer code written against the
//! official MNS/SMQ SDKs works against bucketbus unchanged: routes as the SDKs send them,
//! HMAC-SHA1 request signatures, XML bodies and the service's error codes, all mapped onto
//! bucketbus's own queues, topics and subscriptions (the use cases in `admin` and `queue`).

mod auth;
mod error;
mod list;
mod messages;
mod query;
mod queues;
mod request;
pub mod signature;
mod subscriptions;
mod topics;
mod xml;

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};

pub use auth::{API_VERSION, Verifier};
pub use error::MnsError;

use crate::admin::Admin;
use crate::queue::Queues;
use crate::topics::Publisher;

/// What the routes need.
#[derive(Clone)]
pub struct MnsState {
    verifier: Arc<Verifier>,
    admin: Admin,
    queues: Queues,
    /// PublishMessage; also the account the topic documents name.
    publisher: Publisher,
    /// `http` or `https`, for the URLs the API hands out.
    scheme: &'static str,
}

impl MnsState {
    pub fn new(
        verifier: Verifier,
        admin: Admin,
        queues: Queues,
        publisher: Publisher,
        tls: bool,
    ) -> MnsState {
        MnsState {
            verifier: Arc::new(verifier),
            admin,
            queues,
            publisher,
            scheme: if tls { "https" } else { "http" },
        }
    }
}

/// Every MNS route; anything else is `InvalidRequestURL`.
pub fn router(state: MnsState) -> Router {
    Router::new()
        .route("/", get(account).fallback(unknown))
        .route("/queues", get(queues::list).fallback(unknown))
        .route(
            "/queues/{queue}",
            get(queues::get)
                .put(queues::put)
                .delete(queues::delete)
                .fallback(unknown),
        )
        .route(
            "/queues/{queue}/messages",
            get(messages::receive)
                .post(messages::send)
                .delete(messages::delete)
                .put(messages::change_visibility)
                .fallback(unknown),
        )
        .route("/topics", get(topics::list).fallback(unknown))
        .route(
            "/topics/{topic}",
            get(topics::get)
                .put(topics::put)
                .delete(topics::delete)
                .fallback(unknown),
        )
        .route(
            "/topics/{topic}/messages",
            post(topics::publish).fallback(unknown),
        )
        .route(
            "/topics/{topic}/subscriptions",
            get(subscriptions::list).fallback(unknown),
        )
        .route(
            "/topics/{topic}/subscriptions/{subscription}",
            get(subscriptions::get)
                .put(subscriptions::put)
                .delete(subscriptions::delete)
                .fallback(unknown),
        )
        .fallback(unknown)
        .layer(axum::middleware::from_fn(request::envelope))
        .with_state(state)
}

/// `GET /?accountmeta=true`: GetAccountAttributes. bucketbus ships no MNS access logs, so the
/// logging bucket is always empty.
async fn account(
    axum::extract::State(_state): axum::extract::State<MnsState>,
    request: request::MnsRequest,
) -> Result<Response, MnsError> {
    if !request.query.flag("accountmeta") {
        return Err(MnsError::invalid_request_url("GET", "/"));
    }
    let mut w = xml::Writer::new("Account");
    w.text("LoggingBucket", "");
    Ok(request::xml_response(StatusCode::OK, w.finish()))
}

async fn unknown(method: Method, uri: Uri) -> MnsError {
    MnsError::invalid_request_url(method.as_str(), uri.path())
}
