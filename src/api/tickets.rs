//! The attendee's check-in token and QR code, and the published keys that
//! verify tokens.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::Path,
    payload::{Binary, PlainText},
};
use uuid::Uuid;

use super::{Tag, auth::OrderAuth, types::Found};
use crate::{
    domain::{
        self,
        checkin::{qr, report},
    },
    error::{ApiError, PublicError},
    state::AppState,
};

/// A ticket's check-in token.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct CheckinToken {
    /// A JWT signed with EdDSA (Ed25519): header `kid`; claims `iss`, `aud`
    /// (the event's slug), `sub` (the ticket id), `tier`, `ver` (the token
    /// version), `iat`, `nbf`, `exp`. Ids are UUIDs as 22 base64url
    /// characters. No personal data. Verify with `/.well-known/jwks.json`.
    pub token: String,
    /// When the token stops being valid.
    pub expires_at: DateTime<Utc>,
}

/// An Ed25519 public key as an RFC 8037 JWK.
#[derive(Debug, Clone, Object)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    pub kid: String,
    /// `sig`.
    #[oai(rename = "use")]
    pub usage: String,
    /// `EdDSA`.
    pub alg: String,
}

/// The keys that verify check-in tokens.
#[derive(Debug, Clone, Object)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

#[derive(ApiResponse)]
pub enum QrSvg {
    /// The token as a QR code, SVG.
    #[oai(status = 200, content_type = "image/svg+xml")]
    Ok(PlainText<String>),
}

#[derive(ApiResponse)]
pub enum QrPng {
    /// The token as a QR code, PNG.
    #[oai(status = 200, content_type = "image/png")]
    Ok(Binary<Vec<u8>>),
}

pub struct TicketsApi;

#[OpenApi(tag = "Tag::Checkin")]
impl TicketsApi {
    /// Get a ticket's check-in token
    ///
    /// Only while the ticket is valid and its order paid (409
    /// `ticket_not_valid` otherwise). A new name or email, or an organizer's
    /// reissue, replaces the token; the old one is refused as `superseded`.
    #[oai(
        path = "/api/v1/orders/:code/tickets/:ticket_id/token",
        method = "get",
        operation_id = "get_ticket_token"
    )]
    async fn token(
        &self,
        state: Data<&AppState>,
        auth: OrderAuth,
        code: Path<String>,
        ticket_id: Path<Uuid>,
    ) -> Result<Found<CheckinToken>, ApiError> {
        let (token, expires_at) = report::attendee_token(
            &state.db,
            &state.keys,
            &state.tokens,
            &code,
            auth.token(),
            ticket_id.0,
        )
        .await?;
        Ok(Found(CheckinToken { token, expires_at }))
    }

    /// Get a ticket's QR code (SVG)
    #[oai(
        path = "/api/v1/orders/:code/tickets/:ticket_id/qr.svg",
        method = "get",
        operation_id = "get_ticket_qr_svg"
    )]
    async fn qr_svg(
        &self,
        state: Data<&AppState>,
        auth: OrderAuth,
        code: Path<String>,
        ticket_id: Path<Uuid>,
    ) -> Result<QrSvg, ApiError> {
        let (token, _) = report::attendee_token(
            &state.db,
            &state.keys,
            &state.tokens,
            &code,
            auth.token(),
            ticket_id.0,
        )
        .await?;
        Ok(QrSvg::Ok(PlainText(qr::svg(&token)?)))
    }

    /// Get a ticket's QR code (PNG)
    #[oai(
        path = "/api/v1/orders/:code/tickets/:ticket_id/qr.png",
        method = "get",
        operation_id = "get_ticket_qr_png"
    )]
    async fn qr_png(
        &self,
        state: Data<&AppState>,
        auth: OrderAuth,
        code: Path<String>,
        ticket_id: Path<Uuid>,
    ) -> Result<QrPng, ApiError> {
        let (token, _) = report::attendee_token(
            &state.db,
            &state.keys,
            &state.tokens,
            &code,
            auth.token(),
            ticket_id.0,
        )
        .await?;
        Ok(QrPng::Ok(Binary(qr::png(&token)?)))
    }

    /// The keys that verify check-in tokens
    ///
    /// Every signing key that is not retired, as RFC 8037 OKP JWKs, so any
    /// scanner app can verify tokens with an off-the-shelf JWT library.
    #[oai(path = "/.well-known/jwks.json", method = "get", operation_id = "jwks")]
    async fn jwks(&self, state: Data<&AppState>) -> Result<Found<JwkSet>, PublicError> {
        Ok(Found(jwk_set(&state.db).await?))
    }
}

pub async fn jwk_set(db: &sea_orm::DatabaseConnection) -> Result<JwkSet, domain::DomainError> {
    Ok(JwkSet {
        keys: domain::keys::published(db)
            .await?
            .into_iter()
            .map(|key| Jwk {
                kty: "OKP".into(),
                crv: "Ed25519".into(),
                x: key.x,
                kid: key.kid,
                usage: "sig".into(),
                alg: "EdDSA".into(),
            })
            .collect(),
    })
}
