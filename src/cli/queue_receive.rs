//! `bucketbus queue receive`: long-polls a queue and prints each message, event messages
//! decoded; optionally deletes what it printed and keeps polling until Ctrl-C.

use clap::Parser;

use bucketbus::grpc::pb;
use bucketbus::model::queue::{MAX_BATCH, MAX_VISIBILITY_TIMEOUT, MAX_WAIT_SECONDS};

use super::event_view;

#[derive(Parser)]
pub struct ReceiveArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    /// The queue's name.
    name: String,
    /// Seconds to wait for a message when the queue is empty (0–30).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_WAIT_SECONDS)))]
    wait: u32,
    /// Messages per receive (1–32).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BATCH)))]
    max: u32,
    /// Seconds the received messages stay invisible (default: the queue's visibility_timeout).
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_VISIBILITY_TIMEOUT)))]
    visibility_timeout: Option<u32>,
    /// Delete each received batch after printing it.
    #[arg(long)]
    delete: bool,
    /// Keep receiving until Ctrl-C (otherwise receive once).
    #[arg(long)]
    follow: bool,
}

type QueueClient = pb::queue_client::QueueClient<super::Channel>;

pub async fn run(args: ReceiveArgs) -> anyhow::Result<()> {
    let mut client = pb::queue_client::QueueClient::new(args.server.connect().await?);
    if !args.follow {
        let received = receive_batch(&mut client, &args).await?;
        if received == 0 {
            println!("no messages (waited {} s)", args.wait);
        }
        return Ok(());
    }
    let receive_until_failure = async {
        loop {
            receive_batch(&mut client, &args).await?;
        }
    };
    tokio::select! {
        result = receive_until_failure => result,
        () = super::signal::shutdown() => Ok(()),
    }
}

/// One Receive call: prints the messages, deletes them with `--delete`; returns how many.
async fn receive_batch(client: &mut QueueClient, args: &ReceiveArgs) -> anyhow::Result<usize> {
    let request = pb::ReceiveRequest {
        queue: args.name.clone(),
        max_messages: args.max,
        wait_seconds: Some(args.wait),
        visibility_timeout_seconds: args.visibility_timeout.unwrap_or(0),
    };
    let messages = client
        .receive(request)
        .await
        .map_err(super::status_error)?
        .into_inner()
        .messages;
    for message in &messages {
        print_message(message);
    }
    if args.delete && !messages.is_empty() {
        let handles = messages.iter().map(|m| m.receipt_handle.clone()).collect();
        delete(client, &args.name, handles).await?;
    }
    Ok(messages.len())
}

fn print_message(message: &pb::QueueMessage) {
    println!(
        "message {}  (received {} time{}, enqueued {})",
        message.message_id,
        message.dequeue_count,
        if message.dequeue_count == 1 { "" } else { "s" },
        super::queue::time(message.enqueue_time.as_ref()),
    );
    println!("  receipt handle: {}", message.receipt_handle);
    match event_view::decode(&message.body) {
        Some(view) => {
            println!("  {}:", view.describe());
            for event in view.summaries() {
                println!("    {} {}/{}", event.event_name, event.bucket, event.key);
            }
            for line in format!("{:#}", view.json).lines() {
                println!("  {line}");
            }
        }
        None => println!("  body: {}", message.body),
    }
}

async fn delete(client: &mut QueueClient, queue: &str, handles: Vec<String>) -> anyhow::Result<()> {
    let asked = handles.len();
    let answer = client
        .delete(pb::DeleteRequest {
            queue: queue.to_string(),
            receipt_handles: handles,
        })
        .await
        .map_err(super::status_error)?
        .into_inner();
    println!("deleted {} of {asked}", answer.deleted);
    for error in answer.errors {
        let kind = pb::ReceiptHandleErrorKind::try_from(error.kind)
            .map(|k| k.as_str_name())
            .unwrap_or("?");
        println!(
            "  not deleted: handle #{} {}: {kind}: {}",
            error.index, error.receipt_handle, error.message
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn parse(args: &[&str]) -> Result<ReceiveArgs, clap::Error> {
        ReceiveArgs::try_parse_from([&["receive"], args].concat())
    }

    #[test]
    fn defaults_long_poll_20_s_for_10_messages_once() {
        let args = parse(&["jobs"]).unwrap();
        assert_eq!((args.name.as_str(), args.wait, args.max), ("jobs", 20, 10));
        assert_eq!(args.visibility_timeout, None);
        assert!(!args.delete && !args.follow);
    }

    #[test]
    fn limits_are_checked_before_calling_the_server() {
        assert!(parse(&["jobs", "--max", "33"]).is_err());
        assert!(parse(&["jobs", "--max", "0"]).is_err());
        assert!(parse(&["jobs", "--wait", "31"]).is_err());
        assert!(parse(&["jobs", "--visibility-timeout", "0"]).is_err());
        let args = parse(&["jobs", "--max=32", "--wait=0", "--delete", "--follow"]).unwrap();
        assert!(args.delete && args.follow && args.max == 32 && args.wait == 0);
    }
}
