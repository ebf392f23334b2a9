//! The dead deliveries: list, redrive, purge (part of `bucketbus.v1.Admin`).

use tonic::{Request, Response, Status};

use super::ledger::{deliveries_page, filter};
use super::pb;
use super::status::status;
use crate::admin::Admin;

pub async fn list_dead_letters(
    admin: &Admin,
    request: Request<pb::ListDeadLettersRequest>,
) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
    let r = request.into_inner();
    let filter = filter(r.filter).map_err(status)?;
    let page = admin
        .list_dead_letters(filter, r.page_size, &r.page_token)
        .await
        .map_err(status)?;
    Ok(Response::new(deliveries_page(page)))
}

pub async fn redrive_dead_letters(
    admin: &Admin,
    request: Request<pb::RedriveDeadLettersRequest>,
) -> Result<Response<pb::RedriveDeadLettersResponse>, Status> {
    let r = request.into_inner();
    let filter = filter(r.filter).map_err(status)?;
    let done = admin
        .redrive_dead_letters(filter, r.limit)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::RedriveDeadLettersResponse {
        redriven: done.changed,
        remaining: done.remaining,
    }))
}

pub async fn purge_dead_letters(
    admin: &Admin,
    request: Request<pb::PurgeDeadLettersRequest>,
) -> Result<Response<pb::PurgeDeadLettersResponse>, Status> {
    let r = request.into_inner();
    let filter = filter(r.filter).map_err(status)?;
    let done = admin
        .purge_dead_letters(filter, r.limit)
        .await
        .map_err(status)?;
    Ok(Response::new(pb::PurgeDeadLettersResponse {
        purged: done.changed,
        remaining: done.remaining,
    }))
}
