//! The `bucketbus` command: run the daemon, publish a record, manage rules and queues, receive
//! queue messages, replay topics, print the config, run benchmarks. Errors print one line and exit non-zero
//! (64 for configuration errors).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use bucketbus::config::{self, Settings};

/// EX_USAGE: the configuration or the command line is wrong.
const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "bucketbus",
    version,
    about = "Event notifications for any object store."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (embedded SQLite in ./bucketbus-data by default).
    Serve(ServeArgs),
    /// Publish one record, as a storage node would, and print the event status.
    Publish(Box<cli::publish::PublishArgs>),
    /// Create, inspect and delete notification rules.
    #[command(subcommand)]
    Rule(cli::rule::RuleCommand),
    /// Create, inspect and delete queues; receive their messages.
    #[command(subcommand)]
    Queue(cli::queue::QueueCommand),
    /// Replay a topic's retained messages.
    #[command(subcommand)]
    Topic(cli::topic::TopicCommand),
    /// List HTTP endpoints with their circuit state, backlog and last error.
    Endpoints(cli::endpoints::EndpointsArgs),
    /// Inspect the delivery ledger: deliveries by filter, every attempt of a message.
    #[command(subcommand)]
    Deliveries(cli::deliveries::DeliveriesCommand),
    /// List, redrive or purge dead HTTP deliveries.
    #[command(subcommand)]
    DeadLetters(cli::dead_letters::DeadLettersCommand),
    /// Print the annotated default configuration.
    PrintConfig,
    /// Measure bucketbus (see README: Benchmarks).
    #[command(subcommand)]
    Bench(cli::bench::BenchCommand),
}

#[derive(Parser)]
struct ServeArgs {
    /// TOML config file; settings it leaves out keep their defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// gRPC listen address (overrides the config file and BUCKETBUS_GRPC_LISTEN).
    #[arg(long)]
    grpc_listen: Option<String>,
    /// HTTP listen address for /healthz (overrides the config file and BUCKETBUS_HTTP_LISTEN).
    #[arg(long)]
    http_listen: Option<String>,
    /// Database URL, e.g. sqlite://bucketbus-data/bucketbus.db (overrides BUCKETBUS_DATABASE_URL).
    #[arg(long)]
    database: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bucketbus: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Publish(args) => cli::publish::run(*args).await.map_err(Failure::Other),
            Command::Rule(command) => cli::rule::run(command).await.map_err(Failure::Other),
            Command::Queue(command) => cli::queue::run(command).await.map_err(Failure::Other),
            Command::Topic(command) => cli::topic::run(command).await.map_err(Failure::Other),
            Command::Endpoints(args) => cli::endpoints::run(args).await.map_err(Failure::Other),
            Command::Deliveries(command) => {
                cli::deliveries::run(command).await.map_err(Failure::Other)
            }
            Command::DeadLetters(command) => cli::dead_letters::run(command)
                .await
                .map_err(Failure::Other),
            Command::PrintConfig => {
                print!("{}", config::EXAMPLE_CONFIG);
                Ok(())
            }
            Command::Bench(command) => cli::bench::run(command).await.map_err(Failure::Other),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(e)) => {
            eprintln!("bucketbus: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Failure::Other(e)) => {
            eprintln!("bucketbus: {e:#}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Config(config::Error),
    Other(anyhow::Error),
}

fn settings(args: &ServeArgs) -> Result<Settings, config::Error> {
    let settings = match &args.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::defaults(),
    };
    settings
        .apply_env(|name| std::env::var(name).ok())?
        .apply_env(|name| match name {
            config::ENV_DATABASE => args.database.clone(),
            config::ENV_GRPC_LISTEN => args.grpc_listen.clone(),
            config::ENV_HTTP_LISTEN => args.http_listen.clone(),
            _ => None,
        })
}

async fn serve(args: ServeArgs) -> Result<(), Failure> {
    use anyhow::Context as _;
    let settings = settings(&args).map_err(Failure::Config)?;
    bucketbus::telemetry::init(&settings.log);
    let listeners = bucketbus::app::Listeners::bind(&settings)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} / {}",
                settings.grpc_listen, settings.http_listen
            )
        })
        .map_err(Failure::Other)?;
    let clean = bucketbus::app::run(settings, listeners, cli::signal::shutdown())
        .await
        .map_err(|e| Failure::Other(e.into()))?;
    if clean {
        Ok(())
    } else {
        Err(Failure::Other(anyhow::anyhow!(
            "shutdown did not complete within the grace period"
        )))
    }
}
