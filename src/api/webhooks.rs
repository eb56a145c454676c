//! `POST /api/v1/webhooks/stripe`: Stripe's events, verified and applied
//! once.

use poem::{http::StatusCode, web::Data};
use poem_openapi::{Enum, Object, OpenApi, param::Header};

use super::{Tag, body::SignedBody, types::Found};
use crate::{
    domain::{
        self,
        payments::{Effect, effects::RefundEffect},
    },
    error::{ApiError, PublicError},
    payments::webhook::{self, Rejection},
    state::AppState,
};

/// What tessera did with an event.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct WebhookReceipt {
    pub received: bool,
    /// `true` when this event was applied before (a redelivery): nothing
    /// changed.
    pub duplicate: bool,
    /// What the event did.
    pub effect: WebhookEffect,
    /// The event left the order refunded in full (and closed it).
    pub fully_refunded: bool,
    /// What the event did, in a few words.
    pub outcome: String,
}

/// What a Stripe event did to its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum WebhookEffect {
    /// Applied before: nothing changed.
    Duplicate,
    /// Not an event tessera acts on.
    Ignored,
    /// No tessera order matches the event.
    NoOrder,
    Paid,
    AlreadyPaid,
    /// Paid after the hold ended; the seats were still free.
    PaidLate,
    /// Paid too late to buy the tickets: refunded automatically.
    LatePaymentRefunded,
    /// A second payment for a settled order: flagged.
    DoublePayment,
    /// Not the order's amount or currency: flagged.
    AmountMismatch,
    PaymentFailed,
    /// A failure for an order no longer waiting for payment.
    PaymentFailureIgnored,
    AwaitingDelayedPayment,
    /// The Checkout page expired and its hold ended.
    CheckoutExpiredReleased,
    /// The Checkout page expired; nothing was held by it.
    CheckoutExpired,
    ChargeRefunded,
    /// One of tessera's refunds, already in the reported status.
    RefundUnchanged,
    /// One of tessera's refunds moved to the reported status.
    RefundUpdated,
    /// A refund made in Stripe's dashboard, recorded.
    OutsideRefundRecorded,
    /// A dashboard refund that failed: nothing to undo.
    OutsideRefundFailed,
    /// The tickets are refused at the door until the dispute closes.
    DisputeOpened,
    DisputeAlreadyClosed,
    /// Closed in the merchant's favour: the tickets work again.
    DisputeWon,
    /// Lost: the tickets stay refused.
    DisputeLost,
}

impl From<&Effect> for WebhookEffect {
    fn from(effect: &Effect) -> Self {
        match effect {
            Effect::Duplicate => Self::Duplicate,
            Effect::Ignored => Self::Ignored,
            Effect::NoOrder => Self::NoOrder,
            Effect::Paid => Self::Paid,
            Effect::AlreadyPaid => Self::AlreadyPaid,
            Effect::PaidLate => Self::PaidLate,
            Effect::LatePaymentRefunded(_) => Self::LatePaymentRefunded,
            Effect::DoublePayment => Self::DoublePayment,
            Effect::AmountMismatch(_) => Self::AmountMismatch,
            Effect::PaymentFailed => Self::PaymentFailed,
            Effect::PaymentFailureIgnored(_) => Self::PaymentFailureIgnored,
            Effect::AwaitingDelayedPayment => Self::AwaitingDelayedPayment,
            Effect::CheckoutExpired { released: true } => Self::CheckoutExpiredReleased,
            Effect::CheckoutExpired { released: false } => Self::CheckoutExpired,
            Effect::ChargeRefunded(_) => Self::ChargeRefunded,
            Effect::Refund(RefundEffect::Unchanged(_)) => Self::RefundUnchanged,
            Effect::Refund(RefundEffect::Moved { .. }) => Self::RefundUpdated,
            Effect::Refund(RefundEffect::OutsideRecorded) => Self::OutsideRefundRecorded,
            Effect::Refund(RefundEffect::OutsideFailed(_)) => Self::OutsideRefundFailed,
            Effect::DisputeOpened => Self::DisputeOpened,
            Effect::DisputeAlreadyClosed => Self::DisputeAlreadyClosed,
            Effect::DisputeClosed { blocked: false, .. } => Self::DisputeWon,
            Effect::DisputeClosed { blocked: true, .. } => Self::DisputeLost,
        }
    }
}

fn rejected(rejection: Rejection) -> ApiError {
    let (status, code, detail) = match rejection {
        Rejection::NotConfigured => (
            StatusCode::SERVICE_UNAVAILABLE,
            "webhooks_not_configured",
            "STRIPE_WEBHOOK_SECRET is not set on this server".to_owned(),
        ),
        Rejection::MissingSignature => (
            StatusCode::BAD_REQUEST,
            "missing_signature",
            "the Stripe-Signature header is required".to_owned(),
        ),
        Rejection::BadSignature => (
            StatusCode::BAD_REQUEST,
            "invalid_signature",
            "no signature matches the body under the configured secret".to_owned(),
        ),
        Rejection::Stale => (
            StatusCode::BAD_REQUEST,
            "stale_signature",
            "the signature's timestamp is more than 300 seconds away".to_owned(),
        ),
        Rejection::Unreadable(why) => {
            // Signed by Stripe, yet not recordable: payments may be going
            // unrecorded until someone looks. Never the body (it names
            // buyers), only what is missing.
            tracing::error!(
                problem = %why,
                api_version = webhook::api_version(),
                "a signed Stripe event could not be applied; Stripe will retry it"
            );
            (StatusCode::BAD_REQUEST, "unreadable_event", why)
        }
    };
    ApiError::new(status, code, detail)
}

pub struct WebhooksApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Webhooks")]
impl WebhooksApi {
    /// Receive a Stripe event
    ///
    /// Point a Stripe webhook endpoint here (`tessera stripe webhook create`
    /// makes one), for at least `payment_intent.succeeded`,
    /// `payment_intent.payment_failed`, `checkout.session.completed`,
    /// `checkout.session.async_payment_succeeded`,
    /// `checkout.session.async_payment_failed`, `checkout.session.expired`,
    /// `charge.refunded`, `charge.refund.updated`, `refund.created`,
    /// `refund.updated`, `refund.failed`, `charge.dispute.created` and
    /// `charge.dispute.closed`. The `Stripe-Signature` must match
    /// `STRIPE_WEBHOOK_SECRET` and be at most 300 seconds old (400
    /// `invalid_signature` / `stale_signature` otherwise); it is checked on
    /// the raw body before anything is parsed. Each event applies once.
    /// Events of any other type answer 200 `ignored` without their object
    /// being read. Handled events are read field by field, whatever API
    /// version the endpoint renders them in; only one lacking a field
    /// tessera needs answers 400 `unreadable_event`, naming the field (and
    /// is logged as an error), so Stripe retries it.
    #[oai(
        path = "/webhooks/stripe",
        method = "post",
        operation_id = "stripe_webhook"
    )]
    async fn stripe(
        &self,
        state: Data<&AppState>,
        #[oai(name = "Stripe-Signature")] signature: Header<Option<String>>,
        body: SignedBody,
    ) -> Result<Found<WebhookReceipt>, PublicError> {
        let payload = std::str::from_utf8(&body.0).map_err(|_| {
            rejected(Rejection::Unreadable(
                "the body is not UTF-8 text".to_owned(),
            ))
        })?;
        let incoming = webhook::verify(
            payload,
            signature.0.as_deref(),
            &state.payments.webhook_secrets,
            chrono::Utc::now().timestamp(),
        )
        .map_err(rejected)?;
        let applied = domain::payments::apply(&state.db, &state.payments, incoming).await?;
        Ok(Found(WebhookReceipt {
            received: true,
            duplicate: applied.duplicate(),
            effect: (&applied.effect).into(),
            fully_refunded: applied.fully_refunded,
            outcome: applied.to_string(),
        }))
    }
}
