//! The staff security scheme: `Authorization: Bearer tsr_...`.

use poem::Request;
use poem_openapi::{SecurityScheme, auth::Bearer};

use crate::{domain::staff::Staff, error::ApiError, state::AppState};

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
    match state
        .staff
        .authenticate(&state.db, bearer.token.trim())
        .await
    {
        Ok(Some(staff)) => Ok(staff),
        Ok(None) => Err(ApiError::unauthorized("this token is unknown or has been revoked").into()),
        Err(err) => Err(ApiError::from(err).into()),
    }
}

/// The order token (`tso_...`) returned once when the order was placed, as
/// `Authorization: Bearer tso_...`.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    rename = "OrderToken",
    bearer_format = "tso_<43 characters>"
)]
pub struct OrderBearer(pub poem_openapi::auth::Bearer);

/// The order token (`tso_...`) in the `X-Order-Token` header, for clients
/// that keep `Authorization` for their own use.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    rename = "OrderTokenHeader",
    key_name = "X-Order-Token",
    key_in = "header"
)]
pub struct OrderHeader(pub poem_openapi::auth::ApiKey);

/// An attendee's own ticket token (`tst_...`), from their ticket mail, as
/// `Authorization: Bearer tst_...`. It reaches that one ticket only.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    rename = "TicketToken",
    bearer_format = "tst_<43 characters>"
)]
pub struct TicketBearer(pub poem_openapi::auth::Bearer);

/// A ticket token, or none. A missing or wrong token answers 404 for the
/// ticket, exactly like an unknown id.
#[derive(SecurityScheme)]
pub enum TicketAuth {
    Bearer(TicketBearer),
    #[oai(fallback)]
    Missing,
}

impl TicketAuth {
    pub fn token(&self) -> Option<&str> {
        match self {
            TicketAuth::Bearer(bearer) => Some(&bearer.0.token),
            TicketAuth::Missing => None,
        }
    }
}

/// An order token from either place. A missing or wrong token answers 404
/// for the order, exactly like an unknown code, so codes cannot be probed.
#[derive(SecurityScheme)]
pub enum OrderAuth {
    Bearer(OrderBearer),
    Header(OrderHeader),
    #[oai(fallback)]
    Missing,
}

impl OrderAuth {
    pub fn token(&self) -> Option<&str> {
        match self {
            OrderAuth::Bearer(bearer) => Some(&bearer.0.token),
            OrderAuth::Header(header) => Some(&header.0.key),
            OrderAuth::Missing => None,
        }
    }
}
