//! End to end against localstripe (a stateful fake Stripe server on
//! loopback, started by `.ci/run` through `tests/localstripe/launch.py`):
//! a real card confirmation and a webhook delivered and signed by
//! localstripe itself. localstripe keeps one shared state, so these tests
//! take turns and reset it first.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with, ticket};

const SECRET_KEY: &str = "sk_test_localstripe";
const WEBHOOK_SECRET: &str = "whsec_localstripe";

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// localstripe's address, or `None` to skip (never in CI).
fn localstripe() -> Option<String> {
    match std::env::var("LOCALSTRIPE_URL") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "LOCALSTRIPE_URL is not set: in CI the localstripe suite must run (.ci/run starts it)"
            )
        }
        _ => {
            eprintln!(
                "LOCALSTRIPE_URL is not set: skipping the localstripe suite (run .ci/run to include it)"
            );
            None
        }
    }
}

async fn app_on(url: &str) -> TestApp {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.stripe_api_base = url.to_owned();
        s.stripe_secret_key = Some(SECRET_KEY.to_owned().into());
        s.stripe_webhook_secret = vec![WEBHOOK_SECRET.to_owned().into()];
        s.stripe_timeout_seconds = 10;
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let reset = http
        .delete(format!("{url}/_config/data"))
        .send()
        .await
        .unwrap();
    assert!(reset.status().is_success());
    let hook = http
        .post(format!("{url}/_config/webhooks/tessera"))
        .form(&[
            ("url", app.url("/api/v1/webhooks/stripe")),
            ("secret", WEBHOOK_SECRET.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert!(hook.status().is_success(), "{}", hook.text().await.unwrap());
    app
}

/// What Stripe.js does in the browser: attach a card and confirm.
async fn pay(url: &str, intent: &str, card: &str) -> reqwest::Response {
    let http = reqwest::Client::new();
    let attach = http
        .post(format!("{url}/v1/payment_intents/{intent}"))
        .basic_auth(SECRET_KEY, Some(""))
        .form(&[("payment_method", card)])
        .send()
        .await
        .unwrap();
    assert!(
        attach.status().is_success(),
        "{}",
        attach.text().await.unwrap()
    );
    http.post(format!("{url}/v1/payment_intents/{intent}/confirm"))
        .basic_auth(SECRET_KEY, Some(""))
        .send()
        .await
        .unwrap()
}

async fn place(app: &TestApp, slug: &str) -> (String, String, Value) {
    let starts = chrono::Utc::now() + chrono::Duration::hours(1);
    let event = json!({"starts_at": starts.to_rfc3339(), "ends_at": (starts + chrono::Duration::days(1)).to_rfc3339()});
    let tiers = app
        .shop(
            slug,
            event,
            &[json!({"name": "Regular", "price": 4900, "capacity": 10})],
        )
        .await;
    let answer = app
        .order(slug, json!({"email": "buyer@example.org", "tickets": [ticket(&tiers[0], "Ada"), ticket(&tiers[0], "Grace")]}))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    (
        answer.body["code"].as_str().unwrap().to_owned(),
        answer.body["order_token"].as_str().unwrap().to_owned(),
        answer.body,
    )
}

/// Polls the order until `done` holds (webhooks arrive about a second after
/// the payment).
async fn wait_for(app: &TestApp, code: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let got = app
            .with_order_token(Method::GET, &format!("/api/v1/orders/{code}"), token, None)
            .await;
        if done(&got.body) {
            return got.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the order never reached the expected state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_localstripe),
    ignore = "set LOCALSTRIPE_URL (.ci/run starts localstripe)"
)]
async fn a_card_payment_confirmed_at_localstripe_pays_the_order_and_a_refund_revokes_a_ticket() {
    let Some(url) = localstripe() else { return };
    let _turn = TURN.lock().await;
    let app = app_on(&url).await;
    let (code, token, body) = place(&app, "ls-paid").await;
    let intent = body["payment"]["payment_intent"].as_str().unwrap();
    assert!(
        body["payment"]["client_secret"]
            .as_str()
            .unwrap()
            .starts_with(intent)
    );

    let confirmed = pay(&url, intent, "pm_card_visa").await;
    assert!(
        confirmed.status().is_success(),
        "{}",
        confirmed.text().await.unwrap()
    );
    let paid = wait_for(&app, &code, &token, |o| o["state"] == "paid").await;
    assert_eq!(paid["payment"]["amount_paid"], 9800);
    assert!(
        paid["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "valid")
    );

    let grace = paid["tickets"][1]["id"].as_str().unwrap();
    let refund = app
        .post(
            &format!("/api/v1/admin/events/ls-paid/orders/{code}/refunds"),
            &app.admin,
            json!({"tickets": [grace], "reason": "Grace cannot come"}),
        )
        .await;
    assert_eq!(refund.status, StatusCode::CREATED, "{}", refund.body);
    assert_eq!(refund.body["amount"], 4900);
    assert!(
        refund.body["stripe_refund_id"]
            .as_str()
            .unwrap()
            .starts_with("re_")
    );
    let after = wait_for(&app, &code, &token, |o| {
        o["payment"]["amount_refunded"] == 4900
    })
    .await;
    assert_eq!(after["tickets"][1]["status"], "revoked");
    let token_answer = app
        .with_order_token(
            Method::GET,
            &format!("/api/v1/orders/{code}/tickets/{grace}/token"),
            &token,
            None,
        )
        .await;
    assert_eq!(
        token_answer.status,
        StatusCode::CONFLICT,
        "a refunded ticket has no token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_localstripe),
    ignore = "set LOCALSTRIPE_URL (.ci/run starts localstripe)"
)]
async fn a_declined_card_keeps_the_hold_and_says_why() {
    let Some(url) = localstripe() else { return };
    let _turn = TURN.lock().await;
    let app = app_on(&url).await;
    let (code, token, body) = place(&app, "ls-declined").await;
    let intent = body["payment"]["payment_intent"].as_str().unwrap();
    let declined = pay(&url, intent, "pm_card_chargeCustomerFail").await;
    assert!(!declined.status().is_success());
    let failed = wait_for(&app, &code, &token, |o| {
        o["payment"]["last_error"].is_string()
    })
    .await;
    assert_eq!(failed["state"], "pending");
    assert!(
        failed["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "held")
    );
}
