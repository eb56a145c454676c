//! Starting a card payment: a PaymentIntent for Stripe.js, or a Checkout
//! Session, and withdrawing it when the buyer cancels.

use super::*;
use recording::{Start, Started};

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
    db: &DatabaseConnection,
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
        Flow::Intent => start_intent(db, payments, order, &mut start).await?,
        Flow::Checkout {
            success_url,
            cancel_url,
        } => {
            let (success_url, cancel_url) = payments.return_urls(&success_url, &cancel_url, "")?;
            let urls = (success_url.as_str(), cancel_url.as_str());
            start_checkout(db, payments, order, urls, &mut start).await?;
            start.flow = Flow::Checkout {
                success_url,
                cancel_url,
            };
        }
    }
    Ok(start)
}

/// Creates (or resumes) the order's PaymentIntent and records it, unless a
/// concurrent request started a Checkout Session first.
async fn start_intent(
    db: &DatabaseConnection,
    payments: &Payments,
    order: &Order,
    start: &mut PaymentStart,
) -> Result<(), DomainError> {
    let gateway = payments.gateway()?;
    let model = &order.model;
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
        let started = Started::Intent(intent.id.clone());
        if !record(db, payments, model.id, started).await? {
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
    Ok(())
}

/// Records the payment just started on the order unless another was
/// recorded first; whether the order holds this one.
async fn record(
    db: &DatabaseConnection,
    payments: &Payments,
    order_id: Uuid,
    started: Started,
) -> Result<bool, DomainError> {
    let start = Start {
        order_id,
        started,
        at: now(),
    };
    payments.recordings.record(db, start).await
}

/// Creates (or resumes) the order's Checkout Session and records it,
/// unless a concurrent request started a PaymentIntent first.
async fn start_checkout(
    db: &DatabaseConnection,
    payments: &Payments,
    order: &Order,
    (success_url, cancel_url): (&str, &str),
    start: &mut PaymentStart,
) -> Result<(), DomainError> {
    let gateway = payments.gateway()?;
    let model = &order.model;
    if model.checkout_session_id.is_none() && model.payment_intent_id.is_some() {
        return Err(method_fixed("a card payment (PaymentIntent)"));
    }
    let session = match &model.checkout_session_id {
        // Resumed: the session made first, with its return URLs.
        Some(id) => gateway.retrieve_checkout(id.clone()).await,
        None => {
            gateway
                .create_checkout(checkout_request(order, success_url, cancel_url))
                .await
        }
    }
    .map_err(unavailable)?;
    if model.checkout_session_id.is_none() {
        let started = Started::Checkout(session.id.clone());
        if !record(db, payments, model.id, started).await? {
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
    Ok(())
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
