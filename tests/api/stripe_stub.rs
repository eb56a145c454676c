//! A loopback stand-in for Stripe's API (wiremock), answering the requests
//! tessera sends with objects shaped like Stripe's, and Stripe-signed webhook
//! payloads built by hand.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::{
    Mock, MockServer, Request, Respond, ResponseTemplate,
    matchers::{method, path, path_regex},
};

pub const WEBHOOK_SECRET: &str = "whsec_test_tessera";

/// A form body as a map (`metadata[tessera_order]` stays one key).
pub fn form(request: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

/// A PaymentIntent as Stripe renders it (API 2025+), with what async-stripe
/// requires.
pub fn payment_intent(id: &str, amount: i64, currency: &str, status: &str, order: &str) -> Value {
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": if status == "succeeded" { amount } else { 0 },
        "capture_method": "automatic",
        "client_secret": format!("{id}_secret_abc"),
        "confirmation_method": "automatic",
        "created": 1_790_000_000,
        "currency": currency,
        "livemode": false,
        "metadata": {"tessera_order": order},
        "payment_method_types": ["card"],
        "status": status,
        "latest_charge": if status == "succeeded" { json!(format!("ch_{id}")) } else { Value::Null },
    })
}

pub fn refund(
    id: &str,
    intent: &str,
    amount: i64,
    currency: &str,
    status: &str,
    metadata: Value,
) -> Value {
    json!({
        "id": id,
        "object": "refund",
        "amount": amount,
        "created": 1_790_000_000,
        "currency": currency,
        "metadata": metadata,
        "payment_intent": intent,
        "charge": format!("ch_{intent}"),
        "status": status,
    })
}

/// A Checkout Session in payment mode, with what async-stripe requires.
/// `payment_status` is `unpaid` until the buyer pays, `paid` after;
/// `status` is `open`, `complete` or `expired`.
pub fn checkout_session(
    id: &str,
    amount: i64,
    order: &str,
    status: &str,
    payment_status: &str,
) -> Value {
    json!({
        "id": id,
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": false},
        "client_reference_id": order,
        "created": 1_790_000_000,
        "currency": "eur",
        "custom_fields": [],
        "custom_text": {},
        "expires_at": 1_790_003_600,
        "livemode": false,
        "metadata": {"tessera_order": order},
        "mode": "payment",
        // Stripe creates the PaymentIntent when the buyer pays.
        "payment_intent": if status == "open" { Value::Null } else { json!(format!("pi_{}", id.trim_start_matches("cs_"))) },
        "payment_method_types": ["card"],
        "payment_status": payment_status,
        "shipping_options": [],
        "status": status,
        "url": if status == "open" { json!(format!("https://checkout.stripe.com/c/pay/{id}")) } else { Value::Null },
    })
}

/// A card charge of `intent`, refunded up to `refunded`.
pub fn charge(intent: &str, amount: i64, refunded: i64) -> Value {
    json!({
        "id": format!("ch_{intent}"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded,
        "billing_details": {},
        "captured": true,
        "created": 1_790_000_000,
        "currency": "eur",
        "disputed": false,
        "livemode": false,
        "metadata": {},
        "paid": true,
        "payment_intent": intent,
        "refunded": refunded >= amount,
        "status": "succeeded",
    })
}

struct CreateIntent;

impl Respond for CreateIntent {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = form(request);
        let order = body
            .get("metadata[tessera_order]")
            .cloned()
            .unwrap_or_default();
        let id = format!("pi_{}", order.replace('-', ""));
        let amount: i64 = body.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
        let currency = body.get("currency").cloned().unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(payment_intent(
            &id,
            amount,
            &currency,
            "requires_payment_method",
            &order,
        ))
    }
}

struct CreateRefund;

impl Respond for CreateRefund {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = form(request);
        let intent = body.get("payment_intent").cloned().unwrap_or_default();
        let amount: i64 = body.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
        let ours = body
            .get("metadata[tessera_refund]")
            .cloned()
            .unwrap_or_default();
        ResponseTemplate::new(200).set_body_json(refund(
            &format!("re_{}", ours.replace('-', "")),
            &intent,
            amount,
            "eur",
            "succeeded",
            json!({"tessera_refund": ours}),
        ))
    }
}

struct CreateCheckout;

impl Respond for CreateCheckout {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = form(request);
        let order = body
            .get("metadata[tessera_order]")
            .cloned()
            .unwrap_or_default();
        let amount: i64 = body
            .get("line_items[0][price_data][unit_amount]")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let id = format!("cs_{}", order.replace('-', ""));
        ResponseTemplate::new(200)
            .set_body_json(checkout_session(&id, amount, &order, "open", "unpaid"))
    }
}

struct RetrieveCheckout;

impl Respond for RetrieveCheckout {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request.url.path().split('/').nth(4).unwrap_or("cs_x");
        ResponseTemplate::new(200).set_body_json(checkout_session(id, 0, "", "open", "unpaid"))
    }
}

struct ExpireCheckout;

impl Respond for ExpireCheckout {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request.url.path().split('/').nth(4).unwrap_or("cs_x");
        ResponseTemplate::new(200).set_body_json(checkout_session(id, 0, "", "expired", "unpaid"))
    }
}

/// Reads a PaymentIntent back, as created (the stub keeps no state: the
/// amount is not known here, so it answers 0).
struct RetrieveIntent;

impl Respond for RetrieveIntent {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request
            .url
            .path()
            .split('/')
            .nth(3)
            .unwrap_or("pi_x")
            .to_owned();
        ResponseTemplate::new(200).set_body_json(payment_intent(
            &id,
            0,
            "eur",
            "requires_payment_method",
            "",
        ))
    }
}

struct Cancelled;

impl Respond for Cancelled {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request
            .url
            .path()
            .split('/')
            .nth(3)
            .unwrap_or("pi_x")
            .to_owned();
        ResponseTemplate::new(200).set_body_json(payment_intent(&id, 100, "eur", "canceled", ""))
    }
}

/// Mounts the happy path: PaymentIntents are created, cancelled and
/// refunded; Checkout Sessions are created, read back and expired.
pub async fn mount_default(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(CreateIntent)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/payment_intents/[^/]+$"))
        .respond_with(RetrieveIntent)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/payment_intents/[^/]+/cancel$"))
        .respond_with(Cancelled)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .respond_with(CreateRefund)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/checkout/sessions"))
        .respond_with(CreateCheckout)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/v1/checkout/sessions/[^/]+$"))
        .respond_with(RetrieveCheckout)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/checkout/sessions/[^/]+/expire$"))
        .respond_with(ExpireCheckout)
        .mount(server)
        .await;
}

/// `Stripe-Signature` for `payload` signed at `t` with each secret.
pub fn signature(payload: &str, t: i64, secrets: &[&str]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{payload}").as_bytes());
        header.push_str(&format!(",v1={}", hex::encode(mac.finalize().into_bytes())));
    }
    header
}

/// A Stripe event envelope around `object`.
pub fn event(id: &str, kind: &str, object: Value) -> String {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2025-11-17.clover",
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind,
        "data": {"object": object},
    })
    .to_string()
}

/// A dispute on the charge of `intent`.
pub fn dispute(id: &str, intent: &str, amount: i64, status: &str) -> Value {
    json!({
        "id": id,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": format!("ch_{intent}"),
        "created": 1_790_000_000,
        "currency": "eur",
        "enhanced_eligibility_types": [],
        "evidence": {"enhanced_evidence": {}},
        "evidence_details": {
            "due_by": 1_790_900_000,
            "enhanced_eligibility": {},
            "has_evidence": false,
            "past_due": false,
            "submission_count": 0
        },
        "is_charge_refundable": false,
        "livemode": false,
        "metadata": {},
        "payment_intent": intent,
        "reason": "fraudulent",
        "status": status,
    })
}
