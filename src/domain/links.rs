//! The links mails carry: a token that reaches an order with the buyer's
//! rights (`tso_…`, like the token the order was placed with) or one ticket
//! with its attendee's rights (`tst_…`). Minted when the mail is sent, so no
//! token ever waits in the database in the clear; only SHA-256 hashes are
//! stored. Every mail carries fresh ones, and earlier links keep working
//! until they are retired (a recovery retires them all; a new attendee
//! address retires that ticket's).

use chrono::{DateTime, Utc};
use entity::{access_link, state::TicketStatus, ticket};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set, sea_query::Expr,
};
use uuid::Uuid;

use super::{DomainError, orders::ORDER_TOKEN_PREFIX, staff::hash_secret};

/// The prefix of an attendee's ticket token.
pub const TICKET_TOKEN_PREFIX: &str = "tst_";

async fn mint<C: ConnectionTrait>(
    db: &C,
    prefix: &str,
    order_id: Uuid,
    ticket_id: Option<Uuid>,
    message_id: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<String, DomainError> {
    let token = super::random_token(prefix)?;
    access_link::Entity::insert(access_link::ActiveModel {
        token_hash: Set(hash_secret(&token)),
        order_id: Set(order_id),
        ticket_id: Set(ticket_id),
        message_id: Set(message_id),
        created_at: Set(at),
        retired_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(token)
}

/// A new link token for the buyer's whole order.
pub async fn mint_order<C: ConnectionTrait>(
    db: &C,
    order_id: Uuid,
    message_id: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<String, DomainError> {
    mint(db, ORDER_TOKEN_PREFIX, order_id, None, message_id, at).await
}

/// A new link token for one ticket, its attendee's own.
pub async fn mint_ticket<C: ConnectionTrait>(
    db: &C,
    ticket: &ticket::Model,
    message_id: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<String, DomainError> {
    mint(
        db,
        TICKET_TOKEN_PREFIX,
        ticket.order_id,
        Some(ticket.id),
        message_id,
        at,
    )
    .await
}

/// Whether `token` is a live order link of `order_id`.
pub async fn opens_order<C: ConnectionTrait>(
    db: &C,
    order_id: Uuid,
    token: &str,
) -> Result<bool, DbErr> {
    Ok(access_link::Entity::find_by_id(hash_secret(token))
        .filter(access_link::Column::OrderId.eq(order_id))
        .filter(access_link::Column::TicketId.is_null())
        .filter(access_link::Column::RetiredAt.is_null())
        .one(db)
        .await?
        .is_some())
}

/// The ticket a live ticket token opens, if it is `ticket_id`'s. A wrong,
/// retired or missing token answers "not found", as an unknown id does.
pub async fn ticket_by_token<C: ConnectionTrait>(
    db: &C,
    ticket_id: Uuid,
    token: Option<&str>,
) -> Result<ticket::Model, DomainError> {
    let not_found = || DomainError::NotFound("ticket");
    let token = token
        .map(str::trim)
        .filter(|t| t.starts_with(TICKET_TOKEN_PREFIX))
        .ok_or_else(not_found)?;
    access_link::Entity::find_by_id(hash_secret(token))
        .filter(access_link::Column::TicketId.eq(ticket_id))
        .filter(access_link::Column::RetiredAt.is_null())
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    let ticket = ticket::Entity::find_by_id(ticket_id)
        .one(db)
        .await?
        .ok_or_else(not_found)?;
    // Released tickets (a hold that ended) were never the attendee's.
    if ticket.status == TicketStatus::Released {
        return Err(not_found());
    }
    Ok(ticket)
}

/// Retires every live link of one ticket (its attendee changed address).
pub async fn retire_ticket<C: ConnectionTrait>(
    db: &C,
    ticket_id: Uuid,
    at: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(access_link::Entity::update_many()
        .col_expr(access_link::Column::RetiredAt, Expr::value(Some(at)))
        .filter(access_link::Column::TicketId.eq(ticket_id))
        .filter(access_link::Column::RetiredAt.is_null())
        .exec(db)
        .await?
        .rows_affected)
}
