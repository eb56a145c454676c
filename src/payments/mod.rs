//! Card payments. The domain talks to a [`PaymentGateway`]; [`StripeGateway`]
//! is the real one (async-stripe, with a configurable API base so tests reach
//! a local double). Webhooks arrive through [`webhook`], which verifies
//! Stripe's signature and turns an event into a [`Notice`] the domain applies.

pub mod stripe;
pub mod webhook;

use entity::state::RefundStatus;
use std::{fmt, sync::Arc};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use uuid::Uuid;

pub use self::stripe::StripeGateway;

/// A payment to start for an order. Amount and currency come from the order
/// in the database, never from the client.
#[derive(Debug, Clone)]
pub struct IntentRequest {
    pub order_id: Uuid,
    pub code: String,
    pub event_slug: String,
    pub email: String,
    pub amount: i64,
    pub currency: String,
    /// Sent as Stripe's `Idempotency-Key`: a retried request never creates a
    /// second payment.
    pub idempotency_key: String,
}

/// A Stripe Checkout page for an order.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub intent: IntentRequest,
    /// What the buyer sees on Stripe's page, e.g. "RustConf 2027: 2 tickets".
    pub description: String,
    pub success_url: String,
    pub cancel_url: String,
    /// When Stripe closes the page (at least 30 minutes away).
    pub expires_at: DateTime<Utc>,
}

/// A payment as the front end needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: String,
    /// For Stripe.js / Elements. Never logged.
    pub client_secret: Option<String>,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: Option<String>,
    /// Stripe fills this in when the buyer pays; usually `None` at creation.
    pub payment_intent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub payment_intent: String,
    pub amount: i64,
    /// Our refund's id, kept in Stripe's metadata for reconciliation.
    pub refund_id: Uuid,
    pub order_id: Uuid,
    pub reason: String,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundResult {
    pub id: String,
    /// Stripe's status (never `requested`: that one is ours).
    pub status: RefundStatus,
}

/// Why a request to the payment provider failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// Down, slow, rate-limited or answering 5xx: the same request may
    /// succeed later (and is safe to repeat: it carries an idempotency key).
    Unavailable(String),
    /// A definitive refusal (`card_declined`, `charge_already_refunded`, ...).
    Refused { code: String, message: String },
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayError::Unavailable(why) => write!(f, "payment provider unavailable: {why}"),
            GatewayError::Refused { code, message } => {
                write!(f, "payment provider refused ({code}): {message}")
            }
        }
    }
}

impl std::error::Error for GatewayError {}

pub type GatewayResult<T> = Result<T, GatewayError>;

/// What tessera asks of a card payment provider.
pub trait PaymentGateway: Send + Sync {
    fn create_intent(&self, request: IntentRequest) -> BoxFuture<'_, GatewayResult<Intent>>;
    fn retrieve_intent(&self, id: String) -> BoxFuture<'_, GatewayResult<Intent>>;
    /// Cancels an unpaid intent (a hold expired or was cancelled).
    fn cancel_intent(
        &self,
        id: String,
        idempotency_key: String,
    ) -> BoxFuture<'_, GatewayResult<()>>;
    fn create_checkout(
        &self,
        request: CheckoutRequest,
    ) -> BoxFuture<'_, GatewayResult<CheckoutSession>>;
    fn retrieve_checkout(&self, id: String) -> BoxFuture<'_, GatewayResult<CheckoutSession>>;
    fn expire_checkout(
        &self,
        id: String,
        idempotency_key: String,
    ) -> BoxFuture<'_, GatewayResult<()>>;
    fn refund(&self, request: RefundRequest) -> BoxFuture<'_, GatewayResult<RefundResult>>;
}

/// The configured gateway, if payments are set up.
pub type Gateway = Option<Arc<dyn PaymentGateway>>;
