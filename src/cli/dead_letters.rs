//! `bucketbus dead-letters list|redrive|purge`: dead HTTP deliveries by filter; redrive and
//! purge call the broker repeatedly (a bounded batch each) until none matching is left.

use clap::{Parser, Subcommand};

use bucketbus::grpc::pb;

use super::bulk::until_done;
use super::deliveries::{collect, print_list};
use super::delivery_filter::FilterArgs;

#[derive(Subcommand)]
pub enum DeadLettersCommand {
    /// List dead deliveries matching the filter, newest first.
    List(ListArgs),
    /// Send dead deliveries matching the filter again, now (attempt counter reset).
    Redrive(BulkArgs),
    /// Delete dead deliveries matching the filter, with their attempt history.
    Purge(BulkArgs),
}

#[derive(Parser)]
pub struct ListArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    #[command(flatten)]
    filter: FilterArgs,
    /// Show at most this many.
    #[arg(long, default_value_t = 50, value_name = "N")]
    limit: u32,
}

#[derive(Parser)]
pub struct BulkArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    #[command(flatten)]
    filter: FilterArgs,
    /// Dead letters changed per call (1–10 000).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    limit_per_call: u32,
}

pub async fn run(command: DeadLettersCommand) -> anyhow::Result<()> {
    match command {
        DeadLettersCommand::List(args) => {
            let filter = args.filter.into_pb();
            let client = args.server.admin().await?;
            let found = collect(args.limit, |page_size, page_token| {
                let request = pb::ListDeadLettersRequest {
                    filter: Some(filter.clone()),
                    page_size,
                    page_token,
                };
                let mut client = client.clone();
                async move { client.list_dead_letters(request).await }
            })
            .await?;
            print_list(&found, args.limit);
            Ok(())
        }
        DeadLettersCommand::Redrive(args) => {
            let (filter, limit) = (args.filter.into_pb(), args.limit_per_call);
            let client = args.server.admin().await?;
            let redriven = until_done("redriven", || {
                let request = pb::RedriveDeadLettersRequest {
                    filter: Some(filter.clone()),
                    limit,
                };
                let mut client = client.clone();
                async move {
                    let r = client
                        .redrive_dead_letters(request)
                        .await
                        .map_err(super::status_error)?
                        .into_inner();
                    Ok((r.redriven, r.remaining))
                }
            })
            .await?;
            println!("redriven {redriven} dead letter{}", plural(redriven));
            Ok(())
        }
        DeadLettersCommand::Purge(args) => {
            let (filter, limit) = (args.filter.into_pb(), args.limit_per_call);
            let client = args.server.admin().await?;
            let purged = until_done("purged", || {
                let request = pb::PurgeDeadLettersRequest {
                    filter: Some(filter.clone()),
                    limit,
                };
                let mut client = client.clone();
                async move {
                    let r = client
                        .purge_dead_letters(request)
                        .await
                        .map_err(super::status_error)?
                        .into_inner();
                    Ok((r.purged, r.remaining))
                }
            })
            .await?;
            println!("purged {purged} dead letter{}", plural(purged));
            Ok(())
        }
    }
}

pub(super) fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
