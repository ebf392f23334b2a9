//! How the ledger commands print: deliveries and attempts as aligned tables (comfy-table) and a
//! message's particulars.

use comfy_table::{Table, presets};

use bucketbus::grpc::pb;

use super::queue::time;

/// A table with a header row and no borders, columns aligned by spaces.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_header(header.to_vec());
    table
}

/// Prints a table flush left, two spaces between columns, no trailing blanks.
pub fn print_table(mut table: Table) {
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for line in table.lines() {
        println!("{}", line.trim_end());
    }
}

/// `pending`, `delivered` or `dead`, with `(redriven)` or `(replay)` for those origins.
pub fn state(d: &pb::Delivery) -> String {
    let state = match pb::DeliveryState::try_from(d.state) {
        Ok(pb::DeliveryState::DeliveryPending) => "pending",
        Ok(pb::DeliveryState::DeliveryDelivered) => "delivered",
        Ok(pb::DeliveryState::DeliveryDead) => "dead",
        _ => "?",
    };
    match pb::DeliveryOrigin::try_from(d.origin) {
        Ok(pb::DeliveryOrigin::Redriven) => format!("{state} (redriven)"),
        Ok(pb::DeliveryOrigin::Replay) => format!("{state} (replay)"),
        _ => state.to_string(),
    }
}

/// An HTTP status and/or error, shortened: `500 HTTP 500 Internal Server Error`, `-` if none.
pub fn result(status: u32, error: &str) -> String {
    let error = shorten(error, 60);
    match (status, error.is_empty()) {
        (0, true) => "-".into(),
        (0, false) => error,
        (s, true) => s.to_string(),
        (s, false) => format!("{s} {error}"),
    }
}

pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// The deliveries as a table, one row each.
pub fn print_deliveries(deliveries: &[pb::Delivery]) {
    let mut t = table(&[
        "ID",
        "MESSAGE",
        "BUCKET/RULE",
        "KEY",
        "ENDPOINT",
        "STATE",
        "ATTEMPTS",
        "LAST",
        "PUBLISHED",
    ]);
    for d in deliveries {
        t.add_row(vec![
            d.id.to_string(),
            d.message_id.clone(),
            format!("{}/{}", d.bucket, d.rule),
            shorten(&d.object_key, 48),
            d.endpoint.clone(),
            state(d),
            d.attempts.to_string(),
            result(d.last_status, &d.last_error),
            time(d.published_at.as_ref()),
        ]);
    }
    print_table(t);
}

/// A message, then per delivery its attempts as a table.
pub fn print_message(m: &pb::MessageRecord) {
    println!("message {}", m.message_id);
    let rows = [
        ("rule", format!("{}/{}", m.bucket, m.rule)),
        ("topic", m.topic.clone()),
        ("key", m.object_key.clone()),
        ("event", m.event_name.clone()),
        ("published", time(m.published_at.as_ref())),
        ("body", m.body.clone()),
    ];
    for (name, value) in rows {
        println!("  {:<11}{value}", format!("{name}:"));
    }
    if m.deliveries.is_empty() {
        println!("\nno deliveries (no HTTP endpoint, or purged)");
    }
    for d in &m.deliveries {
        let mut line = format!(
            "\ndelivery {} to {}: {}, {} attempt{}",
            d.id,
            d.endpoint,
            state(d),
            d.attempts,
            if d.attempts == 1 { "" } else { "s" }
        );
        if let Some(at) = &d.redriven_at {
            line.push_str(&format!(", redriven at {}", time(Some(at))));
        }
        if let Some(at) = &d.next_attempt_at {
            line.push_str(&format!(", next attempt at {}", time(Some(at))));
        }
        println!("{line}");
        if d.attempt_log.is_empty() {
            println!("  no attempts yet");
            continue;
        }
        let mut t = table(&["TIME", "ATTEMPT", "OUTCOME", "RESULT", "LATENCY"]);
        for a in &d.attempt_log {
            let outcome = match pb::AttemptOutcome::try_from(a.outcome) {
                Ok(pb::AttemptOutcome::AttemptRetry) => "retry",
                Ok(pb::AttemptOutcome::AttemptDelivered) => "delivered",
                Ok(pb::AttemptOutcome::AttemptDead) => "dead",
                Err(_) => "?",
            };
            t.add_row(vec![
                time(a.started_at.as_ref()),
                a.attempt.to_string(),
                outcome.to_string(),
                result(a.http_status, &a.error),
                format!("{} ms", a.latency_ms),
            ]);
        }
        print_table(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_states_read_well() {
        assert_eq!(result(0, ""), "-");
        assert_eq!(result(204, ""), "204");
        assert_eq!(result(500, "HTTP 500"), "500 HTTP 500");
        assert_eq!(result(0, "timed out"), "timed out");
        assert_eq!(shorten("abcdef", 4), "abc…");
        let d = pb::Delivery {
            state: pb::DeliveryState::DeliveryPending.into(),
            origin: pb::DeliveryOrigin::Redriven.into(),
            ..Default::default()
        };
        assert_eq!(state(&d), "pending (redriven)");
    }
}
