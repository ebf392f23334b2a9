//! `bucketbus.v1.Ingest`: storage nodes publish records, one by one or on a stream.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::codec::DECODE_ERROR_VAR;
use super::convert::{publish_response, record_input};
use super::pb;
use super::status::{code_name, status};
use crate::error::Invalid;
use crate::ingest::{Error, Ingest, event_status_failed};

pub struct IngestService {
    ingest: Ingest,
}

impl IngestService {
    pub fn new(ingest: Ingest) -> IngestService {
        IngestService { ingest }
    }
}

async fn publish_one(
    ingest: &Ingest,
    request: pb::PublishRequest,
) -> Result<pb::PublishResponse, (u64, Error)> {
    let Some(record) = request.record else {
        return Err((
            0,
            Error::Invalid(crate::error::Invalid::new("record", "is required")),
        ));
    };
    let sequence = record.sequence;
    if let Some(field) = record.x_vars.get(DECODE_ERROR_VAR) {
        let invalid = Invalid::new(field.as_str(), "must be valid UTF-8").under("record");
        return Err((sequence, Error::Invalid(invalid)));
    }
    match ingest.publish(record_input(record)).await {
        Ok(published) => Ok(publish_response(sequence, published)),
        Err(e) => Err((sequence, e)),
    }
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<pb::PublishResponse, Status>> + Send>>;

/// How many records of one stream are in flight at once (their commits are shared).
const STREAM_WINDOW: usize = 256;

#[tonic::async_trait]
impl pb::ingest_server::Ingest for IngestService {
    async fn publish(
        &self,
        request: Request<pb::PublishRequest>,
    ) -> Result<Response<pb::PublishResponse>, Status> {
        publish_one(&self.ingest, request.into_inner())
            .await
            .map(Response::new)
            .map_err(|(_, e)| status(e))
    }

    type PublishStreamStream = ResponseStream;

    async fn publish_stream(
        &self,
        request: Request<Streaming<pb::PublishRequest>>,
    ) -> Result<Response<Self::PublishStreamStream>, Status> {
        let ingest = self.ingest.clone();
        // Records are processed concurrently (so one commit carries many of them) but answered
        // in the order they came.
        let responses = request
            .into_inner()
            .map(move |item| {
                let ingest = ingest.clone();
                async move {
                    let request = item?;
                    Ok(match publish_one(&ingest, request).await {
                        Ok(response) => response,
                        Err((sequence, error)) => error_response(sequence, error),
                    })
                }
            })
            .buffered(STREAM_WINDOW);
        Ok(Response::new(Box::pin(responses)))
    }
}

fn error_response(sequence: u64, error: Error) -> pb::PublishResponse {
    let not_persisted = matches!(error, Error::Unavailable(_));
    let status = status(error);
    pb::PublishResponse {
        sequence,
        event_status: if not_persisted {
            event_status_failed(status.message())
        } else {
            String::new()
        },
        matched: Vec::new(),
        duplicate: false,
        error: Some(pb::PublishError {
            code: code_name(status.code()).to_string(),
            message: status.message().to_string(),
        }),
    }
}
