//! Admin endpoints for the keys that sign check-in tokens.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path};

use crate::{
    api::{Tag, auth::StaffAuth, types::Found},
    domain::keys::{self, KeyInfo},
    error::ApiResult,
    state::AppState,
};

/// A signing key, without its private part.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct KeyBody {
    pub kid: String,
    /// The public key (JWK `x`), base64url.
    pub x: String,
    pub created_at: DateTime<Utc>,
    /// Set once retired: tokens it signed no longer verify.
    #[oai(nullable)]
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<KeyInfo> for KeyBody {
    fn from(key: KeyInfo) -> Self {
        Self {
            kid: key.kid,
            x: key.x,
            created_at: key.created_at,
            retired_at: key.retired_at,
        }
    }
}

pub struct KeysApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminKeys")]
impl KeysApi {
    /// List signing keys
    #[oai(path = "/keys", method = "get", operation_id = "list_keys")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
    ) -> ApiResult<Found<Vec<KeyBody>>> {
        auth.0.require_admin()?;
        Ok(Found(
            keys::list(&state.db)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        ))
    }

    /// Rotate the signing key
    ///
    /// A new key signs from now on; tokens signed by older keys keep
    /// verifying until those keys are retired.
    #[oai(path = "/keys/rotate", method = "post", operation_id = "rotate_key")]
    async fn rotate(&self, state: Data<&AppState>, auth: StaffAuth) -> ApiResult<Found<KeyBody>> {
        auth.0.require_admin()?;
        let key = keys::rotate(&state.db).await?;
        state.keys.invalidate();
        Ok(Found(key.into()))
    }

    /// Retire a signing key
    ///
    /// Tokens it signed stop verifying (on every instance within 30
    /// seconds). The last active key cannot be retired (409
    /// `last_signing_key`): rotate first.
    #[oai(
        path = "/keys/:kid/retire",
        method = "post",
        operation_id = "retire_key"
    )]
    async fn retire(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        kid: Path<String>,
    ) -> ApiResult<Found<KeyBody>> {
        auth.0.require_admin()?;
        let key = keys::retire(&state.db, &kid).await?;
        state.keys.invalidate();
        Ok(Found(key.into()))
    }
}
