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

/// How tokens are issued and the door judges time.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// The `iss` claim.
    pub issuer: String,
    /// How long before the event starts and after it ends its doors admit
    /// (on lists without their own window).
    pub grace: Duration,
    /// How far ahead of the server's clock an offline scan may be dated
    /// before its device's clock is taken to be wrong.
    pub clock_skew: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            issuer: "tessera".into(),
            grace: Duration::hours(48),
            clock_skew: Duration::minutes(5),
        }
    }
}

/// How long past the end of its event (as dated when it was issued) a token
/// stays valid as a signed claim. The door decides on the event's current
/// dates; this outer bound only keeps a token from living forever, and is
/// long enough for an event to be postponed without its tickets breaking.
pub const OUTER_BOUND: Duration = Duration::days(365);

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

/// Signs the token of a ticket: valid from a day before now (so that an
/// offline tablet whose clock is slow never refuses a token fetched at the
/// door) until `OUTER_BOUND` after the event's end. When it admits is the
/// door's business.
pub async fn issue(
    keys: &KeyRing,
    settings: &TokenSettings,
    event_slug: &str,
    ends_at: DateTime<Utc>,
    ticket: &ticket::Model,
) -> Result<(String, DateTime<Utc>), DomainError> {
    let (kid, key) = keys.signer().await?;
    let now = crate::domain::now();
    let exp = ends_at.max(now) + settings.grace + OUTER_BOUND;
    let claims = Claims {
        iss: settings.issuer.clone(),
        aud: event_slug.to_owned(),
        sub: compact(ticket.id),
        tier: compact(ticket.tier_id),
        ver: ticket.token_version,
        iat: now.timestamp(),
        nbf: (now - Duration::days(1)).timestamp(),
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
    /// Signed by us, for another event.
    WrongEvent,
}

impl Claims {
    /// Whether the token's own `nbf`/`exp` rule out a scan at `at` (60 s
    /// leeway): `Some(false)` not yet valid, `Some(true)` expired.
    pub fn expired_at(&self, at: DateTime<Utc>) -> Option<bool> {
        let at = at.timestamp();
        if self.exp.saturating_add(LEEWAY) < at {
            Some(true)
        } else if self.nbf.saturating_sub(LEEWAY) > at {
            Some(false)
        } else {
            None
        }
    }
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
/// and `iss`, and `aud` (the event's slug). The token's `nbf` and `exp` are
/// judged with the ticket (`Claims::expired_at`), so that a refusal for its
/// time can still say whose ticket it is.
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
    Ok(if claims.iss != settings.issuer {
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
