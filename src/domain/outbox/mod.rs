//! The transactional outbox: every message tessera sends (an email now, an
//! outbound webhook later) is a row written in the transaction of the change
//! that causes it, so a crash can neither announce what did not happen nor
//! forget what did.
//!
//! A worker on every instance claims due messages (on PostgreSQL with `FOR
//! UPDATE SKIP LOCKED`, so instances never take the same row; SQLite has one
//! writer), delivers them and records the outcome. A claim is a lease: it
//! moves the message's due time past the attempt, so a message whose worker
//! died is due again when the lease ends (at least once). Recording an
//! outcome checks the attempt number, so a worker whose lease ran out cannot
//! overwrite a later attempt's outcome.

mod retry;

use chrono::{DateTime, Utc};
use entity::{
    order, outbox_message,
    state::{MessageChannel, MessageKind, MessageState, OrderState, TicketStatus, WebhookType},
    ticket,
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType},
};
use uuid::Uuid;

use super::inserts::Inserts;
use super::{clip, webhooks::Notice};
/// What the webhook indexes hold: unsettled webhooks (see the migration).
pub use migration::WEBHOOK_WAITING;
pub use retry::{Failure, RETRY_FOR, WEBHOOK_PAUSES, next_attempt, next_webhook_attempt};

/// A message to write into the outbox.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub kind: MessageKind,
    pub event_id: Uuid,
    pub order_id: Option<Uuid>,
    pub ticket_id: Option<Uuid>,
    pub recipient: String,
    pub data: serde_json::Value,
    /// How long after the change it is due (a reminder); none: at once.
    pub delay: Option<chrono::Duration>,
}

impl Outgoing {
    /// A mail about an order to its buyer.
    pub fn to_buyer(order: &order::Model, kind: MessageKind) -> Self {
        Self {
            kind,
            event_id: order.event_id,
            order_id: Some(order.id),
            ticket_id: None,
            recipient: order.email.clone(),
            data: serde_json::Value::Object(Default::default()),
            delay: None,
        }
    }

    /// A ticket's own mail, to its attendee's address.
    pub fn ticket(ticket: &ticket::Model) -> Self {
        Self {
            kind: MessageKind::Ticket,
            event_id: ticket.event_id,
            order_id: Some(ticket.order_id),
            ticket_id: Some(ticket.id),
            recipient: ticket.attendee_email.clone(),
            data: serde_json::Value::Object(Default::default()),
            delay: None,
        }
    }

    /// With facts of the change that the rows do not keep (an amount).
    pub fn with(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }

    /// Due `delay` after the change instead of at once.
    pub fn after(mut self, delay: chrono::Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    fn row(self, at: DateTime<Utc>) -> outbox_message::ActiveModel {
        outbox_message::ActiveModel {
            id: Set(Uuid::now_v7()),
            channel: Set(self.kind.channel()),
            kind: Set(self.kind),
            event_id: Set(self.event_id),
            order_id: Set(self.order_id),
            ticket_id: Set(self.ticket_id),
            recipient: Set(self.recipient),
            data: Set(self.data),
            state: Set(MessageState::Queued),
            attempts: Set(0),
            next_attempt_at: Set(at + self.delay.unwrap_or_else(chrono::Duration::zero)),
            first_attempt_at: Set(None),
            last_error: Set(None),
            subject: Set(None),
            sent_at: Set(None),
            body: Set(None),
            status_code: Set(None),
            latency_ms: Set(None),
            response: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
        }
    }
}

/// Writes messages, in the caller's transaction.
pub async fn enqueue<C: ConnectionTrait>(db: &C, messages: Vec<Outgoing>) -> Result<(), DbErr> {
    let mut inserts = Inserts::for_backend(db.get_database_backend());
    add_to(&mut inserts, messages);
    inserts.exec(db).await
}

/// Adds the insert of `messages` to `inserts`, to be written with the rest
/// of a transaction's inserts.
pub fn add_to(inserts: &mut Inserts, messages: Vec<Outgoing>) {
    let at = super::now();
    inserts.rows(messages.into_iter().map(|m| m.row(at)).collect::<Vec<_>>());
}

/// Writes one message; answers its id.
pub async fn enqueue_one<C: ConnectionTrait>(db: &C, message: Outgoing) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    let mut row = message.row(super::now());
    row.id = Set(id);
    outbox_message::Entity::insert(row).exec(db).await?;
    Ok(id)
}

/// How long after placing an unpaid order its "received" mail (what to pay
/// and until when) waits: a buyer paying at the page right now never gets
/// it (payment withdraws it), one who closed the tab gets it while the hold
/// still lasts (after half of it, for holds under four minutes).
pub const RECEIVED_AFTER: chrono::Duration = chrono::Duration::minutes(2);

/// What a newly placed order announces: to the buyer, "received" (waiting
/// for payment, as a reminder [`RECEIVED_AFTER`] later) or "confirmed" (paid
/// at once: free or comped); when paid, each attendee's own ticket too.
pub fn placed(order: &order::Model, tickets: &[ticket::Model]) -> Vec<Outgoing> {
    if order.state == OrderState::Paid {
        return confirmed(order, tickets);
    }
    let hold = order
        .expires_at
        .map_or(RECEIVED_AFTER, |ends| (ends - order.created_at) / 2);
    vec![Outgoing::to_buyer(order, MessageKind::OrderReceived).after(hold.min(RECEIVED_AFTER))]
}

/// Withdraws an order's payment reminders that have not gone out (it was
/// paid or cancelled first): recorded as skipped, in the caller's
/// transaction.
pub async fn withdraw_reminders<C: ConnectionTrait>(
    db: &C,
    order_id: Uuid,
    why: &str,
) -> Result<(), DbErr> {
    outbox_message::Entity::update_many()
        .col_expr(
            outbox_message::Column::State,
            Expr::value(MessageState::Skipped),
        )
        .col_expr(outbox_message::Column::LastError, Expr::value(Some(why)))
        .col_expr(outbox_message::Column::UpdatedAt, Expr::value(super::now()))
        .filter(outbox_message::Column::OrderId.eq(order_id))
        .filter(
            outbox_message::Column::Kind
                .is_in([MessageKind::OrderReceived, MessageKind::PaymentFailed]),
        )
        .filter(outbox_message::Column::State.is_in([MessageState::Queued, MessageState::NotSent]))
        .exec(db)
        .await?;
    Ok(())
}

/// What a paid order announces: the confirmation to the buyer and one mail
/// per valid ticket to its attendee, also when one address holds several.
pub fn confirmed(order: &order::Model, tickets: &[ticket::Model]) -> Vec<Outgoing> {
    let mut out = vec![Outgoing::to_buyer(order, MessageKind::OrderConfirmed)];
    out.extend(
        tickets
            .iter()
            .filter(|t| t.status == TicketStatus::Valid)
            .map(Outgoing::ticket),
    );
    out
}

/// Announces an order that was just paid, reading its tickets inside the
/// caller's transaction.
pub async fn order_paid<C: ConnectionTrait>(db: &C, order_id: Uuid) -> Result<(), DbErr> {
    let Some(order) = order::Entity::find_by_id(order_id).one(db).await? else {
        return Ok(());
    };
    withdraw_reminders(db, order_id, "paid before it went out").await?;
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::OrderId.eq(order_id))
        .order_by_asc(ticket::Column::Id)
        .all(db)
        .await?;
    enqueue(db, confirmed(&order, &tickets)).await
}

/// Announces an order just cancelled (by its buyer or an organizer): its
/// payment reminders withdrawn, the buyer told, the webhooks that take
/// `order.cancelled` too.
pub async fn cancelled<C: ConnectionTrait>(db: &C, order: &order::Model) -> Result<(), DbErr> {
    withdraw_reminders(db, order.id, "cancelled before it went out").await?;
    enqueue(
        db,
        vec![Outgoing::to_buyer(order, MessageKind::OrderCancelled)],
    )
    .await?;
    let notice = Notice::order(WebhookType::OrderCancelled, order.event_id, order.id);
    super::webhooks::announce(db, vec![notice]).await
}

/// Announces a one-off change of an order to its buyer (cancelled, payment
/// failed, refunded with `data`).
pub async fn to_buyer<C: ConnectionTrait>(
    db: &C,
    order_id: Uuid,
    kind: MessageKind,
    data: serde_json::Value,
) -> Result<(), DbErr> {
    let Some(order) = order::Entity::find_by_id(order_id).one(db).await? else {
        return Ok(());
    };
    enqueue(db, vec![Outgoing::to_buyer(&order, kind).with(data)]).await
}

/// Tells the buyer that `amount` was refunded (the money is on its way),
/// and the webhooks that take `order.refunded`.
pub async fn refunded<C: ConnectionTrait>(
    db: &C,
    order_id: Uuid,
    amount: i64,
) -> Result<(), DbErr> {
    let Some(order) = order::Entity::find_by_id(order_id).one(db).await? else {
        return Ok(());
    };
    let facts = serde_json::json!({ "amount": amount });
    let mail = Outgoing::to_buyer(&order, MessageKind::OrderRefunded).with(facts.clone());
    enqueue(db, vec![mail]).await?;
    let notice = Notice::order(WebhookType::OrderRefunded, order.event_id, order.id).with(facts);
    super::webhooks::announce(db, vec![notice]).await
}

/// Claims up to `limit` due messages of `channel` for one attempt each: their
/// due time moves to the end of the lease and their attempt count goes up.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    channel: MessageChannel,
    limit: u64,
    lease: chrono::Duration,
    at: DateTime<Utc>,
) -> Result<Vec<outbox_message::Model>, DbErr> {
    claim_picked(db, due(channel, at), limit, channel, lease, at).await
}

/// Claims due webhooks to one endpoint as [`claim`] does, but none while
/// an earlier message about the same order to the same endpoint is
/// unsettled: an order's messages arrive in the order they happened.
///
/// Its cost does not grow with the outbox: it walks the endpoint's queue
/// of unsettled webhooks in due order (`idx_outbox_webhook_due`, which
/// holds only those) and checks each candidate's order with one probe
/// (`idx_outbox_webhook_order`). Both need [`WEBHOOK_WAITING`] written
/// into the query as the indexes spell it, values and all.
pub async fn claim_webhooks<C: ConnectionTrait>(
    db: &C,
    endpoint: &str,
    limit: u64,
    lease: chrono::Duration,
    at: DateTime<Utc>,
) -> Result<Vec<outbox_message::Model>, DbErr> {
    use sea_orm::sea_query::{Alias, Query};
    let earlier = Alias::new("earlier");
    let mine = outbox_message::Entity;
    // Unqualified names in the subquery are the earlier row's.
    let unsettled_before = Query::select()
        .expr(Expr::val(1))
        .from_as(outbox_message::Entity, earlier.clone())
        .and_where(Expr::cust(WEBHOOK_WAITING))
        .and_where(
            Expr::col((earlier.clone(), outbox_message::Column::Recipient))
                .equals((mine, outbox_message::Column::Recipient)),
        )
        .and_where(
            Expr::col((earlier.clone(), outbox_message::Column::OrderId))
                .equals((mine, outbox_message::Column::OrderId)),
        )
        .and_where(
            Expr::col((earlier, outbox_message::Column::Id))
                .lt(Expr::col((mine, outbox_message::Column::Id))),
        )
        .to_owned();
    let pick = Condition::all()
        .add(Expr::cust(WEBHOOK_WAITING))
        .add(outbox_message::Column::Recipient.eq(endpoint))
        .add(outbox_message::Column::NextAttemptAt.lte(at))
        .add(
            Condition::any()
                .add(outbox_message::Column::OrderId.is_null())
                .add(Expr::exists(unsettled_before).not()),
        );
    claim_picked(db, pick, limit, MessageChannel::Webhook, lease, at).await
}

/// Due messages of `channel`, not settled.
fn due(channel: MessageChannel, at: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(outbox_message::Column::Channel.eq(channel))
        .add(outbox_message::Column::State.is_in(MessageState::WAITING.iter().copied()))
        .add(outbox_message::Column::NextAttemptAt.lte(at))
}

/// Claims the first `limit` messages (by due time, then id) that `pick`
/// selects; `channel`'s due condition is checked again on each row.
async fn claim_picked<C: ConnectionTrait>(
    db: &C,
    pick: Condition,
    limit: u64,
    channel: MessageChannel,
    lease: chrono::Duration,
    at: DateTime<Utc>,
) -> Result<Vec<outbox_message::Model>, DbErr> {
    let mut pick = outbox_message::Entity::find()
        .select_only()
        .column(outbox_message::Column::Id)
        .filter(pick)
        .order_by_asc(outbox_message::Column::NextAttemptAt)
        .order_by_asc(outbox_message::Column::Id)
        .limit(limit)
        .into_query();
    let picked = if db.get_database_backend() == DatabaseBackend::Postgres {
        pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        // `id = ANY(ARRAY(pick))`, not `id IN (pick)`: the array is built
        // once, before the update; for an `IN` whose tables have no
        // statistics yet (a first rush), PostgreSQL may plan a nested loop
        // that runs the pick again for every waiting row, which turned a
        // claim of 16 into seconds at 5,000 waiting.
        Expr::cust_with_exprs(
            "$1 = ANY(ARRAY($2))",
            [
                Expr::col((outbox_message::Entity, outbox_message::Column::Id)),
                Expr::SubQuery(None, Box::new(pick.into())),
            ],
        )
    } else {
        // SQLite runs an uncorrelated `IN` once into a temporary index.
        outbox_message::Column::Id.in_subquery(pick)
    };
    let mut claimed = outbox_message::Entity::update_many()
        .col_expr(
            outbox_message::Column::NextAttemptAt,
            Expr::value(at + lease),
        )
        .col_expr(
            outbox_message::Column::Attempts,
            Expr::col(outbox_message::Column::Attempts).add(1),
        )
        .col_expr(
            outbox_message::Column::FirstAttemptAt,
            Expr::col(outbox_message::Column::FirstAttemptAt).if_null(at),
        )
        .col_expr(outbox_message::Column::UpdatedAt, Expr::value(at))
        .filter(picked)
        // Checked again on the row itself: a row another worker claimed
        // meanwhile is no longer due.
        .filter(due(channel, at))
        .exec_with_returning(db)
        .await?;
    claimed.sort_by_key(|m| (m.next_attempt_at, m.id));
    Ok(claimed)
}

/// The attempt `claimed` made was delivered.
pub async fn record_sent<C: ConnectionTrait>(
    db: &C,
    claimed: &outbox_message::Model,
    subject: &str,
    exchange: Option<&Exchange>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    settle(db, claimed, exchange, at, |update| {
        update
            .col_expr(
                outbox_message::Column::State,
                Expr::value(MessageState::Sent),
            )
            .col_expr(outbox_message::Column::SentAt, Expr::value(Some(at)))
            .col_expr(
                outbox_message::Column::Subject,
                Expr::value(Some(clip(subject, 300))),
            )
            .col_expr(
                outbox_message::Column::LastError,
                Expr::value(Option::<String>::None),
            )
    })
    .await
}

/// A webhook attempt that was delivered, to record with others.
pub struct Delivered<'a> {
    pub claimed: &'a outbox_message::Model,
    /// What the receiver answered ("HTTP 200").
    pub subject: String,
    pub exchange: &'a Exchange,
}

/// Records delivered attempts together, as [`record_sent`] records one:
/// on PostgreSQL in one statement (one commit for all of a webhook lane's
/// finished requests, not one per request), elsewhere in one transaction.
pub async fn record_sent_all(
    db: &sea_orm::DatabaseConnection,
    delivered: &[Delivered<'_>],
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    use sea_orm::TransactionTrait;
    if delivered.is_empty() {
        return Ok(());
    }
    if db.get_database_backend() != DatabaseBackend::Postgres {
        let txn = db.begin().await?;
        for d in delivered {
            record_sent(&txn, d.claimed, &d.subject, Some(d.exchange), at).await?;
        }
        return txn.commit().await;
    }
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(delivered.len() * 7 + 2);
    for d in delivered {
        let exchange = d.exchange;
        values.extend([
            d.claimed.id.into(),
            d.claimed.attempts.into(),
            clip(&d.subject, 300).into(),
            exchange.body.clone().into(),
            exchange.status.map(i32::from).into(),
            i32::try_from(exchange.latency_ms)
                .unwrap_or(i32::MAX)
                .into(),
            exchange
                .response
                .as_deref()
                .map(|r| clip(r, RESPONSE_KEPT))
                .into(),
        ]);
    }
    let rows = super::values_rows(
        delivered.len(),
        &["uuid", "int4", "text", "text", "int4", "int4", "text"],
    );
    // The same columns as `record_sent` sets, row by row from the list.
    let (state, time) = (values.len() + 1, values.len() + 2);
    values.extend([MessageState::Sent.as_str().into(), at.into()]);
    let sql = format!(
        r#"
        UPDATE outbox_message AS m
        SET state = ${state}, sent_at = ${time}::timestamptz, updated_at = ${time}::timestamptz,
            subject = d.subject, last_error = NULL, body = COALESCE(m.body, d.body),
            status_code = d.status, latency_ms = d.latency, response = d.response
        FROM (VALUES {rows}) AS d (id, attempts, subject, body, status, latency, response)
        WHERE m.id = d.id AND m.attempts = d.attempts"#
    );
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// The attempt `claimed` made failed: tried again later, or given up
/// (refused for good, or failing past [`RETRY_FOR`]). Answers the state
/// the message is in now.
pub async fn record_failure<C: ConnectionTrait>(
    db: &C,
    claimed: &outbox_message::Model,
    failure: &Failure,
    exchange: Option<&Exchange>,
    at: DateTime<Utc>,
) -> Result<MessageState, DbErr> {
    let first = claimed.first_attempt_at.unwrap_or(at);
    let jitter = rand::random::<f64>();
    let next = match claimed.channel {
        MessageChannel::Email => next_attempt(claimed.attempts, first, at, failure, jitter),
        MessageChannel::Webhook => next_webhook_attempt(claimed.attempts, at, failure, jitter),
    };
    let state = if next.is_some() {
        MessageState::Retrying
    } else {
        MessageState::Failed
    };
    settle(db, claimed, exchange, at, |update| {
        let update = update
            .col_expr(outbox_message::Column::State, Expr::value(state))
            .col_expr(
                outbox_message::Column::LastError,
                Expr::value(Some(clip(failure.reason(), 1_000))),
            );
        match next {
            Some(due) => update.col_expr(outbox_message::Column::NextAttemptAt, Expr::value(due)),
            None => update,
        }
    })
    .await?;
    Ok(state)
}

/// The message no longer applies (its ticket was revoked before it went
/// out): recorded as skipped, with why.
pub async fn record_skipped<C: ConnectionTrait>(
    db: &C,
    claimed: &outbox_message::Model,
    why: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    settle(db, claimed, None, at, |update| {
        update
            .col_expr(
                outbox_message::Column::State,
                Expr::value(MessageState::Skipped),
            )
            .col_expr(
                outbox_message::Column::LastError,
                Expr::value(Some(clip(why, 1_000))),
            )
    })
    .await
}

/// What a webhook attempt sent and got back, kept on its row.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// The body as signed (fixed at the first attempt).
    pub body: Option<String>,
    /// The receiver's HTTP status (none: no answer).
    pub status: Option<u16>,
    pub latency_ms: i64,
    /// The start of the receiver's answer.
    pub response: Option<String>,
}

/// The longest answer kept from a receiver, in characters.
pub const RESPONSE_KEPT: usize = 1_000;

async fn settle<C, F>(
    db: &C,
    claimed: &outbox_message::Model,
    exchange: Option<&Exchange>,
    at: DateTime<Utc>,
    set: F,
) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    F: FnOnce(
        sea_orm::UpdateMany<outbox_message::Entity>,
    ) -> sea_orm::UpdateMany<outbox_message::Entity>,
{
    let update = outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::UpdatedAt, Expr::value(at))
        .filter(outbox_message::Column::Id.eq(claimed.id))
        // Only this attempt's own outcome: a later claim owns the row now.
        .filter(outbox_message::Column::Attempts.eq(claimed.attempts));
    let update = match exchange {
        Some(exchange) => update
            .col_expr(
                outbox_message::Column::Body,
                Expr::col(outbox_message::Column::Body).if_null(exchange.body.clone()),
            )
            .col_expr(
                outbox_message::Column::StatusCode,
                Expr::value(exchange.status.map(i32::from)),
            )
            .col_expr(
                outbox_message::Column::LatencyMs,
                Expr::value(Some(i32::try_from(exchange.latency_ms).unwrap_or(i32::MAX))),
            )
            .col_expr(
                outbox_message::Column::Response,
                Expr::value(exchange.response.as_deref().map(|r| clip(r, RESPONSE_KEPT))),
            ),
        None => update,
    };
    set(update).exec(db).await?;
    Ok(())
}

/// Without a mail server, queued mails are marked `not_sent`: visible to
/// organizers as waiting for one, and sent once one is configured.
pub async fn mark_not_sent<C: ConnectionTrait>(
    db: &C,
    channel: MessageChannel,
    at: DateTime<Utc>,
) -> Result<u64, DbErr> {
    Ok(outbox_message::Entity::update_many()
        .col_expr(
            outbox_message::Column::State,
            Expr::value(MessageState::NotSent),
        )
        .col_expr(outbox_message::Column::UpdatedAt, Expr::value(at))
        .filter(outbox_message::Column::Channel.eq(channel))
        .filter(outbox_message::Column::State.eq(MessageState::Queued))
        .exec(db)
        .await?
        .rows_affected)
}

/// An order's mails, oldest first (its webhooks are in their endpoints'
/// delivery logs).
pub async fn of_order<C: ConnectionTrait>(
    db: &C,
    order_id: Uuid,
) -> Result<Vec<outbox_message::Model>, DbErr> {
    outbox_message::Entity::find()
        .filter(outbox_message::Column::OrderId.eq(order_id))
        .filter(outbox_message::Column::Channel.eq(MessageChannel::Email))
        .order_by_asc(outbox_message::Column::CreatedAt)
        .order_by_asc(outbox_message::Column::Id)
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The webhook indexes were written with the states of their day: the
    /// states a worker waits on must still be exactly those.
    #[test]
    fn the_webhook_indexes_hold_exactly_the_waiting_webhooks() {
        let states: Vec<String> = MessageState::WAITING
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        let expected = format!(
            "channel = '{}' AND state IN ({})",
            MessageChannel::Webhook.as_str(),
            states.join(", ")
        );
        assert_eq!(WEBHOOK_WAITING, expected);
    }
}
