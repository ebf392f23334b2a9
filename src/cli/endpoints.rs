//! `bucketbus endpoints`: the HTTP endpoints of the rules with their circuit state, backlog
//! and last error, one line each.

use std::time::Duration;

use clap::Parser;

use bucketbus::grpc::pb;

#[derive(Parser)]
pub struct EndpointsArgs {
    #[command(flatten)]
    server: super::ServerArgs,
    /// Only this bucket's endpoints.
    #[arg(long, default_value = "")]
    bucket: String,
    /// Only this rule's endpoints (needs --bucket).
    #[arg(long, default_value = "")]
    rule: String,
}

pub async fn run(args: EndpointsArgs) -> anyhow::Result<()> {
    let channel = args.server.connect().await?;
    let list = pb::admin_client::AdminClient::new(channel)
        .list_endpoints(pb::ListEndpointsRequest {
            bucket: args.bucket,
            rule: args.rule,
        })
        .await
        .map_err(super::status_error)?
        .into_inner();
    print!("{}", table(&list.endpoints, now()));
    Ok(())
}

fn now() -> prost_types::Timestamp {
    bucketbus::grpc::timestamp(chrono::Utc::now())
}

const HEADER: [&str; 8] = [
    "url",
    "rule",
    "circuit",
    "failures",
    "pending",
    "lag",
    "dead",
    "last error",
];

/// The table as printed, times shown relative to `now`.
fn table(endpoints: &[pb::EndpointStatus], now: prost_types::Timestamp) -> String {
    if endpoints.is_empty() {
        return "no HTTP endpoints\n".to_string();
    }
    let rows: Vec<[String; 8]> = endpoints.iter().map(|e| row(e, &now)).collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(HEADER.map(String::from)).chain(rows) {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            // Numbers are right-aligned; the last column is not padded.
            match i {
                3 | 4 | 6 => line.push_str(&format!("{}{cell}  ", " ".repeat(pad))),
                7 => line.push_str(cell),
                _ => line.push_str(&format!("{cell}{}  ", " ".repeat(pad))),
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn row(e: &pb::EndpointStatus, now: &prost_types::Timestamp) -> [String; 8] {
    let circuit = match pb::CircuitState::try_from(e.circuit) {
        Ok(pb::CircuitState::CircuitClosed) => "closed".to_string(),
        Ok(pb::CircuitState::CircuitHalfOpen) => "half-open".to_string(),
        Ok(pb::CircuitState::CircuitOpen) => match &e.open_until {
            Some(until) => format!("open ({} left)", ceil_secs(between(now, until))),
            None => "open".to_string(),
        },
        Err(_) => "?".to_string(),
    };
    let lag = e
        .oldest_pending_published_at
        .as_ref()
        .map_or("-".to_string(), |oldest| {
            ceil_secs(between(oldest, now)).to_string()
        });
    let last_error = if e.last_error.is_empty() {
        "-".to_string()
    } else {
        match &e.last_failure_at {
            Some(at) => format!("{} ({} ago)", e.last_error, ceil_secs(between(at, now))),
            None => e.last_error.clone(),
        }
    };
    [
        e.url.clone(),
        format!("{}/{}", e.bucket, e.rule),
        circuit,
        e.consecutive_failures.to_string(),
        e.pending.to_string(),
        lag,
        e.dead.to_string(),
        last_error,
    ]
}

/// How long from `from` to `to` (zero if `to` is earlier).
fn between(from: &prost_types::Timestamp, to: &prost_types::Timestamp) -> Duration {
    let nanos =
        |t: &prost_types::Timestamp| i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    let delta = (nanos(to) - nanos(from)).max(0);
    Duration::from_nanos(u64::try_from(delta).unwrap_or(u64::MAX))
}

/// Whole seconds, rounded up so that something pending never shows as `0s`.
fn ceil_secs(d: Duration) -> humantime::FormattedDuration {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    humantime::format_duration(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds, nanos: 0 }
    }

    #[test]
    fn one_aligned_line_per_endpoint_with_times_relative_to_now() {
        let open = pb::EndpointStatus {
            url: "http://hooks.example/down".into(),
            bucket: "photos".into(),
            rule: "thumbs".into(),
            circuit: pb::CircuitState::CircuitOpen as i32,
            consecutive_failures: 5,
            open_until: Some(at(1_004)),
            last_status: 500,
            last_error: "HTTP 500 Internal Server Error".into(),
            last_failure_at: Some(at(998)),
            pending: 12,
            oldest_pending_published_at: Some(at(910)),
            dead: 1,
            ..Default::default()
        };
        let fine = pb::EndpointStatus {
            url: "http://hooks.example/up".into(),
            bucket: "photos".into(),
            rule: "logs".into(),
            ..Default::default()
        };
        assert_eq!(
            table(&[open, fine], at(1_000)),
            "url                        rule           circuit         failures  pending  lag     dead  last error\n\
             http://hooks.example/down  photos/thumbs  open (4s left)         5       12  1m 30s     1  HTTP 500 Internal Server Error (2s ago)\n\
             http://hooks.example/up    photos/logs    closed                 0        0  -          0  -\n"
        );
        assert_eq!(table(&[], at(0)), "no HTTP endpoints\n");
    }
}
