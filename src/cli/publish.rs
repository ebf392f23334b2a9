//! `bucketbus publish`: send one record as a storage node would and print the decoded event
//! status and the messages it became.

use std::collections::HashMap;

use base64::Engine as _;
use clap::Parser;

use bucketbus::grpc::pb;

#[derive(Parser)]
pub struct PublishArgs {
    /// The daemon's gRPC address.
    #[command(flatten)]
    server: super::ServerArgs,
    #[arg(long)]
    bucket: String,
    #[arg(long)]
    key: String,
    /// e.g. ObjectCreated:PutObject or s3:ObjectCreated:Put
    #[arg(long, default_value = "ObjectCreated:PutObject")]
    event: String,
    #[arg(long, default_value_t = 0)]
    size: i64,
    /// Defaults to --size.
    #[arg(long)]
    delta_size: Option<i64>,
    #[arg(long, default_value = "")]
    etag: String,
    #[arg(long, default_value = "")]
    region: String,
    #[arg(long, default_value = "")]
    owner_id: String,
    #[arg(long, default_value = "")]
    principal_id: String,
    #[arg(long, default_value = "")]
    source_ip: String,
    #[arg(long, default_value = "")]
    request_id: String,
    /// RFC 3339; empty means now.
    #[arg(long, default_value = "")]
    event_time: String,
    #[arg(long, default_value = "")]
    version_id: String,
    #[arg(long)]
    delete_marker: bool,
    #[arg(long)]
    position: Option<i64>,
    #[arg(long)]
    read_from: Option<i64>,
    #[arg(long)]
    read_to: Option<i64>,
    /// Idempotency key; a resend with the same id creates no second message.
    #[arg(long, default_value = "")]
    record_id: String,
    /// Custom callback variable, NAME=VALUE (repeatable).
    #[arg(long = "x-var", value_parser = parse_pair)]
    x_vars: Vec<(String, String)>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

pub async fn run(args: PublishArgs) -> anyhow::Result<()> {
    let channel = args.server.connect().await?;
    let mut client = pb::ingest_client::IngestClient::new(channel);
    let record = pb::OperationRecord {
        bucket: args.bucket,
        key: args.key,
        event_name: args.event,
        event_time: args.event_time,
        region: args.region,
        owner_id: args.owner_id,
        principal_id: args.principal_id,
        source_ip: args.source_ip,
        request_id: args.request_id,
        size: args.size,
        delta_size: args.delta_size.unwrap_or(args.size),
        etag: args.etag,
        position: args.position,
        read_from: args.read_from,
        read_to: args.read_to,
        version_id: args.version_id,
        delete_marker: args.delete_marker,
        x_vars: args.x_vars.into_iter().collect::<HashMap<_, _>>(),
        record_id: args.record_id,
        sequence: 1,
    };
    let response = client
        .publish(pb::PublishRequest {
            record: Some(record),
        })
        .await
        .map_err(super::status_error)?
        .into_inner();
    if response.event_status.is_empty() {
        println!("x-oss-event-status: (none: no rule matched)");
    } else {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&response.event_status)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|_| "<not base64>".into());
        println!("x-oss-event-status: {} ({decoded})", response.event_status);
    }
    if response.duplicate {
        println!("duplicate: this record_id was seen before; original result below");
    }
    for m in response.matched {
        println!(
            "matched rule {:?} -> topic {:?}, message {}",
            m.rule, m.topic, m.message_id
        );
    }
    Ok(())
}
