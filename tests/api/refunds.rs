//! Refunds and lapsed payments against the loopback Stripe stand-in: Stripe
//! refusing or not answering, refunds made in Stripe's dashboard (events in
//! any order), and the sweeper withdrawing the payments of holds that ended.

use entity::state::{OrderState, RefundStatus};
use std::{sync::Arc, time::Duration};

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tessera::{
    domain::payments::Payments,
    payments::{PaymentGateway, stripe::StripeGateway},
};
use wiremock::{
    Mock, Request, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    helpers::{TestApp, ticket},
    payments::{
        Placed, deliver_signed, order, order_row, place, scan, scan_token, shop, succeeded,
        token_of,
    },
    stripe_stub::{self, charge, event},
};

fn refunds_path(slug: &str, placed: &Placed) -> String {
    format!("/api/v1/admin/events/{slug}/orders/{}/refunds", placed.code)
}

/// A paid order of two tickets (98.00 EUR).
pub(crate) async fn paid(app: &TestApp, slug: &str) -> (crate::payments::Shop, Placed) {
    let s = shop(app, slug, 10).await;
    let placed = place(app, slug, &s.tier, &["Ada", "Grace"]).await;
    let answer = deliver_signed(app, &succeeded(&format!("evt_paid_{slug}"), &placed, 9800)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    (s, placed)
}

fn requests_to<'a>(requests: &'a [Request], to: &str) -> Vec<&'a Request> {
    requests.iter().filter(|r| r.url.path() == to).collect()
}

fn key_of(request: &Request) -> &str {
    request
        .headers
        .get("idempotency-key")
        .and_then(|k| k.to_str().ok())
        .unwrap_or_default()
}

fn stripe_error(status: u16, kind: &str, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"type": kind, "code": code, "message": message}}))
}

/// The sweeper's run, with a gateway on the app's Stripe stand-in.
pub(crate) async fn sweep(app: &TestApp) {
    let gateway: Arc<dyn PaymentGateway> = Arc::new(
        StripeGateway::new("sk_test_stub", &app.stripe.uri(), Duration::from_secs(2)).unwrap(),
    );
    let payments = Payments {
        gateway: Some(gateway),
        ..Payments::default()
    };
    app.on_its_clock(tessera::jobs::sweep(&app.db, &payments))
        .await;
}

async fn refund_rows(app: &TestApp) -> Vec<entity::refund::Model> {
    let mut rows = entity::refund::Entity::find().all(&app.db).await.unwrap();
    rows.sort_by_key(|r| r.created_at);
    rows
}

db_test! {
    async fn stripe_refusing_a_refund_leaves_the_amount_refundable(app) {
        let (s, placed) = paid(&app, "re-no").await;
        app.stripe.reset().await;
        Mock::given(method("POST")).and(path("/v1/refunds"))
            .respond_with(stripe_error(400, "invalid_request_error", "charge_already_refunded", "Charge ch_x has already been refunded."))
            .mount(&app.stripe).await;
        let ticket_id = placed.body["tickets"][0]["id"].as_str().unwrap();
        let answer = app.post(&refunds_path("re-no", &placed), &app.admin, json!({"tickets": [ticket_id], "reason": "cannot come"})).await;
        answer.assert_problem(409, "refund_refused");
        assert!(answer.body["detail"].as_str().unwrap().contains("charge_already_refunded"), "{}", answer.body);

        let rows = refund_rows(&app).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, RefundStatus::Failed);
        assert!(rows[0].failure.as_deref().unwrap().contains("already been refunded"));
        let got = order(&app, &placed).await;
        assert_eq!(got.body["payment"]["amount_refunded"], 0);
        assert_eq!(got.body["state"], "paid");
        // The ticket was not revoked.
        assert_eq!(scan(&app, &s, &placed, 0).await.body["result"], "admitted");

        // Once Stripe agrees, the same ticket can be refunded.
        app.stripe.reset().await;
        stripe_stub::mount_default(&app.stripe).await;
        let answer = app.post(&refunds_path("re-no", &placed), &app.admin, json!({"tickets": [ticket_id], "reason": "cannot come"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        assert_eq!(order(&app, &placed).await.body["payment"]["amount_refunded"], 4900);
    }
}

db_test! {
    async fn a_declined_card_at_the_payment_step_frees_the_seat(app) {
        let s = shop(&app, "declined", 1).await;
        app.stripe.reset().await;
        Mock::given(method("POST")).and(path("/v1/payment_intents"))
            .respond_with(stripe_error(402, "card_error", "card_declined", "Your card was declined."))
            .mount(&app.stripe).await;
        let answer = app.order("declined", json!({"email": "a@example.org", "tickets": [ticket(&s.tier, "Ada")]})).await;
        answer.assert_problem(409, "payment_provider_refused");
        assert!(answer.body["detail"].as_str().unwrap().contains("card_declined"), "{}", answer.body);
        let tiers = app.get("/api/v1/events/declined/tiers", None).await;
        assert_eq!(tiers.body[0]["remaining"], 1, "{}", tiers.body);
    }
}

db_test! {
    async fn a_refund_stripe_did_not_answer_is_sent_again_with_the_same_key(app) {
        let (s, placed) = paid(&app, "re-later").await;
        let grace = token_of(&app, &placed, 1).await;
        app.stripe.reset().await;
        Mock::given(method("POST")).and(path("/v1/refunds"))
            .respond_with(stripe_error(503, "api_error", "", "try later"))
            .mount(&app.stripe).await;
        let ticket_id = placed.body["tickets"][1]["id"].as_str().unwrap();
        let answer = app.post(&refunds_path("re-later", &placed), &app.admin, json!({"tickets": [ticket_id], "reason": "ill"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        assert_eq!(answer.body["status"], "requested");
        // Counted already, so nobody can refund it twice meanwhile.
        let twice = app.post(&refunds_path("re-later", &placed), &app.admin, json!({"amount": 4901, "reason": "x"})).await;
        assert_eq!(twice.error_fields(), vec!["amount"]);
        // Not revoked until Stripe accepts.
        assert_eq!(scan_token(&app, &s, &grace).await.body["result"], "admitted");

        // The sweeper resends it once it has waited a little.
        app.stripe.reset().await;
        stripe_stub::mount_default(&app.stripe).await;
        sweep(&app).await;
        assert_eq!(refund_rows(&app).await[0].status, RefundStatus::Requested, "resent too soon");
        app.let_time_pass(chrono::Duration::minutes(1));
        sweep(&app).await;
        let rows = refund_rows(&app).await;
        assert_eq!(rows[0].status, RefundStatus::Succeeded);
        let sent = app.stripe.received_requests().await.unwrap();
        let resent = requests_to(&sent, "/v1/refunds");
        assert_eq!(resent.len(), 1);
        assert_eq!(key_of(resent[0]), format!("refund:{}", rows[0].id));
        assert_eq!(stripe_stub::form(resent[0])["amount"], "4900");
        assert_eq!(scan_token(&app, &s, &grace).await.body["result"], "revoked");
    }
}

db_test! {
    async fn a_charge_refunded_in_the_dashboard_closes_the_order(app) {
        let (s, placed) = paid(&app, "re-dash").await;
        let ada = token_of(&app, &placed, 0).await;
        // Part of it: noted, the order stays paid.
        let partial = event("evt_ch1", "charge.refunded", charge(&placed.intent, 9800, 4900));
        let answer = deliver_signed(&app, &partial).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(order(&app, &placed).await.body["state"], "paid");

        // All of it, reported before the refund objects themselves.
        let full = event("evt_ch2", "charge.refunded", charge(&placed.intent, 9800, 9800));
        let answer = deliver_signed(&app, &full).await;
        assert_eq!(answer.body["fully_refunded"], true, "{}", answer.body);
        let got = order(&app, &placed).await;
        assert_eq!(got.body["state"], "refunded");
        assert!(got.body["tickets"].as_array().unwrap().iter().all(|t| t["status"] == "revoked"), "{}", got.body);
        assert_eq!(scan_token(&app, &s, &ada).await.body["result"], "revoked");

        // The two refunds arrive afterwards; amounts are counted once each.
        for (evt, re) in [("evt_r1", "re_dash_1"), ("evt_r2", "re_dash_2")] {
            let created = event(evt, "refund.created", stripe_stub::refund(re, &placed.intent, 4900, "eur", "succeeded", json!({})));
            assert_eq!(deliver_signed(&app, &created).await.status, StatusCode::OK);
        }
        let got = order(&app, &placed).await;
        assert_eq!(got.body["payment"]["amount_refunded"], 9800);
        let listed = app.get(&refunds_path("re-dash", &placed), Some(&app.admin)).await;
        let sources: Vec<&Value> = listed.body.as_array().unwrap().iter().map(|r| &r["source"]).collect();
        assert_eq!(sources, vec!["stripe", "stripe"], "{}", listed.body);
    }
}

db_test! {
    async fn refund_events_out_of_order_count_once_and_only_move_forward(app) {
        let (_s, placed) = paid(&app, "re-order").await;
        // A dashboard refund: its update (succeeded) overtakes its creation
        // (pending).
        let updated = event("evt_u", "refund.updated", stripe_stub::refund("re_d", &placed.intent, 1000, "eur", "succeeded", json!({})));
        let created = event("evt_c", "refund.created", stripe_stub::refund("re_d", &placed.intent, 1000, "eur", "pending", json!({})));
        assert_eq!(deliver_signed(&app, &updated).await.status, StatusCode::OK);
        let answer = deliver_signed(&app, &created).await;
        assert_eq!(answer.body["effect"], "refund_unchanged", "{}", answer.body);
        let rows = refund_rows(&app).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, RefundStatus::Succeeded);
        assert_eq!(rows[0].amount, 1000);

        // An organizer's refund Stripe answers `pending`, then the events.
        app.stripe.reset().await;
        Mock::given(method("POST")).and(path("/v1/refunds"))
            .respond_with(|request: &Request| {
                let ours = stripe_stub::form(request)["metadata[tessera_refund]"].clone();
                ResponseTemplate::new(200).set_body_json(stripe_stub::refund("re_org", "pi_x", 2000, "eur", "pending", json!({"tessera_refund": ours})))
            })
            .mount(&app.stripe).await;
        let answer = app.post(&refunds_path("re-order", &placed), &app.admin, json!({"amount": 2000, "reason": "goodwill"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        assert_eq!(answer.body["status"], "pending");
        let ours = answer.body["id"].as_str().unwrap().to_owned();
        let succeeded_evt = event("evt_o2", "refund.updated", stripe_stub::refund("re_org", &placed.intent, 2000, "eur", "succeeded", json!({"tessera_refund": ours})));
        let pending_evt = event("evt_o1", "refund.created", stripe_stub::refund("re_org", &placed.intent, 2000, "eur", "pending", json!({"tessera_refund": ours})));
        assert_eq!(deliver_signed(&app, &succeeded_evt).await.status, StatusCode::OK);
        assert_eq!(deliver_signed(&app, &pending_evt).await.status, StatusCode::OK);
        let rows = refund_rows(&app).await;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].status, RefundStatus::Succeeded);
        assert_eq!(rows[1].stripe_refund_id.as_deref(), Some("re_org"));
        // Stripe can still fail a refund it reported succeeded (the card
        // was closed meanwhile): its amount becomes refundable again.
        let failed = event("evt_f", "refund.failed", stripe_stub::refund("re_d", &placed.intent, 1000, "eur", "failed", json!({})));
        assert_eq!(deliver_signed(&app, &failed).await.status, StatusCode::OK);
        let got = order(&app, &placed).await;
        assert_eq!(got.body["payment"]["amount_refunded"], 2000);
        assert_eq!(got.body["state"], "paid");
    }
}

db_test! {
    async fn the_sweeper_withdraws_the_payments_of_ended_holds(app) {
        let s = shop(&app, "sweep", 10).await;
        let by_card = place(&app, "sweep", &s.tier, &["Ada"]).await;
        let by_checkout = app.order("sweep", json!({
            "email": "b@example.org",
            "tickets": [ticket(&s.tier, "Grace")],
            "payment": {"method": "checkout", "success_url": "https://tickets.example.org/ok", "cancel_url": "https://tickets.example.org/no"},
        })).await;
        assert_eq!(by_checkout.status, StatusCode::CREATED, "{}", by_checkout.body);
        let checkout_row = order_row(&app, by_checkout.body["code"].as_str().unwrap()).await;
        app.let_holds_end();
        let still_held = place(&app, "sweep", &s.tier, &["Linus"]).await;
        app.stripe.reset().await;
        stripe_stub::mount_default(&app.stripe).await;

        sweep(&app).await;

        let sent = app.stripe.received_requests().await.unwrap();
        let cancel = requests_to(&sent, &format!("/v1/payment_intents/{}/cancel", by_card.intent));
        assert_eq!(cancel.len(), 1);
        assert_eq!(key_of(cancel[0]), format!("order:{}:cancel", by_card.id));
        let session = checkout_row.checkout_session_id.clone().unwrap();
        let expire = requests_to(&sent, &format!("/v1/checkout/sessions/{session}/expire"));
        assert_eq!(expire.len(), 1);
        assert_eq!(key_of(expire[0]), format!("order:{}:expire-checkout", checkout_row.id));
        // Only what ended: the order still held is left alone.
        assert_eq!(sent.len(), 2, "{:?}", sent.iter().map(|r| r.url.path()).collect::<Vec<_>>());
        assert_eq!(order_row(&app, &by_card.code).await.state, OrderState::Expired);
        assert_eq!(order_row(&app, &checkout_row.code).await.state, OrderState::Expired);
        assert_eq!(order_row(&app, &still_held.code).await.state, OrderState::Pending);

        // Stripe down during the sweep: the hold still ends (a payment that
        // slips through is a late payment, handled by the webhook).
        let again = place(&app, "sweep", &s.tier, &["Ken"]).await;
        app.let_holds_end();
        let held_later = place(&app, "sweep", &s.tier, &["Lea"]).await;
        app.stripe.reset().await;
        sweep(&app).await;
        assert_eq!(order_row(&app, &again.code).await.state, OrderState::Expired);
        let pending: Vec<_> = entity::order::Entity::find()
            .filter(entity::order::Column::State.eq(OrderState::Pending))
            .all(&app.db).await.unwrap();
        assert_eq!(pending.iter().map(|o| &o.code).collect::<Vec<_>>(), [&held_later.code]);
    }
}

db_test! {
    async fn events_about_one_order_delivered_at_once_apply_one_after_the_other(app) {
        let (_s, placed) = paid(&app, "re-race").await;
        // Stripe sends refund.created and refund.updated for a dashboard
        // refund within milliseconds, often concurrently.
        for i in 0..5 {
            let re = format!("re_race_{i}");
            let created = event(&format!("evt_c{i}"), "refund.created", stripe_stub::refund(&re, &placed.intent, 500, "eur", "pending", json!({})));
            let updated = event(&format!("evt_u{i}"), "refund.updated", stripe_stub::refund(&re, &placed.intent, 500, "eur", "succeeded", json!({})));
            let (a, b) = tokio::join!(deliver_signed(&app, &created), deliver_signed(&app, &updated));
            assert_eq!(a.status, StatusCode::OK, "{}", a.body);
            assert_eq!(b.status, StatusCode::OK, "{}", b.body);
        }
        let rows = refund_rows(&app).await;
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| r.status == RefundStatus::Succeeded), "{rows:?}");
        assert_eq!(order(&app, &placed).await.body["payment"]["amount_refunded"], 2500);
    }
}

db_test! {
    async fn free_orders_are_cancelled_without_stripe(app) {
        let s = shop(&app, "re-free", 10).await;
        let free = app.create_tier("re-free", json!({"name": "Speaker", "price": 0, "capacity": 5})).await;
        let answer = app.order("re-free", json!({"email": "speaker@example.org", "tickets": [ticket(free["id"].as_str().unwrap(), "Ada")]})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        assert_eq!(answer.body["state"], "paid");
        let placed = Placed {
            code: answer.body["code"].as_str().unwrap().to_owned(),
            token: answer.body["order_token"].as_str().unwrap().to_owned(),
            id: String::new(),
            intent: String::new(),
            body: answer.body.clone(),
        };
        let ada = token_of(&app, &placed, 0).await;
        let refund = app.post(&refunds_path("re-free", &placed), &app.admin, json!({"reason": "talk withdrawn"})).await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
        assert_eq!(refund.body["source"], "manual");
        assert_eq!(refund.body["amount"], 0);
        assert_eq!(order(&app, &placed).await.body["state"], "cancelled");
        assert_eq!(scan_token(&app, &s, &ada).await.body["result"], "revoked");
        let sent = app.stripe.received_requests().await.unwrap();
        assert!(sent.is_empty(), "{:?}", sent.iter().map(|r| r.url.path()).collect::<Vec<_>>());
    }
}

db_test! {
    async fn a_refund_retried_after_a_crash_is_counted_once(app) {
        let (_, placed) = paid(&app, "re-crash").await;
        let send = || {
            let request = app
                .client
                .post(app.url(&refunds_path("re-crash", &placed)))
                .bearer_auth(&app.admin)
                .header("idempotency-key", "refund-once")
                .json(&json!({"amount": 1000, "reason": "one day only"}));
            async move { crate::helpers::answer(request.send().await.unwrap()).await }
        };
        let first = send().await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
        // As if the process died after the refund, before storing the answer.
        app.as_if_the_process_died().await;
        let retry = send().await;
        assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
        assert_eq!(retry.body["id"], first.body["id"]);
        assert_eq!(refund_rows(&app).await.len(), 1);
        assert_eq!(order_row(&app, &placed.code).await.amount_refunded, 1000);
    }
}

pub(crate) fn cancel_path(slug: &str, placed: &Placed) -> String {
    format!("/api/v1/admin/events/{slug}/orders/{}/cancel", placed.code)
}

async fn sales(app: &TestApp, slug: &str) -> Value {
    let report = app
        .get(
            &format!("/api/v1/admin/events/{slug}/reports/sales"),
            Some(&app.admin),
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    report.body
}

db_test! {
    async fn cancelling_a_paid_order_asks_what_happens_to_the_money(app) {
        let (s, placed) = paid(&app, "cx-ask").await;
        let ada = token_of(&app, &placed, 0).await;
        let unsaid = app.post(&cancel_path("cx-ask", &placed), &app.admin, json!({"reason": "double booking"})).await;
        unsaid.assert_problem(422, "validation_failed");
        assert_eq!(unsaid.error_fields(), ["refund"]);
        assert_eq!(unsaid.body["errors"][0]["code"], "refund_required");
        assert_eq!(order(&app, &placed).await.body["state"], "paid");
        assert_eq!(scan_token(&app, &s, &ada).await.body["result"], "admitted");

        app.stripe.reset().await;
        stripe_stub::mount_default(&app.stripe).await;
        let cancelled = app.post(&cancel_path("cx-ask", &placed), &app.admin, json!({"reason": "double booking", "refund": true})).await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
        assert_eq!(cancelled.body["state"], "cancelled");
        assert_eq!(cancelled.body["payment"]["amount_refunded"], 9800, "{}", cancelled.body);
        assert!(cancelled.body["flag"].is_null(), "{}", cancelled.body);
        let sent = app.stripe.received_requests().await.unwrap();
        let refunds = requests_to(&sent, "/v1/refunds");
        assert_eq!(refunds.len(), 1);
        assert_eq!(stripe_stub::form(refunds[0])["amount"], "9800");
        let rows = refund_rows(&app).await;
        assert_eq!((rows.len(), rows[0].status, rows[0].amount), (1, RefundStatus::Succeeded, 9800));
        assert_eq!(scan_token(&app, &s, &ada).await.body["result"], "revoked");

        // Asked again, nothing more moves.
        let again = app.post(&cancel_path("cx-ask", &placed), &app.admin, json!({"reason": "double booking", "refund": true})).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.body);
        assert_eq!(refund_rows(&app).await.len(), 1);

        let report = sales(&app, "cx-ask").await;
        assert_eq!((&report["revenue_gross"], &report["refunded"], &report["revenue_net"]), (&json!(9800), &json!(9800), &json!(0)));
        assert_eq!(report["cancelled_unrefunded"], json!({"orders": 0, "amount": 0}));
    }
}

db_test! {
    async fn a_paid_order_cancelled_without_refund_is_flagged_until_refunded(app) {
        let (_, placed) = paid(&app, "cx-keep").await;
        app.stripe.reset().await;
        stripe_stub::mount_default(&app.stripe).await;
        let cancelled = app.post(&cancel_path("cx-keep", &placed), &app.admin, json!({"reason": "no-show fee policy", "refund": false})).await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
        assert_eq!(cancelled.body["state"], "cancelled");
        assert_eq!(cancelled.body["flag"], "cancelled_unrefunded");
        assert!(cancelled.body["flag_detail"].as_str().unwrap().contains("9800"), "{}", cancelled.body);
        assert!(app.stripe.received_requests().await.unwrap().is_empty());

        let flagged = app.get("/api/v1/admin/events/cx-keep/orders?flag=cancelled_unrefunded", Some(&app.admin)).await;
        assert_eq!(flagged.status, StatusCode::OK, "{}", flagged.body);
        let codes: Vec<&str> = flagged.body["items"].as_array().unwrap().iter().map(|o| o["code"].as_str().unwrap()).collect();
        assert_eq!(codes, [placed.code.as_str()]);
        let report = sales(&app, "cx-keep").await;
        assert_eq!(report["cancelled_unrefunded"], json!({"orders": 1, "amount": 9800}));
        assert_eq!(report["revenue_net"], 9800);
        let audit = app.get("/api/v1/admin/events/cx-keep/audit", Some(&app.admin)).await;
        assert_eq!(audit.body["items"][0]["detail"]["kept"], 9800, "{}", audit.body);

        // Refunded later after all: the flag goes, the money shows as refunded.
        let refund = app.post(&refunds_path("cx-keep", &placed), &app.admin, json!({"reason": "goodwill"})).await;
        assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
        let got = app.get(&format!("/api/v1/admin/events/cx-keep/orders/{}", placed.code), Some(&app.admin)).await;
        assert!(got.body["flag"].is_null(), "{}", got.body);
        let report = sales(&app, "cx-keep").await;
        assert_eq!(report["cancelled_unrefunded"], json!({"orders": 0, "amount": 0}));
        assert_eq!(report["revenue_net"], 0);
    }
}

db_test! {
    async fn a_refund_stripe_refuses_on_cancel_leaves_the_order_cancelled_and_flagged(app) {
        let (_, placed) = paid(&app, "cx-refused").await;
        app.stripe.reset().await;
        Mock::given(method("POST")).and(path("/v1/refunds"))
            .respond_with(stripe_error(400, "invalid_request_error", "charge_disputed", "Charge ch_x has been charged back."))
            .mount(&app.stripe).await;
        let cancelled = app.post(&cancel_path("cx-refused", &placed), &app.admin, json!({"reason": "event full", "refund": true})).await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
        assert_eq!(cancelled.body["state"], "cancelled");
        assert_eq!(cancelled.body["flag"], "refund_failed", "{}", cancelled.body);
        assert_eq!(cancelled.body["payment"]["amount_refunded"], 0);
        let report = sales(&app, "cx-refused").await;
        assert_eq!(report["cancelled_unrefunded"], json!({"orders": 1, "amount": 9800}));
    }
}

db_test! {
    async fn the_sales_report_matches_the_money_whatever_the_mix_of_refunds(app) {
        let s = shop(&app, "books", 20).await;
        let mut paid_orders = Vec::new();
        for (i, names) in [&["Ada", "Grace"][..], &["Alan"], &["Edsger"], &["Barbara"], &["Donald"]].iter().enumerate() {
            let placed = place(&app, "books", &s.tier, names).await;
            let amount = 4900 * names.len() as i64;
            let answer = deliver_signed(&app, &succeeded(&format!("evt_books_{i}"), &placed, amount)).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            paid_orders.push(placed);
        }
        let [partial, full, after_cancel, dashboard, failing] = &paid_orders[..] else { unreachable!() };
        // Partial (the order stays paid) and full refunds through tessera.
        let answer = app.post(&refunds_path("books", partial), &app.admin, json!({"amount": 1000, "reason": "late arrival"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        let answer = app.post(&refunds_path("books", full), &app.admin, json!({"reason": "ill"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        // Cancelled keeping the money, refunded afterwards.
        let answer = app.post(&cancel_path("books", after_cancel), &app.admin, json!({"reason": "visa", "refund": false})).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let answer = app.post(&refunds_path("books", after_cancel), &app.admin, json!({"reason": "goodwill"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        // Made in Stripe's dashboard, reported by webhook.
        let outside = event("evt_books_dash", "refund.created", stripe_stub::refund("re_books_dash", &dashboard.intent, 2000, "eur", "succeeded", json!({})));
        assert_eq!(deliver_signed(&app, &outside).await.status, StatusCode::OK);
        // Refused by Stripe: no money moved, nothing counts.
        app.stripe.reset().await;
        Mock::given(method("POST")).and(path("/v1/refunds"))
            .respond_with(stripe_error(400, "invalid_request_error", "charge_disputed", "Charge has been charged back."))
            .mount(&app.stripe).await;
        app.post(&refunds_path("books", failing), &app.admin, json!({"reason": "x"})).await.assert_problem(409, "refund_refused");

        let report = sales(&app, "books").await;
        let (gross, refunded) = (6 * 4900, 1000 + 4900 + 4900 + 2000);
        assert_eq!((&report["revenue_gross"], &report["refunded"], &report["revenue_net"]), (&json!(gross), &json!(refunded), &json!(gross - refunded)), "{}", report);
        let over_tiers: i64 = report["tiers"].as_array().unwrap().iter().map(|t| t["refunded"].as_i64().unwrap()).sum();
        let rows: i64 = refund_rows(&app).await.iter().filter(|r| r.status == RefundStatus::Succeeded).map(|r| r.amount).sum();
        assert_eq!((over_tiers, rows), (refunded, refunded));
        assert_eq!(report["cancelled_unrefunded"], json!({"orders": 0, "amount": 0}));
    }
}
