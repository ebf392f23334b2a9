//! `bucketbus topic replay`: deliver a topic's retained messages again, as replays.

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use bucketbus::grpc::{pb, timestamp};

#[derive(Subcommand)]
pub enum TopicCommand {
    /// Deliver the topic's retained messages again (marked `x-bucketbus-replay: true`) to its
    /// HTTP endpoints, or to one of them.
    Replay(ReplayArgs),
}

#[derive(Parser)]
pub struct ReplayArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    /// The topic, e.g. photos-thumbnails (`bucketbus rule get` shows a rule's topic).
    topic: String,
    #[command(flatten)]
    from: From,
    /// Replay messages published before this RFC 3339 time (default: now).
    #[arg(long, value_parser = parse_time)]
    to: Option<DateTime<Utc>>,
    /// Replay to this HTTP endpoint only (its URL exactly as in the rule); default: every HTTP
    /// endpoint of the topic.
    #[arg(long)]
    endpoint: Option<String>,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct From {
    /// Replay messages published at or after this RFC 3339 time, e.g. 2026-11-23T13:00:00Z.
    #[arg(long, value_parser = parse_time)]
    from: Option<DateTime<Utc>>,
    /// Replay from this message (included) on.
    #[arg(long)]
    from_message: Option<String>,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-11-23T13:00:00Z ({e})"))
}

pub async fn run(command: TopicCommand) -> anyhow::Result<()> {
    match command {
        TopicCommand::Replay(args) => replay(args).await,
    }
}

async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let from = match (args.from.from, args.from.from_message) {
        (Some(t), _) => pb::replay_topic_request::From::FromTime(timestamp(t)),
        (None, Some(id)) => pb::replay_topic_request::From::FromMessageId(id),
        (None, None) => anyhow::bail!("give --from or --from-message"),
    };
    let request = pb::ReplayTopicRequest {
        topic: args.topic.clone(),
        from: Some(from),
        to_time: args.to.map(timestamp),
        endpoint: args.endpoint.unwrap_or_default(),
    };
    let channel = args.server.connect().await?;
    let done = pb::admin_client::AdminClient::new(channel)
        .replay_topic(request)
        .await
        .map_err(super::status_error)?
        .into_inner();
    println!(
        "replayed {} messages of topic {}: {} deliveries queued",
        done.messages, args.topic, done.deliveries
    );
    Ok(())
}
