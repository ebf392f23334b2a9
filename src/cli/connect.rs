//! How client commands reach the daemon: the server URL, a bearer token (`--token` or
//! `BUCKETBUS_TOKEN`) sent with every call, and TLS for `https://` URLs (the system's roots, or
//! `--ca-cert` for a private CA; `--client-cert`/`--client-key` when the server requires
//! client certificates).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// A connection to the daemon that adds the bearer token (if any) to every call.
pub type Channel = InterceptedService<tonic::transport::Channel, BearerToken>;

/// `--server` and how to authenticate to it.
#[derive(Args, Clone)]
pub struct ServerArgs {
    /// The daemon's gRPC URL (https:// for TLS).
    #[arg(long, default_value = super::DEFAULT_SERVER)]
    pub server: String,
    #[command(flatten)]
    pub credentials: Credentials,
}

/// An Admin client over [`Channel`].
pub type AdminClient = bucketbus::grpc::pb::admin_client::AdminClient<Channel>;

impl ServerArgs {
    pub async fn connect(&self) -> anyhow::Result<Channel> {
        connect(&self.server, &self.credentials).await
    }

    /// An Admin client connected to `--server`.
    pub async fn admin(&self) -> anyhow::Result<AdminClient> {
        Ok(AdminClient::new(self.connect().await?))
    }
}

/// The bearer token and TLS options of a client command.
#[derive(Args, Clone, Default)]
pub struct Credentials {
    /// Bearer token sent with every call (the role the command needs: ingest for publish,
    /// admin for rule and queue management, consumer for queue receive).
    #[arg(long, env = "BUCKETBUS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM CA certificate to trust for an https:// server, instead of the system's roots.
    #[arg(
        long,
        value_name = "PATH",
        env = "BUCKETBUS_CA_CERT",
        hide_env_values = true
    )]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate, for a server that requires one (mutual TLS).
    #[arg(long, value_name = "PATH", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, value_name = "PATH", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
}

/// Adds `authorization: Bearer <token>` to each call when a token was given.
#[derive(Clone)]
pub struct BearerToken(Option<AsciiMetadataValue>);

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// Connects to the daemon, with a message that says where it looked.
pub async fn connect(server: &str, credentials: &Credentials) -> anyhow::Result<Channel> {
    let mut endpoint = Endpoint::from_shared(server.to_string())
        .with_context(|| format!("invalid --server {server:?}"))?;
    if endpoint.uri().scheme_str() == Some("https") {
        endpoint = endpoint
            .tls_config(credentials.tls_config()?)
            .context("invalid TLS options")?;
    } else if credentials.ca_cert.is_some() || credentials.client_cert.is_some() {
        anyhow::bail!("--ca-cert and --client-cert need an https:// --server, not {server:?}");
    }
    let bearer = credentials.bearer()?;
    let channel = endpoint.connect().await.with_context(|| {
        format!("cannot reach bucketbus at {server} (is `bucketbus serve` running?)")
    })?;
    Ok(InterceptedService::new(channel, bearer))
}

impl Credentials {
    fn bearer(&self) -> anyhow::Result<BearerToken> {
        let Some(token) = self.token.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(BearerToken(None));
        };
        // The error must not show the token.
        let mut value: AsciiMetadataValue = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| anyhow::anyhow!("--token must be visible ASCII characters"))?;
        value.set_sensitive(true);
        Ok(BearerToken(Some(value)))
    }

    fn tls_config(&self) -> anyhow::Result<ClientTlsConfig> {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_cert {
            Some(path) => config.ca_certificate(Certificate::from_pem(read("--ca-cert", path)?)),
            None => config.with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            let identity =
                Identity::from_pem(read("--client-cert", cert)?, read("--client-key", key)?);
            config = config.identity(identity);
        }
        Ok(config)
    }
}

fn read(option: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{option}: cannot read {}", path.display()))
}
