//! The `bucketbus` binary: configuration errors exit 64 naming the setting; client errors
//! print one line and exit non-zero.

use std::process::Command;

fn bucketbus() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bucketbus"))
}

#[test]
fn an_unknown_config_field_exits_64_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[delivery]\ntimeuot = \"5s\"\n").unwrap();

    let out = bucketbus()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();

    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("timeuot"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn a_bad_database_url_exits_64() {
    let out = bucketbus()
        .args(["serve", "--database", "mysql://localhost/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("storage.database"));
}

#[test]
fn print_config_prints_the_embedded_example_which_parses() {
    let out = bucketbus().arg("print-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    bucketbus::config::Settings::from_toml(&text, "printed").unwrap();
    assert!(text.contains("[delivery.backoff_retry]"));
}

#[test]
fn a_client_command_without_a_daemon_fails_with_one_line() {
    let out = bucketbus()
        .args([
            "publish",
            "--server",
            "http://127.0.0.1:9",
            "--bucket",
            "b",
            "--key",
            "k",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach bucketbus at http://127.0.0.1:9"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
