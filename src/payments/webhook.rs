//! Stripe webhooks: the signature check and the translation of an event into
//! a [`Notice`] the domain understands.
//!
//! The signature is `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]`,
//! an HMAC-SHA256 of `"<t>.<raw body>"` under the endpoint's secret. An event
//! is accepted when any `v1` matches any configured secret (so secrets can be
//! rotated) and `t` is within 300 seconds of now.

use entity::state::{DisputeStatus, RefundStatus};
use std::collections::HashMap;

use stripe_shared::{
    Charge, CheckoutSession, CheckoutSessionPaymentStatus, Dispute, PaymentIntent,
};
use stripe_webhook::{EventObject, Webhook, WebhookError};
use uuid::Uuid;

use super::stripe::{META_ORDER, META_REFUND};

/// Why a webhook delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No signing secret is configured.
    NotConfigured,
    MissingSignature,
    /// Malformed header, or no `v1` matches a secret.
    BadSignature,
    /// The timestamp is more than 300 seconds away from now.
    Stale,
    /// Signed correctly but not an event we can read.
    Unreadable,
}

/// A verified event.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub id: String,
    pub event_type: String,
    pub notice: Notice,
}

/// Where an event points: our order id from the metadata, and Stripe's ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs {
    pub order_id: Option<Uuid>,
    pub payment_intent: Option<String>,
    pub charge: Option<String>,
    pub checkout_session: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Money arrived: a PaymentIntent succeeded, or a Checkout Session was
    /// paid (at once or asynchronously).
    Paid {
        refs: Refs,
        amount: i64,
        currency: String,
    },
    /// A payment attempt failed; the buyer may try again while the hold lasts.
    PaymentFailed { refs: Refs, reason: String },
    /// A Checkout Session completed without the money yet (async methods).
    CheckoutAwaitingPayment { refs: Refs },
    /// A Checkout Session expired unpaid.
    CheckoutExpired { refs: Refs },
    /// A charge's refunded total changed.
    ChargeRefunded {
        refs: Refs,
        amount_refunded: i64,
        currency: String,
    },
    /// A refund was created or changed state, from tessera or the dashboard.
    Refund {
        refs: Refs,
        stripe_id: String,
        ours: Option<Uuid>,
        amount: i64,
        currency: String,
        status: RefundStatus,
        failure: Option<String>,
    },
    /// A dispute opened (`closed: false`) or closed, with its status.
    Dispute {
        refs: Refs,
        id: String,
        reason: String,
        status: DisputeStatus,
        closed: bool,
    },
    /// Not an event tessera acts on.
    Ignored,
}

/// Verifies the signature and reads the event.
pub fn verify(
    payload: &str,
    signature: Option<&str>,
    secrets: &[String],
    now: i64,
) -> Result<Incoming, Rejection> {
    if secrets.is_empty() {
        return Err(Rejection::NotConfigured);
    }
    let signature = signature.ok_or(Rejection::MissingSignature)?;
    let mut last = Rejection::BadSignature;
    for secret in secrets {
        match Webhook::construct_event_with_timestamp(payload, signature, secret, now) {
            Ok(event) => {
                return Ok(Incoming {
                    id: event.id.as_str().to_owned(),
                    event_type: event.type_.as_str().to_owned(),
                    notice: notice(event.data.object),
                });
            }
            Err(WebhookError::BadSignature | WebhookError::BadHeader(_) | WebhookError::BadKey) => {
            }
            Err(WebhookError::BadTimestamp(_)) => last = Rejection::Stale,
            Err(WebhookError::BadParse(_)) => return Err(Rejection::Unreadable),
        }
    }
    Err(last)
}

fn order_of(metadata: Option<&HashMap<String, String>>) -> Option<Uuid> {
    metadata?.get(META_ORDER)?.parse().ok()
}

fn intent_refs(pi: &PaymentIntent) -> Refs {
    Refs {
        order_id: order_of(Some(&pi.metadata)),
        payment_intent: Some(pi.id.as_str().to_owned()),
        charge: pi
            .latest_charge
            .as_ref()
            .map(|c| c.id().as_str().to_owned()),
        checkout_session: None,
    }
}

fn session_refs(session: &CheckoutSession) -> Refs {
    Refs {
        order_id: order_of(session.metadata.as_ref())
            .or_else(|| session.client_reference_id.as_deref()?.parse().ok()),
        payment_intent: session
            .payment_intent
            .as_ref()
            .map(|pi| pi.id().as_str().to_owned()),
        charge: None,
        checkout_session: Some(session.id.as_str().to_owned()),
    }
}

fn charge_refs(charge: &Charge) -> Refs {
    Refs {
        order_id: order_of(Some(&charge.metadata)),
        payment_intent: charge
            .payment_intent
            .as_ref()
            .map(|pi| pi.id().as_str().to_owned()),
        charge: Some(charge.id.as_str().to_owned()),
        checkout_session: None,
    }
}

fn dispute(d: &Dispute, closed: bool) -> Notice {
    Notice::Dispute {
        refs: Refs {
            order_id: None,
            payment_intent: d
                .payment_intent
                .as_ref()
                .map(|pi| pi.id().as_str().to_owned()),
            charge: Some(d.charge.id().as_str().to_owned()),
            checkout_session: None,
        },
        id: d.id.as_str().to_owned(),
        reason: d.reason.clone(),
        status: DisputeStatus::from_stripe(d.status.as_str()),
        closed,
    }
}

fn refund(r: &stripe_shared::Refund) -> Notice {
    Notice::Refund {
        refs: Refs {
            order_id: order_of(r.metadata.as_ref()),
            payment_intent: r
                .payment_intent
                .as_ref()
                .map(|pi| pi.id().as_str().to_owned()),
            charge: r.charge.as_ref().map(|c| c.id().as_str().to_owned()),
            checkout_session: None,
        },
        stripe_id: r.id.as_str().to_owned(),
        ours: r
            .metadata
            .as_ref()
            .and_then(|m| m.get(META_REFUND))
            .and_then(|id| id.parse().ok()),
        amount: r.amount,
        currency: r.currency.to_string(),
        status: RefundStatus::from_stripe(r.status.as_deref().unwrap_or_default()),
        failure: r.failure_reason.clone(),
    }
}

fn session_paid(session: &CheckoutSession) -> Notice {
    Notice::Paid {
        refs: session_refs(session),
        amount: session.amount_total.unwrap_or(0),
        currency: session
            .currency
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

fn notice(object: EventObject) -> Notice {
    match object {
        EventObject::PaymentIntentSucceeded(pi) => Notice::Paid {
            refs: intent_refs(&pi),
            amount: pi.amount_received,
            currency: pi.currency.to_string(),
        },
        EventObject::PaymentIntentPaymentFailed(pi) => Notice::PaymentFailed {
            refs: intent_refs(&pi),
            reason: pi
                .last_payment_error
                .as_ref()
                .and_then(|e| {
                    e.message
                        .clone()
                        .or_else(|| e.code.as_ref().map(|c| c.as_str().to_owned()))
                })
                .unwrap_or_else(|| "the payment failed".to_owned()),
        },
        EventObject::CheckoutSessionCompleted(session) => {
            if session.payment_status == CheckoutSessionPaymentStatus::Paid {
                session_paid(&session)
            } else {
                Notice::CheckoutAwaitingPayment {
                    refs: session_refs(&session),
                }
            }
        }
        EventObject::CheckoutSessionAsyncPaymentSucceeded(session) => session_paid(&session),
        EventObject::CheckoutSessionAsyncPaymentFailed(session) => Notice::PaymentFailed {
            refs: session_refs(&session),
            reason: "the delayed payment failed".to_owned(),
        },
        EventObject::CheckoutSessionExpired(session) => Notice::CheckoutExpired {
            refs: session_refs(&session),
        },
        EventObject::ChargeRefunded(charge) => Notice::ChargeRefunded {
            refs: charge_refs(&charge),
            amount_refunded: charge.amount_refunded,
            currency: charge.currency.to_string(),
        },
        EventObject::RefundCreated(r)
        | EventObject::RefundUpdated(r)
        | EventObject::RefundFailed(r)
        | EventObject::ChargeRefundUpdated(r) => refund(&r),
        EventObject::ChargeDisputeCreated(d) => dispute(&d, false),
        EventObject::ChargeDisputeClosed(d) => dispute(&d, true),
        _ => Notice::Ignored,
    }
}
