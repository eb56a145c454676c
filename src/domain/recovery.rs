//! Lost-link recovery: an address that lost its mails asks for fresh links,
//! and gets them by mail if it holds anything. The answer never says
//! whether it does (no enumeration of buyers). Every link it had stops
//! working, the order tokens it was given at checkout included, so a leaked
//! link is killed by recovering.

use chrono::Duration;
use entity::{
    access_link, order, outbox_message,
    state::{MessageKind, OrderState, TicketStatus},
    ticket,
};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    DomainError,
    email::Email,
    now,
    orders::{generate_token, place::published_event},
    outbox::{self, Outgoing},
    staff::hash_secret,
    validation::FieldErrors,
};

/// At most one recovery mail per address and event in this long.
pub const QUIET_PERIOD: Duration = Duration::minutes(5);

/// What a recovery request did; the API answers 202 whatever it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Fresh links are on their way; the old ones are retired.
    Mailed,
    /// The address holds nothing at this event.
    NothingHeld,
    /// A recovery mail went to the address moments ago.
    TooSoon,
}

/// Retires every link `email` holds at the event `slug` and mails it fresh
/// ones, in one transaction.
pub async fn recover(
    db: &DatabaseConnection,
    slug: &str,
    email: &str,
) -> Result<Recovery, DomainError> {
    let Some(address) = Email::parse(email) else {
        return Err(
            FieldErrors::single("email", "invalid_email", "is not a valid email address").into(),
        );
    };
    let event = published_event(db, slug).await?;
    let at = now();
    let txn = db.begin().await?;
    let recent = outbox_message::Entity::find()
        .filter(outbox_message::Column::EventId.eq(event.id))
        .filter(outbox_message::Column::Kind.eq(MessageKind::Recovery))
        .filter(outbox_message::Column::Recipient.eq(address.as_str()))
        .filter(outbox_message::Column::CreatedAt.gt(at - QUIET_PERIOD))
        .count(&txn)
        .await?;
    if recent > 0 {
        return Ok(Recovery::TooSoon);
    }
    let orders: Vec<Uuid> = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::EventId.eq(event.id))
        .filter(order::Column::Email.eq(address.as_str()))
        .filter(order::Column::State.is_in([OrderState::Pending, OrderState::Paid]))
        .into_tuple()
        .all(&txn)
        .await?;
    let tickets: Vec<(Uuid, Uuid)> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .column(ticket::Column::OrderId)
        .filter(ticket::Column::EventId.eq(event.id))
        .filter(ticket::Column::AttendeeEmail.eq(address.as_str()))
        .filter(ticket::Column::Status.is_in([TicketStatus::Held, TicketStatus::Valid]))
        .into_tuple()
        .all(&txn)
        .await?;
    if orders.is_empty() && tickets.is_empty() {
        return Ok(Recovery::NothingHeld);
    }
    let ticket_ids: Vec<Uuid> = tickets.iter().map(|(id, _)| *id).collect();
    access_link::Entity::update_many()
        .col_expr(access_link::Column::RetiredAt, Expr::value(Some(at)))
        .filter(access_link::Column::RetiredAt.is_null())
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(access_link::Column::OrderId.is_in(orders.iter().copied()))
                        .add(access_link::Column::TicketId.is_null()),
                )
                .add(access_link::Column::TicketId.is_in(ticket_ids.iter().copied())),
        )
        .exec(&txn)
        .await?;
    // The checkout's order tokens too: replaced by one nobody knows.
    for id in &orders {
        order::Entity::update_many()
            .col_expr(
                order::Column::TokenHash,
                Expr::value(hash_secret(&generate_token()?)),
            )
            .filter(order::Column::Id.eq(*id))
            .exec(&txn)
            .await?;
    }
    outbox::enqueue(
        &txn,
        vec![Outgoing {
            kind: MessageKind::Recovery,
            event_id: event.id,
            order_id: None,
            ticket_id: None,
            recipient: address.into_string(),
            data: serde_json::json!({ "orders": orders, "tickets": ticket_ids }),
            delay: None,
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(Recovery::Mailed)
}
