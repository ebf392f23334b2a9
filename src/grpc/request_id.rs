//! Request ids for the gRPC and HTTP listeners: a request's `x-request-id` (a new UUID when
//! the client sent none) is answered back in the response metadata and carried by a tracing
//! span around the call, so every log line of one request can be found by its id.

use axum::http::{HeaderName, Request};
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::classify::{GrpcCode, GrpcErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub const HEADER: &str = "x-request-id";

/// The span of one request: its method (path) and request id.
fn span<B>(request: &Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %request.uri().path(), request_id = %id)
}

type Layers = Stack<
    PropagateRequestIdLayer,
    Stack<
        TraceLayer<
            SharedClassifier<GrpcErrorsAsFailures>,
            fn(&Request<tonic::body::Body>) -> tracing::Span,
        >,
        Stack<SetRequestIdLayer<MakeRequestUuid>, Identity>,
    >,
>;

/// Statuses that answer a caller's mistake, not a broker failure: they are not logged as
/// errors (a scanner without a token, or a client sending bad input, must not flood the log).
const CALLER_ERRORS: [GrpcCode; 8] = [
    GrpcCode::Cancelled,
    GrpcCode::InvalidArgument,
    GrpcCode::NotFound,
    GrpcCode::AlreadyExists,
    GrpcCode::PermissionDenied,
    GrpcCode::FailedPrecondition,
    GrpcCode::OutOfRange,
    GrpcCode::Unauthenticated,
];

fn classifier() -> SharedClassifier<GrpcErrorsAsFailures> {
    let classifier = CALLER_ERRORS.into_iter().fold(
        GrpcErrorsAsFailures::new(),
        GrpcErrorsAsFailures::with_success,
    );
    SharedClassifier::new(classifier)
}

/// Sets a missing request id, opens the request's span, and echoes the id in the response.
pub fn layers() -> ServiceBuilder<Layers> {
    let header = HeaderName::from_static(HEADER);
    ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(header.clone(), MakeRequestUuid))
        .layer(TraceLayer::new(classifier()).make_span_with(
            span::<tonic::body::Body> as fn(&Request<tonic::body::Body>) -> tracing::Span,
        ))
        .layer(PropagateRequestIdLayer::new(header))
}
