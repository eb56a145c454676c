//! The staff security scheme: `Authorization: Bearer tsr_...`.

use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use crate::{
    domain::{self, staff::Staff},
    error::ApiError,
    state::AppState,
};

/// A staff token (`tsr_...`), created with `tessera token create` or
/// `POST /api/v1/admin/tokens`. Its role (`admin`, `organizer`,
/// `volunteer`) and event scope decide what it may do: a missing, unknown or
/// revoked token answers 401, a token without the right answers 403.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "tsr_<43 characters>",
    checker = "check_staff"
)]
pub struct StaffAuth(pub Staff);

async fn check_staff(req: &Request, bearer: Bearer) -> poem::Result<Staff> {
    let Some(state) = req.data::<AppState>() else {
        return Err(ApiError::internal(&std::io::Error::other("application state missing")).into());
    };
    match domain::staff::authenticate(&state.db, bearer.token.trim()).await {
        Ok(Some(staff)) => Ok(staff),
        Ok(None) => Err(ApiError::unauthorized("this token is unknown or has been revoked").into()),
        Err(err) => Err(ApiError::from(err).into()),
    }
}
