//! A receiver's check of an MNS push signature, step by step as the official Python endpoint
//! sample (`aliyun-mns-python-sdk` `sample/topic/server.py`) does it, with an RSA
//! implementation (aws-lc-rs) other than the broker's signer (RustCrypto `rsa`):
//! 1. the string to sign from the headers as received (`x-mns-*` selected case-sensitively,
//!    `"k:v"` strings sorted) and the raw request target;
//! 2. base64-decode `x-mns-signing-cert-url` and fetch the PEM there;
//! 3. strip spaces, split into lines, base64-decode `lines[1:-1]`;
//! 4. the subjectPublicKeyInfo is element 6 of the tbsCertificate (element 0 of the
//!    certificate);
//! 5. verify base64-decoded `Authorization` as RSASSA-PKCS1-v1_5 / SHA-1.

use aws_lc_rs::signature::{RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY, UnparsedPublicKey};
use base64::Engine as _;

use super::raw_receiver::RawRequest;

fn b64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("not base64: {e}"))
}

/// Step 1.
pub fn string_to_sign(request: &RawRequest) -> String {
    let mut service: Vec<String> = request
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-mns-"))
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    service.sort();
    let signed: Vec<&str> = ["content-md5", "content-type", "date"]
        .iter()
        .map(|k| request.header(k).unwrap_or(""))
        .collect();
    format!(
        "{}\n{}\n{}\n{}",
        request.method,
        signed.join("\n"),
        service.join("\n"),
        request.target
    )
}

/// Step 2: the certificate URL and the PEM text served there.
pub async fn fetch_certificate(request: &RawRequest) -> Result<(String, String), String> {
    let header = request
        .header("x-mns-signing-cert-url")
        .ok_or("no x-mns-signing-cert-url header")?;
    let url = String::from_utf8(b64(header)?).map_err(|e| e.to_string())?;
    let response = reqwest::get(&url).await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: {}", response.status()));
    }
    let pem = response.text().await.map_err(|e| e.to_string())?;
    Ok((url, pem))
}

/// Steps 3 and 4: the subjectPublicKeyInfo (DER) of the PEM certificate.
pub fn public_key_info(pem: &str) -> Result<Vec<u8>, String> {
    let compact = pem.replace(' ', "");
    let lines: Vec<&str> = compact.split_whitespace().collect();
    if lines.len() < 3 {
        return Err("too few PEM lines".into());
    }
    let der = b64(&lines[1..lines.len() - 1].concat())?;
    let certificate = sequence(&der)?;
    let tbs = sequence(certificate.first().ok_or("empty certificate")?)?;
    tbs.get(6)
        .map(|spki| spki.to_vec())
        .ok_or_else(|| "tbsCertificate has no element 6".into())
}

/// Step 5 with the public key of `spki`.
pub fn verify_with(spki: &[u8], string_to_sign: &str, authorization: &str) -> Result<(), String> {
    let signature = b64(authorization)?;
    UnparsedPublicKey::new(&RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY, spki)
        .verify(string_to_sign.as_bytes(), &signature)
        .map_err(|_| "the signature does not verify".to_string())
}

/// All five steps.
pub async fn verify(request: &RawRequest) -> Result<(), String> {
    let (_, pem) = fetch_certificate(request).await?;
    let spki = public_key_info(&pem)?;
    let authorization = request
        .header("authorization")
        .ok_or("no Authorization header")?;
    verify_with(&spki, &string_to_sign(request), authorization)
}

/// The elements (each with its tag and length) of the DER SEQUENCE `der`, like pycryptodome's
/// `DerSequence().decode(der)`.
fn sequence(der: &[u8]) -> Result<Vec<&[u8]>, String> {
    let (tag, content, _) = element(der)?;
    if tag != 0x30 {
        return Err(format!("expected a SEQUENCE, found tag {tag:#04x}"));
    }
    let mut items = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (_, _, after) = element(rest)?;
        items.push(&rest[..rest.len() - after.len()]);
        rest = after;
    }
    Ok(items)
}

/// (tag, content, rest) of the DER element at the start of `input`.
fn element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let short = || "truncated DER".to_string();
    let (&tag, rest) = input.split_first().ok_or_else(short)?;
    let (&first, rest) = rest.split_first().ok_or_else(short)?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        let bytes = rest.get(..n).ok_or_else(short)?;
        let length = bytes.iter().fold(0, |acc, b| (acc << 8) | usize::from(*b));
        (length, &rest[n..])
    };
    let content = rest.get(..length).ok_or_else(short)?;
    Ok((tag, content, &rest[length..]))
}
