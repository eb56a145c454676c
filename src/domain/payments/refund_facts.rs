//! What Stripe reports about refunds, applied as facts: refunds made in the
//! dashboard, status changes of ours, the charge's refunded total; and the
//! order's refunded amount and closure derived from all of them, so events
//! applied in any order end in one state.

use entity::{
    order, refund,
    state::{OrderState, RefundSource, RefundStatus, TicketStatus},
    ticket,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
    prelude::Expr,
};
use uuid::Uuid;

use super::{
    effects::RefundEffect,
    refunds::{NewRefund, accept, of_order, revoke_tickets},
};
use crate::domain::{DomainError, now};

/// A charge refunded in full (from anywhere): every ticket is revoked and
/// the order is `refunded`. Returns whether anything changed.
pub(super) async fn close_fully_refunded(
    txn: &DatabaseTransaction,
    order_id: Uuid,
) -> Result<bool, DomainError> {
    let valid: Vec<Uuid> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .filter(ticket::Column::OrderId.eq(order_id))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid))
        .into_tuple()
        .all(txn)
        .await?;
    let state = order::Entity::find_by_id(order_id)
        .select_only()
        .column(order::Column::State)
        .into_tuple::<OrderState>()
        .one(txn)
        .await?;
    if valid.is_empty() && state != Some(OrderState::Paid) {
        return Ok(false);
    }
    revoke_tickets(txn, order_id, &valid, false).await?;
    Ok(true)
}

/// A refund as a webhook reports it.
pub(super) struct Reported<'a> {
    pub stripe_id: &'a str,
    pub ours: Option<Uuid>,
    pub amount: i64,
    pub currency: &'a str,
    pub status: RefundStatus,
    pub failure: Option<&'a str>,
}

/// Applies `refund.created/updated/failed` (and `charge.refund.updated`):
/// ours are matched by Stripe id or by the id in the metadata; others were
/// made in Stripe's dashboard and are recorded as such.
pub(super) async fn reconcile(
    txn: &DatabaseTransaction,
    order: &order::Model,
    reported: Reported<'_>,
) -> Result<RefundEffect, DomainError> {
    let mut existing = refund::Entity::find()
        .filter(refund::Column::StripeRefundId.eq(reported.stripe_id))
        .one(txn)
        .await?;
    if existing.is_none()
        && let Some(ours) = reported.ours
    {
        existing = refund::Entity::find_by_id(ours)
            .filter(refund::Column::OrderId.eq(order.id))
            .one(txn)
            .await?;
    }
    if let Some(row) = existing {
        let before = row.status;
        let updated = accept(
            txn,
            &row,
            reported.stripe_id,
            reported.status,
            reported.failure,
        )
        .await?;
        let after = updated.status;
        return Ok(if before == after {
            RefundEffect::Unchanged(after)
        } else {
            RefundEffect::Moved {
                from: before,
                to: after,
            }
        });
    }
    // Made outside tessera (the dashboard).
    if reported.status.is_final_failure() {
        return Ok(RefundEffect::OutsideFailed(reported.status));
    }
    // Recorded as Stripe reports it, even when it arrives before the payment
    // it refunds: what the order shows is derived from the facts.
    let at = now();
    let amount = Ord::max(reported.amount, 0);
    NewRefund {
        order_id: order.id,
        amount,
        currency: reported.currency.to_uppercase(),
        reason: "refunded in Stripe's dashboard".to_owned(),
        status: reported.status,
        source: RefundSource::Stripe,
        stripe_refund_id: Some(reported.stripe_id.to_owned()),
        tickets: Vec::new(),
        staff_id: None,
        idempotency_ref: None,
    }
    .row(Uuid::now_v7(), at)
    .insert(txn)
    .await?;
    if reported.status == entity::state::RefundStatus::Succeeded && amount > 0 {
        crate::domain::outbox::refunded(txn, order.id, amount).await?;
    }
    Ok(RefundEffect::OutsideRecorded)
}

/// What an order's refunds add up to, from the facts: the refunds that did
/// not fail (ours and the dashboard's), or the charge's refunded total as
/// Stripe reported it, whichever is more (the charge's total includes every
/// refund of it).
fn refunded_total(order: &order::Model, rows: &[refund::Model]) -> i64 {
    let counted: i64 = rows
        .iter()
        .filter(|r| !r.status.is_final_failure())
        .map(|r| r.amount)
        .sum();
    Ord::max(counted, order.charge_refunded)
}

/// Derives an order's refunded amount and closure from the recorded facts,
/// so that Stripe's events, applied in any order, end in one state: the
/// amount shown is what was refunded, up to what was paid; an order refunded
/// in full is closed (`refunded`, its tickets revoked). Returns whether this
/// call closed it.
pub(super) async fn converge(
    txn: &DatabaseTransaction,
    order_id: Uuid,
) -> Result<bool, DomainError> {
    let Some(order) = order::Entity::find_by_id(order_id).one(txn).await? else {
        return Ok(false);
    };
    let rows = of_order(txn, order_id).await?;
    let refunded = refunded_total(&order, &rows);
    let shown = Ord::min(refunded, order.amount_paid);
    if shown != order.amount_refunded {
        order::Entity::update_many()
            .col_expr(order::Column::AmountRefunded, Expr::value(shown))
            .col_expr(order::Column::UpdatedAt, Expr::value(now()))
            .filter(order::Column::Id.eq(order_id))
            .exec(txn)
            .await?;
    }
    if order.amount_paid > 0 && refunded >= order.amount_paid {
        return close_fully_refunded(txn, order_id).await;
    }
    Ok(false)
}

/// Records the charge's refunded total as Stripe reports it (totals only
/// grow, so an older report never lowers it).
pub(super) async fn note_charge_refunded(
    txn: &DatabaseTransaction,
    order: &order::Model,
    amount_refunded: i64,
) -> Result<(), DomainError> {
    if amount_refunded > order.charge_refunded {
        order::Entity::update_many()
            .col_expr(order::Column::ChargeRefunded, Expr::value(amount_refunded))
            .col_expr(order::Column::UpdatedAt, Expr::value(now()))
            .filter(order::Column::Id.eq(order.id))
            .exec(txn)
            .await?;
    }
    Ok(())
}
