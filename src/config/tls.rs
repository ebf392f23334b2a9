//! The `[tls]` settings: the PEM certificate chain and private key both listeners serve, and an
//! optional CA whose client certificates the gRPC listener requires (mutual TLS). The files
//! are read and checked at startup, so a bad file stops the start naming the setting.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Error;
use super::secret::Secret;

/// TLS material, read from the configured files.
#[derive(Clone)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    /// The certificate chain (PEM), server certificate first.
    pub cert_pem: Vec<u8>,
    pub key_pem: Secret<Vec<u8>>,
    /// CA certificates (PEM) that gRPC clients' certificates must chain to, if set.
    pub client_ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert_file", &self.cert_file)
            .field("key_pem", &self.key_pem)
            .field("mutual_tls", &self.client_ca_pem.is_some())
            .finish()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsFile {
    cert_file: String,
    key_file: String,
    client_ca_file: String,
}

impl TlsFile {
    /// `None` (plaintext) when no file is set.
    pub(super) fn validate(self) -> Result<Option<TlsSettings>, Error> {
        let invalid = |field, constraint: String| Error::Invalid { field, constraint };
        match (self.cert_file.is_empty(), self.key_file.is_empty()) {
            (true, true) if self.client_ca_file.is_empty() => return Ok(None),
            (true, true) => {
                return Err(invalid(
                    "tls.client_ca_file",
                    "needs tls.cert_file and tls.key_file (mutual TLS is TLS first)".into(),
                ));
            }
            (false, true) => {
                return Err(invalid(
                    "tls.key_file",
                    "must be set when tls.cert_file is".into(),
                ));
            }
            (true, false) => {
                return Err(invalid(
                    "tls.cert_file",
                    "must be set when tls.key_file is".into(),
                ));
            }
            (false, false) => {}
        }
        let cert_pem = read("tls.cert_file", &self.cert_file)?;
        crate::tls::certificates(&cert_pem)
            .map_err(|e| invalid("tls.cert_file", format!("{e} in {:?}", self.cert_file)))?;
        let key_pem = Secret::new(read("tls.key_file", &self.key_file)?);
        let client_ca_pem = match self.client_ca_file.as_str() {
            "" => None,
            path => {
                let pem = read("tls.client_ca_file", path)?;
                crate::tls::client_verifier(&pem)
                    .map_err(|e| invalid("tls.client_ca_file", format!("{e} in {path:?}")))?;
                Some(pem)
            }
        };
        let settings = TlsSettings {
            cert_file: PathBuf::from(&self.cert_file),
            cert_pem,
            key_pem,
            client_ca_pem,
        };
        crate::tls::http_server_config(&settings).map_err(|e| {
            invalid(
                "tls.key_file",
                format!(
                    "{e} (key {:?}, certificate {:?})",
                    self.key_file, self.cert_file
                ),
            )
        })?;
        Ok(Some(settings))
    }
}

fn read(field: &'static str, path: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(Path::new(path)).map_err(|e| Error::Invalid {
        field,
        constraint: format!("cannot read {path:?}: {e}"),
    })
}
