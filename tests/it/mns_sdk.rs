//! The MNS compatibility test: the official Python SDK (`aliyun-mns-sdk`, pinned in
//! `tests/mns_sdk/requirements.txt`, installed here into a virtualenv) drives a real broker
//! through `tests/mns_sdk/compat.py`, so consumer code written for Alibaba Cloud MNS is known
//! to work against bucketbus unchanged.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::Digest as _;

use crate::support::fresh_broker;
use crate::support::mns::{ACCESS_KEY_ID, ACCESS_KEY_SECRET, MNS_CONFIG};

const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mns_sdk");

/// The line `.ci/run` fails on: in CI this test must run, not skip.
const SKIPPED: &str = "SKIPPED: python3 with venv is needed for the MNS SDK test";

/// `MNS_SDK_TOPICS` for compat.py: bucketbus serves the MNS topic routes, so the topic part
/// must run (compat.py's own default, `auto`, would report it SKIPPED on a broker without them).
const TOPICS: &str = "required";

#[tokio::test]
async fn the_official_python_sdk_works_against_bucketbus() {
    if !python_has_venv() {
        say(SKIPPED);
        return;
    }
    let venv = tokio::task::spawn_blocking(sdk_venv).await.unwrap();
    let (_dir, broker) = fresh_broker(MNS_CONFIG).await;
    let mut command = Command::new(venv.join("bin").join("python"));
    command
        .arg(Path::new(SDK_DIR).join("compat.py"))
        .env("MNS_ENDPOINT", format!("http://{}", broker.mns_addr()))
        .env("MNS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("MNS_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
        .env("MNS_SDK_TOPICS", TOPICS);
    let (success, lines) = tokio::task::spawn_blocking(move || run_streaming(command))
        .await
        .unwrap();
    let failed = lines.iter().find(|l| l.starts_with("FAILED "));
    assert!(
        success && failed.is_none(),
        "compat.py failed: {}\n{}",
        failed.map_or("(no FAILED line)", String::as_str),
        lines.join("\n")
    );
    assert!(
        lines.iter().any(|l| l == "PASSED queues and topics"),
        "compat.py did not finish: {}",
        lines.join("\n")
    );
    assert!(lines.iter().any(|l| l == "ok message.receive.long-poll"));
}

/// A line straight to stderr, past the test harness's capture, so it is never lost.
fn say(line: &str) {
    drop(std::io::stderr().write_all(format!("{line}\n").as_bytes()));
}

/// Whether `python3` is there with the `venv` module and the `ensurepip` it needs (Debian
/// ships them in python3-venv, apart from python3).
fn python_has_venv() -> bool {
    Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The virtualenv with the pinned SDK, under the cargo target directory, named after a hash
/// of requirements.txt: made once, reused while the requirements stay the same. A file lock
/// keeps concurrent test binaries from building it twice; a virtualenv whose install did not
/// finish has no `installed` marker and is made again.
fn sdk_venv() -> PathBuf {
    let requirements = Path::new(SDK_DIR).join("requirements.txt");
    let pinned = std::fs::read(&requirements).unwrap();
    let digest = sha2::Sha256::digest(&pinned);
    let key: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let venv = root.join(format!("mns-sdk-venv-{key}"));
    let marker = venv.join("installed");
    let lock = std::fs::File::create(root.join(format!("mns-sdk-venv-{key}.lock"))).unwrap();
    lock.lock().unwrap();
    if marker.exists() {
        return venv;
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv).unwrap();
    }
    let mut create = Command::new("python3");
    create.args(["-m", "venv"]).arg(&venv);
    let (created, lines) = run_streaming(create);
    assert!(created, "python3 -m venv failed:\n{}", lines.join("\n"));
    let mut install = Command::new(venv.join("bin").join("python"));
    install
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .args(["--progress-bar", "off", "--requirement"])
        .arg(&requirements);
    let (installed, lines) = run_streaming(install);
    assert!(
        installed,
        "pip could not install {} (is the package index reachable?):\n{}",
        requirements.display(),
        lines.join("\n")
    );
    std::fs::write(&marker, &pinned).unwrap();
    venv
}

/// Runs `command` with stdout and stderr merged, echoing each line to stderr as it comes
/// (prefixed `mns_sdk | `); returns whether it exited 0, and its lines.
fn run_streaming(mut command: Command) -> (bool, Vec<String>) {
    let (reader, writer) = std::io::pipe().unwrap();
    command
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(writer.try_clone().unwrap())
        .stderr(writer);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    // The command holds the pipe's write ends; drop them so the read ends at the child's exit.
    drop(command);
    let mut lines = Vec::new();
    for line in BufReader::new(reader).split(b'\n') {
        let line = String::from_utf8_lossy(&line.unwrap())
            .trim_end()
            .to_string();
        say(&format!("mns_sdk | {line}"));
        lines.push(line);
    }
    (child.wait().unwrap().success(), lines)
}
