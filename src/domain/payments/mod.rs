//! Paying for orders, one job per module: starting a card payment
//! (`start`), applying what Stripe tells us through verified webhooks,
//! late payments and disputes included (`stripe_events`), organizers
//! marking an order paid by hand (`by_hand`), withdrawing the payments of
//! ended holds (`sweep`) and refunds ([`refunds`]); what an event did is a
//! value ([`effects`]). This module holds what they share: the configured
//! provider and the checks of a payment flow.
//!
//! An order becomes `paid` only through a verified webhook or an organizer's
//! explicit action, never on the front end's word. Each Stripe event is
//! recorded under its id in the same transaction as its effect, so a
//! redelivery changes nothing, and an order's state only moves forward
//! whatever order events arrive in.

mod by_hand;
pub mod effects;
mod recording;
mod refund_facts;
pub mod refunds;
mod start;
mod stripe_events;
mod sweep;

pub use by_hand::mark_paid;
pub use effects::{Applied, Effect};
pub use start::{begin, cancel_order, start};
pub use stripe_events::apply;
pub use sweep::{close_lapsed, lapsed_with_payment};

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use entity::{
    order,
    state::{DisputeStatus, OrderFlag, RefundSource, RefundStatus},
    stripe_event, ticket,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QuerySelect, Set, TransactionTrait, UpdateMany, prelude::Expr,
    sea_query::OnConflict,
};
use uuid::Uuid;

use effects::{Gone, LateReason, Mismatch};

use super::{
    DomainError, audit, desk, inventory, now,
    orders::{self, Order, OrderState, TicketStatus},
    staff::Staff,
    transitions,
    validation::FieldErrors,
};
use crate::payments::{
    CheckoutRequest, GatewayError, IntentRequest, PaymentGateway,
    webhook::{Incoming, Notice, Refs},
};

/// Text stored in a column of `max` characters (Stripe's messages can be
/// long).
pub(super) use crate::domain::clip;

/// Stripe requires a Checkout Session to stay open at least 30 minutes.
const CHECKOUT_MIN_OPEN: i64 = 31;

/// The payment provider and the front-end origins Checkout may send buyers
/// back to.
#[derive(Clone, Default)]
pub struct Payments {
    pub gateway: Option<Arc<dyn PaymentGateway>>,
    pub return_origins: Vec<String>,
    pub webhook_secrets: Vec<String>,
    /// Records each started payment on its order (batched on PostgreSQL).
    pub recordings: recording::Recordings,
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
