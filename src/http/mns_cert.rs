//! `GET /mns-cert/<key-id>.pem`: the certificate receivers verify MNS push signatures with
//! (mns.md §9.4), served when pushes are signed. It holds no secret, so it needs no token.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::delivery::mns_keys::Certificate;

/// The route serving `certificate`, or none (every path 404) when pushes are not signed.
pub fn routes(certificate: Option<Certificate>) -> Router {
    match certificate {
        Some(certificate) => Router::new()
            .route("/mns-cert/{file}", get(serve))
            .with_state(Arc::new(certificate)),
        None => Router::new(),
    }
}

/// The PEM text: one CERTIFICATE block and nothing else. Another key id is 404.
async fn serve(State(certificate): State<Arc<Certificate>>, Path(file): Path<String>) -> Response {
    if file.strip_suffix(".pem") != Some(certificate.key_id.as_str()) {
        return (StatusCode::NOT_FOUND, "no such certificate\n").into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/x-pem-file"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        certificate.pem.clone(),
    )
        .into_response()
}
