//! The `[delivery.mns_signature]` settings: whether HTTP pushes are signed the MNS way
//! (RSA-SHA1, see `delivery::mns_sign`), with which key, and at which base URL receivers fetch
//! the certificate. Key files are read and checked at startup, so a bad file stops the start
//! naming the setting.

use std::net::SocketAddr;

use serde::Deserialize;

use super::Error;
use crate::delivery::mns_keys::SigningKeyPair;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MnsSignatureFile {
    enabled: bool,
    cert_base_url: String,
    private_key_file: String,
    certificate_file: String,
}

/// Validated `[delivery.mns_signature]`.
#[derive(Debug, Clone, Default)]
pub struct MnsSignatureSettings {
    pub enabled: bool,
    /// The base URL at which receivers reach the HTTP listener, without a trailing `/`.
    /// `None`: `http(s)://<the HTTP listener's address>`, known once it is bound.
    pub cert_base_url: Option<String>,
    /// From the configured files; `None`: generated once and kept in the database.
    pub key_pair: Option<SigningKeyPair>,
}

const BASE_URL: &str = "delivery.mns_signature.cert_base_url";

impl MnsSignatureFile {
    pub(super) fn validate(self) -> Result<MnsSignatureSettings, Error> {
        let invalid = |field, constraint: String| Error::Invalid { field, constraint };
        let cert_base_url = match self.cert_base_url.as_str() {
            "" => None,
            text => Some(base_url(text).map_err(|c| invalid(BASE_URL, c))?),
        };
        let key_pair = match (
            self.private_key_file.as_str(),
            self.certificate_file.as_str(),
        ) {
            ("", "") => None,
            (_, "") => {
                return Err(invalid(
                    "delivery.mns_signature.certificate_file",
                    "must be set when delivery.mns_signature.private_key_file is".into(),
                ));
            }
            ("", _) => {
                return Err(invalid(
                    "delivery.mns_signature.private_key_file",
                    "must be set when delivery.mns_signature.certificate_file is".into(),
                ));
            }
            (key_path, cert_path) => {
                let key = read("delivery.mns_signature.private_key_file", key_path)?;
                let cert = read("delivery.mns_signature.certificate_file", cert_path)?;
                Some(SigningKeyPair::from_pem(&key, &cert).map_err(|e| {
                    invalid(
                        "delivery.mns_signature.private_key_file",
                        format!("{e} ({key_path:?} with {cert_path:?})"),
                    )
                })?)
            }
        };
        Ok(MnsSignatureSettings {
            enabled: self.enabled,
            cert_base_url,
            key_pair,
        })
    }
}

impl MnsSignatureSettings {
    /// Signing needs a certificate URL receivers can reach: without `cert_base_url` it is
    /// derived from the HTTP listener's address, which must then be a specific one.
    pub(super) fn check_listener(&self, http_listen: SocketAddr) -> Result<(), Error> {
        if self.enabled && self.cert_base_url.is_none() && http_listen.ip().is_unspecified() {
            return Err(Error::Invalid {
                field: BASE_URL,
                constraint: format!(
                    "must be set when delivery.mns_signature.enabled is true and \
                     server.http_listen ({http_listen}) is not a specific address: the base URL \
                     at which receivers reach this broker's HTTP listener, e.g. \
                     \"https://bucketbus.example.com\""
                ),
            });
        }
        Ok(())
    }
}

/// An http(s) URL with a host and no credentials, query or fragment; the trailing `/` is cut.
fn base_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "{text:?} must be an http:// or https:// URL with a host"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{text:?} must not contain credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{text:?} must not have a query or fragment (the certificate path is appended)"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn read(field: &'static str, path: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Invalid {
        field,
        constraint: format!("cannot read {path:?}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use crate::config::{ENV_HTTP_LISTEN, Settings};

    #[test]
    fn off_by_default() {
        let s = Settings::defaults().delivery.mns_signature;
        assert!(!s.enabled);
        assert!(s.cert_base_url.is_none() && s.key_pair.is_none());
    }

    #[test]
    fn the_base_url_is_checked_and_trimmed() {
        let s = Settings::from_toml(
            "[delivery.mns_signature]\nenabled = true\ncert_base_url = \"https://bb.example/x/\"",
            "t",
        )
        .unwrap();
        assert_eq!(
            s.delivery.mns_signature.cert_base_url.as_deref(),
            Some("https://bb.example/x")
        );
        for bad in [
            "bb.example",
            "ftp://bb.example",
            "https://u:p@bb.example",
            "https://bb.example/?a=b",
        ] {
            let err = Settings::from_toml(
                &format!("[delivery.mns_signature]\ncert_base_url = \"{bad}\""),
                "t",
            )
            .unwrap_err();
            assert!(
                err.to_string()
                    .contains("delivery.mns_signature.cert_base_url"),
                "{err}"
            );
        }
    }

    #[test]
    fn an_unspecified_listener_needs_a_base_url() {
        let on = "[delivery.mns_signature]\nenabled = true\n";
        let err = Settings::from_toml(
            &format!("{on}[server]\nhttp_listen = \"0.0.0.0:8080\""),
            "t",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(
                "delivery.mns_signature.cert_base_url: must be set when delivery.mns_signature.enabled is true and server.http_listen (0.0.0.0:8080)"
            ),
            "{err}"
        );
        // Also when the environment moves the listener (the container image does).
        let s = Settings::from_toml(on, "t").unwrap();
        let err = s
            .clone()
            .apply_env(|k| (k == ENV_HTTP_LISTEN).then(|| "[::]:8080".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("[::]:8080"), "{err}");
        s.apply_env(|k| (k == ENV_HTTP_LISTEN).then(|| "10.0.0.5:8080".to_string()))
            .unwrap();
        Settings::from_toml(
            &format!("{on}cert_base_url = \"https://bb.example\"\n[server]\nhttp_listen = \"0.0.0.0:8080\""),
            "t",
        )
        .unwrap();
    }

    #[test]
    fn key_files_come_in_pairs_and_are_checked() {
        let err = Settings::from_toml(
            "[delivery.mns_signature]\nprivate_key_file = \"/k.pem\"",
            "t",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(
                "delivery.mns_signature.certificate_file: must be set when delivery.mns_signature.private_key_file is"
            ),
            "{err}"
        );
        let err = Settings::from_toml(
            "[delivery.mns_signature]\nprivate_key_file = \"/nonexistent/k.pem\"\ncertificate_file = \"/nonexistent/c.pem\"",
            "t",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(
                "delivery.mns_signature.private_key_file: cannot read \"/nonexistent/k.pem\""
            ),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["bb.example".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (key_path, cert_path) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        std::fs::write(&cert_path, cert.pem()).unwrap();
        let files = format!(
            "[delivery.mns_signature]\nprivate_key_file = {key_path:?}\ncertificate_file = {cert_path:?}"
        );
        let s = Settings::from_toml(&files, "t").unwrap();
        assert!(s.delivery.mns_signature.key_pair.is_some());
        // The certificate file given as the key: no private key in it.
        let swapped = format!(
            "[delivery.mns_signature]\nprivate_key_file = {cert_path:?}\ncertificate_file = {cert_path:?}"
        );
        let err = Settings::from_toml(&swapped, "t").unwrap_err();
        assert!(
            err.to_string().contains(
                "delivery.mns_signature.private_key_file: must hold exactly one PRIVATE KEY"
            ),
            "{err}"
        );
    }
}
