//! Stripe webhooks: the signature check and the translation of an event into
//! a [`Notice`] the domain understands.
//!
//! The signature is `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]`,
//! an HMAC-SHA256 of `"<t>.<raw body>"` under the endpoint's secret. An event
//! is accepted when any `v1` matches any configured secret (so secrets can be
//! rotated) and `t` is within 300 seconds of now.
//!
//! Stripe renders each event in the API version of its endpoint, which need
//! not be the version async-stripe was generated from. So the signature is
//! checked on the raw body before anything is parsed, an event of a type
//! tessera does not act on is never parsed beyond its `id` and `type`, and a
//! handled event is read tolerantly: only the fields tessera needs, each
//! looked up by name, so a new field, a removed field or a changed type
//! elsewhere in the object never stops a payment from being recorded. Only
//! a handled event that lacks what tessera needs is refused, by name.

use entity::state::{DisputeStatus, RefundStatus};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
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
    /// Signed correctly but not an event: no `id` or `type`, or a handled
    /// type without a field tessera needs (named here).
    Unreadable(String),
}

/// The API version tessera's Stripe requests and its reading of events
/// were written against; `tessera stripe webhook create` pins new endpoints
/// to it. Events of other versions are read all the same (see the module
/// docs).
pub fn api_version() -> &'static str {
    static VERSION: stripe_shared::ApiVersion = stripe_shared::version::VERSION;
    VERSION.as_str()
}

/// The event types tessera acts on; every other type answers `ignored`.
pub const HANDLED_EVENTS: &[&str] = &[
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.dispute.created",
    "charge.dispute.closed",
];

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

/// Verifies the signature on the raw body, then reads the event.
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
    let (timestamp, candidates) = parse_signature(signature).ok_or(Rejection::BadSignature)?;
    let signed = secrets
        .iter()
        .any(|secret| signed_by(secret, timestamp, payload, &candidates));
    if !signed {
        return Err(Rejection::BadSignature);
    }
    if (now - timestamp).abs() > 300 {
        return Err(Rejection::Stale);
    }
    read(payload)
}

/// `t=<unix time>` and every `v1=<hex>` of a `Stripe-Signature` header.
fn parse_signature(header: &str) -> Option<(i64, Vec<Vec<u8>>)> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for pair in header.split(',') {
        match pair.trim().split_once('=')? {
            ("t", value) => timestamp = Some(value.parse().ok()?),
            // A malformed candidate beside a good one does not spoil it.
            ("v1", value) => candidates.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    Some((timestamp?, candidates)).filter(|(_, c)| !c.is_empty())
}

/// Whether any candidate is the HMAC-SHA256 of `"<t>.<payload>"` under
/// `secret` (compared in constant time).
fn signed_by(secret: &str, timestamp: i64, payload: &str, candidates: &[Vec<u8>]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    candidates
        .iter()
        .any(|candidate| mac.clone().verify_slice(candidate).is_ok())
}

/// Reads a verified body: `id` and `type` always, the object only for the
/// types tessera handles.
pub fn read(payload: &str) -> Result<Incoming, Rejection> {
    let event: Value = serde_json::from_str(payload)
        .map_err(|err| Rejection::Unreadable(format!("the body is not JSON: {err}")))?;
    let (Some(id), Some(event_type)) = (text(&event, "id"), text(&event, "type")) else {
        return Err(Rejection::Unreadable(
            "the body is not a Stripe event: it has no id or type".to_owned(),
        ));
    };
    let notice = if HANDLED_EVENTS.contains(&event_type.as_str()) {
        let object = event
            .get("data")
            .and_then(|d| d.get("object"))
            .and_then(Value::as_object)
            .ok_or_else(|| lacking(&event_type, "data.object"))?;
        notice(&event_type, Object(object))?
    } else {
        Notice::Ignored
    };
    Ok(Incoming {
        id,
        event_type,
        notice,
    })
}

fn lacking(event_type: &str, field: &str) -> Rejection {
    Rejection::Unreadable(format!(
        "a {event_type} event needs `{field}`, which this one lacks (or gives in another shape)"
    ))
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key)?.as_str().map(str::to_owned)
}

/// An event's object, read field by field.
#[derive(Clone, Copy)]
struct Object<'a>(&'a Map<String, Value>);

impl<'a> Object<'a> {
    fn text(self, key: &str) -> Option<String> {
        self.0.get(key)?.as_str().map(str::to_owned)
    }

    fn amount(self, key: &str) -> Option<i64> {
        self.0.get(key)?.as_i64()
    }

    /// An id that Stripe sends bare (`"pi_123"`) or expanded
    /// (`{"id": "pi_123", ...}`).
    fn id_of(self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(id) => Some(id.clone()),
            Value::Object(expanded) => expanded.get("id")?.as_str().map(str::to_owned),
            _ => None,
        }
    }

    fn child(self, key: &str) -> Option<Object<'a>> {
        self.0.get(key)?.as_object().map(Object)
    }

    fn metadata(self, key: &str) -> Option<String> {
        self.child("metadata")?.text(key)
    }

    fn order(self) -> Option<Uuid> {
        self.metadata(META_ORDER)?.parse().ok()
    }
}

/// Reads what the domain needs from a handled event's object.
struct Reader<'a> {
    event_type: &'a str,
    object: Object<'a>,
}

impl Reader<'_> {
    fn need<T>(&self, field: &str, value: Option<T>) -> Result<T, Rejection> {
        value.ok_or_else(|| lacking(self.event_type, field))
    }

    fn id(&self) -> Result<String, Rejection> {
        self.need("id", self.object.text("id"))
    }

    fn amount(&self, field: &str) -> Result<i64, Rejection> {
        self.need(field, self.object.amount(field))
    }

    fn currency(&self) -> Result<String, Rejection> {
        self.need("currency", self.object.text("currency"))
    }

    fn intent_refs(&self) -> Result<Refs, Rejection> {
        Ok(Refs {
            order_id: self.object.order(),
            payment_intent: Some(self.id()?),
            charge: self.object.id_of("latest_charge"),
            checkout_session: None,
        })
    }

    fn session_refs(&self) -> Result<Refs, Rejection> {
        let o = self.object;
        Ok(Refs {
            order_id: o
                .order()
                .or_else(|| o.text("client_reference_id")?.parse().ok()),
            payment_intent: o.id_of("payment_intent"),
            charge: None,
            checkout_session: Some(self.id()?),
        })
    }

    fn charge_refs(&self) -> Result<Refs, Rejection> {
        Ok(Refs {
            order_id: self.object.order(),
            payment_intent: self.object.id_of("payment_intent"),
            charge: Some(self.id()?),
            checkout_session: None,
        })
    }

    fn session_paid(&self) -> Result<Notice, Rejection> {
        Ok(Notice::Paid {
            refs: self.session_refs()?,
            amount: self.amount("amount_total")?,
            currency: self.currency()?,
        })
    }

    fn refund(&self) -> Result<Notice, Rejection> {
        let o = self.object;
        Ok(Notice::Refund {
            refs: Refs {
                order_id: o.order(),
                payment_intent: o.id_of("payment_intent"),
                charge: o.id_of("charge"),
                checkout_session: None,
            },
            stripe_id: self.id()?,
            ours: o.metadata(META_REFUND).and_then(|id| id.parse().ok()),
            amount: self.amount("amount")?,
            currency: self.currency()?,
            status: RefundStatus::from_stripe(&self.need("status", o.text("status"))?),
            failure: o.text("failure_reason"),
        })
    }

    fn dispute(&self, closed: bool) -> Result<Notice, Rejection> {
        let o = self.object;
        Ok(Notice::Dispute {
            refs: Refs {
                order_id: None,
                payment_intent: o.id_of("payment_intent"),
                charge: Some(self.need("charge", o.id_of("charge"))?),
                checkout_session: None,
            },
            id: self.id()?,
            reason: o.text("reason").unwrap_or_else(|| "unknown".to_owned()),
            status: DisputeStatus::from_stripe(&self.need("status", o.text("status"))?),
            closed,
        })
    }
}

fn notice(event_type: &str, object: Object<'_>) -> Result<Notice, Rejection> {
    let r = Reader { event_type, object };
    Ok(match event_type {
        "payment_intent.succeeded" => Notice::Paid {
            refs: r.intent_refs()?,
            amount: r.amount("amount_received")?,
            currency: r.currency()?,
        },
        "payment_intent.payment_failed" => {
            let error = object.child("last_payment_error");
            Notice::PaymentFailed {
                refs: r.intent_refs()?,
                reason: error
                    .and_then(|e| e.text("message").or_else(|| e.text("code")))
                    .unwrap_or_else(|| "the payment failed".to_owned()),
            }
        }
        "checkout.session.completed" => {
            if r.need("payment_status", object.text("payment_status"))? == "paid" {
                r.session_paid()?
            } else {
                Notice::CheckoutAwaitingPayment {
                    refs: r.session_refs()?,
                }
            }
        }
        "checkout.session.async_payment_succeeded" => r.session_paid()?,
        "checkout.session.async_payment_failed" => Notice::PaymentFailed {
            refs: r.session_refs()?,
            reason: "the delayed payment failed".to_owned(),
        },
        "checkout.session.expired" => Notice::CheckoutExpired {
            refs: r.session_refs()?,
        },
        "charge.refunded" => Notice::ChargeRefunded {
            refs: r.charge_refs()?,
            amount_refunded: r.amount("amount_refunded")?,
            currency: r.currency()?,
        },
        "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated" => {
            r.refund()?
        }
        "charge.dispute.created" => r.dispute(false)?,
        "charge.dispute.closed" => r.dispute(true)?,
        _ => Notice::Ignored,
    })
}

#[cfg(test)]
mod tests;
