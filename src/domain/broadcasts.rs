//! Broadcasts: the organizers' own words to every attendee of an event
//! ("doors open at 8:30, bring an ID"), one mail per address through the
//! outbox, each with an unsubscribe link (`List-Unsubscribe`, one click).
//! An address that opted out gets no more broadcasts of that event;
//! transactional mails (tickets, receipts) always go.

use chrono::{DateTime, Utc};
use entity::{
    mail_opt_out,
    state::{MessageKind, TicketStatus},
    ticket, tier,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    DomainError, audit,
    events::find_managed,
    now,
    outbox::{self, Outgoing},
    staff::{Staff, hash_secret},
    validation::FieldErrors,
};

/// What an organizer sends.
#[derive(Debug, Clone, Default)]
pub struct BroadcastInput {
    /// One line, up to 200 characters.
    pub subject: String,
    /// Plain text, up to 10,000 characters; blank lines part paragraphs.
    pub text: String,
    /// Only attendees of these tiers; none: everyone.
    pub tiers: Option<Vec<Uuid>>,
}

/// Whether `email` opted out of the event's broadcasts.
pub async fn opted_out<C: ConnectionTrait>(
    db: &C,
    event_id: Uuid,
    email: &str,
) -> Result<bool, DbErr> {
    Ok(mail_opt_out::Entity::find()
        .filter(mail_opt_out::Column::EventId.eq(event_id))
        .filter(mail_opt_out::Column::Email.eq(email))
        .filter(mail_opt_out::Column::OptedOutAt.is_not_null())
        .count(db)
        .await?
        > 0)
}

/// A new unsubscribe token for `email` at the event (only its hash kept).
pub async fn mint_opt_out<C: ConnectionTrait>(
    db: &C,
    event_id: Uuid,
    email: &str,
    at: DateTime<Utc>,
) -> Result<String, DomainError> {
    let token = super::random_token("")?;
    mail_opt_out::Entity::insert(mail_opt_out::ActiveModel {
        token_hash: Set(hash_secret(&token)),
        event_id: Set(event_id),
        email: Set(email.to_owned()),
        created_at: Set(at),
        opted_out_at: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(token)
}

/// Whether an unsubscribe token is one we minted ("not found" if not).
pub async fn known(db: &DatabaseConnection, token: &str) -> Result<(), DomainError> {
    mail_opt_out::Entity::find_by_id(hash_secret(token.trim()))
        .one(db)
        .await?
        .map(|_| ())
        .ok_or(DomainError::NotFound("unsubscribe link"))
}

/// Opts the address of an unsubscribe token out of its event's broadcasts
/// (again: a no-op). An unknown token is "not found".
pub async fn opt_out(db: &DatabaseConnection, token: &str) -> Result<(), DomainError> {
    let row = mail_opt_out::Entity::find_by_id(hash_secret(token.trim()))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("unsubscribe link"))?;
    mail_opt_out::Entity::update_many()
        .col_expr(mail_opt_out::Column::OptedOutAt, Expr::value(Some(now())))
        .filter(mail_opt_out::Column::TokenHash.eq(row.token_hash))
        .filter(mail_opt_out::Column::OptedOutAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Queues the organizers' words to every attendee address with a valid
/// ticket (of the chosen tiers) that has not opted out; one mail per
/// address. Audited. Answers how many addresses it goes to.
pub async fn send(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    input: BroadcastInput,
) -> Result<usize, DomainError> {
    let event = find_managed(db, staff, slug).await?;
    let mut errors = FieldErrors::new();
    let subject = errors.text("subject", &input.subject, 1, 200, false);
    let text = errors.text("text", &input.text, 1, 10_000, true);
    if let Some(tiers) = &input.tiers {
        let known: Vec<Uuid> = tier::Entity::find()
            .select_only()
            .column(tier::Column::Id)
            .filter(tier::Column::EventId.eq(event.id))
            .into_tuple()
            .all(db)
            .await?;
        for (i, id) in tiers.iter().enumerate() {
            if !known.contains(id) {
                errors.add(
                    format!("tiers[{i}]"),
                    "unknown_tier",
                    "is not a tier of this event",
                );
            }
        }
        if tiers.is_empty() {
            errors.add(
                "tiers",
                "empty",
                "name at least one tier, or leave it out for everyone",
            );
        }
    }
    errors.finish(())?;
    let mut query = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::AttendeeEmail)
        .distinct()
        .filter(ticket::Column::EventId.eq(event.id))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid))
        .order_by_asc(ticket::Column::AttendeeEmail);
    if let Some(tiers) = &input.tiers {
        query = query.filter(ticket::Column::TierId.is_in(tiers.iter().copied()));
    }
    let addresses: Vec<String> = query.into_tuple().all(db).await?;
    let out: Vec<String> = mail_opt_out::Entity::find()
        .select_only()
        .column(mail_opt_out::Column::Email)
        .filter(mail_opt_out::Column::EventId.eq(event.id))
        .filter(mail_opt_out::Column::OptedOutAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let data = serde_json::json!({ "subject": subject, "text": text });
    let mails: Vec<Outgoing> = addresses
        .into_iter()
        .filter(|a| !out.contains(a))
        .map(|recipient| Outgoing {
            kind: MessageKind::Broadcast,
            event_id: event.id,
            order_id: None,
            ticket_id: None,
            recipient,
            data: data.clone(),
            delay: None,
        })
        .collect();
    let count = mails.len();
    let txn = db.begin().await?;
    outbox::enqueue(&txn, mails).await?;
    audit::record(
        &txn,
        staff,
        event.id,
        "broadcast.sent",
        &subject,
        serde_json::json!({ "recipients": count, "tiers": input.tiers }),
    )
    .await?;
    txn.commit().await?;
    Ok(count)
}
