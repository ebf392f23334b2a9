//! `bucketbus deliveries list|show`: the delivery ledger from the command line — which
//! deliveries match a filter, and everything that happened to one message.

use clap::{Parser, Subcommand};

use bucketbus::grpc::pb;

use super::delivery_filter::{FilterArgs, StateArg};
use super::ledger_view::{print_deliveries, print_message};

#[derive(Subcommand)]
pub enum DeliveriesCommand {
    /// List deliveries matching the filter, newest first.
    List(ListArgs),
    /// Show a message and every attempt of each of its deliveries.
    Show(ShowArgs),
}

#[derive(Parser)]
pub struct ListArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    #[command(flatten)]
    filter: FilterArgs,
    /// Only deliveries in this state.
    #[arg(long)]
    state: Option<StateArg>,
    /// Show at most this many (fetched in pages of up to 1000).
    #[arg(long, default_value_t = 50, value_name = "N")]
    limit: u32,
}

#[derive(Parser)]
pub struct ShowArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    /// The message id (as Publish returned it, or from `deliveries list`).
    message_id: String,
}

pub async fn run(command: DeliveriesCommand) -> anyhow::Result<()> {
    match command {
        DeliveriesCommand::List(args) => {
            let mut filter = args.filter.into_pb();
            if let Some(state) = args.state {
                filter.state = state.into_pb().into();
            }
            let client = args.server.admin().await?;
            let found = collect(args.limit, |page_size, page_token| {
                let request = pb::ListDeliveriesRequest {
                    filter: Some(filter.clone()),
                    page_size,
                    page_token,
                };
                let mut client = client.clone();
                async move { client.list_deliveries(request).await }
            })
            .await?;
            print_list(&found, args.limit);
            Ok(())
        }
        DeliveriesCommand::Show(args) => {
            let message = args
                .server
                .admin()
                .await?
                .get_message(pb::GetMessageRequest {
                    message_id: args.message_id,
                })
                .await
                .map_err(super::status_error)?
                .into_inner();
            print_message(&message);
            Ok(())
        }
    }
}

/// Pages through a listing until `limit` deliveries or the last page.
pub(super) async fn collect<F, Fut>(limit: u32, mut page: F) -> anyhow::Result<Vec<pb::Delivery>>
where
    F: FnMut(u32, String) -> Fut,
    Fut: Future<Output = Result<tonic::Response<pb::ListDeliveriesResponse>, tonic::Status>>,
{
    let (mut found, mut token) = (Vec::new(), String::new());
    while found.len() < limit as usize {
        let wanted = (limit as usize - found.len()).min(1000) as u32;
        let answer = page(wanted, token)
            .await
            .map_err(super::status_error)?
            .into_inner();
        found.extend(answer.deliveries);
        if answer.next_page_token.is_empty() {
            break;
        }
        token = answer.next_page_token;
    }
    found.truncate(limit as usize);
    Ok(found)
}

pub(super) fn print_list(deliveries: &[pb::Delivery], limit: u32) {
    if deliveries.is_empty() {
        println!("no deliveries match");
        return;
    }
    print_deliveries(deliveries);
    if deliveries.len() == limit as usize {
        println!("(the first {limit}; --limit shows more)");
    }
}
