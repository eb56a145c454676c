//! The command line, run as a real process: first start, tokens, migrations.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

use crate::{
    helpers::{Backend, TestDatabase},
    stripe_stub::{event, payment_intent, signature},
};

fn tessera(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .env("DATABASE_URL", database_url)
        .env("TESSERA_BIND", "127.0.0.1:0")
        .env("TESSERA_LOG", "info")
        .env("TESSERA_LOG_FORMAT", "json");
    command
}

pub(crate) struct Served {
    child: Child,
    pub stdout: Vec<String>,
}

/// Starts `tessera serve`, reads stdout until the docs line has been printed
/// (and the admin token block, when there is one), then stops it with SIGTERM.
fn serve_once(database_url: &str) -> Served {
    serve_with(database_url, &[])
}

/// Like [`serve_once`], with more environment variables.
pub(crate) fn serve_with(database_url: &str, env: &[(&str, &str)]) -> Served {
    let mut child = tessera(database_url)
        .envs(env.iter().copied())
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tessera");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<String> = Vec::new();
    let started = Instant::now();
    // Everything is printed at once before serving: the address and docs
    // lines, then the token block when there is one. Once the spec line is
    // in, a quiet moment means nothing more is coming.
    loop {
        let ready = lines.iter().any(|l| l.contains("OpenAPI spec:"));
        let block_closed = lines.iter().filter(|l| l.contains("=====")).count() == 2;
        if block_closed {
            break;
        }
        let wait = if ready {
            Duration::from_secs(3)
        } else {
            Duration::from_secs(60)
        };
        match rx.recv_timeout(wait) {
            Ok(line) => lines.push(line),
            Err(_) if ready => break,
            Err(_) => panic!(
                "tessera did not start within {:?}; stdout: {lines:?}",
                started.elapsed()
            ),
        }
    }
    Served {
        child,
        stdout: lines,
    }
}

fn stop(served: Served) -> String {
    let pid = served.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let output = served.child.wait_with_output().expect("wait for tessera");
    assert!(
        output.status.success(),
        "tessera did not shut down cleanly: {output:?}"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Sends `signal` (`-KILL`, `-TERM`) to a served process and waits for it
/// to end, whatever its exit.
pub(crate) fn kill(served: Served, signal: &str) {
    let pid = served.child.id().to_string();
    let _ = Command::new("kill").args([signal, &pid]).status();
    let _ = served.child.wait_with_output();
}

pub(crate) fn token_in(lines: &[String]) -> Option<String> {
    lines.iter().find_map(|line| {
        line.split_once("TESSERA ADMIN TOKEN: ")
            .map(|(_, t)| t.trim().to_owned())
    })
}

async fn the_first_start_prints_one_admin_token_once(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let first = serve_once(&database.url);
    let token =
        token_in(&first.stdout).unwrap_or_else(|| panic!("no admin token in {:?}", first.stdout));
    assert!(token.starts_with("tsr_") && token.len() == 47, "{token}");
    assert!(
        first.stdout.iter().any(|l| l.contains("/docs")),
        "{:?}",
        first.stdout
    );
    let first_stdout = first.stdout.clone();
    let logs = stop(first);
    assert!(!logs.contains(&token), "the admin token reached the logs");
    assert!(
        logs.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "logs are not JSON:\n{logs}"
    );
    assert_eq!(
        first_stdout.iter().filter(|l| l.contains(&token)).count(),
        2,
        "token and curl example"
    );

    let second = serve_once(&database.url);
    assert!(
        token_in(&second.stdout).is_none(),
        "a second token was printed: {:?}",
        second.stdout
    );
    let logs = stop(second);
    assert!(!logs.contains(&token));
}

#[tokio::test]
async fn the_first_start_prints_one_admin_token_once_on_sqlite() {
    the_first_start_prints_one_admin_token_once(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn the_first_start_prints_one_admin_token_once_on_postgres() {
    the_first_start_prints_one_admin_token_once(Backend::Postgres).await;
}

fn run(database_url: &str, args: &[&str]) -> (bool, String, String) {
    let output = tessera(database_url)
        .args(args)
        .output()
        .expect("run tessera");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn tokens_are_managed_from_the_command_line(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let (ok, out, err) = run(&database.url, &["migrate"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = run(&database.url, &["demo"]);
    assert!(ok && out.contains("demo event created"), "{out}{err}");

    let (ok, out, err) = run(
        &database.url,
        &[
            "token",
            "create",
            "--role",
            "volunteer",
            "--name",
            "Door 1",
            "--event",
            "demo-conf",
        ],
    );
    assert!(ok, "{out}{err}");
    let secret = out.lines().last().unwrap().to_owned();
    assert!(secret.starts_with("tsr_") && secret.len() == 47, "{out}");
    assert!(!err.contains(&secret), "the secret reached the logs");

    let (ok, listed, _) = run(&database.url, &["token", "list"]);
    assert!(
        ok && listed.contains("Door 1") && listed.contains("demo-conf"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "token list shows a secret");
    let id = listed
        .lines()
        .find(|l| l.contains("Door 1"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    let (ok, out, err) = run(&database.url, &["token", "revoke", &id]);
    assert!(ok && out.contains("revoked"), "{out}{err}");
    let (_, listed, _) = run(&database.url, &["token", "list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains("Door 1") && l.contains("revoked")),
        "{listed}"
    );

    let (ok, _, err) = run(
        &database.url,
        &[
            "token",
            "create",
            "--role",
            "organizer",
            "--name",
            "x",
            "--event",
            "nope",
        ],
    );
    assert!(!ok && err.contains("events[0]"), "{err}");
}

#[tokio::test]
async fn tokens_are_managed_from_the_command_line_on_sqlite() {
    tokens_are_managed_from_the_command_line(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn tokens_are_managed_from_the_command_line_on_postgres() {
    tokens_are_managed_from_the_command_line(Backend::Postgres).await;
}

#[test]
fn openapi_prints_the_spec_on_stdout() {
    let output = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        tessera::api::spec_json()
    );
}

/// Stripe's keys reach neither the logs nor an answer, whatever Stripe and
/// the webhook senders do.
#[tokio::test]
async fn stripe_secrets_never_reach_the_logs() {
    const KEY: &str = "sk_test_never_logged_7f3a";
    const WEBHOOK: &str = "whsec_never_logged_9c2b";
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let (demo, _, _) = run(&database.url, &["demo"]);
    assert!(demo);
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": {"type": "api_error", "message": "boom"}})),
        )
        .mount(&stripe)
        .await;
    let served = serve_with(
        &database.url,
        &[
            ("STRIPE_SECRET_KEY", KEY),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK),
            ("STRIPE_API_BASE", &stripe.uri()),
            ("TESSERA_LOG", "debug"),
        ],
    );
    let base = served
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("tessera is listening on "))
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let tiers: Value = client
        .get(format!("{base}/api/v1/events/demo-conf/tiers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The cheapest paid tier (the demo's workshop: no T-shirt to choose).
    let paid = tiers
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["price"].as_i64().unwrap() > 0)
        .min_by_key(|t| t["price"].as_i64())
        .unwrap();
    let mut answers = Vec::new();
    // Stripe failing while an order is placed (the error is logged).
    let order = client
        .post(format!("{base}/api/v1/events/demo-conf/orders"))
        .json(&json!({"email": "a@example.org", "tickets": [{"tier_id": paid["id"], "attendee_name": "Ada"}]}))
        .send()
        .await
        .unwrap();
    let status = order.status();
    answers.push(order.text().await.unwrap());
    assert_eq!(status, 503, "{answers:?}");
    // Webhooks: a bad signature, then a good one.
    let payload = event(
        "evt_log",
        "payment_intent.succeeded",
        payment_intent("pi_log", 100, "eur", "succeeded", ""),
    );
    let now = chrono::Utc::now().timestamp();
    for sig in [
        signature(&payload, now, &["whsec_wrong"]),
        signature(&payload, now, &[WEBHOOK]),
    ] {
        let answer = client
            .post(format!("{base}/api/v1/webhooks/stripe"))
            .header("stripe-signature", sig)
            .header("content-type", "application/json")
            .body(payload.clone())
            .send()
            .await
            .unwrap();
        answers.push(answer.text().await.unwrap());
    }
    let stdout = served.stdout.join("\n");
    let logs = stop(served);
    assert!(logs.contains("payment provider unavailable"), "{logs}");
    assert!(logs.contains("stripe event applied"), "{logs}");
    for secret in [KEY, WEBHOOK] {
        assert!(!logs.contains(secret), "{secret} reached the logs:\n{logs}");
        assert!(!stdout.contains(secret), "{secret} reached stdout");
        assert!(answers.iter().all(|a| !a.contains(secret)), "{answers:?}");
    }
    // Stripe saw the key, so it was in use.
    let sent = stripe.received_requests().await.unwrap();
    assert!(sent.iter().any(|r| {
        r.headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap().contains(KEY))
    }));
}

/// `tessera stripe webhook create` makes the endpoint with exactly the event
/// types tessera handles, pinned to its API version, and prints the signing
/// secret once, last; the secret key goes only to Stripe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stripe_webhook_endpoint_is_created_from_the_command_line() {
    const KEY: &str = "sk_test_endpoint_4e1d";
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/webhook_endpoints"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "we_123", "object": "webhook_endpoint",
            "api_version": tessera::payments::webhook::api_version(),
            "application": null, "created": 1_790_000_000, "description": "tessera",
            "enabled_events": tessera::payments::webhook::HANDLED_EVENTS,
            "livemode": false, "metadata": {}, "secret": "whsec_shown_once_55aa",
            "status": "enabled", "url": "https://tickets.example.org/api/v1/webhooks/stripe",
        })))
        .expect(1)
        .mount(&stripe)
        .await;
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let url = database.url.clone();
    let base = stripe.uri();
    let output = tokio::task::spawn_blocking(move || {
        tessera(&url)
            .env("STRIPE_SECRET_KEY", KEY)
            .env("STRIPE_API_BASE", base)
            .args([
                "stripe",
                "webhook",
                "create",
                "--url",
                "https://tickets.example.org/api/v1/webhooks/stripe",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{out}{err}");
    assert_eq!(out.lines().last(), Some("whsec_shown_once_55aa"), "{out}");
    assert!(out.contains("we_123"), "{out}");
    assert!(!out.contains(KEY) && !err.contains(KEY), "{out}{err}");

    let requests = stripe.received_requests().await.unwrap();
    let sent: Vec<(String, String)> = url::form_urlencoded::parse(&requests[0].body)
        .into_owned()
        .collect();
    let mut events: Vec<&str> = sent
        .iter()
        .filter(|(k, _)| k.starts_with("enabled_events"))
        .map(|(_, v)| v.as_str())
        .collect();
    events.sort_unstable();
    let mut handled = tessera::payments::webhook::HANDLED_EVENTS.to_vec();
    handled.sort_unstable();
    assert_eq!(events, handled, "{sent:?}");
    let field = |name: &str| {
        sent.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        field("api_version"),
        Some(tessera::payments::webhook::api_version())
    );
    assert_eq!(
        field("url"),
        Some("https://tickets.example.org/api/v1/webhooks/stripe")
    );
    assert_eq!(
        requests[0]
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Bearer {KEY}")
    );

    // Not https, or no key: refused before Stripe is asked.
    let url = database.url.clone();
    let refused = tokio::task::spawn_blocking(move || {
        let plain = tessera(&url)
            .env("STRIPE_SECRET_KEY", KEY)
            .args([
                "stripe",
                "webhook",
                "create",
                "--url",
                "http://tickets.example.org/x",
            ])
            .output()
            .unwrap();
        let keyless = tessera(&url)
            .env_remove("STRIPE_SECRET_KEY")
            .args([
                "stripe",
                "webhook",
                "create",
                "--url",
                "https://tickets.example.org/api/v1/webhooks/stripe",
            ])
            .output()
            .unwrap();
        (plain, keyless)
    })
    .await
    .unwrap();
    assert!(
        !refused.0.status.success() && String::from_utf8_lossy(&refused.0.stderr).contains("https")
    );
    assert!(
        !refused.1.status.success()
            && String::from_utf8_lossy(&refused.1.stderr).contains("STRIPE_SECRET_KEY")
    );
}
