//! Receipt handles: opaque, URL-safe and unguessable. A handle carries the message row and the
//! receive generation it was issued for, signed (HMAC-SHA256, truncated) with the broker's
//! receipt key over the queue id too, so a handle is bound to one receive of one queue and a
//! forged or foreign one is told apart from a stale one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::store::Receipt;

/// Bytes of signature kept (128 bits).
const TAG_BYTES: usize = 16;
/// row id (8) + generation (8) + tag.
const HANDLE_BYTES: usize = 16 + TAG_BYTES;
/// The length of a handle in characters (unpadded base64url of [`HANDLE_BYTES`]).
pub const HANDLE_CHARS: usize = (HANDLE_BYTES * 8).div_ceil(6);

/// Why a handle was refused before looking at the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadHandle {
    /// Not a receipt handle at all (wrong length or alphabet).
    Malformed,
    /// Well-formed, but not issued by this queue.
    Unknown,
}

/// Issues and checks the handles of every queue.
#[derive(Clone)]
pub struct ReceiptSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for ReceiptSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReceiptSigner(<key>)")
    }
}

impl ReceiptSigner {
    pub fn new(key: &[u8]) -> ReceiptSigner {
        ReceiptSigner { key: key.to_vec() }
    }

    fn tag(&self, queue_id: i64, row_id: i64, receipt_gen: i64) -> [u8; TAG_BYTES] {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(&queue_id.to_be_bytes());
        mac.update(&row_id.to_be_bytes());
        mac.update(&receipt_gen.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG_BYTES];
        tag.copy_from_slice(&full[..TAG_BYTES]);
        tag
    }

    pub fn issue(&self, queue_id: i64, receipt: Receipt) -> String {
        let mut bytes = Vec::with_capacity(HANDLE_BYTES);
        bytes.extend_from_slice(&receipt.row_id.to_be_bytes());
        bytes.extend_from_slice(&receipt.receipt_gen.to_be_bytes());
        bytes.extend_from_slice(&self.tag(queue_id, receipt.row_id, receipt.receipt_gen));
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn check(&self, queue_id: i64, handle: &str) -> Result<Receipt, BadHandle> {
        if handle.len() != HANDLE_CHARS {
            return Err(BadHandle::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(handle)
            .map_err(|_| BadHandle::Malformed)?;
        let (row, rest) = bytes.split_at(8);
        let (generation, tag) = rest.split_at(8);
        let row_id = i64::from_be_bytes(row.try_into().map_err(|_| BadHandle::Malformed)?);
        let receipt_gen =
            i64::from_be_bytes(generation.try_into().map_err(|_| BadHandle::Malformed)?);
        let expected = self.tag(queue_id, row_id, receipt_gen);
        // Constant-time comparison: the tag must not be guessable byte by byte.
        let same = tag
            .iter()
            .zip(expected.iter())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0;
        if !same {
            return Err(BadHandle::Unknown);
        }
        Ok(Receipt {
            row_id,
            receipt_gen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            row_id: 42,
            receipt_gen: 3,
        }
    }

    #[test]
    fn handles_round_trip_and_are_url_safe() {
        let signer = ReceiptSigner::new(b"k");
        let handle = signer.issue(7, receipt());
        assert_eq!(handle.len(), HANDLE_CHARS);
        assert!(
            handle
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(signer.check(7, &handle), Ok(receipt()));
    }

    #[test]
    fn foreign_forged_and_malformed_handles_are_refused() {
        let signer = ReceiptSigner::new(b"k");
        let handle = signer.issue(7, receipt());
        assert_eq!(signer.check(8, &handle), Err(BadHandle::Unknown));
        assert_eq!(
            ReceiptSigner::new(b"other").check(7, &handle),
            Err(BadHandle::Unknown)
        );
        let mut flipped = handle.into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(signer.check(7, &flipped), Err(BadHandle::Unknown));
        assert_eq!(signer.check(7, "abc"), Err(BadHandle::Malformed));
        let bad_alphabet = "!".repeat(HANDLE_CHARS);
        assert_eq!(signer.check(7, &bad_alphabet), Err(BadHandle::Malformed));
    }
}
