//! Applying what Stripe tells us through verified webhooks: each event once,
//! its facts recorded, the order derived from them; late payments and
//! disputes.

use super::*;

/// Finds the order an event is about: by the id in the metadata, else by
/// the Stripe ids we stored. The row is locked for the transaction, so two
/// events about one order (Stripe sends them concurrently) apply one after
/// the other and each sees what the other did.
async fn order_of(
    txn: &DatabaseTransaction,
    refs: &Refs,
) -> Result<Option<order::Model>, DomainError> {
    if let Some(id) = refs.order_id
        && let Some(found) = order::Entity::find_by_id(id)
            .lock_exclusive()
            .one(txn)
            .await?
    {
        return Ok(Some(found));
    }
    let by = [
        (order::Column::PaymentIntentId, &refs.payment_intent),
        (order::Column::ChargeId, &refs.charge),
        (order::Column::CheckoutSessionId, &refs.checkout_session),
    ];
    for (column, value) in by {
        if let Some(value) = value
            && let Some(found) = order::Entity::find()
                .filter(column.eq(value.clone()))
                .lock_exclusive()
                .one(txn)
                .await?
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn refs_of(notice: &Notice) -> Option<&Refs> {
    match notice {
        Notice::Paid { refs, .. }
        | Notice::PaymentFailed { refs, .. }
        | Notice::CheckoutAwaitingPayment { refs }
        | Notice::CheckoutExpired { refs }
        | Notice::ChargeRefunded { refs, .. }
        | Notice::Refund { refs, .. }
        | Notice::Dispute { refs, .. } => Some(refs),
        Notice::Ignored => None,
    }
}

/// Applies a verified Stripe event exactly once. Refunds it decides on (a
/// late payment whose seats are gone) are sent to Stripe after the commit.
pub async fn apply(
    db: &DatabaseConnection,
    payments: &Payments,
    incoming: Incoming,
) -> Result<Applied, DomainError> {
    let txn = db.begin().await?;
    let inserted = stripe_event::Entity::insert(stripe_event::ActiveModel {
        id: Set(incoming.id.clone()),
        event_type: Set(clip(&incoming.event_type, 100)),
        order_id: Set(None),
        outcome: Set(String::new()),
        received_at: Set(now()),
    })
    .on_conflict(
        OnConflict::column(stripe_event::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    if inserted == 0 {
        txn.rollback().await?;
        return Ok(Applied::of(Effect::Duplicate));
    }
    let order = match refs_of(&incoming.notice) {
        Some(refs) => order_of(&txn, refs).await?,
        None => None,
    };
    let applied = match (&incoming.notice, &order) {
        (Notice::Ignored, _) => Applied::of(Effect::Ignored),
        (_, None) => Applied::of(Effect::NoOrder),
        (notice, Some(order)) => {
            let mut applied = effect(&txn, notice, order).await?;
            // Whatever the event was, the order's refund figures and closure
            // follow from all the facts recorded so far.
            applied.fully_refunded = refund_facts::converge(&txn, order.id).await?;
            applied
        }
    };
    let outcome = applied.to_string();
    stripe_event::Entity::update_many()
        .col_expr(
            stripe_event::Column::Outcome,
            Expr::value(clip(&outcome, 500)),
        )
        .col_expr(
            stripe_event::Column::OrderId,
            Expr::value(order.as_ref().map(|o| o.id)),
        )
        .filter(stripe_event::Column::Id.eq(incoming.id.clone()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(event = %incoming.id, kind = %incoming.event_type, %outcome, "stripe event applied");
    if let Some(refund_id) = applied.refund_due {
        // Stripe down now? The sweeper retries requested refunds.
        if let Err(err) = refunds::submit(db, payments, refund_id).await {
            tracing::warn!(refund = %refund_id, error = %err, "late-payment refund not sent yet");
        }
    }
    Ok(applied)
}

async fn effect(
    txn: &DatabaseTransaction,
    notice: &Notice,
    order: &order::Model,
) -> Result<Applied, DomainError> {
    match notice {
        Notice::Paid {
            refs,
            amount,
            currency,
        } => paid(txn, order, refs, *amount, currency).await,
        Notice::PaymentFailed { reason, .. } => {
            let changed = order::Entity::update_many()
                .col_expr(
                    order::Column::PaymentError,
                    Expr::value(Some(clip(reason, 500))),
                )
                .col_expr(order::Column::UpdatedAt, Expr::value(now()))
                .filter(order::Column::Id.eq(order.id))
                .filter(order::Column::State.eq(OrderState::Pending))
                .exec(txn)
                .await?
                .rows_affected;
            // The first decline of a hold is mailed (with the link to try
            // again); the buyer retrying at the page hears nothing more.
            if changed > 0 && order.payment_error.is_none() {
                crate::domain::outbox::to_buyer(
                    txn,
                    order.id,
                    entity::state::MessageKind::PaymentFailed,
                    serde_json::json!({ "reason": clip(reason, 200) }),
                )
                .await?;
            }
            Ok(Applied::of(if changed > 0 {
                Effect::PaymentFailed
            } else {
                Effect::PaymentFailureIgnored(order.state)
            }))
        }
        Notice::CheckoutAwaitingPayment { refs } => {
            note_refs(txn, order, refs).await?;
            Ok(Applied::of(Effect::AwaitingDelayedPayment))
        }
        Notice::CheckoutExpired { refs } => {
            let ours = order.checkout_session_id.is_some()
                && order.checkout_session_id == refs.checkout_session;
            let released = ours && orders::release(txn, order.id, OrderState::Expired).await?;
            Ok(Applied::of(Effect::CheckoutExpired { released }))
        }
        Notice::ChargeRefunded {
            amount_refunded, ..
        } => {
            refund_facts::note_charge_refunded(txn, order, *amount_refunded).await?;
            Ok(Applied::of(Effect::ChargeRefunded(*amount_refunded)))
        }
        Notice::Refund {
            stripe_id,
            ours,
            amount,
            currency,
            status,
            failure,
            ..
        } => refund_facts::reconcile(
            txn,
            order,
            refund_facts::Reported {
                stripe_id,
                ours: *ours,
                amount: *amount,
                currency,
                status: *status,
                failure: failure.as_deref(),
            },
        )
        .await
        .map(|refund| Applied::of(Effect::Refund(refund))),
        Notice::Dispute {
            id,
            reason,
            status,
            closed,
            ..
        } => dispute(txn, order, id, reason, *status, *closed).await,
        Notice::Ignored => Ok(Applied::of(Effect::Ignored)),
    }
}

/// Remembers Stripe's ids on the order, for lookups and refunds.
async fn note_refs(
    txn: &DatabaseTransaction,
    order: &order::Model,
    refs: &Refs,
) -> Result<(), DomainError> {
    let mut active: order::ActiveModel = order.clone().into();
    if order.payment_intent_id.is_none() && refs.payment_intent.is_some() {
        active.payment_intent_id = Set(refs.payment_intent.clone());
    }
    if refs.charge.is_some() {
        active.charge_id = Set(refs.charge.clone());
    }
    if order.checkout_session_id.is_none() && refs.checkout_session.is_some() {
        active.checkout_session_id = Set(refs.checkout_session.clone());
    }
    if active.is_changed() {
        active.updated_at = Set(now());
        active.update(txn).await?;
    }
    Ok(())
}

async fn flag(
    txn: &DatabaseTransaction,
    order_id: Uuid,
    flag: OrderFlag,
    detail: String,
) -> Result<(), DomainError> {
    order::Entity::update_many()
        .col_expr(order::Column::Flag, Expr::value(Some(flag)))
        .col_expr(
            order::Column::FlagDetail,
            Expr::value(Some(clip(&detail, 500))),
        )
        .col_expr(order::Column::UpdatedAt, Expr::value(now()))
        .filter(order::Column::Id.eq(order_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Marks a pending (or lapsed) order paid and its tickets valid.
pub(super) async fn settle_paid(
    txn: &DatabaseTransaction,
    order: &order::Model,
    amount: i64,
    refs: &Refs,
) -> Result<(), DomainError> {
    let at = now();
    let moved = transitions::move_order(txn, order.id, OrderState::Paid, at, |update| {
        with_payment_refs(update, order, refs)
            .col_expr(order::Column::AmountPaid, Expr::value(amount))
            .col_expr(
                order::Column::PaymentError,
                Expr::value(Option::<String>::None),
            )
    })
    .await?;
    if !moved {
        // The order row is locked by the caller: it cannot have moved since
        // it was read.
        return Err(DomainError::Corrupt(format!(
            "order {} could not move from {} to paid",
            order.id, order.state
        )));
    }
    transitions::move_tickets(txn, order.id, None, TicketStatus::Valid, at).await?;
    // The confirmation and every attendee's ticket, with the payment.
    crate::domain::outbox::order_paid(txn, order.id).await?;
    crate::domain::webhooks::announce(
        txn,
        vec![crate::domain::webhooks::Notice::order(
            entity::state::WebhookType::OrderPaid,
            order.event_id,
            order.id,
        )],
    )
    .await?;
    Ok(())
}

/// Records the payment's Stripe ids on the order, keeping an intent it has.
fn with_payment_refs(
    mut update: UpdateMany<order::Entity>,
    order: &order::Model,
    refs: &Refs,
) -> UpdateMany<order::Entity> {
    if order.payment_intent_id.is_none() {
        update = update.col_expr(
            order::Column::PaymentIntentId,
            Expr::value(refs.payment_intent.clone()),
        );
    }
    if refs.charge.is_some() {
        update = update.col_expr(order::Column::ChargeId, Expr::value(refs.charge.clone()));
    }
    update
}

/// Whether the order's hold has lapsed (expired, or pending past its time).
pub(super) fn lapsed(order: &order::Model, at: DateTime<Utc>) -> bool {
    orders::effective_state(order, at) == OrderState::Expired
}

/// Takes the seats of a lapsed order back if they are free; `Ok(None)`
/// means they are the order's again, else what is gone, in words.
pub(super) async fn reacquire(
    txn: &DatabaseTransaction,
    order: &order::Model,
) -> Result<Option<Gone>, DomainError> {
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::OrderId.eq(order.id))
        .all(txn)
        .await?;
    Ok(inventory::reacquire(txn, order, &tickets)
        .await?
        .map(|refusal| Gone::of(&refusal)))
}

async fn paid(
    txn: &DatabaseTransaction,
    order: &order::Model,
    refs: &Refs,
    amount: i64,
    currency: &str,
) -> Result<Applied, DomainError> {
    let state: OrderState = order.state;
    if !currency.eq_ignore_ascii_case(&order.currency) || amount != order.total {
        note_refs(txn, order, refs).await?;
        let mismatch = Mismatch {
            received: amount,
            currency: currency.to_owned(),
            total: order.total,
            order_currency: order.currency.clone(),
        };
        flag(
            txn,
            order.id,
            OrderFlag::AmountMismatch,
            mismatch.to_string(),
        )
        .await?;
        return Ok(Applied::of(Effect::AmountMismatch(mismatch)));
    }
    match state {
        OrderState::Paid | OrderState::Refunded
            if order.payment_intent_id == refs.payment_intent =>
        {
            Ok(Applied::of(Effect::AlreadyPaid))
        }
        OrderState::Paid | OrderState::Refunded => {
            flag(
                txn,
                order.id,
                OrderFlag::DoublePayment,
                format!(
                    "a second payment {:?} arrived for a settled order",
                    refs.payment_intent
                ),
            )
            .await?;
            Ok(Applied::of(Effect::DoublePayment))
        }
        OrderState::Pending if !lapsed(order, now()) => {
            settle_paid(txn, order, amount, refs).await?;
            Ok(Applied::of(Effect::Paid))
        }
        OrderState::Pending | OrderState::Expired => match reacquire(txn, order).await? {
            None => {
                settle_paid(txn, order, amount, refs).await?;
                Ok(Applied::of(Effect::PaidLate))
            }
            Some(gone) => late_refund(txn, order, amount, refs, LateReason::Gone(gone)).await,
        },
        OrderState::Cancelled => late_refund(txn, order, amount, refs, LateReason::Cancelled).await,
    }
}

/// A payment that can no longer buy its tickets: the order is closed as
/// refunded and a refund is queued for Stripe.
async fn late_refund(
    txn: &DatabaseTransaction,
    order: &order::Model,
    amount: i64,
    refs: &Refs,
    why: LateReason,
) -> Result<Applied, DomainError> {
    let words = why.to_string();
    // The hold ends for good (a no-op when it already did).
    orders::release(txn, order.id, OrderState::Expired).await?;
    let at = now();
    let moved = transitions::move_order(txn, order.id, OrderState::Refunded, at, |update| {
        with_payment_refs(update, order, refs)
            .col_expr(
                order::Column::ExpiresAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(order::Column::AmountPaid, Expr::value(amount))
            .col_expr(order::Column::AmountRefunded, Expr::value(amount))
            .col_expr(
                order::Column::Flag,
                Expr::value(Some(OrderFlag::LatePaymentRefunded)),
            )
            .col_expr(order::Column::FlagDetail, Expr::value(Some(words.clone())))
    })
    .await?;
    if !moved {
        return Err(DomainError::Corrupt(format!(
            "order {} could not move from {} to refunded",
            order.id, order.state
        )));
    }
    let refund_id = Uuid::now_v7();
    refunds::NewRefund {
        order_id: order.id,
        amount,
        currency: order.currency.clone(),
        reason: words,
        status: RefundStatus::Requested,
        source: RefundSource::LatePayment,
        stripe_refund_id: None,
        tickets: Vec::new(),
        staff_id: None,
        idempotency_ref: None,
    }
    .row(refund_id, at)
    .insert(txn)
    .await?;
    Ok(Applied {
        effect: Effect::LatePaymentRefunded(why),
        fully_refunded: false,
        refund_due: Some(refund_id),
    })
}

async fn dispute(
    txn: &DatabaseTransaction,
    order: &order::Model,
    id: &str,
    reason: &str,
    status: DisputeStatus,
    closed: bool,
) -> Result<Applied, DomainError> {
    // A dispute's closing is final: news of its opening that arrives later
    // changes nothing.
    let known_closed = order.dispute_id.as_deref() == Some(id)
        && order.dispute_status.is_some_and(DisputeStatus::is_closed);
    if !closed && known_closed {
        return Ok(Applied::of(Effect::DisputeAlreadyClosed));
    }
    let at = now();
    // What the door does, the organizer's flag, and the words for the log.
    // A lost dispute blocks the tickets for good, even as the first news.
    let (disputed_at, flag, detail, outcome) = if !closed {
        (
            Some(at),
            Some(OrderFlag::Disputed),
            format!("dispute {id} opened: {reason}"),
            Effect::DisputeOpened,
        )
    } else if status.kept_the_money() {
        (
            None,
            None,
            format!("dispute {id} closed: {status}"),
            Effect::DisputeClosed {
                status,
                blocked: false,
            },
        )
    } else {
        (
            Some(order.disputed_at.unwrap_or(at)),
            Some(OrderFlag::DisputeLost),
            format!("dispute {id} closed: {status}"),
            Effect::DisputeClosed {
                status,
                blocked: true,
            },
        )
    };
    order::Entity::update_many()
        .col_expr(order::Column::DisputeId, Expr::value(Some(id.to_owned())))
        .col_expr(order::Column::DisputeStatus, Expr::value(Some(status)))
        .col_expr(order::Column::DisputedAt, Expr::value(disputed_at))
        .col_expr(order::Column::Flag, Expr::value(flag))
        .col_expr(
            order::Column::FlagDetail,
            Expr::value(Some(clip(&detail, 500))),
        )
        .col_expr(order::Column::UpdatedAt, Expr::value(at))
        .filter(order::Column::Id.eq(order.id))
        .exec(txn)
        .await?;
    // Tickets change so offline scanners pick up the block or its end.
    ticket::Entity::update_many()
        .col_expr(ticket::Column::UpdatedAt, Expr::value(at))
        .filter(ticket::Column::OrderId.eq(order.id))
        .exec(txn)
        .await?;
    Ok(Applied::of(outcome))
}
