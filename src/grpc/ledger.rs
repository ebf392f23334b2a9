//! The the delivery ledger: deliveries and their attempts (part of `bucketbus.v1.Admin`).

use tonic::{Request, Response, Status};

use super::pb;
use crate::admin::Admin;

pub async fn list_deliveries(
    _admin: &Admin,
    _request: Request<pb::ListDeliveriesRequest>,
) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
    Err(Status::unimplemented("list_deliveries: not built yet"))
}

pub async fn get_message(
    _admin: &Admin,
    _request: Request<pb::GetMessageRequest>,
) -> Result<Response<pb::MessageRecord>, Status> {
    Err(Status::unimplemented("get_message: not built yet"))
}
