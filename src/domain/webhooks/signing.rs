//! Standard Webhooks signatures: `v1,` and the base64 of the HMAC-SHA256 of
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the bytes the secret
//! `whsec_<base64>` encodes. Several signatures (a rotation's old and new
//! secret) are separated by spaces; a receiver accepts any that verifies.
//!
//! Checked in the tests against the `standardwebhooks` reference library.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::DomainError;

/// The prefix of a secret, as the specification writes it.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of key in a new secret.
const KEY_BYTES: usize = 32;

/// A fresh secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> Result<String, DomainError> {
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key)
        .map_err(|err| DomainError::Corrupt(format!("no randomness: {err}")))?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// The key a secret encodes (none: not a secret of this form).
fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()
        .filter(|key| !key.is_empty())
}

/// The `webhook-signature` header for `body` sent as message `id` at
/// `timestamp` (seconds since the epoch), one signature per secret.
pub fn signature(
    secrets: &[&str],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, DomainError> {
    let mut out = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let key = key_of(secret)
            .ok_or_else(|| DomainError::Corrupt("a webhook secret does not decode".to_owned()))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&key)
            .map_err(|err| DomainError::Corrupt(format!("webhook key: {err}")))?;
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        out.push(format!(
            "v1,{}",
            STANDARD.encode(mac.finalize().into_bytes())
        ));
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The example of the Standard Webhooks specification's test suite.
    #[test]
    fn signs_the_specifications_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&[secret], id, 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn signs_with_every_secret_and_each_secret_matters() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert!(a.starts_with(SECRET_PREFIX) && a != b);
        let both = signature(&[&a, &b], "msg_1", 1, b"{}").unwrap();
        let (first, second) = both.split_once(' ').unwrap();
        assert_eq!(first, signature(&[&a], "msg_1", 1, b"{}").unwrap());
        assert_eq!(second, signature(&[&b], "msg_1", 1, b"{}").unwrap());
        assert_ne!(first, second);
        // Any change to what is signed changes the signature.
        assert_ne!(first, signature(&[&a], "msg_2", 1, b"{}").unwrap());
        assert_ne!(first, signature(&[&a], "msg_1", 2, b"{}").unwrap());
        assert_ne!(first, signature(&[&a], "msg_1", 1, b"{ }").unwrap());
    }

    #[test]
    fn a_secret_that_does_not_decode_is_an_error() {
        assert!(signature(&["whsec_***"], "m", 1, b"").is_err());
    }
}
