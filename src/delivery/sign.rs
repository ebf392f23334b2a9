//! Standard Webhooks v1 signing (HMAC-SHA256) so any Standard Webhooks library can verify.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::model::SigningSecret;

/// Standard Webhooks v1 signature: "v1," + base64(HMAC-SHA256(secret.key(), "{msg_id}.{timestamp}.{body}")).
/// `timestamp` is the attempt's Unix seconds (the `webhook-timestamp` header), `body` the exact
/// bytes sent.
pub fn sign(secret: &SigningSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.key()).expect("HMAC accepts keys of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SigningSecret {
        SigningSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap()
    }

    #[test]
    fn the_standard_webhooks_test_vector() {
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            sign(
                &secret(),
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                body
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn every_signed_part_matters() {
        let base = sign(&secret(), "msg_1", 1, b"body");
        assert_ne!(base, sign(&secret(), "msg_2", 1, b"body"));
        assert_ne!(base, sign(&secret(), "msg_1", 2, b"body"));
        assert_ne!(base, sign(&secret(), "msg_1", 1, b"body!"));
        assert_ne!(base, sign(&SigningSecret::generate(), "msg_1", 1, b"body"));
    }
}
