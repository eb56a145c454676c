//! Admin endpoints for staff tokens.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, param::Query, payload::Json};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    api::{Tag, auth::StaffAuth, body::JsonBody, scanner, types::Found},
    domain::{
        checkin::qr,
        staff::{self, NewTokenInput, Role, TokenInfo},
    },
    error::ApiResult,
    state::AppState,
};

/// A new staff token.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// A label for people, e.g. `Door volunteer 3` (1-100 characters).
    pub name: String,
    pub role: Role,
    /// Slugs of the events the token is limited to. An organizer or
    /// volunteer token needs either `events` or `all_events`; admin tokens
    /// take neither (they cover every event).
    #[oai(default)]
    #[serde(default)]
    pub events: Vec<String>,
    /// The token covers every event, present and future. Never implied by
    /// an empty `events`: a token is scoped unless this says otherwise.
    #[oai(default)]
    #[serde(default)]
    pub all_events: bool,
}

/// A staff token, without its secret.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct StaffToken {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    /// The first characters of the secret, to tell tokens apart.
    pub hint: String,
    /// Whether the token covers every event (always true for admins).
    pub all_events: bool,
    /// Slugs of the events in scope when `all_events` is false. Deleting an
    /// event removes it here; a token left with none reaches nothing.
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set once revoked: the token no longer works.
    #[oai(nullable)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenInfo> for StaffToken {
    fn from(info: TokenInfo) -> Self {
        Self {
            id: info.id,
            name: info.name,
            role: info.role,
            hint: info.hint,
            all_events: info.all_events,
            events: info.events,
            created_at: info.created_at,
            last_used_at: info.last_used_at,
            revoked_at: info.revoked_at,
        }
    }
}

/// A token just created. `token` is the secret: it is shown only in this
/// response and cannot be recovered later.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct CreatedToken {
    /// The secret to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Opens the volunteer scanner (`/scan/`) signed in with this token. The
    /// token travels in the URL's fragment, which browsers never send to a
    /// server, so no access log ever holds it. Like `token`, shown only now.
    pub signin_url: String,
    /// `signin_url` as an SVG QR code: an organizer shows it, a volunteer
    /// scans it with the scanner's sign-in camera or their phone's camera.
    pub signin_qr_svg: String,
    #[oai(flatten)]
    pub info: StaffToken,
}

/// A page of staff tokens, oldest first.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct StaffTokenPage {
    pub items: Vec<StaffToken>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum TokenCreated {
    /// The token was created; store `token` now.
    #[oai(status = 201)]
    Created(Json<CreatedToken>),
}

pub struct TokensApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminTokens")]
impl TokensApi {
    /// Create a staff token
    ///
    /// Admins create any token. Organizers create volunteer tokens for
    /// their own events (or for every event, if they cover every event);
    /// anything wider answers 403.
    #[oai(path = "/tokens", method = "post", operation_id = "create_token")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        body: JsonBody<TokenCreate>,
    ) -> ApiResult<TokenCreated> {
        let body = body.0;
        let input = NewTokenInput {
            name: body.name,
            role: body.role,
            events: body.events,
            all_events: body.all_events,
        };
        let created = staff::create(&state.db, input, &auth.0).await?;
        let signin_url = scanner::signin_url(&state.service_url, &created.secret);
        let signin_qr_svg = qr::svg(&signin_url)?;
        Ok(TokenCreated::Created(Json(CreatedToken {
            signin_url,
            signin_qr_svg,
            token: created.secret,
            info: created.info.into(),
        })))
    }

    /// List staff tokens
    ///
    /// The tokens this token manages, revoked ones included, without
    /// secrets: every token for admins; for organizers, the volunteer tokens
    /// that reach only their own events, whoever created them.
    #[oai(path = "/tokens", method = "get", operation_id = "list_tokens")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        /// Page size, 1-200 (default 50).
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Found<StaffTokenPage>> {
        let page = staff::list(&state.db, &auth.0, cursor.0.as_deref(), limit.0).await?;
        Ok(Found(StaffTokenPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Revoke a staff token
    ///
    /// The token stops working at once. Revoking a revoked token changes
    /// nothing. Organizers revoke the volunteer tokens they could list;
    /// any other answers 403.
    #[oai(path = "/tokens/:id", method = "delete", operation_id = "revoke_token")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        id: Path<Uuid>,
    ) -> ApiResult<Found<StaffToken>> {
        let revoked = staff::revoke(&state.db, &auth.0, id.0).await?;
        state.staff.invalidate();
        Ok(Found(revoked.into()))
    }
}
