//! `bucketbus queue dead-letters list|redrive|purge QUEUE`: a queue's dead letters (messages
//! received max_receive_count times without being deleted); redrive and purge loop until none
//! is left.

use clap::{Parser, Subcommand};

use bucketbus::grpc::pb;

use super::bulk::until_done;
use super::dead_letters::plural;
use super::ledger_view::{print_table, shorten, table};
use super::queue::time;

#[derive(Subcommand)]
pub enum QueueDeadLettersCommand {
    /// List the queue's dead letters, newest first.
    List(ListArgs),
    /// Make the queue's dead letters receivable again (dequeue count reset).
    Redrive(RedriveArgs),
    /// Delete the queue's dead letters.
    Purge(PurgeArgs),
}

#[derive(Parser)]
pub struct ListArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    /// The queue's name.
    queue: String,
    /// Show at most this many.
    #[arg(long, default_value_t = 50, value_name = "N")]
    limit: u32,
}

#[derive(Parser)]
pub struct RedriveArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    /// The queue's name.
    queue: String,
    /// Also send the messages this queue received as a dead-letter queue back to the queues
    /// they came from.
    #[arg(long)]
    from_dead_letter_queue: bool,
    /// Messages changed per call (1–10 000).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    limit_per_call: u32,
}

#[derive(Parser)]
pub struct PurgeArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    /// The queue's name.
    queue: String,
    /// Messages deleted per call (1–10 000).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    limit_per_call: u32,
}

pub async fn run(command: QueueDeadLettersCommand) -> anyhow::Result<()> {
    match command {
        QueueDeadLettersCommand::List(args) => {
            let mut client = args.server.admin().await?;
            let (mut found, mut token) = (Vec::new(), String::new());
            while found.len() < args.limit as usize {
                let request = pb::ListQueueDeadLettersRequest {
                    queue: args.queue.clone(),
                    page_size: (args.limit as usize - found.len()).min(1000) as u32,
                    page_token: token,
                };
                let page = client
                    .list_queue_dead_letters(request)
                    .await
                    .map_err(super::status_error)?
                    .into_inner();
                found.extend(page.messages);
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            print_messages(&args.queue, &found);
            Ok(())
        }
        QueueDeadLettersCommand::Redrive(args) => {
            let client = args.server.admin().await?;
            let redriven = until_done("redriven", || {
                let request = pb::RedriveQueueDeadLettersRequest {
                    queue: args.queue.clone(),
                    limit: args.limit_per_call,
                    from_dead_letter_queue: args.from_dead_letter_queue,
                };
                let mut client = client.clone();
                async move {
                    let r = client
                        .redrive_queue_dead_letters(request)
                        .await
                        .map_err(super::status_error)?
                        .into_inner();
                    Ok((r.redriven, r.remaining))
                }
            })
            .await?;
            println!(
                "redriven {redriven} message{} of queue {}",
                plural(redriven),
                args.queue
            );
            Ok(())
        }
        QueueDeadLettersCommand::Purge(args) => {
            let client = args.server.admin().await?;
            let purged = until_done("purged", || {
                let request = pb::PurgeQueueDeadLettersRequest {
                    queue: args.queue.clone(),
                    limit: args.limit_per_call,
                };
                let mut client = client.clone();
                async move {
                    let r = client
                        .purge_queue_dead_letters(request)
                        .await
                        .map_err(super::status_error)?
                        .into_inner();
                    Ok((r.purged, r.remaining))
                }
            })
            .await?;
            println!(
                "purged {purged} dead letter{} of queue {}",
                plural(purged),
                args.queue
            );
            Ok(())
        }
    }
}

fn print_messages(queue: &str, messages: &[pb::QueueMessage]) {
    if messages.is_empty() {
        println!("queue {queue} has no dead letters");
        return;
    }
    let mut t = table(&["MESSAGE", "RECEIVED", "ENQUEUED", "FIRST RECEIVED", "BODY"]);
    for m in messages {
        t.add_row(vec![
            m.message_id.clone(),
            m.dequeue_count.to_string(),
            time(m.enqueue_time.as_ref()),
            time(m.first_dequeue_time.as_ref()),
            shorten(&m.body, 60),
        ]);
    }
    print_table(t);
}
