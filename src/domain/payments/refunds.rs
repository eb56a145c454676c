//! Refunds: asked for by an organizer (the whole order or chosen tickets,
//! the full price or part of it), queued automatically for late payments,
//! or made in Stripe's dashboard and reported by webhook.
//!
//! A refund is recorded (`requested`) and counted against what is left to
//! refund before Stripe is called, under a conditional update, so two
//! concurrent refunds can never give back more than was paid. The Stripe
//! request carries the refund's own id as idempotency key; when Stripe does
//! not answer, the refund stays `requested` and the sweeper sends it again
//! with the same key.

use crate::domain::idempotency::Attempt;
use entity::{
    order, refund,
    state::{OrderFlag, RefundSource, RefundStatus},
    ticket,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
    prelude::Expr,
};
use uuid::Uuid;

use super::{Payments, clip, refund_facts::converge};
use crate::{
    domain::{
        DomainError, audit, desk, now,
        orders::{OrderState, TicketStatus},
        staff::Staff,
        transitions,
        validation::FieldErrors,
    },
    payments::{GatewayError, RefundRequest},
};

/// How long a `requested` refund waits before the sweeper sends it again.
const RETRY_AFTER_SECONDS: i64 = 30;

/// What an organizer asks for.
#[derive(Debug, Clone, Default)]
pub struct RefundInput {
    /// The tickets to revoke; empty: money only, or the whole order when
    /// `amount` is left out.
    pub tickets: Vec<Uuid>,
    /// In minor units; by default the chosen tickets' prices, or everything
    /// left to refund.
    pub amount: Option<i64>,
    pub reason: String,
}

/// A refund about to be recorded; every row is made by [`NewRefund::row`].
pub(super) struct NewRefund {
    pub order_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    pub status: RefundStatus,
    pub source: RefundSource,
    pub stripe_refund_id: Option<String>,
    pub tickets: Vec<Uuid>,
    pub staff_id: Option<Uuid>,
    pub idempotency_ref: Option<String>,
}

impl NewRefund {
    pub(super) fn row(self, id: Uuid, at: chrono::DateTime<chrono::Utc>) -> refund::ActiveModel {
        refund::ActiveModel {
            id: Set(id),
            order_id: Set(self.order_id),
            stripe_refund_id: Set(self.stripe_refund_id),
            amount: Set(self.amount),
            currency: Set(self.currency),
            reason: Set(self.reason),
            status: Set(self.status),
            source: Set(self.source),
            ticket_ids: Set(serde_json::json!(self.tickets)),
            staff_id: Set(self.staff_id),
            failure: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
            idempotency_ref: Set(self.idempotency_ref),
        }
    }
}

/// Reads the ticket ids a refund revokes.
pub fn ticket_ids(row: &refund::Model) -> Vec<Uuid> {
    serde_json::from_value(row.ticket_ids.clone()).unwrap_or_default()
}

/// An organizer refunds an order. Free, comp and hand-paid orders are
/// settled here without Stripe; card payments go to Stripe.
pub async fn request(
    db: &DatabaseConnection,
    payments: &Payments,
    staff: &Staff,
    slug: &str,
    code: &str,
    input: RefundInput,
    attempt: Option<&Attempt>,
) -> Result<refund::Model, DomainError> {
    let model = desk::find(db, staff, slug, code).await?;
    if let Some(attempt) = attempt.filter(|a| a.resumed)
        && let Some(made) = refund::Entity::find()
            .filter(refund::Column::OrderId.eq(model.id))
            .filter(refund::Column::IdempotencyRef.eq(&attempt.reference))
            .one(db)
            .await?
    {
        // An attempt with this key died after counting the refund; the
        // sweeper sends it on to Stripe if it never got there.
        return Ok(made);
    }
    let state: OrderState = model.state;
    if !matches!(
        state,
        OrderState::Paid | OrderState::Cancelled | OrderState::Refunded
    ) {
        return Err(DomainError::conflict(
            "order_not_refundable",
            format!("this order is {state}; only paid orders can be refunded (cancel unpaid ones)"),
        ));
    }
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::OrderId.eq(model.id))
        .all(db)
        .await?;
    let plan = plan(&model, &tickets, &input)?;
    if plan.by_card && !payments.enabled() {
        return Err(DomainError::PaymentsNotConfigured);
    }
    let txn = db.begin().await?;
    let row = record(&txn, staff, &model, &plan, attempt).await?;
    txn.commit().await?;
    if !plan.by_card {
        return Ok(row);
    }
    submit(db, payments, row.id).await
}

/// A refund that passed every rule, before anything is written.
pub(crate) struct Plan {
    amount: i64,
    reason: String,
    /// The tickets it revokes.
    revoke: Vec<Uuid>,
    /// Money goes back through Stripe (else it was handed back, or free).
    pub(crate) by_card: bool,
}

/// Checks what an organizer asks for against the order: which tickets, how
/// much (never more than paid minus earlier refunds), why.
pub(crate) fn plan(
    model: &order::Model,
    tickets: &[ticket::Model],
    input: &RefundInput,
) -> Result<Plan, DomainError> {
    let mut errors = FieldErrors::new();
    let reason = errors.text("reason", &input.reason, 1, 500, false);
    let chosen = chosen_tickets(&mut errors, tickets, &input.tickets);
    let refundable = model.amount_paid - model.amount_refunded;
    let whole = input.tickets.is_empty() && input.amount.is_none();
    let amount = input.amount.unwrap_or(if input.tickets.is_empty() {
        refundable
    } else {
        Ord::min(chosen.iter().map(|t| t.price).sum::<i64>(), refundable)
    });
    if amount < 0 {
        errors.add("amount", "out_of_range", "must not be negative");
    } else if amount > refundable {
        errors.add(
            "amount",
            "exceeds_refundable",
            format!(
                "at most {refundable} (minor units of {}) is left to refund on this order",
                model.currency
            ),
        );
    }
    if input.tickets.is_empty() && amount == 0 && !whole {
        errors.add(
            "amount",
            "out_of_range",
            "must be more than 0 when no tickets are chosen",
        );
    }
    errors.finish(())?;
    let revoke: Vec<Uuid> = if whole {
        tickets
            .iter()
            .filter(|t| t.status == TicketStatus::Valid)
            .map(|t| t.id)
            .collect()
    } else {
        chosen.iter().map(|t| t.id).collect()
    };
    if amount == 0 && revoke.is_empty() {
        return Err(DomainError::conflict(
            "nothing_to_refund",
            "this order has no money left to refund and no valid tickets",
        ));
    }
    Ok(Plan {
        amount,
        reason,
        revoke,
        by_card: amount > 0 && model.payment_intent_id.is_some(),
    })
}

/// The order's tickets named by `ids`: valid ones, each once.
fn chosen_tickets<'a>(
    errors: &mut FieldErrors,
    tickets: &'a [ticket::Model],
    ids: &[Uuid],
) -> Vec<&'a ticket::Model> {
    let mut chosen: Vec<&ticket::Model> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match tickets.iter().find(|t| t.id == *id) {
            None => errors.add(
                format!("tickets[{i}]"),
                "unknown_ticket",
                "is not a ticket of this order",
            ),
            Some(t) if t.status != TicketStatus::Valid => errors.add(
                format!("tickets[{i}]"),
                "ticket_not_refundable",
                "is not a valid ticket (already revoked or never paid)",
            ),
            Some(t) if chosen.iter().any(|c| c.id == t.id) => errors.add(
                format!("tickets[{i}]"),
                "duplicate_ticket",
                "is listed twice",
            ),
            Some(t) => chosen.push(t),
        }
    }
    chosen
}

/// Counts the refund on the order (conditionally: never past what was
/// paid), records it and audits it, inside the caller's transaction. A
/// refund without a card is done at once (its tickets revoked); one by card
/// waits for Stripe ([`submit`] after the commit).
pub(crate) async fn record(
    txn: &DatabaseTransaction,
    staff: &Staff,
    model: &order::Model,
    plan: &Plan,
    attempt: Option<&Attempt>,
) -> Result<refund::Model, DomainError> {
    let at = now();
    let refund_id = Uuid::now_v7();
    let counted = order::Entity::update_many()
        .col_expr(
            order::Column::AmountRefunded,
            Expr::col(order::Column::AmountRefunded).add(plan.amount),
        )
        .col_expr(order::Column::UpdatedAt, Expr::value(at))
        .filter(order::Column::Id.eq(model.id))
        .filter(
            Expr::col(order::Column::AmountRefunded)
                .add(plan.amount)
                .lte(Expr::col(order::Column::AmountPaid)),
        )
        .exec(txn)
        .await?
        .rows_affected;
    if counted == 0 {
        return Err(DomainError::conflict(
            "refund_exceeds_payment",
            "another refund was made meanwhile; less is left to refund now",
        ));
    }
    // A cancelled order that kept its money keeps it no longer.
    order::Entity::update_many()
        .col_expr(order::Column::Flag, Expr::value(Option::<OrderFlag>::None))
        .col_expr(
            order::Column::FlagDetail,
            Expr::value(Option::<String>::None),
        )
        .filter(order::Column::Id.eq(model.id))
        .filter(order::Column::Flag.eq(OrderFlag::CancelledUnrefunded))
        .filter(Expr::col(order::Column::AmountRefunded).gte(Expr::col(order::Column::AmountPaid)))
        .exec(txn)
        .await?;
    let (status, source) = if plan.by_card {
        (RefundStatus::Requested, RefundSource::Organizer)
    } else {
        (RefundStatus::Succeeded, RefundSource::Manual)
    };
    let row = NewRefund {
        order_id: model.id,
        amount: plan.amount,
        currency: model.currency.clone(),
        reason: plan.reason.clone(),
        status,
        source,
        stripe_refund_id: None,
        tickets: plan.revoke.clone(),
        staff_id: Some(staff.id),
        idempotency_ref: attempt.map(|a| a.reference.clone()),
    }
    .row(refund_id, at)
    .insert(txn)
    .await?;
    if !plan.by_card {
        revoke_tickets(txn, model.id, &plan.revoke, model.amount_paid == 0).await?;
        if plan.amount > 0 {
            crate::domain::outbox::refunded(txn, model.id, plan.amount).await?;
        }
    }
    audit::record(
        txn,
        staff,
        model.event_id,
        "order.refunded",
        &model.code,
        serde_json::json!({
            "refund": refund_id, "amount": plan.amount, "currency": model.currency,
            "tickets": plan.revoke, "reason": plan.reason, "by_card": plan.by_card,
        }),
    )
    .await?;
    Ok(row)
}

/// Sends a `requested` refund to Stripe and records the answer. Stripe
/// unreachable: the refund stays `requested` (the sweeper retries). Stripe
/// refuses: the refund is `failed`, its amount is refundable again, and the
/// refusal is returned.
pub async fn submit(
    db: &DatabaseConnection,
    payments: &Payments,
    refund_id: Uuid,
) -> Result<refund::Model, DomainError> {
    let row = refund::Entity::find_by_id(refund_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("refund"))?;
    if row.status != RefundStatus::Requested {
        return Ok(row);
    }
    let order = order::Entity::find_by_id(row.order_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    let Some(payment_intent) = order.payment_intent_id.clone() else {
        return Err(DomainError::Corrupt(format!(
            "refund {refund_id} waits for Stripe but its order has no payment"
        )));
    };
    let gateway = payments.gateway()?;
    let answer = gateway
        .refund(RefundRequest {
            payment_intent,
            amount: row.amount,
            refund_id,
            order_id: order.id,
            reason: row.reason.clone(),
            idempotency_key: format!("refund:{refund_id}"),
        })
        .await;
    match answer {
        Ok(result) => {
            let txn = db.begin().await?;
            let updated = accept(&txn, &row, &result.id, result.status, None).await?;
            txn.commit().await?;
            Ok(updated)
        }
        Err(GatewayError::Unavailable(why)) => {
            tracing::warn!(refund = %refund_id, cause = %why, "refund not sent yet; will retry");
            refund::Entity::update_many()
                .col_expr(
                    refund::Column::Failure,
                    Expr::value(Some(clip(&format!("not sent yet: {why}"), 500))),
                )
                .col_expr(refund::Column::UpdatedAt, Expr::value(now()))
                .filter(refund::Column::Id.eq(refund_id))
                .filter(refund::Column::Status.eq(RefundStatus::Requested))
                .exec(db)
                .await?;
            Ok(refund::Entity::find_by_id(refund_id)
                .one(db)
                .await?
                .ok_or(DomainError::NotFound("refund"))?)
        }
        Err(GatewayError::Refused { code, message }) => {
            let txn = db.begin().await?;
            fail(&txn, &row, &format!("{code}: {message}")).await?;
            txn.commit().await?;
            Err(DomainError::conflict(
                "refund_refused",
                format!("Stripe refused the refund ({code}): {message}"),
            ))
        }
    }
}

/// Records Stripe's acceptance (or later news) of one of our refunds.
pub(super) async fn accept(
    txn: &DatabaseTransaction,
    row: &refund::Model,
    stripe_id: &str,
    status: RefundStatus,
    failure: Option<&str>,
) -> Result<refund::Model, DomainError> {
    if status.is_final_failure() {
        return fail(txn, row, failure.unwrap_or(status.as_str())).await;
    }
    if row.status.is_final_failure() {
        // Failed is final: a late "pending" does not revive it.
        return Ok(row.clone());
    }
    // A move the graph refuses (a late `pending` after `succeeded`) keeps
    // what the refund already is.
    let status = if transitions::refund_may_move(row.status, status) {
        status
    } else {
        row.status
    };
    let mut active: refund::ActiveModel = row.clone().into();
    active.stripe_refund_id = Set(Some(stripe_id.to_owned()));
    active.status = Set(status);
    active.failure = Set(None);
    active.updated_at = Set(now());
    let updated = active.update(txn).await?;
    if row.status == RefundStatus::Requested {
        revoke_tickets(txn, row.order_id, &ticket_ids(row), false).await?;
    }
    if status == RefundStatus::Succeeded && row.status != RefundStatus::Succeeded {
        crate::domain::outbox::refunded(txn, row.order_id, row.amount).await?;
    }
    Ok(updated)
}

/// A refund that did not happen: its amount is refundable again and the
/// order is flagged for the organizer.
pub(super) async fn fail(
    txn: &DatabaseTransaction,
    row: &refund::Model,
    why: &str,
) -> Result<refund::Model, DomainError> {
    if !transitions::refund_may_move(row.status, RefundStatus::Failed) {
        return Ok(row.clone());
    }
    let at = now();
    let mut active: refund::ActiveModel = row.clone().into();
    active.status = Set(RefundStatus::Failed);
    active.failure = Set(Some(clip(why, 500)));
    active.updated_at = Set(at);
    let updated = active.update(txn).await?;
    order::Entity::update_many()
        .col_expr(
            order::Column::Flag,
            Expr::value(Some(OrderFlag::RefundFailed)),
        )
        .col_expr(
            order::Column::FlagDetail,
            Expr::value(Some(clip(
                &format!("refund of {} {} failed: {why}", row.amount, row.currency),
                500,
            ))),
        )
        .col_expr(order::Column::UpdatedAt, Expr::value(at))
        .filter(order::Column::Id.eq(row.order_id))
        .exec(txn)
        .await?;
    // Its amount stops counting.
    converge(txn, row.order_id).await?;
    Ok(updated)
}

/// Revokes refunded tickets (their seats return at once); when none is left
/// valid, the order is closed: `refunded`, or `cancelled` when no money was
/// involved.
pub(super) async fn revoke_tickets(
    txn: &DatabaseTransaction,
    order_id: Uuid,
    ids: &[Uuid],
    free: bool,
) -> Result<(), DomainError> {
    let at = now();
    if !ids.is_empty() {
        transitions::move_tickets(txn, order_id, Some(ids), TicketStatus::Revoked, at).await?;
    }
    let left = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .filter(ticket::Column::OrderId.eq(order_id))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid))
        .into_tuple::<Uuid>()
        .one(txn)
        .await?;
    if left.is_none() {
        let to = if free {
            OrderState::Cancelled
        } else {
            OrderState::Refunded
        };
        // Only a paid order closes here: a cancelled one stays cancelled.
        transitions::move_order_from(txn, order_id, &[OrderState::Paid], to, at, |u| u).await?;
    }
    Ok(())
}

/// Sends again the refunds Stripe did not answer, after a pause. Returns
/// how many were retried.
pub async fn retry_requested(
    db: &DatabaseConnection,
    payments: &Payments,
) -> Result<usize, DomainError> {
    if !payments.enabled() {
        return Ok(0);
    }
    let due: Vec<Uuid> = refund::Entity::find()
        .select_only()
        .column(refund::Column::Id)
        .filter(refund::Column::Status.eq(RefundStatus::Requested))
        .filter(
            refund::Column::UpdatedAt.lte(now() - chrono::Duration::seconds(RETRY_AFTER_SECONDS)),
        )
        .order_by_asc(refund::Column::UpdatedAt)
        .limit(50)
        .into_tuple()
        .all(db)
        .await?;
    let n = due.len();
    for id in due {
        if let Err(err) = submit(db, payments, id).await {
            tracing::warn!(refund = %id, error = %err, "refund retry failed");
        }
    }
    Ok(n)
}

/// An order's refunds, oldest first.
pub async fn of_order(
    db: &impl ConnectionTrait,
    order_id: Uuid,
) -> Result<Vec<refund::Model>, DomainError> {
    Ok(refund::Entity::find()
        .filter(refund::Column::OrderId.eq(order_id))
        .order_by_asc(refund::Column::CreatedAt)
        .all(db)
        .await?)
}
