//! The key pair MNS push signatures are made with (mns.md §9.4): an RSA key of at least 2048
//! bits and an X.509 v3 certificate of its public key, which receivers fetch to verify. Read
//! from configured PEM files, or generated once (RSA-2048, self-signed) and kept in the
//! database's `broker_keys`, so every replica signs with the same key and serves the same
//! certificate.

use std::sync::Arc;

use rsa::PrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest as _, Sha256};

use crate::store::{self, Store};

/// The `broker_keys` entry holding the generated key pair (its PEM text: key, certificate).
const STORED_NAME: &str = "mns_push_signing";
/// Keys shorter than this are refused (the MNS service signs with RSA-2048).
const MIN_BITS: usize = 2048;

/// Why key material cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot generate the signing key: {0}")]
    Generate(String),
    #[error(transparent)]
    Store(#[from] store::Error),
}

fn invalid(message: impl Into<String>) -> KeyError {
    KeyError::Invalid(message.into())
}

/// The certificate as served: a name derived from its content and its PEM text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// 16 lowercase hex digits of the SHA-256 of the certificate (DER): a new certificate
    /// gets a new URL, so receivers that cache certificates by URL pick it up.
    pub key_id: String,
    /// Exactly one `CERTIFICATE` block, nothing else (the official verifier decodes the lines
    /// between the first and the last).
    pub pem: String,
}

/// An RSA private key and the certificate of its public key. Cheap to clone; `Debug` shows
/// the key id only.
#[derive(Clone)]
pub struct SigningKeyPair {
    key: Arc<PrivateKey>,
    certificate: Certificate,
}

impl std::fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyPair")
            .field("key_id", &self.certificate.key_id)
            .finish_non_exhaustive()
    }
}

impl SigningKeyPair {
    /// From PEM text: `key_pem` holds one `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY`
    /// (PKCS#1) block, `cert_pem` one `CERTIFICATE` block (X.509 v3) of that key's public key.
    /// Blocks of other kinds are ignored.
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<SigningKeyPair, KeyError> {
        let key = private_key(key_pem)?;
        let blocks = pem::parse_many(cert_pem).map_err(|e| invalid(format!("not PEM: {e}")))?;
        let mut certificates = blocks.iter().filter(|b| b.tag() == "CERTIFICATE");
        let (Some(certificate), None) = (certificates.next(), certificates.next()) else {
            return Err(invalid(format!(
                "must hold exactly one CERTIFICATE block (found {})",
                blocks.iter().filter(|b| b.tag() == "CERTIFICATE").count()
            )));
        };
        Self::new(key, certificate.contents())
    }

    fn new(key: PrivateKey, cert_der: &[u8]) -> Result<SigningKeyPair, KeyError> {
        let bits = key.n().bit_width() as usize;
        if bits < MIN_BITS {
            return Err(invalid(format!(
                "the RSA key has {bits} bits; at least {MIN_BITS} are needed"
            )));
        }
        let spki = subject_public_key_info(cert_der)?;
        let public = rsa::PublicKey::from_public_key_der(spki)
            .map_err(|e| invalid(format!("the certificate's public key is not RSA: {e}")))?;
        if public != key.to_public_key() {
            return Err(invalid(
                "the certificate is not of this private key (their public keys differ)",
            ));
        }
        let digest = Sha256::digest(cert_der);
        let key_id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let pem = pem::encode_config(
            &pem::Pem::new("CERTIFICATE", cert_der),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        Ok(SigningKeyPair {
            key: Arc::new(key),
            certificate: Certificate { key_id, pem },
        })
    }

    /// A new RSA-2048 key and a self-signed X.509 v3 certificate of it (CN "bucketbus MNS
    /// push signing", valid from today to 9999-12-31: MNS receivers do not check validity,
    /// and keys are rotated by changing the certificate URL). Takes a moment (a prime search).
    pub fn generate() -> Result<SigningKeyPair, KeyError> {
        let failed = |e: rcgen::Error| KeyError::Generate(e.to_string());
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(failed)?;
        let mut params = rcgen::CertificateParams::default();
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, "bucketbus MNS push signing");
        params.distinguished_name = name;
        let today = chrono::Utc::now().date_naive();
        use chrono::Datelike as _;
        params.not_before =
            rcgen::date_time_ymd(today.year(), today.month() as u8, today.day() as u8);
        params.not_after = rcgen::date_time_ymd(9999, 12, 31);
        let certificate = params.self_signed(&key_pair).map_err(failed)?;
        let key = PrivateKey::from_pkcs8_der(&key_pair.serialize_der())
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        Self::new(key, certificate.der())
    }

    /// The key pair every broker on `store`'s database shares: the stored one, or a new one
    /// stored by whichever broker comes first (the others then read it).
    pub async fn stored_or_generated(store: &Store) -> Result<SigningKeyPair, KeyError> {
        if let Some(stored) = store.broker_key(STORED_NAME).await? {
            return Self::from_stored(&stored);
        }
        let fresh = tokio::task::spawn_blocking(Self::generate)
            .await
            .map_err(|e| KeyError::Generate(e.to_string()))??;
        let stored = store
            .create_broker_key(STORED_NAME, fresh.to_stored().as_bytes())
            .await?;
        Self::from_stored(&stored)
    }

    fn from_stored(stored: &[u8]) -> Result<SigningKeyPair, KeyError> {
        Self::from_pem(stored, stored).map_err(|e| {
            KeyError::Store(store::Error::Corrupt(format!(
                "broker key {STORED_NAME}: {e}"
            )))
        })
    }

    /// The PEM text kept in the database: the PKCS#8 private key, then the certificate.
    fn to_stored(&self) -> String {
        use rsa::pkcs8::EncodePrivateKey as _;
        let key = self
            .key
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .expect("an RSA key always encodes as PKCS#8");
        format!("{}{}", key.as_str(), self.certificate.pem)
    }

    pub fn key(&self) -> &Arc<PrivateKey> {
        &self.key
    }

    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
}

/// The one private key block of `pem_text`, PKCS#8 or PKCS#1.
fn private_key(pem_text: &[u8]) -> Result<PrivateKey, KeyError> {
    let blocks = pem::parse_many(pem_text).map_err(|e| invalid(format!("not PEM: {e}")))?;
    let keys: Vec<&pem::Pem> = blocks
        .iter()
        .filter(|b| b.tag().ends_with("PRIVATE KEY"))
        .collect();
    let [block] = keys.as_slice() else {
        return Err(invalid(format!(
            "must hold exactly one PRIVATE KEY or RSA PRIVATE KEY block (found {})",
            keys.len()
        )));
    };
    match block.tag() {
        "PRIVATE KEY" => PrivateKey::from_pkcs8_der(block.contents())
            .map_err(|e| invalid(format!("not an RSA key in PKCS#8: {e}"))),
        "RSA PRIVATE KEY" => PrivateKey::from_pkcs1_der(block.contents())
            .map_err(|e| invalid(format!("not an RSA key in PKCS#1: {e}"))),
        other => Err(invalid(format!(
            "holds a {other} block; an RSA key (PRIVATE KEY or RSA PRIVATE KEY) is needed"
        ))),
    }
}

/// The subjectPublicKeyInfo of an X.509 v3 certificate (DER), found as the official MNS
/// verifier finds it: the 7th element of the tbsCertificate, which starts with the explicit
/// version (absent from v1 certificates, which are refused).
fn subject_public_key_info(cert_der: &[u8]) -> Result<&[u8], KeyError> {
    let malformed = || invalid("the certificate is not DER-encoded X.509");
    let certificate = der_element(cert_der).ok_or_else(malformed)?;
    let tbs = der_element(certificate.content).ok_or_else(malformed)?;
    let mut rest = tbs.content;
    let mut elements = Vec::with_capacity(7);
    while elements.len() < 7 && !rest.is_empty() {
        let element = der_element(rest).ok_or_else(malformed)?;
        rest = element.rest;
        elements.push(element);
    }
    let version = elements.first().ok_or_else(malformed)?;
    // [0] EXPLICIT INTEGER 2 (v3).
    if version.tag != 0xA0 || version.content != [0x02, 0x01, 0x02] {
        return Err(invalid("the certificate must be X.509 v3"));
    }
    let spki = elements.get(6).ok_or_else(malformed)?;
    Ok(spki.whole)
}

/// One DER element.
struct Element<'a> {
    tag: u8,
    content: &'a [u8],
    /// The element with its tag and length.
    whole: &'a [u8],
    /// What follows it.
    rest: &'a [u8],
}

fn der_element(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first, after_first) = after_tag.split_first()?;
    let (length, body) = if first < 0x80 {
        (usize::from(first), after_first)
    } else {
        let octets = usize::from(first & 0x7F);
        if octets == 0 || octets > 4 || after_first.len() < octets {
            return None;
        }
        let length = after_first[..octets]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (length, &after_first[octets..])
    };
    if body.len() < length {
        return None;
    }
    let header = input.len() - body.len();
    Some(Element {
        tag,
        content: &body[..length],
        whole: &input[..header + length],
        rest: &body[length..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One generated pair for the tests of this module (generation takes a while).
    fn generated() -> &'static SigningKeyPair {
        static PAIR: std::sync::OnceLock<SigningKeyPair> = std::sync::OnceLock::new();
        PAIR.get_or_init(|| SigningKeyPair::generate().unwrap())
    }

    #[test]
    fn a_generated_pair_round_trips_through_its_stored_form() {
        let pair = generated();
        assert_eq!(pair.certificate.key_id.len(), 16);
        let pem = &pair.certificate.pem;
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"), "{pem}");
        assert_eq!(pem.matches("-----BEGIN").count(), 1);
        let stored = pair.to_stored();
        let back = SigningKeyPair::from_stored(stored.as_bytes()).unwrap();
        assert_eq!(back.certificate, pair.certificate);
        assert_eq!(back.key, pair.key);
        assert!(pair.key.n().bit_width() >= 2048);
    }

    #[test]
    fn the_certificate_must_be_of_the_key() {
        let pair = generated();
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let err = SigningKeyPair::from_pem(
            other.serialize_pem().as_bytes(),
            pair.certificate.pem.as_bytes(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not of this private key"), "{err}");
    }

    #[test]
    fn bad_pem_files_are_named_precisely() {
        let pair = generated();
        let key_pem = pair.to_stored();
        let cert = pair.certificate.pem.as_bytes();
        let two = format!("{0}{0}", pair.certificate.pem);
        let err = SigningKeyPair::from_pem(key_pem.as_bytes(), two.as_bytes()).unwrap_err();
        assert!(
            err.to_string()
                .contains("exactly one CERTIFICATE block (found 2)"),
            "{err}"
        );
        let err = SigningKeyPair::from_pem(cert, cert).unwrap_err();
        assert!(err.to_string().contains("PRIVATE KEY"), "{err}");
        let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let err = SigningKeyPair::from_pem(ec.serialize_pem().as_bytes(), cert).unwrap_err();
        assert!(err.to_string().contains("not an RSA key"), "{err}");
    }

    #[test]
    fn a_pkcs1_key_is_accepted() {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        let pair = generated();
        let pkcs1 = pair.key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let back =
            SigningKeyPair::from_pem(pkcs1.as_bytes(), pair.certificate.pem.as_bytes()).unwrap();
        assert_eq!(back.certificate.key_id, pair.certificate.key_id);
    }

    #[test]
    fn der_lengths_of_every_form_are_read() {
        let short = [0x04, 0x02, 0xAA, 0xBB, 0xFF];
        let e = der_element(&short).unwrap();
        assert_eq!(
            (e.tag, e.content, e.whole, e.rest),
            (4, &[0xAA, 0xBB][..], &short[..4], &[0xFF][..])
        );
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(7u8, 256));
        assert_eq!(der_element(&long).unwrap().content.len(), 256);
        assert!(
            der_element(&[0x30, 0x05, 0x00]).is_none(),
            "content shorter than its length"
        );
        assert!(
            der_element(&[0x30, 0x80]).is_none(),
            "indefinite length is not DER"
        );
    }
}
