//! `bucketbus rule put|get|list|delete|match`: manage notification rules.

use clap::{Parser, Subcommand, ValueEnum};

use bucketbus::grpc::pb;

#[derive(Subcommand)]
pub enum RuleCommand {
    /// Create or replace a rule (effective when the command returns).
    Put(PutArgs),
    /// Show one rule.
    Get(NameArgs),
    /// List the rules of a bucket (or of every bucket).
    List(ListArgs),
    /// Delete a rule.
    Delete(NameArgs),
    /// Dry run: which rule a record would match, and why.
    Match(MatchArgs),
}

#[derive(Parser)]
pub struct PutArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    #[arg(long)]
    bucket: String,
    #[arg(long)]
    name: String,
    /// Event name or group (repeatable), e.g. ObjectCreated:* or s3:ObjectRemoved:Delete.
    #[arg(long = "event", required = true)]
    events: Vec<String>,
    /// Resource filter (repeatable): key=NAME, prefix=P, suffix=S or prefix=P,suffix=S.
    #[arg(long = "filter", value_parser = parse_filter)]
    filters: Vec<pb::ResourceFilter>,
    /// HTTP(S) endpoint URL (repeatable).
    #[arg(long = "http", required_unless_present = "queues")]
    urls: Vec<String>,
    /// Queue endpoint: the name of an existing queue (repeatable).
    #[arg(long = "queue")]
    queues: Vec<String>,
    /// Standard Webhooks secret (whsec_…) for every endpoint; `generate` makes a new one.
    #[arg(long)]
    signing_secret: Option<String>,
    #[arg(long, value_enum, default_value_t = Strategy::BackoffRetry)]
    strategy: Strategy,
    #[arg(long, value_enum, default_value_t = Format::Simplified)]
    format: Format,
    #[arg(long, value_enum, default_value_t = Schema::Oss)]
    schema: Schema,
    /// How long the topic keeps delivered messages for replays (e.g. 3d, 12h, 0s; whole
    /// seconds, at most 30d); default: the broker's `[topics] default_retention`.
    #[arg(long, value_parser = parse_retention)]
    retention: Option<u32>,
    /// Do not send a test event to the rule's new HTTP endpoints.
    #[arg(long)]
    skip_test_event: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Strategy {
    BackoffRetry,
    ExponentialDecayRetry,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Simplified,
    Json,
    Xml,
}

#[derive(Clone, Copy, ValueEnum)]
enum Schema {
    Oss,
    S3,
}

#[derive(Parser)]
pub struct NameArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    #[arg(long)]
    bucket: String,
    #[arg(long)]
    name: String,
}

#[derive(Parser)]
pub struct ListArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    /// Omit to list every bucket's rules.
    #[arg(long, default_value = "")]
    bucket: String,
}

#[derive(Parser)]
pub struct MatchArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    #[arg(long)]
    bucket: String,
    #[arg(long)]
    key: String,
    #[arg(long, default_value = "ObjectCreated:PutObject")]
    event: String,
    #[arg(long)]
    delete_marker: bool,
}

fn parse_filter(s: &str) -> Result<pb::ResourceFilter, String> {
    let mut filter = pb::ResourceFilter::default();
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("key", v)) => filter.key = v.to_string(),
            Some(("prefix", v)) => filter.prefix = v.to_string(),
            Some(("suffix", v)) => filter.suffix = v.to_string(),
            _ => {
                return Err(format!(
                    "expected key=…, prefix=… and/or suffix=…, got {part:?}"
                ));
            }
        }
    }
    Ok(filter)
}

/// A humantime duration in whole seconds (the server checks the 30-day bound).
fn parse_retention(s: &str) -> Result<u32, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 3d, 12h, 0s)"))?;
    if d.subsec_nanos() != 0 {
        return Err("must be whole seconds".into());
    }
    u32::try_from(d.as_secs()).map_err(|_| "must be at most 30d".to_string())
}

pub async fn run(command: RuleCommand) -> anyhow::Result<()> {
    match command {
        RuleCommand::Put(args) => put(args).await,
        RuleCommand::Get(args) => {
            let request = pb::GetRuleRequest {
                bucket: args.bucket,
                name: args.name,
            };
            let rule = args
                .server
                .admin()
                .await?
                .get_rule(request)
                .await
                .map_err(super::status_error)?;
            print_rule(&rule.into_inner());
            Ok(())
        }
        RuleCommand::List(args) => {
            let request = pb::ListRulesRequest {
                bucket: args.bucket,
            };
            let list = args
                .server
                .admin()
                .await?
                .list_rules(request)
                .await
                .map_err(super::status_error)?;
            let rules = list.into_inner().rules;
            if rules.is_empty() {
                println!("no rules");
            }
            for rule in rules {
                print_rule(&rule);
            }
            Ok(())
        }
        RuleCommand::Delete(args) => {
            let request = pb::DeleteRuleRequest {
                bucket: args.bucket.clone(),
                name: args.name.clone(),
            };
            args.server
                .admin()
                .await?
                .delete_rule(request)
                .await
                .map_err(super::status_error)?;
            println!("deleted rule {}/{}", args.bucket, args.name);
            Ok(())
        }
        RuleCommand::Match(args) => {
            let request = pb::MatchRulesRequest {
                bucket: args.bucket,
                key: args.key,
                event_name: args.event,
                delete_marker: args.delete_marker,
            };
            let answer = args
                .server
                .admin()
                .await?
                .match_rules(request)
                .await
                .map_err(super::status_error)?;
            let verdicts = answer.into_inner().verdicts;
            if verdicts.is_empty() {
                println!("the bucket has no rules");
            }
            for v in verdicts {
                println!(
                    "{} {}: {}",
                    if v.matched { "MATCH   " } else { "no match" },
                    v.rule,
                    v.reason
                );
            }
            Ok(())
        }
    }
}

async fn put(args: PutArgs) -> anyhow::Result<()> {
    let secret = match args.signing_secret.as_deref() {
        Some("generate") => bucketbus::model::SigningSecret::generate()
            .expose()
            .to_string(),
        Some(secret) => secret.to_string(),
        None => String::new(),
    };
    let http = args.urls.into_iter().map(|url| {
        pb::endpoint::Target::Http(pb::HttpEndpoint {
            url,
            signing_secret: secret.clone(),
        })
    });
    let queues = args.queues.into_iter().map(pb::endpoint::Target::Queue);
    let endpoints = http
        .chain(queues)
        .map(|target| pb::Endpoint {
            target: Some(target),
            strategy: match args.strategy {
                Strategy::BackoffRetry => pb::NotifyStrategy::BackoffRetry,
                Strategy::ExponentialDecayRetry => pb::NotifyStrategy::ExponentialDecayRetry,
            } as i32,
            format: match args.format {
                Format::Simplified => pb::ContentFormat::Simplified,
                Format::Json => pb::ContentFormat::Json,
                Format::Xml => pb::ContentFormat::Xml,
            } as i32,
        })
        .collect();
    let rule = pb::Rule {
        bucket: args.bucket,
        name: args.name,
        events: args.events,
        filters: args.filters,
        endpoints,
        schema: match args.schema {
            Schema::Oss => pb::MessageSchema::Oss,
            Schema::S3 => pb::MessageSchema::S3,
        } as i32,
        retention_seconds: args.retention,
        ..Default::default()
    };
    let saved = args
        .server
        .admin()
        .await?
        .put_rule(pb::PutRuleRequest {
            rule: Some(rule),
            skip_test_event: args.skip_test_event,
        })
        .await
        .map_err(super::status_error)?
        .into_inner();
    println!("{}", if saved.created { "created" } else { "replaced" });
    if let Some(rule) = saved.rule {
        print_rule(&rule);
    }
    for test in &saved.test_events {
        println!("{}", test_event_line(test));
    }
    Ok(())
}

/// `test event: URL ok (HTTP 204, 12ms)` or `test event: URL FAILED (why, 5003ms)`.
fn test_event_line(test: &pb::TestEventResult) -> String {
    let (verdict, detail) = if test.ok {
        ("ok", format!("HTTP {}", test.http_status))
    } else {
        ("FAILED", test.error.clone())
    };
    format!(
        "test event: {} {verdict} ({detail}, {}ms)",
        test.url, test.latency_ms
    )
}

fn print_rule(rule: &pb::Rule) {
    println!("rule {}/{}", rule.bucket, rule.name);
    println!("  topic:    {}", rule.topic);
    println!("  events:   {}", rule.events.join(", "));
    let schema = pb::MessageSchema::try_from(rule.schema)
        .map(|s| s.as_str_name())
        .unwrap_or("?");
    println!("  schema:   {schema}");
    match rule.retention_seconds {
        Some(secs) => println!(
            "  retention: {}",
            humantime::format_duration(std::time::Duration::from_secs(secs.into()))
        ),
        None => println!("  retention: broker default ([topics] default_retention)"),
    }
    if rule.filters.is_empty() {
        println!("  filters:  every object");
    }
    for f in &rule.filters {
        let mut parts = Vec::new();
        for (name, value) in [
            ("key", &f.key),
            ("prefix", &f.prefix),
            ("suffix", &f.suffix),
        ] {
            if !value.is_empty() {
                parts.push(format!("{name}={value:?}"));
            }
        }
        println!("  filter:   {}", parts.join(" "));
    }
    for e in &rule.endpoints {
        let strategy = pb::NotifyStrategy::try_from(e.strategy)
            .map(|s| s.as_str_name())
            .unwrap_or("?");
        let format = pb::ContentFormat::try_from(e.format)
            .map(|s| s.as_str_name())
            .unwrap_or("?");
        match &e.target {
            Some(pb::endpoint::Target::Http(h)) => {
                let signed = if h.signing_secret.is_empty() {
                    ""
                } else {
                    ", signed"
                };
                println!("  endpoint: {} ({strategy}, {format}{signed})", h.url);
            }
            Some(pb::endpoint::Target::Queue(q)) => {
                println!("  endpoint: queue {q} ({strategy}, {format})")
            }
            None => println!("  endpoint: ?"),
        }
    }
}
