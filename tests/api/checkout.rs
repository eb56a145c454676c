//! Stripe Checkout against the loopback stand-in: the session tessera
//! creates, the return URLs it accepts, and the Checkout webhooks
//! (completed paid or awaiting a delayed payment, the delayed payment's
//! outcome, expiry).

use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, ticket},
    payments::{Shop, deliver_signed, order, order_row, scan, shop},
    stripe_stub::{self, checkout_session, event},
};

const SUCCESS: &str = "https://tickets.example.org/thanks";
const CANCEL: &str = "https://tickets.example.org/cart";

/// An order placed with the Checkout flow: no PaymentIntent until the
/// buyer pays on Stripe's page.
struct Placed {
    order: crate::payments::Placed,
    session: String,
}

fn checkout(success_url: &str, cancel_url: &str) -> Value {
    json!({"method": "checkout", "success_url": success_url, "cancel_url": cancel_url})
}

async fn place(app: &TestApp, slug: &str, shop: &Shop, names: &[&str]) -> Placed {
    let tickets: Vec<Value> = names.iter().map(|n| ticket(&shop.tier, n)).collect();
    let answer = app
        .order(
            slug,
            json!({"email": "buyer@example.org", "tickets": tickets, "payment": checkout(SUCCESS, CANCEL)}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let code = answer.body["code"].as_str().unwrap().to_owned();
    let row = order_row(app, &code).await;
    Placed {
        session: row.checkout_session_id.expect("the session is kept"),
        order: crate::payments::Placed {
            token: answer.body["order_token"].as_str().unwrap().to_owned(),
            id: row.id.to_string(),
            intent: String::new(),
            code,
            body: answer.body,
        },
    }
}

async fn state(app: &TestApp, placed: &Placed) -> Value {
    let got = order(app, &placed.order).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    got.body
}

/// A Checkout event about the order's session.
fn session_event(id: &str, kind: &str, placed: &Placed, amount: i64, paid: bool) -> String {
    event(
        id,
        kind,
        checkout_session(
            &placed.session,
            amount,
            &placed.order.id,
            if kind.ends_with("expired") {
                "expired"
            } else {
                "complete"
            },
            if paid { "paid" } else { "unpaid" },
        ),
    )
}

async fn remaining(app: &TestApp, slug: &str) -> i64 {
    let tiers = app.get(&format!("/api/v1/events/{slug}/tiers"), None).await;
    tiers.body[0]["remaining"].as_i64().unwrap()
}

db_test! {
    async fn checkout_creates_a_session_from_the_order_with_an_idempotency_key(app) {
        let s = shop(&app, "co-start", 10).await;
        let placed = place(&app, "co-start", &s, &["Ada", "Grace"]).await;
        let payment = &placed.order.body["payment"];
        assert_eq!(payment["method"], "checkout");
        assert_eq!(payment["checkout_url"], format!("https://checkout.stripe.com/c/pay/{}", placed.session));
        assert!(payment["client_secret"].is_null());
        assert_eq!(payment["amount"], 9800);

        let requests = app.stripe.received_requests().await.unwrap();
        let create = requests.iter().find(|r| r.url.path() == "/v1/checkout/sessions").unwrap();
        assert_eq!(
            create.headers.get("idempotency-key").unwrap().to_str().unwrap(),
            format!("order:{}:checkout", placed.order.id)
        );
        let form = stripe_stub::form(create);
        assert_eq!(form["mode"], "payment");
        // Amount and currency come from the order, never from the client.
        assert_eq!(form["line_items[0][price_data][unit_amount]"], "9800");
        assert_eq!(form["line_items[0][price_data][currency]"], "eur");
        assert_eq!(form["line_items[0][quantity]"], "1");
        assert!(form["line_items[0][price_data][product_data][name]"].contains(&placed.order.code));
        assert_eq!(form["success_url"], SUCCESS);
        assert_eq!(form["cancel_url"], CANCEL);
        assert_eq!(form["client_reference_id"], placed.order.id);
        assert_eq!(form["customer_email"], "buyer@example.org");
        assert_eq!(form["metadata[tessera_order]"], placed.order.id);
        assert_eq!(form["payment_intent_data[metadata][tessera_order]"], placed.order.id);
        // Stripe refuses sessions that close within 30 minutes, so the
        // session outlives a shorter hold (the sweeper expires it).
        let expires_at: i64 = form["expires_at"].parse().unwrap();
        assert!(expires_at >= chrono::Utc::now().timestamp() + 30 * 60, "{expires_at}");

        let admin = app.get(&format!("/api/v1/admin/events/co-start/orders/{}", placed.order.code), Some(&app.admin)).await;
        assert_eq!(admin.body["checkout_session"], placed.session.as_str());
        // No PaymentIntent yet: Stripe makes it when the buyer pays.
        assert!(state(&app, &placed).await["payment"]["payment_intent"].is_null());
        assert_eq!(remaining(&app, "co-start").await, 8);
    }
}

db_test! {
    async fn return_urls_off_the_front_end_are_refused_before_anything_is_held(app) {
        let s = shop(&app, "co-urls", 1).await;
        let body = |payment: Value| json!({"email": "a@example.org", "tickets": [ticket(&s.tier, "Ada")], "payment": payment});

        let answer = app.order("co-urls", body(checkout("https://evil.example.com/thanks", CANCEL))).await;
        answer.assert_problem(422, "validation_failed");
        assert_eq!(answer.error_fields(), vec!["payment.success_url"]);
        assert_eq!(answer.body["errors"][0]["code"], "origin_not_allowed");

        let answer = app.order("co-urls", body(json!({"method": "checkout", "success_url": "javascript:alert(1)"}))).await;
        assert_eq!(answer.error_fields(), vec!["payment.success_url", "payment.cancel_url"]);
        assert!(answer.body["errors"].as_array().unwrap().iter().all(|e| e["code"] == "invalid_url"));

        // Nothing was held, nothing was sent to Stripe, no order was made.
        assert_eq!(remaining(&app, "co-urls").await, 1);
        assert!(app.stripe.received_requests().await.unwrap().is_empty());
        assert!(entity::order::Entity::find().all(&app.db).await.unwrap().is_empty());

        // Resuming a payment checks them the same way.
        let placed = crate::payments::place(&app, "co-urls", &s.tier, &["Ada"]).await;
        let answer = app.with_order_token(
            Method::POST,
            &format!("/api/v1/orders/{}/payment", placed.code),
            &placed.token,
            Some(checkout(SUCCESS, "https://tickets.example.org.evil.com/cart")),
        ).await;
        answer.assert_problem(422, "validation_failed");
        assert_eq!(answer.error_fields(), vec!["cancel_url"]);
    }
}

db_test! {
    async fn an_order_is_paid_one_way_and_resumed_that_way(app) {
        let s = shop(&app, "co-one", 10).await;
        let placed = place(&app, "co-one", &s, &["Ada"]).await;
        let payment_path = format!("/api/v1/orders/{}/payment", placed.order.code);
        let resume = |payment: Value| app.with_order_token(
            Method::POST,
            &payment_path,
            &placed.order.token,
            Some(payment),
        );
        // Resuming gives the same session, read back, never a second one.
        let again = resume(checkout(SUCCESS, CANCEL)).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.body);
        assert_eq!(again.body["payment"]["checkout_url"], placed.order.body["payment"]["checkout_url"]);
        let sent = app.stripe.received_requests().await.unwrap();
        assert_eq!(sent.iter().filter(|r| r.url.path() == "/v1/checkout/sessions").count(), 1);
        assert!(sent.iter().any(|r| r.method.as_str() == "GET" && r.url.path() == format!("/v1/checkout/sessions/{}", placed.session)));
        // Switching to a PaymentIntent could charge the buyer twice.
        resume(json!({"method": "payment_intent"})).await.assert_problem(409, "payment_method_fixed");

        // And the other way round.
        let by_card = crate::payments::place(&app, "co-one", &s.tier, &["Grace"]).await;
        let answer = app.with_order_token(
            Method::POST,
            &format!("/api/v1/orders/{}/payment", by_card.code),
            &by_card.token,
            Some(checkout(SUCCESS, CANCEL)),
        ).await;
        answer.assert_problem(409, "payment_method_fixed");
        let sent = app.stripe.received_requests().await.unwrap();
        assert_eq!(sent.iter().filter(|r| r.url.path() == "/v1/checkout/sessions").count(), 1);
        let row = order_row(&app, &by_card.code).await;
        assert!(row.checkout_session_id.is_none());
    }
}

db_test! {
    async fn a_completed_paid_session_pays_the_order(app) {
        let s = shop(&app, "co-paid", 10).await;
        let placed = place(&app, "co-paid", &s, &["Ada"]).await;
        let answer = deliver_signed(&app, &session_event("evt_cs", "checkout.session.completed", &placed, 4900, true)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let got = state(&app, &placed).await;
        assert_eq!(got["state"], "paid");
        assert_eq!(got["payment"]["amount_paid"], 4900);
        // The PaymentIntent Stripe made is kept, for refunds.
        let expected_intent = format!("pi_{}", placed.session.trim_start_matches("cs_"));
        assert_eq!(got["payment"]["payment_intent"], expected_intent.as_str());
        assert_eq!(scan(&app, &s, &placed.order, 0).await.body["result"], "admitted");

        // A session that closes later (expired reported out of order)
        // does not undo the payment.
        let expired = deliver_signed(&app, &session_event("evt_late_exp", "checkout.session.expired", &placed, 4900, false)).await;
        assert_eq!(expired.status, StatusCode::OK);
        assert_eq!(state(&app, &placed).await["state"], "paid");
    }
}

db_test! {
    async fn a_delayed_payment_waits_for_its_outcome(app) {
        let s = shop(&app, "co-async", 10).await;
        let ok = place(&app, "co-async", &s, &["Ada"]).await;
        let ko = place(&app, "co-async", &s, &["Grace"]).await;

        // Completed with a delayed method (a bank debit): not paid yet.
        for (id, placed) in [("evt_c1", &ok), ("evt_c2", &ko)] {
            let answer = deliver_signed(&app, &session_event(id, "checkout.session.completed", placed, 4900, false)).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            assert_eq!(answer.body["effect"], "awaiting_delayed_payment", "{}", answer.body);
            assert_eq!(state(&app, placed).await["state"], "pending");
        }

        let answer = deliver_signed(&app, &session_event("evt_s1", "checkout.session.async_payment_succeeded", &ok, 4900, true)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let got = state(&app, &ok).await;
        assert_eq!(got["state"], "paid");
        assert_eq!(got["tickets"][0]["status"], "valid");

        let answer = deliver_signed(&app, &session_event("evt_f2", "checkout.session.async_payment_failed", &ko, 4900, false)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let got = state(&app, &ko).await;
        assert_eq!(got["state"], "pending");
        assert_eq!(got["payment"]["last_error"], "the delayed payment failed");
        assert_eq!(got["tickets"][0]["status"], "held");
    }
}

db_test! {
    async fn an_expired_session_releases_the_hold_at_once(app) {
        let s = shop(&app, "co-exp", 1).await;
        let placed = place(&app, "co-exp", &s, &["Ada"]).await;
        assert_eq!(remaining(&app, "co-exp").await, 0);

        // A session that is not the order's own changes nothing.
        let mut other = session_event("evt_other", "checkout.session.expired", &placed, 4900, false);
        other = other.replace(&placed.session, "cs_someone_else");
        let answer = deliver_signed(&app, &other).await;
        assert_eq!(answer.body["effect"], "checkout_expired", "{}", answer.body);
        assert_eq!(state(&app, &placed).await["state"], "pending");

        let answer = deliver_signed(&app, &session_event("evt_exp", "checkout.session.expired", &placed, 4900, false)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["effect"], "checkout_expired_released", "{}", answer.body);
        let got = state(&app, &placed).await;
        assert_eq!(got["state"], "expired");
        assert_eq!(got["tickets"][0]["status"], "released");
        assert_eq!(remaining(&app, "co-exp").await, 1);
    }
}

db_test! {
    async fn two_methods_asked_at_once_leave_one_payment(app) {
        use sea_orm::{ActiveModelTrait, Set};
        let s = shop(&app, "co-race", 10).await;
        for i in 0..3 {
            let placed = crate::payments::place(&app, "co-race", &s.tier, &["Ada"]).await;
            // As after a crash between Stripe's answer and our write: a
            // pending order with no payment recorded.
            let mut row: entity::order::ActiveModel = order_row(&app, &placed.code).await.into();
            row.payment_intent_id = Set(None);
            row.update(&app.db).await.unwrap();
            let path = format!("/api/v1/orders/{}/payment", placed.code);
            let (card, hosted) = tokio::join!(
                app.with_order_token(Method::POST, &path, &placed.token, Some(json!({"method": "payment_intent"}))),
                app.with_order_token(Method::POST, &path, &placed.token, Some(checkout(SUCCESS, CANCEL))),
            );
            let mut statuses = [card.status.as_u16(), hosted.status.as_u16()];
            statuses.sort_unstable();
            assert_eq!(statuses, [200, 409], "round {i}: {} / {}", card.body, hosted.body);
            let loser = if card.status == StatusCode::CONFLICT { &card } else { &hosted };
            loser.assert_problem(409, "payment_method_fixed");
            let row = order_row(&app, &placed.code).await;
            assert!(
                row.payment_intent_id.is_some() != row.checkout_session_id.is_some(),
                "round {i}: {row:?}"
            );
        }
    }
}
