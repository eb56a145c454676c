//! Paying for orders: starting a card payment, applying what Stripe tells
//! us through verified webhooks, payments that arrive late, organizers
//! marking an order paid by hand, and refunds ([`refunds`]).
//!
//! An order becomes `paid` only through a verified webhook or an organizer's
//! explicit action, never on the front end's word. Each Stripe event is
//! recorded under its id in the same transaction as its effect, so a
//! redelivery changes nothing, and an order's state only moves forward
//! whatever order events arrive in.

pub mod refunds;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use entity::{order, refund, stripe_event, ticket};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait, prelude::Expr,
    sea_query::OnConflict,
};
use uuid::Uuid;

use super::{
    DomainError, audit, desk,
    inventory::{self, Refusal},
    now,
    orders::{self, Order, OrderState, TicketStatus},
    staff::Staff,
    validation::FieldErrors,
};
use crate::payments::{
    CheckoutRequest, GatewayError, IntentRequest, PaymentGateway,
    webhook::{Incoming, Notice, Refs},
};

/// Text stored in a column of `max` characters (Stripe's messages can be
/// long).
pub(super) fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Stripe requires a Checkout Session to stay open at least 30 minutes.
const CHECKOUT_MIN_OPEN: i64 = 31;

/// The payment provider and the front-end origins Checkout may send buyers
/// back to.
#[derive(Clone, Default)]
pub struct Payments {
    pub gateway: Option<Arc<dyn PaymentGateway>>,
    pub return_origins: Vec<String>,
    pub webhook_secrets: Vec<String>,
}

impl Payments {
    pub fn enabled(&self) -> bool {
        self.gateway.is_some()
    }

    /// Checks a Checkout flow's return URLs against the front-end origins
    /// (fields named under `prefix`, e.g. `payment.`), before anything is
    /// held or sent to Stripe. The URLs come back normalised.
    pub fn check_flow(&self, flow: Flow, prefix: &str) -> Result<Flow, DomainError> {
        Ok(match flow {
            Flow::Intent => Flow::Intent,
            Flow::Checkout {
                success_url,
                cancel_url,
            } => {
                let (success_url, cancel_url) =
                    self.return_urls(&success_url, &cancel_url, prefix)?;
                Flow::Checkout {
                    success_url,
                    cancel_url,
                }
            }
        })
    }

    fn return_urls(
        &self,
        success_url: &str,
        cancel_url: &str,
        prefix: &str,
    ) -> Result<(String, String), DomainError> {
        let mut errors = FieldErrors::new();
        let origins = &self.return_origins;
        let success = check_return_url(
            &mut errors,
            &format!("{prefix}success_url"),
            success_url,
            origins,
        );
        let cancel = check_return_url(
            &mut errors,
            &format!("{prefix}cancel_url"),
            cancel_url,
            origins,
        );
        Ok(errors.finish((success, cancel))?)
    }

    fn gateway(&self) -> Result<&dyn PaymentGateway, DomainError> {
        self.gateway
            .as_deref()
            .ok_or(DomainError::PaymentsNotConfigured)
    }
}

/// How the buyer pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Stripe.js / Elements on the front end's own page, with the client
    /// secret.
    Intent,
    /// Stripe's hosted Checkout page.
    Checkout {
        success_url: String,
        cancel_url: String,
    },
}

/// What the front end needs to take the money.
#[derive(Debug, Clone)]
pub struct PaymentStart {
    pub flow: Flow,
    pub intent_id: Option<String>,
    pub client_secret: Option<String>,
    pub checkout_url: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub hold_expires_at: Option<DateTime<Utc>>,
}

fn unavailable(err: GatewayError) -> DomainError {
    match err {
        GatewayError::Unavailable(why) => DomainError::PaymentUnavailable(why),
        GatewayError::Refused { code, message } => DomainError::conflict(
            "payment_provider_refused",
            format!("the payment provider refused ({code}): {message}"),
        ),
    }
}

fn intent_request(order: &Order, purpose: &str) -> IntentRequest {
    IntentRequest {
        order_id: order.model.id,
        code: order.model.code.clone(),
        event_slug: order.event_slug.clone(),
        email: order.model.email.clone(),
        amount: order.model.total,
        currency: order.model.currency.clone(),
        idempotency_key: format!("order:{}:{purpose}", order.model.id),
    }
}

/// Checks a Checkout return URL against the allowed front-end origins.
fn check_return_url(
    errors: &mut FieldErrors,
    field: &str,
    url: &str,
    origins: &[String],
) -> String {
    match url::Url::parse(url.trim()) {
        Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => {
            let origin = parsed.origin().ascii_serialization();
            if !origins.contains(&origin) {
                errors.add(
                    field,
                    "origin_not_allowed",
                    "must be on one of the front-end origins configured in TESSERA_CORS_ORIGINS",
                );
            }
            parsed.to_string()
        }
        _ => {
            errors.add(field, "invalid_url", "must be an absolute http(s) URL");
            String::new()
        }
    }
}

/// An order is paid one way: the first payment started (a PaymentIntent or
/// a Checkout Session) is the only one, so a buyer cannot be charged twice
/// by switching.
fn method_fixed(started: &str) -> DomainError {
    DomainError::conflict(
        "payment_method_fixed",
        format!(
            "this order's payment was started with {started}; resume it that way, \
             or cancel the order and place a new one"
        ),
    )
}

/// A payment an order row may record.
enum Started<'a> {
    Intent(&'a str),
    Checkout(&'a str),
}

/// Whether the order row holds exactly this payment (a concurrent
/// identical request recorded it first).
async fn recorded_as(
    db: &impl ConnectionTrait,
    order_id: Uuid,
    started: Started<'_>,
) -> Result<bool, DomainError> {
    let row = order::Entity::find_by_id(order_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    Ok(match started {
        Started::Intent(id) => {
            row.payment_intent_id.as_deref() == Some(id) && row.checkout_session_id.is_none()
        }
        Started::Checkout(id) => row.checkout_session_id.as_deref() == Some(id),
    })
}

fn checkout_request(order: &Order, success_url: &str, cancel_url: &str) -> CheckoutRequest {
    let model = &order.model;
    // Deterministic from the order, so a retried request sends the very
    // same parameters under the same idempotency key.
    let expires_at = model
        .expires_at
        .unwrap_or(model.created_at)
        .max(model.created_at + Duration::minutes(CHECKOUT_MIN_OPEN));
    let tickets = order.tickets.len();
    CheckoutRequest {
        intent: intent_request(order, "checkout"),
        description: format!(
            "{}: {tickets} ticket{} (order {})",
            order.event_slug,
            if tickets == 1 { "" } else { "s" },
            model.code
        ),
        success_url: success_url.to_owned(),
        cancel_url: cancel_url.to_owned(),
        expires_at,
    }
}

/// Starts (or resumes) the payment of a pending order. Amount and currency
/// come from the order; every Stripe request carries an idempotency key
/// derived from the order's id, so a retry never creates a second payment.
pub async fn start(
    db: &impl ConnectionTrait,
    payments: &Payments,
    order: &Order,
    flow: Flow,
) -> Result<PaymentStart, DomainError> {
    if order.state != OrderState::Pending {
        return Err(DomainError::conflict(
            "order_not_payable",
            format!(
                "this order is {}; only pending orders can be paid",
                order.state
            ),
        ));
    }
    let gateway = payments.gateway()?;
    let model = &order.model;
    let mut start = PaymentStart {
        flow: flow.clone(),
        intent_id: None,
        client_secret: None,
        checkout_url: None,
        amount: model.total,
        currency: model.currency.clone(),
        hold_expires_at: model.expires_at,
    };
    match flow {
        Flow::Intent => {
            if model.checkout_session_id.is_some() {
                return Err(method_fixed("Stripe Checkout"));
            }
            let intent = match &model.payment_intent_id {
                Some(id) => gateway.retrieve_intent(id.clone()).await,
                None => {
                    gateway
                        .create_intent(intent_request(order, "payment"))
                        .await
                }
            }
            .map_err(unavailable)?;
            if model.payment_intent_id.is_none() {
                let recorded = order::Entity::update_many()
                    .col_expr(
                        order::Column::PaymentIntentId,
                        Expr::value(Some(intent.id.clone())),
                    )
                    .col_expr(order::Column::UpdatedAt, Expr::value(now()))
                    .filter(order::Column::Id.eq(model.id))
                    .filter(order::Column::PaymentIntentId.is_null())
                    .filter(order::Column::CheckoutSessionId.is_null())
                    .exec(db)
                    .await?
                    .rows_affected;
                if recorded == 0 && !recorded_as(db, model.id, Started::Intent(&intent.id)).await? {
                    // A concurrent request started a Checkout Session.
                    let key = format!("order:{}:cancel", model.id);
                    if let Err(err) = gateway.cancel_intent(intent.id.clone(), key).await {
                        tracing::warn!(order = %model.id, error = %err, "surplus payment intent not cancelled");
                    }
                    return Err(method_fixed("Stripe Checkout"));
                }
            }
            start.intent_id = Some(intent.id);
            start.client_secret = intent.client_secret;
        }
        Flow::Checkout {
            success_url,
            cancel_url,
        } => {
            let (success_url, cancel_url) = payments.return_urls(&success_url, &cancel_url, "")?;
            if model.checkout_session_id.is_none() && model.payment_intent_id.is_some() {
                return Err(method_fixed("a card payment (PaymentIntent)"));
            }
            let session = match &model.checkout_session_id {
                // Resumed: the session made first, with its return URLs.
                Some(id) => gateway.retrieve_checkout(id.clone()).await,
                None => {
                    gateway
                        .create_checkout(checkout_request(order, &success_url, &cancel_url))
                        .await
                }
            }
            .map_err(unavailable)?;
            if model.checkout_session_id.is_none() {
                let recorded = order::Entity::update_many()
                    .col_expr(
                        order::Column::CheckoutSessionId,
                        Expr::value(Some(session.id.clone())),
                    )
                    .col_expr(order::Column::UpdatedAt, Expr::value(now()))
                    .filter(order::Column::Id.eq(model.id))
                    .filter(order::Column::CheckoutSessionId.is_null())
                    .filter(order::Column::PaymentIntentId.is_null())
                    .exec(db)
                    .await?
                    .rows_affected;
                if recorded == 0
                    && !recorded_as(db, model.id, Started::Checkout(&session.id)).await?
                {
                    // A concurrent request started a PaymentIntent.
                    let key = format!("order:{}:expire-checkout", model.id);
                    if let Err(err) = gateway.expire_checkout(session.id.clone(), key).await {
                        tracing::warn!(order = %model.id, error = %err, "surplus checkout session not expired");
                    }
                    return Err(method_fixed("a card payment (PaymentIntent)"));
                }
            }
            start.checkout_url = session.url;
            start.intent_id = session.payment_intent;
            start.flow = Flow::Checkout {
                success_url,
                cancel_url,
            };
        }
    }
    Ok(start)
}

/// Starts the payment of an order just placed. When that fails (Stripe
/// down, slow or refusing), the hold is released at once: the buyer gets a
/// retryable error and no seat stays blocked by an order nobody can pay.
pub async fn begin(
    db: &DatabaseConnection,
    payments: &Payments,
    order: &Order,
    flow: Flow,
) -> Result<Option<PaymentStart>, DomainError> {
    if order.state != OrderState::Pending {
        return Ok(None);
    }
    match start(db, payments, order, flow).await {
        Ok(started) => Ok(Some(started)),
        Err(err) => {
            orders::release(db, order.model.id, OrderState::Cancelled).await?;
            Err(err)
        }
    }
}

/// The attendee cancels an unpaid order; its payment is cancelled at Stripe
/// too, so it cannot be paid afterwards.
pub async fn cancel_order(
    db: &DatabaseConnection,
    payments: &Payments,
    code: &str,
    token: Option<&str>,
) -> Result<Order, DomainError> {
    let order = orders::cancel(db, code, token).await?;
    close_lapsed(payments, std::slice::from_ref(&order.model)).await;
    Ok(order)
}

/// What applying a webhook event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub duplicate: bool,
    pub outcome: String,
}

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
        return Ok(Applied {
            duplicate: true,
            outcome: "already applied".into(),
        });
    }
    let order = match refs_of(&incoming.notice) {
        Some(refs) => order_of(&txn, refs).await?,
        None => None,
    };
    let (outcome, refund_due) = match (&incoming.notice, &order) {
        (Notice::Ignored, _) => ("ignored: not an event tessera acts on".to_owned(), None),
        (_, None) => ("ignored: no tessera order matches".to_owned(), None),
        (notice, Some(order)) => {
            let (outcome, refund_due) = effect(&txn, notice, order).await?;
            // Whatever the event was, the order's refund figures and closure
            // follow from all the facts recorded so far.
            if refunds::converge(&txn, order.id).await? {
                (
                    format!("{outcome}; the order is fully refunded"),
                    refund_due,
                )
            } else {
                (outcome, refund_due)
            }
        }
    };
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
    if let Some(refund_id) = refund_due {
        // Stripe down now? The sweeper retries requested refunds.
        if let Err(err) = refunds::submit(db, payments, refund_id).await {
            tracing::warn!(refund = %refund_id, error = %err, "late-payment refund not sent yet");
        }
    }
    Ok(Applied {
        duplicate: false,
        outcome,
    })
}

type Effect = (String, Option<Uuid>);

async fn effect(
    txn: &DatabaseTransaction,
    notice: &Notice,
    order: &order::Model,
) -> Result<Effect, DomainError> {
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
                .filter(order::Column::State.eq(OrderState::Pending.as_str()))
                .exec(txn)
                .await?
                .rows_affected;
            Ok((
                if changed > 0 {
                    "payment failed; the hold stays until it expires".to_owned()
                } else {
                    format!("payment failure ignored: the order is {}", order.state)
                },
                None,
            ))
        }
        Notice::CheckoutAwaitingPayment { refs } => {
            note_refs(txn, order, refs).await?;
            Ok((
                "checkout completed; waiting for the delayed payment".to_owned(),
                None,
            ))
        }
        Notice::CheckoutExpired { refs } => {
            let ours = order.checkout_session_id.is_some()
                && order.checkout_session_id == refs.checkout_session;
            if ours && orders::release(txn, order.id, OrderState::Expired).await? {
                Ok(("checkout expired; the hold was released".to_owned(), None))
            } else {
                Ok(("checkout expired; nothing held".to_owned(), None))
            }
        }
        Notice::ChargeRefunded {
            amount_refunded, ..
        } => {
            refunds::note_charge_refunded(txn, order, *amount_refunded).await?;
            Ok((
                format!("charge refunded total {amount_refunded} noted"),
                None,
            ))
        }
        Notice::Refund {
            stripe_id,
            ours,
            amount,
            currency,
            status,
            failure,
            ..
        } => refunds::reconcile(
            txn,
            order,
            refunds::Reported {
                stripe_id,
                ours: *ours,
                amount: *amount,
                currency,
                status,
                failure: failure.as_deref(),
            },
        )
        .await
        .map(|outcome| (outcome, None)),
        Notice::Dispute {
            id,
            reason,
            status,
            closed,
            ..
        } => dispute(txn, order, id, reason, status, *closed).await,
        Notice::Ignored => Ok(("ignored".to_owned(), None)),
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
    flag: &str,
    detail: String,
) -> Result<(), DomainError> {
    order::Entity::update_many()
        .col_expr(order::Column::Flag, Expr::value(Some(flag.to_owned())))
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
async fn settle_paid(
    txn: &DatabaseTransaction,
    order: &order::Model,
    amount: i64,
    refs: &Refs,
) -> Result<(), DomainError> {
    let at = now();
    let mut active: order::ActiveModel = order.clone().into();
    active.state = Set(OrderState::Paid.as_str().to_owned());
    active.paid_at = Set(Some(at));
    active.expires_at = Set(None);
    active.amount_paid = Set(amount);
    active.payment_error = Set(None);
    active.updated_at = Set(at);
    if order.payment_intent_id.is_none() {
        active.payment_intent_id = Set(refs.payment_intent.clone());
    }
    if refs.charge.is_some() {
        active.charge_id = Set(refs.charge.clone());
    }
    active.update(txn).await?;
    ticket::Entity::update_many()
        .col_expr(
            ticket::Column::Status,
            Expr::value(TicketStatus::Valid.as_str()),
        )
        .col_expr(
            ticket::Column::HoldExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(ticket::Column::UpdatedAt, Expr::value(at))
        .filter(ticket::Column::OrderId.eq(order.id))
        .filter(
            ticket::Column::Status
                .is_in([TicketStatus::Held.as_str(), TicketStatus::Released.as_str()]),
        )
        .exec(txn)
        .await?;
    Ok(())
}

/// Whether the order's hold has lapsed (expired, or pending past its time).
fn lapsed(order: &order::Model, at: DateTime<Utc>) -> Result<bool, DomainError> {
    Ok(orders::effective_state(order, at)? == OrderState::Expired)
}

/// Takes the seats of a lapsed order back if they are free; `Ok(None)`
/// means they are the order's again, else what is gone, in words.
async fn reacquire(
    txn: &DatabaseTransaction,
    order: &order::Model,
) -> Result<Option<&'static str>, DomainError> {
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::OrderId.eq(order.id))
        .all(txn)
        .await?;
    Ok(inventory::reacquire(txn, order, &tickets)
        .await?
        .map(|refusal| match refusal {
            Refusal::SwagSoldOut { .. } => "the swag size is sold out",
            Refusal::VoucherUsedUp => "the voucher is used up",
            _ => "the tickets are sold out",
        }))
}

async fn paid(
    txn: &DatabaseTransaction,
    order: &order::Model,
    refs: &Refs,
    amount: i64,
    currency: &str,
) -> Result<Effect, DomainError> {
    let state: OrderState = order.state.parse()?;
    if !currency.eq_ignore_ascii_case(&order.currency) || amount != order.total {
        note_refs(txn, order, refs).await?;
        let detail = format!(
            "received {amount} {}, the order is {} {}",
            currency.to_uppercase(),
            order.total,
            order.currency
        );
        flag(txn, order.id, "amount_mismatch", detail.clone()).await?;
        return Ok((format!("flagged: {detail}"), None));
    }
    match state {
        OrderState::Paid | OrderState::Refunded
            if order.payment_intent_id == refs.payment_intent =>
        {
            Ok(("already paid".to_owned(), None))
        }
        OrderState::Paid | OrderState::Refunded => {
            flag(
                txn,
                order.id,
                "double_payment",
                format!(
                    "a second payment {:?} arrived for a settled order",
                    refs.payment_intent
                ),
            )
            .await?;
            Ok((
                "flagged: a second payment for a settled order".to_owned(),
                None,
            ))
        }
        OrderState::Pending if !lapsed(order, now())? => {
            settle_paid(txn, order, amount, refs).await?;
            Ok(("paid; tickets issued".to_owned(), None))
        }
        OrderState::Pending | OrderState::Expired => match reacquire(txn, order).await? {
            None => {
                settle_paid(txn, order, amount, refs).await?;
                Ok((
                    "paid after the hold expired; the seats were still free".to_owned(),
                    None,
                ))
            }
            Some(why) => {
                late_refund(
                    txn,
                    order,
                    amount,
                    refs,
                    &format!("paid after the hold expired and {why}"),
                )
                .await
            }
        },
        OrderState::Cancelled => {
            late_refund(
                txn,
                order,
                amount,
                refs,
                "paid after the order was cancelled",
            )
            .await
        }
    }
}

/// A payment that can no longer buy its tickets: the order is closed as
/// refunded and a refund is queued for Stripe.
async fn late_refund(
    txn: &DatabaseTransaction,
    order: &order::Model,
    amount: i64,
    refs: &Refs,
    why: &str,
) -> Result<Effect, DomainError> {
    // The hold ends for good (a no-op when it already did).
    orders::release(txn, order.id, OrderState::Expired).await?;
    let at = now();
    let mut active: order::ActiveModel = order.clone().into();
    active.state = Set(OrderState::Refunded.as_str().to_owned());
    active.expires_at = Set(None);
    active.amount_paid = Set(amount);
    active.amount_refunded = Set(amount);
    active.flag = Set(Some("late_payment_refunded".to_owned()));
    active.flag_detail = Set(Some(why.to_owned()));
    active.updated_at = Set(at);
    if order.payment_intent_id.is_none() {
        active.payment_intent_id = Set(refs.payment_intent.clone());
    }
    if refs.charge.is_some() {
        active.charge_id = Set(refs.charge.clone());
    }
    active.update(txn).await?;
    let refund_id = Uuid::now_v7();
    refund::ActiveModel {
        id: Set(refund_id),
        order_id: Set(order.id),
        stripe_refund_id: Set(None),
        amount: Set(amount),
        currency: Set(order.currency.clone()),
        reason: Set(why.to_owned()),
        status: Set(refunds::REQUESTED.to_owned()),
        source: Set("late_payment".to_owned()),
        ticket_ids: Set(serde_json::json!([])),
        staff_id: Set(None),
        failure: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        idempotency_ref: Set(None),
    }
    .insert(txn)
    .await?;
    Ok((format!("refunding automatically: {why}"), Some(refund_id)))
}

async fn dispute(
    txn: &DatabaseTransaction,
    order: &order::Model,
    id: &str,
    reason: &str,
    status: &str,
    closed: bool,
) -> Result<Effect, DomainError> {
    let at = now();
    // Tickets change so offline scanners pick up the block.
    let touch = ticket::Entity::update_many()
        .col_expr(ticket::Column::UpdatedAt, Expr::value(at))
        .filter(ticket::Column::OrderId.eq(order.id));
    // A dispute's closing is final: news of its opening that arrives later
    // changes nothing.
    let known_closed = order.dispute_id.as_deref() == Some(id)
        && order.dispute_status.as_deref().is_some_and(dispute_closed);
    if !closed && known_closed {
        return Ok(("dispute already closed; nothing changes".to_owned(), None));
    }
    order::Entity::update_many()
        .col_expr(order::Column::DisputeId, Expr::value(Some(id.to_owned())))
        .col_expr(
            order::Column::DisputeStatus,
            Expr::value(Some(clip(status, 32))),
        )
        .filter(order::Column::Id.eq(order.id))
        .exec(txn)
        .await?;
    if !closed {
        order::Entity::update_many()
            .col_expr(order::Column::DisputedAt, Expr::value(Some(at)))
            .col_expr(
                order::Column::Flag,
                Expr::value(Some("disputed".to_owned())),
            )
            .col_expr(
                order::Column::FlagDetail,
                Expr::value(Some(format!("dispute {id} opened: {reason}"))),
            )
            .col_expr(order::Column::UpdatedAt, Expr::value(at))
            .filter(order::Column::Id.eq(order.id))
            .exec(txn)
            .await?;
        touch.exec(txn).await?;
        return Ok(("disputed; tickets blocked at the door".to_owned(), None));
    }
    if matches!(status, "won" | "warning_closed" | "prevented") {
        order::Entity::update_many()
            .col_expr(
                order::Column::DisputedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(order::Column::Flag, Expr::value(Option::<String>::None))
            .col_expr(
                order::Column::FlagDetail,
                Expr::value(Some(format!("dispute {id} closed: {status}"))),
            )
            .col_expr(order::Column::UpdatedAt, Expr::value(at))
            .filter(order::Column::Id.eq(order.id))
            .exec(txn)
            .await?;
        touch.exec(txn).await?;
        Ok((format!("dispute {status}; tickets unblocked"), None))
    } else {
        // Lost: the tickets are blocked for good, even when this is the
        // first news of the dispute.
        order::Entity::update_many()
            .col_expr(
                order::Column::DisputedAt,
                Expr::value(Some(order.disputed_at.unwrap_or(at))),
            )
            .filter(order::Column::Id.eq(order.id))
            .exec(txn)
            .await?;
        flag(
            txn,
            order.id,
            "dispute_lost",
            format!("dispute {id} closed: {status}"),
        )
        .await?;
        touch.exec(txn).await?;
        Ok((format!("dispute {status}; tickets stay blocked"), None))
    }
}

/// Whether a dispute status is a final one.
fn dispute_closed(status: &str) -> bool {
    matches!(status, "won" | "lost" | "warning_closed" | "prevented")
}

/// An organizer records a payment made outside Stripe (bank transfer). A
/// lapsed order gets its seats back if they are still free. Audited.
pub async fn mark_paid(
    db: &DatabaseConnection,
    payments: &Payments,
    staff: &Staff,
    slug: &str,
    code: &str,
    reference: &str,
) -> Result<Order, DomainError> {
    let model = desk::find(db, staff, slug, code).await?;
    let mut errors = FieldErrors::new();
    let reference = errors.text("reference", reference, 1, 500, false);
    errors.finish(())?;
    let txn = db.begin().await?;
    let current = order::Entity::find_by_id(model.id)
        .lock_exclusive() // FOR UPDATE on PostgreSQL; SQLite serialises writers
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    match current.state.parse::<OrderState>()? {
        OrderState::Pending if !lapsed(&current, now())? => {}
        OrderState::Pending | OrderState::Expired => {
            if let Some(what) = reacquire(&txn, &current).await? {
                return Err(DomainError::conflict(
                    "sold_out",
                    format!("the hold expired and {what}; place a new order or comp the tickets"),
                ));
            }
        }
        other => {
            return Err(DomainError::conflict(
                "order_not_payable",
                format!("this order is {other}; only pending or expired orders can be marked paid"),
            ));
        }
    }
    settle_paid(&txn, &current, current.total, &Refs::default()).await?;
    // Paid outside Stripe: the card payment is withdrawn, so the buyer cannot
    // pay twice (one that slips through is flagged as a double payment).
    order::Entity::update_many()
        .col_expr(
            order::Column::PaymentIntentId,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            order::Column::CheckoutSessionId,
            Expr::value(Option::<String>::None),
        )
        .filter(order::Column::Id.eq(current.id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        staff,
        current.event_id,
        "order.marked_paid",
        &current.code,
        serde_json::json!({
            "reference": reference, "amount": current.total, "currency": current.currency,
            "withdrawn_payment_intent": current.payment_intent_id,
        }),
    )
    .await?;
    txn.commit().await?;
    close_lapsed(payments, std::slice::from_ref(&current)).await;
    let model = order::Entity::find_by_id(current.id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    orders::assemble(db, model).await
}

/// After holds end: cancels their PaymentIntents and expires their Checkout
/// Sessions, so a buyer cannot pay for seats that are no longer held. A
/// payment that slips through anyway is handled as a late payment.
pub async fn close_lapsed(payments: &Payments, orders: &[order::Model]) {
    let Some(gateway) = payments.gateway.as_deref() else {
        return;
    };
    for order in orders {
        if let Some(id) = &order.payment_intent_id {
            let key = format!("order:{}:cancel", order.id);
            if let Err(err) = gateway.cancel_intent(id.clone(), key).await {
                tracing::info!(order = %order.id, error = %err, "payment intent not cancelled");
            }
        }
        if let Some(id) = &order.checkout_session_id {
            let key = format!("order:{}:expire-checkout", order.id);
            if let Err(err) = gateway.expire_checkout(id.clone(), key).await {
                tracing::info!(order = %order.id, error = %err, "checkout session not expired");
            }
        }
    }
}

/// The pending orders whose holds ended with a payment started, read before
/// they are swept (for [`close_lapsed`]).
pub async fn lapsed_with_payment(
    db: &DatabaseConnection,
    ids: &[Uuid],
) -> Result<Vec<order::Model>, DomainError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(order::Entity::find()
        .filter(order::Column::Id.is_in(ids.to_vec()))
        .filter(
            sea_orm::Condition::any()
                .add(order::Column::PaymentIntentId.is_not_null())
                .add(order::Column::CheckoutSessionId.is_not_null()),
        )
        .all(db)
        .await?)
}
