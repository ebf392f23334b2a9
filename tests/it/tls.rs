//! TLS on both listeners with certificates made by a test CA (rcgen): the gRPC API through the
//! generated client and the CLI (`https://`, `--ca-cert`, client certificates for mutual TLS),
//! `/metrics` and health over HTTPS; plaintext and untrusted clients are refused; bad files
//! stop the start naming the setting.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bucketbus::config::Settings;
use bucketbus::grpc::pb;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::support::*;

/// A test CA, a server certificate for 127.0.0.1/localhost and a client certificate, all
/// signed by it, and a second CA that signed nothing, as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = new_ca("bucketbus test CA");
        let other_ca = new_ca("some other CA");
        let server = leaf(
            &ca,
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = leaf(&ca, &["consumer-1"], ExtendedKeyUsagePurpose::ClientAuth);
        let files = [
            ("ca.pem", ca.pem()),
            ("other-ca.pem", other_ca.pem()),
            ("server.pem", server.0),
            ("server.key", server.1),
            ("client.pem", client.0),
            ("client.key", client.1),
            ("not-pem.txt", "hello\n".to_string()),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// The `[tls]` section serving `cert`/`key`, with an optional client CA.
    fn config(&self, cert: &str, key: &str, client_ca: Option<&str>) -> String {
        let path = |name: &str| toml_string(&self.path(name));
        format!(
            "[tls]\ncert_file = {}\nkey_file = {}\nclient_ca_file = {}\n",
            path(cert),
            path(key),
            client_ca.map_or("\"\"".to_string(), path)
        )
    }

    /// A gRPC channel over TLS trusting `ca`, optionally with the client certificate.
    async fn channel(
        &self,
        broker: &TestBroker,
        ca: &str,
        client_identity: bool,
    ) -> Result<Channel, tonic::transport::Error> {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.read(ca)));
        if client_identity {
            tls = tls.identity(Identity::from_pem(
                self.read("client.pem"),
                self.read("client.key"),
            ));
        }
        Channel::from_shared(format!("https://{}", broker.grpc_addr()))
            .unwrap()
            .tls_config(tls)?
            .connect()
            .await
    }
}

fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// (certificate PEM, key PEM) signed by `ca`.
fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

async fn list_rules(channel: Channel) -> Result<(), tonic::Status> {
    pb::admin_client::AdminClient::new(channel)
        .list_rules(pb::ListRulesRequest::default())
        .await
        .map(drop)
}

fn https_client(pki: &Pki, ca: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&pki.read(ca)).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap()
}

/// Runs the binary with `args` (off the async runtime).
async fn cli(args: Vec<String>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bucketbus"));
    command
        .args(args)
        .env_remove("BUCKETBUS_TOKEN")
        .env_remove("BUCKETBUS_CA_CERT");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn both_listeners_speak_tls_and_refuse_plaintext_and_untrusted_clients() {
    let pki = Pki::new();
    let (_dir, broker) = fresh_broker(&pki.config("server.pem", "server.key", None)).await;

    let channel = pki.channel(&broker, "ca.pem", false).await.unwrap();
    list_rules(channel.clone()).await.unwrap();
    pb::ingest_client::IngestClient::new(channel)
        .publish(pb::PublishRequest {
            record: Some(put_record("tls-bucket", "a.jpg")),
        })
        .await
        .unwrap();

    let untrusted = pki.channel(&broker, "other-ca.pem", false).await;
    assert!(untrusted.is_err(), "a client that does not trust the CA");
    let plaintext = Channel::from_shared(format!("http://{}", broker.grpc_addr()))
        .unwrap()
        .connect()
        .await;
    if let Ok(plaintext) = plaintext {
        list_rules(plaintext)
            .await
            .expect_err("a plaintext call to a TLS listener");
    }

    let https = https_client(&pki, "ca.pem");
    let base = format!("https://127.0.0.1:{}", broker.http_addr().port());
    for path in ["/healthz", "/metrics"] {
        let response = https.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let metrics = https.get(format!("{base}/metrics")).send().await.unwrap();
    assert!(metrics.text().await.unwrap().contains("bucketbus_"));
    let plain = reqwest::get(format!("http://{}/healthz", broker.http_addr())).await;
    assert!(
        plain.is_err(),
        "plaintext HTTP to the TLS listener: {plain:?}"
    );
    let untrusted = https_client(&pki, "other-ca.pem")
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(untrusted.is_err(), "{untrusted:?}");
    // A slow or broken handshake holds up nobody: the listener still answers.
    let _silent = tokio::net::TcpStream::connect(broker.http_addr())
        .await
        .unwrap();
    let response = https.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_cli_connects_over_tls_with_a_private_ca() {
    let pki = Pki::new();
    let (_dir, broker) = fresh_broker(&pki.config("server.pem", "server.key", None)).await;
    let server = format!("https://{}", broker.grpc_addr());
    let ca = pki.path("ca.pem").display().to_string();
    let list = |extra: &[&str]| {
        let mut args: Vec<String> = ["rule", "list", "--server", &server]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };

    let out = cli(list(&["--ca-cert", &ca])).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // Without --ca-cert only the system's roots are trusted, which do not know the test CA.
    let out = cli(list(&[])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("cannot reach bucketbus at {server}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));

    let plain = format!("http://{}", broker.grpc_addr());
    let out = cli(vec![
        "rule".into(),
        "list".into(),
        "--server".into(),
        plain,
        "--ca-cert".into(),
        ca,
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--ca-cert and --client-cert need an https:// --server"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_on_grpc_only() {
    let pki = Pki::new();
    let config = pki.config("server.pem", "server.key", Some("ca.pem"));
    let (_dir, broker) = fresh_broker(&config).await;

    let without = match pki.channel(&broker, "ca.pem", false).await {
        Ok(channel) => list_rules(channel).await.is_err(),
        Err(_) => true,
    };
    assert!(without, "a client without a certificate is refused");
    let channel = pki.channel(&broker, "ca.pem", true).await.unwrap();
    list_rules(channel).await.unwrap();

    let server = format!("https://{}", broker.grpc_addr());
    let path = |name: &str| pki.path(name).display().to_string();
    let args = |with_identity: bool| {
        let mut args = vec![
            "queue".to_string(),
            "list".into(),
            "--server".into(),
            server.clone(),
            "--ca-cert".into(),
            path("ca.pem"),
        ];
        if with_identity {
            args.extend([
                "--client-cert".into(),
                path("client.pem"),
                "--client-key".into(),
                path("client.key"),
            ]);
        }
        args
    };
    let out = cli(args(true)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli(args(false)).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // Health probes and scrapers need no client certificate.
    let response = https_client(&pki, "ca.pem")
        .get(format!(
            "https://127.0.0.1:{}/healthz",
            broker.http_addr().port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn bad_tls_files_are_refused_naming_the_setting() {
    let pki = Pki::new();
    let invalid = |toml: &str| match Settings::from_toml(toml, "test") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected an invalid setting for {toml}"),
    };
    let missing = pki.path("missing.pem").display().to_string();
    let cases = [
        (
            format!(
                "[tls]\ncert_file = {}\nkey_file = {}",
                toml_string(Path::new(&missing)),
                toml_string(&pki.path("server.key"))
            ),
            format!("invalid setting tls.cert_file: cannot read {missing:?}"),
        ),
        (
            pki.config("not-pem.txt", "server.key", None),
            "invalid setting tls.cert_file: no PEM certificate in".to_string(),
        ),
        (
            pki.config("server.pem", "not-pem.txt", None),
            "invalid setting tls.key_file: no usable PEM private key".to_string(),
        ),
        (
            pki.config("server.pem", "client.key", None),
            "invalid setting tls.key_file: the key does not fit the certificate".to_string(),
        ),
        (
            pki.config("server.pem", "server.key", Some("not-pem.txt")),
            "invalid setting tls.client_ca_file: no PEM certificate in".to_string(),
        ),
        (
            format!(
                "[tls]\ncert_file = {}",
                toml_string(&pki.path("server.pem"))
            ),
            "invalid setting tls.key_file: must be set when tls.cert_file is".to_string(),
        ),
    ];
    for (toml, expected) in cases {
        let message = invalid(&toml);
        assert!(
            message.starts_with(&expected),
            "{message}\nexpected: {expected}"
        );
    }

    let settings =
        Settings::from_toml(&pki.config("server.pem", "server.key", None), "test").unwrap();
    let key = String::from_utf8(pki.read("server.key")).unwrap();
    let body = key.lines().nth(1).unwrap();
    assert!(
        !format!("{settings:?}").contains(body),
        "the key is not printed"
    );
}

#[test]
fn serve_with_a_missing_certificate_exits_64_naming_the_setting() {
    let pki = Pki::new();
    let config = pki.path("bucketbus.toml");
    let toml = format!(
        "[tls]\ncert_file = {}\nkey_file = {}",
        toml_string(&pki.path("missing.pem")),
        toml_string(&pki.path("server.key"))
    );
    std::fs::write(&config, toml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bucketbus"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = stderr(&out);
    assert!(
        stderr.contains("invalid setting tls.cert_file: cannot read"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
