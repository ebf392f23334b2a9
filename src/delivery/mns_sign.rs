//! MNS push signatures (mns.md §9.4), made the way MNS receivers verify them: RSASSA-PKCS1-v1_5
//! with SHA-1 over a string built from the headers the push carries, sent base64-encoded as
//! `Authorization` (no `MNS ` prefix), with the base64 certificate URL in
//! `x-mns-signing-cert-url`.

use base64::Engine as _;
use rsa_sha1::Sha1;

use super::mns_keys::{Certificate, SigningKeyPair};

/// The header carrying base64 of the certificate URL (it is signed, like every `x-mns-*`).
pub const CERT_URL_HEADER: &str = "x-mns-signing-cert-url";

/// A signature could not be made (the RSA operation or the system RNG failed).
#[derive(Debug, thiserror::Error)]
#[error("cannot make the MNS push signature: {0}")]
pub struct SignError(String);

/// Signs pushes with the broker's key and names the URL its certificate is served at.
#[derive(Debug)]
pub struct MnsSigner {
    pair: SigningKeyPair,
    cert_url: String,
    cert_url_header: String,
}

impl MnsSigner {
    /// A signer whose certificate receivers fetch at `<cert_base_url>/mns-cert/<key-id>.pem`
    /// (`cert_base_url` without a trailing `/`).
    pub fn new(pair: SigningKeyPair, cert_base_url: &str) -> MnsSigner {
        let cert_url = format!("{cert_base_url}/mns-cert/{}.pem", pair.certificate().key_id);
        let cert_url_header = base64::engine::general_purpose::STANDARD.encode(&cert_url);
        MnsSigner {
            pair,
            cert_url,
            cert_url_header,
        }
    }

    /// Where receivers fetch the certificate.
    pub fn cert_url(&self) -> &str {
        &self.cert_url
    }

    /// The `x-mns-signing-cert-url` value: base64 of [`Self::cert_url`].
    pub fn cert_url_header(&self) -> &str {
        &self.cert_url_header
    }

    pub fn certificate(&self) -> &Certificate {
        self.pair.certificate()
    }

    /// base64 of the RSASSA-PKCS1-v1_5 SHA-1 signature of `string_to_sign` (UTF-8). The
    /// private-key operation is blinded with the system RNG. About 2 ms of CPU (RSA-2048,
    /// release build; see BENCHMARKS.md): call it off the async workers.
    pub fn sign(&self, string_to_sign: &str) -> Result<String, SignError> {
        let signature = self
            .pair
            .key()
            .pkcs1v15_sign::<Sha1>(string_to_sign.as_bytes())
            .map_err(|e| SignError(e.to_string()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(signature))
    }
}

#[cfg(test)]
mod tests {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier as _;

    use super::*;
    use crate::format::mns_signing::SignedParts;

    /// mns.md §9.4's documented string to sign, rebuilt from the headers it shows.
    #[test]
    fn the_documented_string_to_sign() {
        let mns_headers = [
            ("x-mns-version", "2015-06-06"),
            (
                CERT_URL_HEADER,
                "aHR0cDovL21uc3Rlc3Qub3NzLWNuLWhhbmd6aG91LmFsaXl1bmNzLmNvbS94NTA5X3B1YmxpY19jZXJ0aWZpY2F0ZS5wZW0=",
            ),
            ("x-mns-request-id", "57458276F0E3D56D7C00054B"),
        ];
        let parts = SignedParts {
            method: "POST",
            content_md5: "ZDgxNjY5ZjFlMDQ5MGM0YWMwMWE5ODlmZDVlYmQxYjI=",
            content_type: "text/xml;charset=utf-8",
            date: "Wed, 25 May 2016 10:46:14 GMT",
            mns_headers: &mns_headers,
            resource: "/notifications",
        };
        assert_eq!(
            parts.string_to_sign(),
            "POST\n\
             ZDgxNjY5ZjFlMDQ5MGM0YWMwMWE5ODlmZDVlYmQxYjI=\n\
             text/xml;charset=utf-8\n\
             Wed, 25 May 2016 10:46:14 GMT\n\
             x-mns-request-id:57458276F0E3D56D7C00054B\n\
             x-mns-signing-cert-url:aHR0cDovL21uc3Rlc3Qub3NzLWNuLWhhbmd6aG91LmFsaXl1bmNzLmNvbS94NTA5X3B1YmxpY19jZXJ0aWZpY2F0ZS5wZW0=\n\
             x-mns-version:2015-06-06\n\
             /notifications"
        );
        let url = base64::engine::general_purpose::STANDARD
            .decode(mns_headers[1].1)
            .unwrap();
        assert_eq!(
            url,
            b"http://mnstest.oss-cn-hangzhou.aliyuncs.com/x509_public_certificate.pem"
        );
    }

    #[test]
    fn signatures_verify_with_the_public_key_and_fail_on_any_change() {
        let pair = SigningKeyPair::generate().unwrap();
        let signer = MnsSigner::new(pair.clone(), "https://bb.example/base");
        assert_eq!(
            signer.cert_url(),
            format!(
                "https://bb.example/base/mns-cert/{}.pem",
                pair.certificate().key_id
            )
        );
        let text = "POST\n\n\nD\nx-mns-version:2015-06-06\n/n";
        let signature = signer.sign(text).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&signature)
            .unwrap();
        assert_eq!(raw.len(), 256, "RSA-2048 signatures are 256 bytes");
        let verifier = VerifyingKey::<Sha1>::new(pair.key().to_public_key());
        let sig = Signature::try_from(raw.as_slice()).unwrap();
        verifier.verify(text.as_bytes(), &sig).unwrap();
        assert!(verifier.verify(b"POST\n\n\nD\n/n", &sig).is_err());
        let other = SigningKeyPair::generate().unwrap();
        let stranger = VerifyingKey::<Sha1>::new(other.key().to_public_key());
        assert!(stranger.verify(text.as_bytes(), &sig).is_err());
        // PKCS#1 v1.5 is deterministic: blinding does not change the signature.
        assert_eq!(signer.sign(text).unwrap(), signature);
    }
}
