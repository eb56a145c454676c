//! Check-in tokens: one EdDSA-signed JWT per valid ticket, verifiable by any
//! JWT library with the published JWKS.
//!
//! The claims are kept compact because the token becomes a QR code: ids are
//! 22-character base64url UUIDs, and there is no personal data at all (the
//! token is printed on paper and shown on phones).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use entity::ticket;
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{DomainError, keys::KeyRing};

/// How tokens are issued.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// The `iss` claim.
    pub issuer: String,
    /// How long before the event starts and after it ends a token is valid.
    pub grace: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: "tessera".into(),
            grace: Duration::hours(48),
        }
    }
}

/// The claims of a check-in token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The event's slug.
    pub aud: String,
    /// The ticket id, compact.
    pub sub: String,
    /// The tier id, compact.
    pub tier: String,
    /// The ticket's token version: a token with an older one is superseded.
    pub ver: i32,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// A UUID as 22 base64url characters.
pub fn compact(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn expand(compact: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(compact).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// The validity window of tokens for an event.
pub fn window(
    settings: &TokenSettings,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    (starts_at - settings.grace, ends_at + settings.grace)
}

/// Signs the token of a ticket.
pub async fn issue(
    keys: &KeyRing,
    settings: &TokenSettings,
    event_slug: &str,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    ticket: &ticket::Model,
) -> Result<(String, DateTime<Utc>), DomainError> {
    let (kid, key) = keys.signer().await?;
    let (nbf, exp) = window(settings, starts_at, ends_at);
    let claims = Claims {
        iss: settings.issuer.clone(),
        aud: event_slug.to_owned(),
        sub: compact(ticket.id),
        tier: compact(ticket.tier_id),
        ver: ticket.token_version,
        iat: crate::domain::now().timestamp(),
        nbf: nbf.timestamp(),
        exp: exp.timestamp(),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid);
    let token = jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|err| DomainError::Corrupt(format!("cannot sign a check-in token: {err}")))?;
    Ok((token, exp))
}

/// Why a token was refused before its ticket was even looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Malformed, tampered with, signed by an unknown or retired key.
    Invalid,
    Expired,
    NotYetValid,
    /// Signed by us, for another event.
    WrongEvent,
}

/// The part of a JWT header that verification reads.
#[derive(Deserialize)]
struct JwtHeader {
    alg: String,
    kid: Option<String>,
}

/// Leeway for clock skew between the scanner and the signer, in seconds.
const LEEWAY: i64 = 60;

/// Verifies a token for the event `slug`; answers its claims.
///
/// Tokens are made with `jsonwebtoken`; they are checked here directly with
/// the cached Ed25519 key (`verify_strict`, which also refuses malleable
/// signatures), because the door checks thousands per minute and the JWT
/// library rebuilds the key on every call. The checks are the JWT ones:
/// EdDSA only, a known kid, the signature over `header.payload`, then `exp`
/// and `nbf` (60 s leeway), `iss`, and `aud` (the event's slug).
pub async fn verify(
    keys: &KeyRing,
    settings: &TokenSettings,
    token: &str,
    slug: &str,
) -> Result<Result<Claims, TokenRefusal>, DomainError> {
    let invalid = Ok(Err(TokenRefusal::Invalid));
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return invalid;
    };
    let Some(header) = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<JwtHeader>(&bytes).ok())
    else {
        return invalid;
    };
    let Some(kid) = header.kid.filter(|_| header.alg == "EdDSA") else {
        return invalid;
    };
    let Some(key) = keys.verifier(&kid).await? else {
        return invalid;
    };
    let Some(signature) = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| ed25519_dalek::Signature::from_slice(&bytes).ok())
    else {
        return invalid;
    };
    let signed = &token[..token.len() - signature_len(token)];
    if key.verify_strict(signed.as_bytes(), &signature).is_err() {
        return invalid;
    }
    let Some(claims) = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Claims>(&bytes).ok())
    else {
        return invalid;
    };
    let now = crate::domain::now().timestamp();
    Ok(if claims.exp + LEEWAY < now {
        Err(TokenRefusal::Expired)
    } else if claims.nbf - LEEWAY > now {
        Err(TokenRefusal::NotYetValid)
    } else if claims.iss != settings.issuer {
        Err(TokenRefusal::Invalid)
    } else if claims.aud != slug {
        Err(TokenRefusal::WrongEvent)
    } else {
        Ok(claims)
    })
}

/// The length of `.signature` at the end of a token.
fn signature_len(token: &str) -> usize {
    token
        .rfind('.')
        .map_or(token.len(), |dot| token.len() - dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_ids_round_trip_in_22_characters() {
        let id = Uuid::now_v7();
        let short = compact(id);
        assert_eq!(short.len(), 22);
        assert_eq!(expand(&short), Some(id));
        assert_eq!(expand("not-an-id"), None);
    }
}
