//! An attendee's own ticket, reached with the ticket token (`tst_…`) their
//! mail carried: read it, its check-in token and QR code, and change their
//! own details until the edit deadline. Never the order's other tickets.

use chrono::{DateTime, Utc};
use entity::{checkin, checkin_list, event, order, state::OrderState, ticket, tier};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{Editor, Ticket, TicketPatch, edit_ticket, effective_state, effective_ticket_status};
use crate::domain::{
    DomainError,
    checkin::tokens::{self, TokenSettings},
    events::Event,
    keys::KeyRing,
    links, now,
};

/// A ticket as its attendee sees it.
#[derive(Debug, Clone)]
pub struct OwnTicket {
    pub ticket: Ticket,
    pub event: Event,
    /// The order's code and state (whether the ticket is paid for).
    pub order_code: String,
    pub order_state: OrderState,
    /// Until when the attendee may change their details.
    pub edits_close_at: DateTime<Utc>,
    /// Where the ticket was admitted so far.
    pub checkins: Vec<OwnCheckin>,
}

#[derive(Debug, Clone)]
pub struct OwnCheckin {
    pub list: String,
    pub at: DateTime<Utc>,
}

async fn read(db: &DatabaseConnection, model: ticket::Model) -> Result<OwnTicket, DomainError> {
    let order = order::Entity::find_by_id(model.order_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("ticket"))?;
    let event = Event::from_model(
        event::Entity::find_by_id(model.event_id)
            .one(db)
            .await?
            .ok_or(DomainError::NotFound("event"))?,
    )?;
    let tier_name = tier::Entity::find_by_id(model.tier_id)
        .one(db)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    let admitted = checkin::Entity::find()
        .filter(checkin::Column::TicketId.eq(model.id))
        .order_by_asc(checkin::Column::ScannedAt)
        .find_also_related(checkin_list::Entity)
        .all(db)
        .await?;
    let at = now();
    Ok(OwnTicket {
        order_code: order.code.clone(),
        order_state: effective_state(&order, at),
        edits_close_at: event.edits_close_at(),
        checkins: admitted
            .into_iter()
            .map(|(row, list)| OwnCheckin {
                list: list.map(|l| l.name).unwrap_or_default(),
                at: row.scanned_at,
            })
            .collect(),
        event,
        ticket: Ticket {
            status: effective_ticket_status(&model, at),
            tier_name,
            model,
        },
    })
}

/// The ticket `token` opens; 404 for a wrong, retired or missing token.
pub async fn get(
    db: &DatabaseConnection,
    ticket_id: Uuid,
    token: Option<&str>,
) -> Result<OwnTicket, DomainError> {
    let model = links::ticket_by_token(db, ticket_id, token).await?;
    read(db, model).await
}

/// The ticket's signed check-in token, while it admits (valid and paid).
pub async fn checkin_token(
    db: &DatabaseConnection,
    keys: &KeyRing,
    settings: &TokenSettings,
    ticket_id: Uuid,
    token: Option<&str>,
) -> Result<(String, DateTime<Utc>), DomainError> {
    let own = get(db, ticket_id, token).await?;
    if !own.admits() {
        return Err(DomainError::conflict(
            "ticket_not_valid",
            "this ticket has no check-in token: its order is not paid, or the ticket was cancelled",
        ));
    }
    tokens::issue(
        keys,
        settings,
        &own.event.slug,
        own.event.ends_at,
        &own.ticket.model,
    )
    .await
}

/// The attendee changes their own details, until the edit deadline (the
/// same rules as the buyer's edit). A new address sends the ticket there
/// and retires this link.
pub async fn update(
    db: &DatabaseConnection,
    ticket_id: Uuid,
    token: Option<&str>,
    patch: TicketPatch,
) -> Result<OwnTicket, DomainError> {
    let model = links::ticket_by_token(db, ticket_id, token).await?;
    let order = order::Entity::find_by_id(model.order_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("ticket"))?;
    edit_ticket(db, order, ticket_id, patch, Editor::Attendee).await?;
    let updated = ticket::Entity::find_by_id(ticket_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("ticket"))?;
    read(db, updated).await
}

impl OwnTicket {
    /// Whether the ticket admits its attendee: valid and paid for.
    pub fn admits(&self) -> bool {
        self.ticket.status == entity::state::TicketStatus::Valid
            && self.order_state == OrderState::Paid
    }
}
