//! `bucketbus queue create|get|list|set|delete|receive`: manage queues and read what is in them.

use clap::{Args, Parser, Subcommand};

use bucketbus::grpc::pb;

#[derive(Subcommand)]
pub enum QueueCommand {
    /// Create a queue (succeeds without change when it exists with the same attributes).
    Create(NamedAttributesArgs),
    /// Show a queue's attributes and message counts.
    Get(NameArgs),
    /// List queues with their message counts.
    List(ListArgs),
    /// Change the attributes given; the others keep their values.
    Set(NamedAttributesArgs),
    /// Delete a queue and its messages (refused while a rule sends to it).
    Delete(NameArgs),
    /// Receive messages and print them, decoding event messages.
    Receive(super::queue_receive::ReceiveArgs),
    /// List, redrive or purge the queue's dead letters.
    #[command(subcommand)]
    DeadLetters(super::queue_dead_letters::QueueDeadLettersCommand),
}

#[derive(Parser)]
pub struct NamedAttributesArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    /// The queue's name.
    name: String,
    #[command(flatten)]
    attributes: AttributeArgs,
}

/// Queue attributes as flags; an omitted flag takes the default (create) or keeps the value (set).
#[derive(Args)]
struct AttributeArgs {
    /// Seconds a received message stays invisible (1–43 200; default 30).
    #[arg(long, value_name = "S")]
    visibility_timeout: Option<u32>,
    /// Largest body Send accepts, in bytes (1 024 – 65 536; default 65 536).
    #[arg(long, value_name = "B")]
    maximum_message_size: Option<u32>,
    /// Seconds a message is kept (60 – 604 800; default 345 600).
    #[arg(long, value_name = "S")]
    message_retention_period: Option<u32>,
    /// Seconds a new message stays invisible (0 – 604 800; default 0).
    #[arg(long, value_name = "S")]
    delay_seconds: Option<u32>,
    /// Long-poll wait of a Receive that sets none (0–30; default 0).
    #[arg(long, value_name = "S")]
    polling_wait_seconds: Option<u32>,
    /// Receives after which an undeleted message is a dead letter (1–1 000; 0 = never).
    #[arg(long, value_name = "N")]
    max_receive_count: Option<u32>,
    /// Queue that receives dead letters; "" keeps them in this queue.
    #[arg(long, value_name = "Q")]
    dead_letter_queue: Option<String>,
}

impl AttributeArgs {
    fn into_pb(self) -> pb::QueueAttributes {
        pb::QueueAttributes {
            visibility_timeout: self.visibility_timeout,
            maximum_message_size: self.maximum_message_size,
            message_retention_period: self.message_retention_period,
            delay_seconds: self.delay_seconds,
            polling_wait_seconds: self.polling_wait_seconds,
            max_receive_count: self.max_receive_count,
            dead_letter_queue: self.dead_letter_queue,
        }
    }
}

#[derive(Parser)]
pub struct NameArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    /// The queue's name.
    name: String,
}

#[derive(Parser)]
pub struct ListArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    /// Only queues whose name starts with this.
    #[arg(long, default_value = "")]
    prefix: String,
}

pub async fn run(command: QueueCommand) -> anyhow::Result<()> {
    match command {
        QueueCommand::Create(args) => {
            let request = pb::CreateQueueRequest {
                name: args.name.clone(),
                attributes: Some(args.attributes.into_pb()),
            };
            let answer = args
                .server
                .admin()
                .await?
                .create_queue(request)
                .await
                .map_err(super::status_error)?
                .into_inner();
            if answer.created {
                println!("created queue {}", args.name);
            } else {
                println!("queue {} already exists with these attributes", args.name);
            }
            if let Some(queue) = answer.queue {
                print_queue(&queue);
            }
            Ok(())
        }
        QueueCommand::Get(args) => {
            let queue = args
                .server
                .admin()
                .await?
                .get_queue(pb::GetQueueRequest { name: args.name })
                .await
                .map_err(super::status_error)?;
            print_queue(&queue.into_inner());
            Ok(())
        }
        QueueCommand::List(args) => {
            let list = args
                .server
                .admin()
                .await?
                .list_queues(pb::ListQueuesRequest {
                    prefix: args.prefix,
                })
                .await
                .map_err(super::status_error)?;
            print_list(&list.into_inner().queues);
            Ok(())
        }
        QueueCommand::Set(args) => {
            let request = pb::SetQueueAttributesRequest {
                name: args.name,
                attributes: Some(args.attributes.into_pb()),
            };
            let queue = args
                .server
                .admin()
                .await?
                .set_queue_attributes(request)
                .await
                .map_err(super::status_error)?;
            println!("updated");
            print_queue(&queue.into_inner());
            Ok(())
        }
        QueueCommand::Delete(args) => {
            args.server
                .admin()
                .await?
                .delete_queue(pb::DeleteQueueRequest {
                    name: args.name.clone(),
                })
                .await
                .map_err(super::status_error)?;
            println!("deleted queue {}", args.name);
            Ok(())
        }
        QueueCommand::Receive(args) => super::queue_receive::run(args).await,
        QueueCommand::DeadLetters(command) => super::queue_dead_letters::run(command).await,
    }
}

fn print_queue(queue: &pb::QueueInfo) {
    let counts = queue.counts.unwrap_or_default();
    let a = queue.attributes.clone().unwrap_or_default();
    let number =
        |value: Option<u32>, unit: &str| value.map_or("?".into(), |v| format!("{v}{unit}"));
    let rows = [
        ("created", time(queue.created_at.as_ref())),
        ("updated", time(queue.updated_at.as_ref())),
        (
            "messages",
            format!(
                "{} active, {} inflight, {} delayed, {} dead",
                counts.active, counts.inflight, counts.delayed, counts.dead
            ),
        ),
        ("visibility_timeout", number(a.visibility_timeout, " s")),
        (
            "maximum_message_size",
            number(a.maximum_message_size, " bytes"),
        ),
        (
            "message_retention_period",
            number(a.message_retention_period, " s"),
        ),
        ("delay_seconds", number(a.delay_seconds, " s")),
        ("polling_wait_seconds", number(a.polling_wait_seconds, " s")),
        (
            "max_receive_count",
            match a.max_receive_count {
                Some(0) => "0 (never a dead letter)".into(),
                other => number(other, ""),
            },
        ),
        (
            "dead_letter_queue",
            match a.dead_letter_queue.as_deref() {
                None | Some("") => "(none: dead letters stay in this queue)".into(),
                Some(name) => name.to_string(),
            },
        ),
    ];
    println!("queue {}", queue.name);
    for (name, value) in rows {
        println!("  {:<26}{value}", format!("{name}:"));
    }
}

fn print_list(queues: &[pb::QueueInfo]) {
    if queues.is_empty() {
        println!("no queues");
        return;
    }
    println!(
        "{:<32} {:>9} {:>9} {:>9} {:>9}  dead-letter queue",
        "queue", "active", "inflight", "delayed", "dead"
    );
    for queue in queues {
        let counts = queue.counts.unwrap_or_default();
        let dead_letter_queue = queue
            .attributes
            .as_ref()
            .and_then(|a| a.dead_letter_queue.as_deref())
            .unwrap_or("");
        println!(
            "{:<32} {:>9} {:>9} {:>9} {:>9}  {}",
            queue.name,
            counts.active,
            counts.inflight,
            counts.delayed,
            counts.dead,
            if dead_letter_queue.is_empty() {
                "-"
            } else {
                dead_letter_queue
            }
        );
    }
}

/// RFC 3339 UTC with milliseconds, or `?` when the server sent no time.
pub(super) fn time(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .map_or("?".into(), |t| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: QueueCommand,
    }

    fn attributes(args: &[&str]) -> (String, pb::QueueAttributes) {
        let cli = Cli::try_parse_from([&["queue"], args].concat()).unwrap();
        match cli.command {
            QueueCommand::Create(a) | QueueCommand::Set(a) => (a.name, a.attributes.into_pb()),
            _ => panic!("not create or set"),
        }
    }

    #[test]
    fn only_given_attributes_are_set() {
        let (name, a) = attributes(&["set", "jobs", "--visibility-timeout", "60"]);
        assert_eq!(name, "jobs");
        assert_eq!(
            a,
            pb::QueueAttributes {
                visibility_timeout: Some(60),
                ..Default::default()
            }
        );
    }

    #[test]
    fn every_attribute_has_a_flag_and_an_empty_dead_letter_queue_clears_it() {
        let (_, a) = attributes(&[
            "create",
            "jobs",
            "--visibility-timeout=1",
            "--maximum-message-size=2048",
            "--message-retention-period=60",
            "--delay-seconds=3",
            "--polling-wait-seconds=4",
            "--max-receive-count=5",
            "--dead-letter-queue=",
        ]);
        assert_eq!(a.maximum_message_size, Some(2048));
        assert_eq!(a.message_retention_period, Some(60));
        assert_eq!(a.delay_seconds, Some(3));
        assert_eq!(a.polling_wait_seconds, Some(4));
        assert_eq!(a.max_receive_count, Some(5));
        assert_eq!(a.dead_letter_queue.as_deref(), Some(""));
    }

    #[test]
    fn a_name_is_required_and_negative_seconds_are_refused() {
        assert!(Cli::try_parse_from(["queue", "create"]).is_err());
        assert!(Cli::try_parse_from(["queue", "create", "q", "--delay-seconds=-1"]).is_err());
    }

    #[test]
    fn times_print_as_rfc3339_millis() {
        let t = prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_000_000,
        };
        assert_eq!(time(Some(&t)), "2023-11-14T22:13:20.123Z");
        assert_eq!(time(None), "?");
    }
}
