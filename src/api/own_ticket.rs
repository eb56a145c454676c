//! An attendee's own ticket, reached with the ticket token (`tst_...`) from
//! their ticket mail.

use chrono::{DateTime, FixedOffset, Utc};
use entity::state::OrderState;
use poem::web::Data;
use poem_openapi::{
    Object, OpenApi,
    param::Path,
    payload::{Binary, PlainText},
};
use uuid::Uuid;

use super::{
    Tag,
    auth::TicketAuth,
    body::JsonBody,
    catalogue::PublicEvent,
    orders::{TicketBody, TicketUpdate},
    tickets::{CheckinToken, QrPng, QrSvg},
    types::Found,
};
use crate::{
    domain::{
        checkin::qr,
        events::LocalTime,
        orders::own::{self, OwnTicket},
    },
    error::ApiError,
    state::AppState,
};

/// A ticket as its attendee sees it: theirs alone, never the order's other
/// tickets or the buyer's payment.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct OwnTicketBody {
    pub ticket: TicketBody,
    pub event: PublicEvent,
    /// The order's code, to quote to the organizers.
    pub order_code: String,
    pub order_state: OrderState,
    /// Whether the ticket admits its attendee now (valid and paid): only
    /// then is there a check-in token and QR code.
    pub admits: bool,
    /// Until when the attendee may change their details here.
    pub edits_close_at: DateTime<Utc>,
    /// Where the ticket was admitted so far, in the event's time zone.
    pub checkins: Vec<OwnCheckinBody>,
}

/// An admission of the ticket.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct OwnCheckinBody {
    /// The check-in list, e.g. "Day 1 entrance".
    pub list: String,
    pub at: DateTime<FixedOffset>,
}

impl From<OwnTicket> for OwnTicketBody {
    fn from(own: OwnTicket) -> Self {
        let admits = own.admits();
        let zone = LocalTime::of(&own.event.timezone);
        Self {
            ticket: own.ticket.into(),
            order_code: own.order_code,
            order_state: own.order_state,
            admits,
            edits_close_at: own.edits_close_at,
            checkins: own
                .checkins
                .into_iter()
                .map(|c| OwnCheckinBody {
                    list: c.list,
                    at: zone.at(c.at),
                })
                .collect(),
            event: PublicEvent::of(own.event, None),
        }
    }
}

async fn checkin_token(
    state: &AppState,
    auth: &TicketAuth,
    ticket_id: Uuid,
) -> Result<(String, DateTime<Utc>), ApiError> {
    Ok(own::checkin_token(
        &state.db,
        &state.keys,
        &state.tokens,
        ticket_id,
        auth.token(),
    )
    .await?)
}

pub struct OwnTicketApi;

#[OpenApi(prefix_path = "/api/v1/tickets", tag = "Tag::Orders")]
impl OwnTicketApi {
    /// Get my ticket
    ///
    /// The ticket the attendee's own ticket token opens (from their ticket
    /// mail): the ticket, its event and where it was admitted. A wrong,
    /// retired or missing token answers 404, as an unknown id does.
    #[oai(path = "/:ticket_id", method = "get", operation_id = "get_own_ticket")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: TicketAuth,
        ticket_id: Path<Uuid>,
    ) -> Result<Found<OwnTicketBody>, ApiError> {
        Ok(Found(
            own::get(&state.db, ticket_id.0, auth.token()).await?.into(),
        ))
    }

    /// Change my ticket's details
    ///
    /// Name, email, swag size and cut (within stock), dietary preference and
    /// notes, until the event's edit deadline (409 `edit_deadline_passed`
    /// after it). A new name or email retires the old check-in token; a new
    /// email also sends the ticket to the new address and retires this
    /// ticket token (the new one is in that mail).
    #[oai(
        path = "/:ticket_id",
        method = "patch",
        operation_id = "update_own_ticket"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: TicketAuth,
        ticket_id: Path<Uuid>,
        body: JsonBody<TicketUpdate>,
    ) -> Result<Found<OwnTicketBody>, ApiError> {
        Ok(Found(
            own::update(&state.db, ticket_id.0, auth.token(), body.0.into())
                .await?
                .into(),
        ))
    }

    /// Get my check-in token
    ///
    /// Only while the ticket admits (409 `ticket_not_valid` otherwise).
    #[oai(
        path = "/:ticket_id/token",
        method = "get",
        operation_id = "get_own_ticket_token"
    )]
    async fn token(
        &self,
        state: Data<&AppState>,
        auth: TicketAuth,
        ticket_id: Path<Uuid>,
    ) -> Result<Found<CheckinToken>, ApiError> {
        let (token, expires_at) = checkin_token(&state, &auth, ticket_id.0).await?;
        Ok(Found(CheckinToken { token, expires_at }))
    }

    /// Get my QR code (SVG)
    #[oai(
        path = "/:ticket_id/qr.svg",
        method = "get",
        operation_id = "get_own_ticket_qr_svg"
    )]
    async fn qr_svg(
        &self,
        state: Data<&AppState>,
        auth: TicketAuth,
        ticket_id: Path<Uuid>,
    ) -> Result<QrSvg, ApiError> {
        let (token, _) = checkin_token(&state, &auth, ticket_id.0).await?;
        Ok(QrSvg::Ok(PlainText(qr::svg(&token)?)))
    }

    /// Get my QR code (PNG)
    #[oai(
        path = "/:ticket_id/qr.png",
        method = "get",
        operation_id = "get_own_ticket_qr_png"
    )]
    async fn qr_png(
        &self,
        state: Data<&AppState>,
        auth: TicketAuth,
        ticket_id: Path<Uuid>,
    ) -> Result<QrPng, ApiError> {
        let (token, _) = checkin_token(&state, &auth, ticket_id.0).await?;
        Ok(QrPng::Ok(Binary(qr::png(&token)?)))
    }
}
