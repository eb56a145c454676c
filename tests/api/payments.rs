//! Card payments against a loopback Stripe stand-in: the payment step, every
//! webhook failure mode with signed payloads built here, late and lost
//! payments, disputes at the door, refunds.

use entity::state::{RefundSource, RefundStatus};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use wiremock::{
    Mock, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    helpers::{Answer, Backend, TestApp, spawn_app_with, ticket},
    stripe_stub::{self, WEBHOOK_SECRET, dispute, event, payment_intent, signature},
};

/// A paid event starting within the hour (so check-in tokens are valid),
/// one tier of `capacity` at 49.00 EUR and an entry list.
pub(crate) struct Shop {
    pub tier: String,
    pub list: String,
}

pub(crate) async fn shop(app: &TestApp, slug: &str, capacity: i64) -> Shop {
    let starts = chrono::Utc::now() + chrono::Duration::hours(1);
    let event = json!({"starts_at": starts.to_rfc3339(), "ends_at": (starts + chrono::Duration::days(1)).to_rfc3339()});
    let tiers = app
        .shop(
            slug,
            event,
            &[json!({"name": "Regular", "price": 4900, "capacity": capacity})],
        )
        .await;
    let list = app
        .post(
            &format!("/api/v1/admin/events/{slug}/checkin-lists"),
            &app.admin,
            json!({"name": "Entrance", "kind": "entry"}),
        )
        .await;
    assert_eq!(list.status, StatusCode::CREATED, "{}", list.body);
    Shop {
        tier: tiers[0].clone(),
        list: list.body["id"].as_str().unwrap().to_owned(),
    }
}

pub(crate) struct Placed {
    pub code: String,
    pub token: String,
    pub id: String,
    pub intent: String,
    pub body: Value,
}

pub(crate) async fn place(app: &TestApp, slug: &str, tier: &str, names: &[&str]) -> Placed {
    let tickets: Vec<Value> = names.iter().map(|n| ticket(tier, n)).collect();
    let answer = app
        .order(
            slug,
            json!({"email": "buyer@example.org", "tickets": tickets}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let code = answer.body["code"].as_str().unwrap().to_owned();
    let id = order_row(app, &code).await.id.to_string();
    Placed {
        token: answer.body["order_token"].as_str().unwrap().to_owned(),
        intent: answer.body["payment"]["payment_intent"]
            .as_str()
            .unwrap()
            .to_owned(),
        code,
        id,
        body: answer.body,
    }
}

pub(crate) async fn order_row(app: &TestApp, code: &str) -> entity::order::Model {
    entity::order::Entity::find()
        .filter(entity::order::Column::Code.eq(code))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

pub(crate) async fn order(app: &TestApp, placed: &Placed) -> Answer {
    app.with_order_token(
        Method::GET,
        &format!("/api/v1/orders/{}", placed.code),
        &placed.token,
        None,
    )
    .await
}

pub(crate) async fn deliver(app: &TestApp, payload: &str, signature: &str) -> Answer {
    let response = app
        .client
        .post(app.url("/api/v1/webhooks/stripe"))
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", signature)
        .body(payload.to_owned())
        .send()
        .await
        .unwrap();
    crate::helpers::answer(response).await
}

pub(crate) async fn deliver_signed(app: &TestApp, payload: &str) -> Answer {
    deliver(
        app,
        payload,
        &signature(payload, chrono::Utc::now().timestamp(), &[WEBHOOK_SECRET]),
    )
    .await
}

pub(crate) fn succeeded(id: &str, placed: &Placed, amount: i64) -> String {
    event(
        id,
        "payment_intent.succeeded",
        payment_intent(&placed.intent, amount, "eur", "succeeded", &placed.id),
    )
}

pub(crate) async fn scan(app: &TestApp, shop: &Shop, placed: &Placed, ticket: usize) -> Answer {
    let token = token_of(app, placed, ticket).await;
    scan_token(app, shop, &token).await
}

pub(crate) async fn token_of(app: &TestApp, placed: &Placed, ticket: usize) -> String {
    let ticket_id = placed.body["tickets"][ticket]["id"].as_str().unwrap();
    let token = app
        .with_order_token(
            Method::GET,
            &format!("/api/v1/orders/{}/tickets/{ticket_id}/token", placed.code),
            &placed.token,
            None,
        )
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.body);
    token.body["token"].as_str().unwrap().to_owned()
}

pub(crate) async fn scan_token(app: &TestApp, shop: &Shop, token: &str) -> Answer {
    app.post(
        "/api/v1/checkin/scan",
        &app.admin,
        json!({"list_id": shop.list, "token": token, "device": "door-1"}),
    )
    .await
}

db_test! {
    async fn a_paid_order_starts_a_payment_intent_with_an_idempotency_key(app) {
        let s = shop(&app, "pi-step", 10).await;
        let placed = place(&app, "pi-step", &s.tier, &["Ada", "Grace"]).await;
        let payment = &placed.body["payment"];
        assert_eq!(payment["required"], true);
        assert_eq!(payment["method"], "payment_intent");
        assert_eq!(payment["amount"], 9800);
        assert!(payment["client_secret"].as_str().unwrap().starts_with(&placed.intent));
        assert!(payment["hold_expires_at"].is_string());

        let requests = app.stripe.received_requests().await.unwrap();
        let create = requests.iter().find(|r| r.url.path() == "/v1/payment_intents").unwrap();
        assert_eq!(
            create.headers.get("idempotency-key").unwrap().to_str().unwrap(),
            format!("order:{}:payment", placed.id)
        );
        let form = stripe_stub::form(create);
        assert_eq!(form["amount"], "9800");
        assert_eq!(form["currency"], "eur");
        assert_eq!(form["metadata[tessera_order]"], placed.id);

        // GET never shows the client secret; the payment endpoint resumes it.
        let got = order(&app, &placed).await;
        assert!(got.body["payment"]["client_secret"].is_null());
        assert_eq!(got.body["payment"]["payment_intent"], placed.intent.as_str());
    }
}

db_test! {
    async fn a_signed_success_pays_the_order_once_whatever_comes_after(app) {
        let s = shop(&app, "paid", 10).await;
        let placed = place(&app, "paid", &s.tier, &["Ada", "Grace"]).await;
        let payload = succeeded("evt_1", &placed, 9800);
        let first = deliver_signed(&app, &payload).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(first.body["duplicate"], false);
        let got = order(&app, &placed).await;
        assert_eq!(got.body["state"], "paid");
        assert_eq!(got.body["payment"]["amount_paid"], 9800);
        assert!(got.body["tickets"].as_array().unwrap().iter().all(|t| t["status"] == "valid"));

        // Redelivered: nothing changes.
        let again = deliver_signed(&app, &payload).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.body["duplicate"], true);
        let events = entity::stripe_event::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(events.len(), 1);

        // A failure that arrives late does not move the order back.
        let failed = event("evt_2", "payment_intent.payment_failed", payment_intent(&placed.intent, 9800, "eur", "requires_payment_method", &placed.id));
        assert_eq!(deliver_signed(&app, &failed).await.status, StatusCode::OK);
        assert_eq!(order(&app, &placed).await.body["state"], "paid");
        assert_eq!(scan(&app, &s, &placed, 0).await.body["result"], "admitted");
    }
}

db_test! {
    async fn webhooks_with_bad_signatures_are_refused(app) {
        let s = shop(&app, "sigs", 10).await;
        let placed = place(&app, "sigs", &s.tier, &["Ada"]).await;
        let payload = succeeded("evt_sig", &placed, 4900);
        let now = chrono::Utc::now().timestamp();

        let tampered = payload.replace("4900", "4901");
        let answer = deliver(&app, &tampered, &signature(&payload, now, &[WEBHOOK_SECRET])).await;
        answer.assert_problem(400, "invalid_signature");

        let answer = deliver(&app, &payload, &signature(&payload, now, &["whsec_wrong"])).await;
        answer.assert_problem(400, "invalid_signature");

        let answer = deliver(&app, &payload, &signature(&payload, now - 301, &[WEBHOOK_SECRET])).await;
        answer.assert_problem(400, "stale_signature");

        let answer = deliver(&app, &payload, "garbage").await;
        answer.assert_problem(400, "invalid_signature");

        let response = app.client.post(app.url("/api/v1/webhooks/stripe"))
            .header("content-type", "application/json").body(payload.clone()).send().await.unwrap();
        crate::helpers::answer(response).await.assert_problem(400, "missing_signature");

        assert_eq!(order(&app, &placed).await.body["state"], "pending");

        // During a secret rotation Stripe signs with both: one match is enough.
        let answer = deliver(&app, &payload, &signature(&payload, now, &["whsec_old", WEBHOOK_SECRET])).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(order(&app, &placed).await.body["state"], "paid");
    }
}

db_test! {
    async fn an_amount_mismatch_flags_the_order_instead_of_paying_it(app) {
        let s = shop(&app, "mismatch", 10).await;
        let placed = place(&app, "mismatch", &s.tier, &["Ada"]).await;
        let answer = deliver_signed(&app, &succeeded("evt_m", &placed, 100)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(order(&app, &placed).await.body["state"], "pending");
        let admin = app.get(&format!("/api/v1/admin/events/mismatch/orders/{}", placed.code), Some(&app.admin)).await;
        assert_eq!(admin.body["flag"], "amount_mismatch");
        assert!(admin.body["flag_detail"].as_str().unwrap().contains("100 EUR"));
    }
}

db_test! {
    async fn a_late_payment_takes_free_seats_back(app) {
        let s = shop(&app, "late", 10).await;
        let placed = place(&app, "late", &s.tier, &["Ada"]).await;
        app.let_holds_end();
        assert_eq!(order(&app, &placed).await.body["state"], "expired");
        let answer = deliver_signed(&app, &succeeded("evt_late", &placed, 4900)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let got = order(&app, &placed).await;
        assert_eq!(got.body["state"], "paid");
        assert_eq!(got.body["tickets"][0]["status"], "valid");
    }
}

db_test! {
    async fn a_late_payment_for_sold_out_seats_is_refunded(app) {
        let s = shop(&app, "gone", 1).await;
        let late = place(&app, "gone", &s.tier, &["Ada"]).await;
        app.let_holds_end();
        // Someone else bought the last seat meanwhile.
        let other = place(&app, "gone", &s.tier, &["Grace"]).await;
        deliver_signed(&app, &succeeded("evt_other", &other, 4900)).await;
        let answer = deliver_signed(&app, &succeeded("evt_late", &late, 4900)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["effect"], "late_payment_refunded", "{}", answer.body);
        let got = order(&app, &late).await;
        assert_eq!(got.body["state"], "refunded");
        assert_eq!(got.body["tickets"][0]["status"], "released");
        let refunds = entity::refund::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(refunds.len(), 1);
        assert_eq!(refunds[0].source, RefundSource::LatePayment);
        assert_eq!(refunds[0].status, RefundStatus::Succeeded);
        assert_eq!(refunds[0].amount, 4900);
        let sent = app.stripe.received_requests().await.unwrap();
        let refund = sent.iter().find(|r| r.url.path() == "/v1/refunds").unwrap();
        assert_eq!(refund.headers.get("idempotency-key").unwrap().to_str().unwrap(), format!("refund:{}", refunds[0].id));
        assert_eq!(stripe_stub::form(refund)["payment_intent"], late.intent);
        // The seat stays with the buyer who paid in time.
        assert_eq!(order(&app, &other).await.body["state"], "paid");
    }
}

db_test! {
    async fn a_dispute_blocks_the_tickets_at_the_door_until_won(app) {
        let s = shop(&app, "dispute", 10).await;
        let placed = place(&app, "dispute", &s.tier, &["Ada"]).await;
        deliver_signed(&app, &succeeded("evt_paid", &placed, 4900)).await;
        let opened = event("evt_dp", "charge.dispute.created", dispute("dp_1", &placed.intent, 4900, "needs_response"));
        let answer = deliver_signed(&app, &opened).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let admin = app.get(&format!("/api/v1/admin/events/dispute/orders/{}", placed.code), Some(&app.admin)).await;
        assert_eq!(admin.body["flag"], "disputed");
        assert_eq!(scan(&app, &s, &placed, 0).await.body["result"], "disputed");
        let won = event("evt_won", "charge.dispute.closed", dispute("dp_1", &placed.intent, 4900, "won"));
        assert_eq!(deliver_signed(&app, &won).await.status, StatusCode::OK);
        assert_eq!(scan(&app, &s, &placed, 0).await.body["result"], "admitted");
    }
}

db_test! {
    async fn an_organizer_refunds_one_ticket_and_it_stops_working(app) {
        let s = shop(&app, "refund", 10).await;
        let placed = place(&app, "refund", &s.tier, &["Ada", "Grace"]).await;
        deliver_signed(&app, &succeeded("evt_paid", &placed, 9800)).await;
        let grace_token = token_of(&app, &placed, 1).await;
        let ticket = placed.body["tickets"][1]["id"].as_str().unwrap();
        let path = format!("/api/v1/admin/events/refund/orders/{}/refunds", placed.code);

        let too_much = app.post(&path, &app.admin, json!({"amount": 9801, "reason": "x"})).await;
        too_much.assert_problem(422, "validation_failed");
        assert_eq!(too_much.error_fields(), vec!["amount"]);

        let response = app.client.post(app.url(&path)).bearer_auth(&app.admin)
            .header("idempotency-key", "refund-grace-1")
            .json(&json!({"tickets": [ticket], "reason": "Grace cannot come"})).send().await.unwrap();
        let refund = crate::helpers::answer(response).await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
        assert_eq!(refund.body["amount"], 4900);
        assert_eq!(refund.body["status"], "succeeded");
        // The retry replays the answer and refunds nothing more.
        let response = app.client.post(app.url(&path)).bearer_auth(&app.admin)
            .header("idempotency-key", "refund-grace-1")
            .json(&json!({"tickets": [ticket], "reason": "Grace cannot come"})).send().await.unwrap();
        assert_eq!(response.headers().get("idempotent-replayed").unwrap(), "true");
        let sent = app.stripe.received_requests().await.unwrap();
        assert_eq!(sent.iter().filter(|r| r.url.path() == "/v1/refunds").count(), 1);

        let got = order(&app, &placed).await;
        assert_eq!(got.body["state"], "paid");
        assert_eq!(got.body["payment"]["amount_refunded"], 4900);
        assert_eq!(scan_token(&app, &s, &grace_token).await.body["result"], "revoked");
        assert_eq!(scan(&app, &s, &placed, 0).await.body["result"], "admitted");
        // Grace's seat is for sale again.
        let tiers = app.get("/api/v1/events/refund/tiers", None).await;
        assert_eq!(tiers.body[0]["remaining"], 9, "{}", tiers.body);

        // Stripe's refund.updated for it changes nothing more.
        let row = entity::refund::Entity::find().one(&app.db).await.unwrap().unwrap();
        let updated = event("evt_ru", "refund.updated", stripe_stub::refund(row.stripe_refund_id.as_deref().unwrap(), &placed.intent, 4900, "eur", "succeeded", json!({})));
        assert_eq!(deliver_signed(&app, &updated).await.status, StatusCode::OK);
        assert_eq!(order(&app, &placed).await.body["payment"]["amount_refunded"], 4900);

        // Only what is left can be refunded.
        let rest = app.post(&path, &app.admin, json!({"amount": 4901, "reason": "x"})).await;
        assert_eq!(rest.error_fields(), vec!["amount"]);
    }
}

db_test! {
    async fn a_failed_refund_reported_by_stripe_is_refundable_again(app) {
        let s = shop(&app, "refail", 10).await;
        let placed = place(&app, "refail", &s.tier, &["Ada"]).await;
        deliver_signed(&app, &succeeded("evt_paid", &placed, 4900)).await;
        let path = format!("/api/v1/admin/events/refail/orders/{}/refunds", placed.code);
        let refund = app.post(&path, &app.admin, json!({"amount": 1000, "reason": "goodwill"})).await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
        let stripe_id = refund.body["stripe_refund_id"].as_str().unwrap();
        let failed = event("evt_rf", "refund.failed", stripe_stub::refund(stripe_id, &placed.intent, 1000, "eur", "failed", json!({})));
        assert_eq!(deliver_signed(&app, &failed).await.status, StatusCode::OK);
        let admin = app.get(&format!("/api/v1/admin/events/refail/orders/{}", placed.code), Some(&app.admin)).await;
        assert_eq!(admin.body["flag"], "refund_failed");
        assert_eq!(admin.body["payment"]["amount_refunded"], 0);
        // A refund made in the dashboard shows up too.
        let outside = event("evt_dash", "refund.created", stripe_stub::refund("re_dash", &placed.intent, 4900, "eur", "succeeded", json!({})));
        let answer = deliver_signed(&app, &outside).await;
        assert_eq!(answer.body["fully_refunded"], true, "{}", answer.body);
        assert_eq!(order(&app, &placed).await.body["state"], "refunded");
    }
}

db_test! {
    async fn a_hand_paid_order_is_audited(app) {
        let s = shop(&app, "bank", 10).await;
        let placed = place(&app, "bank", &s.tier, &["Ada"]).await;
        let path = format!("/api/v1/admin/events/bank/orders/{}/mark-paid", placed.code);
        let paid = app.post(&path, &app.admin, json!({"reference": "SEPA 2026-11-21 #42"})).await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
        assert_eq!(paid.body["state"], "paid");
        let audit = app.get("/api/v1/admin/events/bank/audit", Some(&app.admin)).await;
        assert_eq!(audit.body["items"][0]["action"], "order.marked_paid");
        // Refunding it needs no card.
        let refund = app.post(&format!("/api/v1/admin/events/bank/orders/{}/refunds", placed.code), &app.admin, json!({"reason": "cancelled trip"})).await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
        assert_eq!(refund.body["source"], "manual");
        assert_eq!(order(&app, &placed).await.body["state"], "refunded");
    }
}

db_test! {
    async fn stripe_down_gives_a_retryable_error_and_leaks_no_hold(app) {
        let s = shop(&app, "down", 1).await;
        app.stripe.reset().await;
        Mock::given(method("POST")).and(path("/v1/payment_intents"))
            .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": {"type": "api_error", "message": "boom"}})))
            .mount(&app.stripe).await;
        let answer = app.order("down", json!({"email": "a@example.org", "tickets": [ticket(&s.tier, "Ada")]})).await;
        answer.assert_problem(503, "payment_provider_unavailable");
        // Slow: past the client's timeout.
        app.stripe.reset().await;
        Mock::given(method("POST")).and(path("/v1/payment_intents"))
            .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(5)))
            .mount(&app.stripe).await;
        let answer = app.order("down", json!({"email": "a@example.org", "tickets": [ticket(&s.tier, "Ada")]})).await;
        answer.assert_problem(503, "payment_provider_unavailable");
        // Rate limited.
        app.stripe.reset().await;
        Mock::given(method("POST")).and(path("/v1/payment_intents"))
            .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "slow down"}})))
            .mount(&app.stripe).await;
        let answer = app.order("down", json!({"email": "a@example.org", "tickets": [ticket(&s.tier, "Ada")]})).await;
        answer.assert_problem(503, "payment_provider_unavailable");
        // The only seat is still for sale.
        let tiers = app.get("/api/v1/events/down/tiers", None).await;
        assert_eq!(tiers.body[0]["remaining"], 1, "{}", tiers.body);
    }
}

#[tokio::test]
async fn without_stripe_paid_checkout_answers_payments_not_configured() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.stripe_secret_key = None)
        .await
        .unwrap();
    let s = shop(&app, "nopay", 10).await;
    let answer = app
        .order(
            "nopay",
            json!({"email": "a@example.org", "tickets": [ticket(&s.tier, "Ada")]}),
        )
        .await;
    answer.assert_problem(503, "payments_not_configured");
    let free = app
        .create_tier("nopay", json!({"name": "Free", "price": 0, "capacity": 5}))
        .await;
    let answer = app.order("nopay", json!({"email": "a@example.org", "tickets": [ticket(free["id"].as_str().unwrap(), "Ada")]})).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
}

db_test! {
    async fn events_tessera_does_not_handle_are_ignored_unread(app) {
        // A type async-stripe has never heard of, and a known type whose
        // object it could not parse: neither matters to tessera.
        for (id, kind, object) in [
            ("evt_v2", "v2.core.account.created", json!({"id": "acct_1", "brand_new": true})),
            ("evt_cus", "customer.created", json!({"id": "cus_1", "object": "customer", "created": "not a number"})),
        ] {
            let answer = deliver_signed(&app, &event(id, kind, object)).await;
            assert_eq!(answer.status, StatusCode::OK, "{kind}: {}", answer.body);
            assert_eq!(answer.body["effect"], "ignored", "{}", answer.body);
        }
    }
}

db_test! {
    async fn a_payment_on_another_api_version_is_still_recorded(app) {
        let s = shop(&app, "drift", 10).await;
        let placed = place(&app, "drift", &s.tier, &["Ada"]).await;
        let mut intent = payment_intent(&placed.intent, 4900, "eur", "succeeded", &placed.id);
        // A newer API version: fields renamed away, an enum value the
        // library does not know, a field of another type, a new object.
        let object = intent.as_object_mut().unwrap();
        object.remove("client_secret");
        object.remove("confirmation_method");
        object.insert("capture_method".into(), json!("automatic_async_v3"));
        object.insert("payment_method_types".into(), json!({"card": {"enabled": true}}));
        object.insert("amount_details".into(), json!({"tip": {"amount": 0}, "line_items": {"object": "list"}}));
        object.insert("latest_charge".into(), json!({"id": format!("ch_{}", placed.intent), "object": "charge"}));
        let mut payload: Value = serde_json::from_str(&event("evt_drift", "payment_intent.succeeded", intent)).unwrap();
        payload["api_version"] = json!("2099-01-01.future");
        let payload = payload.to_string();
        let answer = deliver_signed(&app, &payload).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["effect"], "paid", "{}", answer.body);
        let got = order(&app, &placed).await;
        assert_eq!(got.body["state"], "paid");
        assert_eq!(got.body["payment"]["amount_paid"], 4900);
    }
}

db_test! {
    async fn a_handled_event_without_what_tessera_needs_is_refused_by_name(app) {
        let s = shop(&app, "lacking", 10).await;
        let placed = place(&app, "lacking", &s.tier, &["Ada"]).await;
        let mut intent = payment_intent(&placed.intent, 4900, "eur", "succeeded", &placed.id);
        intent.as_object_mut().unwrap().remove("amount_received");
        let answer = deliver_signed(&app, &event("evt_lacking", "payment_intent.succeeded", intent)).await;
        answer.assert_problem(400, "unreadable_event");
        assert!(answer.body["detail"].as_str().unwrap().contains("amount_received"), "{}", answer.body);
        assert_eq!(order(&app, &placed).await.body["state"], "pending");
        // Nothing was recorded, so Stripe's retry of a fixed event applies.
        assert!(entity::stripe_event::Entity::find().all(&app.db).await.unwrap().is_empty());
    }
}
