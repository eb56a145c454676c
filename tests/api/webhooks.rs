//! Signed outbound webhooks to a receiver on loopback, which checks every
//! signature with the Standard Webhooks reference library: an order's life
//! arrives in order; failures are retried with one `webhook-id`; a hanging
//! receiver holds up nobody else; secrets rotate without a gap; targets
//! inside the network are refused; a crash between commit and delivery
//! loses nothing; organizers see only their own events' endpoints.

use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use tessera::domain::staff::Role;

use crate::{
    helpers::{Backend, TestApp, spawn_app_with},
    mail::conference,
    receiver::{Answer, Receiver},
};

/// Webhooks may go to loopback over http (as `.ci/run`'s receivers are),
/// and the outbox is polled often.
fn hooking(settings: &mut tessera::config::Settings) {
    settings.webhook_allow_private = true;
    settings.webhook_allow_http = true;
    settings.outbox_poll_ms = 50;
    settings.webhook_timeout_seconds = 30;
}

async fn hooked(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, hooking).await
}

/// Registers an endpoint; answers its id and secret.
async fn register(app: &TestApp, token: &str, body: Value) -> (String, String) {
    let created = app.post("/api/v1/admin/webhooks", token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (
        created.body["id"].as_str().unwrap().to_owned(),
        created.body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    let answer = app
        .get(
            &format!("/api/v1/admin/webhooks/{id}/deliveries"),
            Some(&app.admin),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["items"].as_array().unwrap().clone()
}

/// Waits until the endpoint's deliveries satisfy `done`.
async fn deliveries_until(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..400 {
        let items = deliveries(app, id).await;
        if done(&items) {
            return items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("deliveries never settled: {:#?}", deliveries(app, id).await);
}

fn free_order(tier: &str, email: &str) -> Value {
    json!({"email": email, "tickets": [{"tier_id": tier, "attendee_name": "Ada Lovelace",
           "swag_size": "M", "swag_cut": "straight"}]})
}

both_backends! {
    async fn an_orders_life_arrives_in_order_and_signed(backend) {
        let Some(app) = hooked(backend).await else { return };
        let receiver = Receiver::start().await;
        let (tier, list) = conference(&app, "hooked-life").await;
        let (endpoint, secret) = register(&app, &app.admin, json!({
            "url": receiver.url(),
            "events": ["order.placed", "order.paid", "order.cancelled", "ticket.updated",
                       "ticket.reissued", "ticket.checked_in"],
            "event_slugs": ["hooked-life"],
            "description": "Badge printer",
        })).await;
        receiver.trust(&[&secret]);

        let order = app.order("hooked-life", free_order(&tier, "ada@example.org")).await;
        assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
        let code = order.body["code"].as_str().unwrap().to_owned();
        let ticket = order.body["tickets"][0]["id"].as_str().unwrap().to_owned();
        let order_token = order.body["order_token"].as_str().unwrap().to_owned();
        let desk = format!("/api/v1/admin/events/hooked-life/orders/{code}");
        let fixed = app.patch(&format!("{desk}/tickets/{ticket}"), &app.admin,
            json!({"attendee_name": "Ada King", "reason": "Typo at checkout"})).await;
        assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.body);
        let reissued = app.post(&format!("{desk}/tickets/{ticket}/reissue"), &app.admin, json!({})).await;
        assert_eq!(reissued.status, StatusCode::OK, "{}", reissued.body);
        let token = app
            .with_order_token(reqwest::Method::GET, &format!("/api/v1/orders/{code}/tickets/{ticket}/token"), &order_token, None)
            .await;
        let scanned = app.post("/api/v1/checkin/scan", &app.admin,
            json!({"list_id": list, "token": token.body["token"], "device": "door-1"})).await;
        assert_eq!(scanned.body["result"], "admitted", "{}", scanned.body);
        let cancelled = app.post(&format!("{desk}/cancel"), &app.admin, json!({"reason": "Duplicate"})).await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);

        let got = receiver.wait_for(6).await;
        let kinds: Vec<&str> = got.iter().map(|g| g.kind()).collect();
        assert_eq!(kinds, ["order.placed", "order.paid", "ticket.updated", "ticket.reissued",
                           "ticket.checked_in", "order.cancelled"]);
        for g in &got {
            assert_eq!(g.verified_by, std::slice::from_ref(&secret), "{}", g.raw);
            assert_eq!(g.body["data"]["order"]["code"], code.as_str());
            assert!(g.body["timestamp"].as_str().unwrap().starts_with("20"));
        }
        let mut ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 6, "each message has its own id");
        // The data are the API's own shapes.
        assert_eq!(got[2].body["data"]["ticket"]["id"], ticket.as_str());
        assert_eq!(got[2].body["data"]["ticket"]["attendee_name"], "Ada King");
        assert_eq!(got[4].body["data"]["check_in"]["device"], "door-1");
        assert_eq!(got[4].body["data"]["check_in"]["list"], "Entrance");
        let api = app.with_order_token(reqwest::Method::GET, &format!("/api/v1/orders/{code}"), &order_token, None).await;
        assert_eq!(got[5].body["data"]["order"], api.body, "order.cancelled carries the order as the API shows it");

        let log = deliveries_until(&app, &endpoint, |d| d.len() == 6 && d.iter().all(|d| d["state"] == "sent")).await;
        assert!(log.iter().all(|d| d["status_code"] == 200 && d["attempts"] == 1));
        assert_eq!(log[0]["type"], "order.cancelled", "newest first");
        assert_eq!(log[0]["payload"], got[5].body, "the log shows the message as sent");
        assert_eq!(log[0]["response"], "answered 200");
    }
}

both_backends! {
    async fn a_failing_receiver_gets_the_message_again_with_the_same_id(backend) {
        let Some(app) = hooked(backend).await else { return };
        let receiver = Receiver::start().await;
        conference(&app, "hooked-retry").await;
        let (endpoint, secret) = register(&app, &app.admin, json!({
            "url": receiver.url(), "events": ["order.placed"],
        })).await;
        receiver.trust(&[&secret]);
        receiver.script(&[Answer::Status(500), Answer::Status(503)]);

        let ping = app.post(&format!("/api/v1/admin/webhooks/{endpoint}/test"), &app.admin, json!({})).await;
        assert_eq!(ping.status, StatusCode::ACCEPTED, "{}", ping.body);
        receiver.wait_for(1).await;
        let first = deliveries_until(&app, &endpoint, |d| d[0]["state"] == "retrying").await;
        assert_eq!(first[0]["status_code"], 500);
        assert_eq!(first[0]["response"], "answered 500");
        assert!(first[0]["next_attempt_at"].is_string());

        // The schedule: 5 seconds, then 5 minutes (with jitter).
        app.let_time_pass(chrono::Duration::seconds(7));
        receiver.wait_for(2).await;
        deliveries_until(&app, &endpoint, |d| d[0]["status_code"] == 503 && d[0]["state"] == "retrying").await;
        app.let_time_pass(chrono::Duration::minutes(7));
        let got = receiver.wait_for(3).await;
        let log = deliveries_until(&app, &endpoint, |d| d[0]["state"] == "sent").await;

        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|g| g.id == got[0].id), "one webhook-id at every attempt");
        assert!(got.iter().all(|g| g.raw == got[0].raw), "the same body at every attempt");
        assert!(got.iter().all(|g| g.verified_by == std::slice::from_ref(&secret)));
        assert!(got[2].timestamp > got[0].timestamp, "signed afresh at every attempt");
        assert_eq!(got[0].kind(), "ping");
        assert_eq!(log[0]["id"], got[0].id.as_str());
        assert_eq!(log[0]["attempts"], 3);
        assert_eq!(log[0]["status_code"], 200);
        assert!(log[0]["next_attempt_at"].is_null());
        let health = app.get(&format!("/api/v1/admin/webhooks/{endpoint}"), Some(&app.admin)).await;
        assert!(health.body["failing_since"].is_null(), "healthy again: {}", health.body);

        // A delivery can be sent again by hand: same id and body.
        let again = app.post(&format!("/api/v1/admin/webhooks/{endpoint}/deliveries/{}/retry", got[0].id), &app.admin, json!({})).await;
        assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
        let got = receiver.wait_for(4).await;
        assert_eq!((got[3].id.as_str(), got[3].raw.as_str()), (got[0].id.as_str(), got[0].raw.as_str()));
    }
}

both_backends! {
    async fn a_hanging_receiver_delays_neither_orders_nor_other_endpoints(backend) {
        let Some(app) = hooked(backend).await else { return };
        let stuck = Receiver::start().await;
        let healthy = Receiver::start().await;
        let (tier, _) = conference(&app, "hooked-hang").await;
        stuck.otherwise(Answer::Hang);
        let (_, stuck_secret) = register(&app, &app.admin, json!({"url": stuck.url(), "events": ["order.placed"]})).await;
        let (_, secret) = register(&app, &app.admin, json!({"url": healthy.url(), "events": ["order.placed"]})).await;
        stuck.trust(&[&stuck_secret]);
        healthy.trust(&[&secret]);

        let first = app.order("hooked-hang", free_order(&tier, "a@example.org")).await;
        assert_eq!(first.status, StatusCode::CREATED);
        healthy.wait_for(1).await;
        stuck.wait_for(1).await;
        assert_eq!(stuck.hanging(), 1, "the stuck receiver holds its request");
        // While it hangs: the next orders are placed and the healthy
        // endpoint hears of each of them.
        for i in 0..3 {
            let next = app.order("hooked-hang", free_order(&tier, &format!("b{i}@example.org"))).await;
            assert_eq!(next.status, StatusCode::CREATED);
        }
        let got = healthy.wait_for(4).await;
        assert!(got.iter().all(|g| g.verified_by == std::slice::from_ref(&secret)));
        assert!(stuck.hanging() >= 1, "still hanging while the others were served");

        stuck.release();
        let late = stuck.wait_for(4).await;
        let mut codes: Vec<&str> = late.iter().map(|g| g.body["data"]["order"]["code"].as_str().unwrap()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 4, "the stuck endpoint gets every order once released");
    }
}

both_backends! {
    async fn a_rotated_secret_signs_beside_the_new_one_during_its_grace(backend) {
        let Some(app) = hooked(backend).await else { return };
        let receiver = Receiver::start().await;
        conference(&app, "hooked-rotate").await;
        let (endpoint, old) = register(&app, &app.admin, json!({"url": receiver.url(), "events": ["order.paid"]})).await;
        let rotate = format!("/api/v1/admin/webhooks/{endpoint}/rotate");
        let rotated = app.post(&rotate, &app.admin, json!({"grace_seconds": 3600})).await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
        let new = rotated.body["secret"].as_str().unwrap().to_owned();
        assert!(new.starts_with("whsec_") && new != old);
        assert!(rotated.body["previous_secret_until"].is_string());
        receiver.trust(&[&old, &new]);

        let test = format!("/api/v1/admin/webhooks/{endpoint}/test");
        app.post(&test, &app.admin, json!({})).await;
        let got = receiver.wait_for(1).await;
        assert_eq!(got[0].verified_by, [old.clone(), new.clone()], "both sign during the grace period");
        assert_eq!(got[0].signature.split(' ').count(), 2);

        let cut = app.post(&rotate, &app.admin, json!({"grace_seconds": 0})).await;
        let newest = cut.body["secret"].as_str().unwrap().to_owned();
        receiver.trust(&[&old, &new, &newest]);
        app.post(&test, &app.admin, json!({})).await;
        let got = receiver.wait_for(2).await;
        assert_eq!(got[1].verified_by, [newest], "without grace only the new secret signs");

        for grace in [json!(700_000), json!(-1), json!(i64::MAX - 1), json!(i64::MIN)] {
            let refused = app.post(&rotate, &app.admin, json!({"grace_seconds": grace})).await;
            refused.assert_problem(422, "validation_failed");
            assert_eq!(refused.error_fields(), ["grace_seconds"], "{grace}");
        }
        // The secret is never shown again.
        let read = app.get(&format!("/api/v1/admin/webhooks/{endpoint}"), Some(&app.admin)).await;
        assert!(read.body.get("secret").is_none() && !read.body.to_string().contains("whsec_"));
    }
}

both_backends! {
    async fn targets_inside_the_network_are_refused_at_registration_and_delivery(backend) {
        let Some(app) = spawn_app_with(backend, |s| {
            s.webhook_allow_http = true;
            s.outbox_poll_ms = 50;
        }).await else { return };
        let receiver = Receiver::start().await;
        conference(&app, "hooked-ssrf").await;
        for url in [
            receiver.url(),
            format!("http://localhost:{}/", receiver.addr.port()),
            "https://169.254.169.254/latest/meta-data/".to_owned(),
            "https://[::1]/".to_owned(),
            "https://10.0.0.7/hooks".to_owned(),
            "https://0x7f000001/".to_owned(),
        ] {
            let refused = app.post("/api/v1/admin/webhooks", &app.admin, json!({"url": url, "events": ["order.paid"]})).await;
            refused.assert_problem(422, "validation_failed");
            assert_eq!(refused.error_fields(), ["url"], "{url}: {}", refused.body);
        }
        let plain = app.post("/api/v1/admin/webhooks", &app.admin, json!({"url": "ftp://example.org/", "events": ["order.paid"]})).await;
        assert_eq!(plain.error_fields(), ["url"]);

        // An endpoint registered before the deployment got stricter (here:
        // written directly) is refused at delivery, after resolution.
        let at = chrono::Utc::now();
        let mut urls = vec![];
        for url in [receiver.url(), format!("http://localhost:{}/x", receiver.addr.port())] {
            let id = uuid::Uuid::now_v7();
            entity::webhook_endpoint::ActiveModel {
                id: Set(id), url: Set(url), description: Set(String::new()),
                types: Set(json!(["order.paid"])), all_events: Set(true), enabled: Set(true),
                secret: Set("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
                previous_secret: Set(None), previous_secret_until: Set(None), failing_since: Set(None),
                disabled_at: Set(None), disabled_reason: Set(None), created_by: Set(uuid::Uuid::nil()),
                created_at: Set(at), updated_at: Set(at),
            }.insert(&app.db).await.unwrap();
            urls.push(id);
        }
        for id in &urls {
            let ping = app.post(&format!("/api/v1/admin/webhooks/{id}/test"), &app.admin, json!({})).await;
            assert_eq!(ping.status, StatusCode::ACCEPTED, "{}", ping.body);
            let log = deliveries_until(&app, &id.to_string(), |d| d[0]["state"] == "retrying").await;
            assert!(log[0]["status_code"].is_null());
            let why = log[0]["last_error"].as_str().unwrap();
            assert!(why.contains("loopback") || why.contains("inside the network"), "{why}");
        }
        assert!(receiver.got().is_empty(), "nothing reached the receiver");
    }
}

both_backends! {
    async fn a_message_committed_before_a_crash_is_delivered_after_the_restart(backend) {
        // An instance that looks at its outbox once a minute: its worker
        // stands for one that took a message and died.
        let Some(app) = spawn_app_with(backend, |s| {
            hooking(s);
            s.outbox_poll_ms = 60_000;
        }).await else { return };
        let receiver = Receiver::start().await;
        let (tier, _) = conference(&app, "hooked-crash").await;
        let (endpoint, secret) = register(&app, &app.admin, json!({"url": receiver.url(), "events": ["order.placed"]})).await;
        receiver.trust(&[&secret]);
        let order = app.order("hooked-crash", free_order(&tier, "c@example.org")).await;
        assert_eq!(order.status, StatusCode::CREATED);
        // The worker claimed it (its lease taken) and the process died.
        let claimed = app
            .on_its_clock(tessera::domain::outbox::claim_webhooks(&app.db, &endpoint, 10, chrono::Duration::minutes(5), tessera::domain::now()))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "committed with the order");

        let restarted = app.another_instance_with(|s| s.outbox_poll_ms = 50).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(receiver.got().is_empty(), "not while the dead worker's lease lasts");
        restarted.let_time_pass(chrono::Duration::minutes(6));
        let got = receiver.wait_for(1).await;
        assert_eq!(got[0].kind(), "order.placed");
        assert_eq!(got[0].verified_by, [secret]);
        let log = deliveries_until(&restarted, &endpoint, |d| d[0]["state"] == "sent").await;
        assert_eq!(log[0]["attempts"], 2, "the dead attempt counts");
    }
}

both_backends! {
    async fn deliveries_pace_themselves_while_orders_are_being_placed(backend) {
        // While the instance decides placements (a rush), a lane keeps at
        // most PACED requests in flight: deliveries go on, slower; once the
        // rush is over they catch up at full width.
        let Some(app) = hooked(backend).await else { return };
        let receiver = Receiver::start().await;
        receiver.otherwise(Answer::Hang);
        let (tier, _) = conference(&app, "hooked-paced").await;
        let (_, secret) = register(&app, &app.admin, json!({"url": receiver.url(), "events": ["order.placed"]})).await;
        receiver.trust(&[&secret]);

        // Stands for placements still being decided on this instance.
        let rush = app.placing.enter();
        let paced = tessera::jobs::PACED;
        // One order first, hanging at the receiver; the rest arrive while
        // it hangs and are still sent, up to the paced width (a paced lane
        // once waited for a hanging request to end before it looked again).
        let place = |i: usize| {
            let (app, tier) = (&app, &tier);
            async move {
                let placed = app.order("hooked-paced", free_order(tier, &format!("p{i}@example.org"))).await;
                assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
            }
        };
        place(0).await;
        receiver.hanging_at_least(1).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        for i in 1..10 {
            place(i).await;
        }
        receiver.hanging_at_least(paced).await;
        // Several lane turns later, still no more than the paced width.
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        assert_eq!(receiver.hanging(), paced, "a lane keeps {paced} requests in flight during a rush");

        drop(rush);
        receiver.hanging_at_least(10).await;
        receiver.release();
        let got = receiver.wait_for(10).await;
        let mut codes: Vec<&str> = got.iter().map(|g| g.body["data"]["order"]["code"].as_str().unwrap()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 10, "every order is delivered once the rush is over");
        assert!(got.iter().all(|g| g.verified_by == std::slice::from_ref(&secret)));
    }
}

both_backends! {
    async fn a_hanging_request_does_not_hold_back_the_messages_behind_it(backend) {
        // Outside a rush: the lane's first request hangs, and the orders
        // placed meanwhile are still sent. This failed with "4 requests
        // never hung at once (had 1)" while a lane waited for a request to
        // end before it looked for new messages.
        let Some(app) = hooked(backend).await else { return };
        let receiver = Receiver::start().await;
        receiver.otherwise(Answer::Hang);
        let (tier, _) = conference(&app, "hooked-behind").await;
        let (_, secret) = register(&app, &app.admin, json!({"url": receiver.url(), "events": ["order.placed"]})).await;
        receiver.trust(&[&secret]);
        let first = app.order("hooked-behind", free_order(&tier, "h0@example.org")).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
        receiver.hanging_at_least(1).await;
        // The lane is now waiting on its one request.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        for i in 1..4 {
            let next = app.order("hooked-behind", free_order(&tier, &format!("h{i}@example.org"))).await;
            assert_eq!(next.status, StatusCode::CREATED, "{}", next.body);
        }
        receiver.hanging_at_least(4).await;
        receiver.release();
        let got = receiver.wait_for(4).await;
        assert!(got.iter().all(|g| g.verified_by == std::slice::from_ref(&secret)));
    }
}

both_backends! {
    async fn deliveries_recorded_together_keep_each_attempts_own_outcome(backend) {
        // A lane records its finished requests in one statement: each row
        // gets its own answer, and an attempt whose lease another claim
        // took over records nothing.
        let Some(app) = spawn_app_with(backend, |s| {
            hooking(s);
            s.outbox_poll_ms = 60_000;
        }).await else { return };
        let (tier, _) = conference(&app, "hooked-together").await;
        let (endpoint, _) = register(&app, &app.admin, json!({"url": "http://127.0.0.1:9/hook", "events": ["order.placed"]})).await;
        for n in 0..3 {
            let order = app.order("hooked-together", free_order(&tier, &format!("t{n}@example.org"))).await;
            assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
        }
        let claimed = app
            .on_its_clock(tessera::domain::outbox::claim_webhooks(&app.db, &endpoint, 10, chrono::Duration::minutes(5), tessera::domain::now()))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 3);
        let exchange = |status: u16, latency_ms: i64, body: &str, response: &str| tessera::domain::outbox::Exchange {
            body: Some(body.to_owned()), status: Some(status), latency_ms, response: Some(response.to_owned()),
        };
        let (first, second, third) = (exchange(200, 7, "{\"n\":0}", "ok"), exchange(204, 11, "{\"n\":1}", ""), exchange(200, 3, "{\"n\":2}", "late"));
        // The third stands for an earlier attempt, overtaken by this claim.
        let mut overtaken = claimed[2].clone();
        overtaken.attempts -= 1;
        let delivered = [
            tessera::domain::outbox::Delivered { claimed: &claimed[0], subject: "HTTP 200".into(), exchange: &first },
            tessera::domain::outbox::Delivered { claimed: &claimed[1], subject: "HTTP 204".into(), exchange: &second },
            tessera::domain::outbox::Delivered { claimed: &overtaken, subject: "HTTP 200".into(), exchange: &third },
        ];
        let at = tessera::domain::now();
        tessera::domain::outbox::record_sent_all(&app.db, &delivered, at).await.unwrap();

        let row = |id| { let db = app.db.clone(); async move {
            entity::outbox_message::Entity::find_by_id(id).one(&db).await.unwrap().unwrap()
        } };
        for (message, status, latency, body, response) in [(&claimed[0], 200, 7, "{\"n\":0}", "ok"), (&claimed[1], 204, 11, "{\"n\":1}", "")] {
            let row = row(message.id).await;
            assert_eq!(row.state, entity::state::MessageState::Sent, "{row:?}");
            assert_eq!((row.status_code, row.latency_ms), (Some(status), Some(latency)));
            assert_eq!((row.body.as_deref(), row.response.as_deref()), (Some(body), Some(response)));
            assert_eq!(row.subject.as_deref(), Some(format!("HTTP {status}").as_str()));
            assert!(row.sent_at.is_some() && row.last_error.is_none());
            assert_eq!(row.attempts, 1);
        }
        let untouched = row(claimed[2].id).await;
        assert_eq!(untouched.state, entity::state::MessageState::Queued, "{untouched:?}");
        assert_eq!((untouched.status_code, untouched.body, untouched.sent_at), (None, None, None));
        // Nothing to record is no statement at all.
        tessera::domain::outbox::record_sent_all(&app.db, &[], at).await.unwrap();
    }
}

both_backends! {
    async fn a_gone_receiver_disables_its_endpoint_and_its_owner_sees_why(backend) {
        let Some(app) = hooked(backend).await else { return };
        let receiver = Receiver::start().await;
        let (tier, _) = conference(&app, "hooked-gone").await;
        let (endpoint, secret) = register(&app, &app.admin, json!({"url": receiver.url(), "events": ["order.placed", "tier.sold_out"]})).await;
        receiver.trust(&[&secret]);
        receiver.otherwise(Answer::Status(410));
        app.order("hooked-gone", free_order(&tier, "g@example.org")).await;
        receiver.wait_for(1).await;
        let read = format!("/api/v1/admin/webhooks/{endpoint}");
        let mut disabled = Value::Null;
        for _ in 0..200 {
            disabled = app.get(&read, Some(&app.admin)).await.body;
            if disabled["enabled"] == false { break; }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(disabled["enabled"], false, "{disabled}");
        assert!(disabled["disabled_reason"].as_str().unwrap().contains("410"));
        let log = deliveries(&app, &endpoint).await;
        assert_eq!((log[0]["state"].as_str(), log[0]["status_code"].as_i64()), (Some("failed"), Some(410)));

        // Disabled: nothing more is queued for it; enabled again, it hears
        // of the next order.
        app.order("hooked-gone", free_order(&tier, "h@example.org")).await;
        assert_eq!(deliveries(&app, &endpoint).await.len(), 1);
        receiver.release();
        let enabled = app.patch(&read, &app.admin, json!({"enabled": true})).await;
        assert_eq!(enabled.body["enabled"], true, "{}", enabled.body);
        assert!(enabled.body["disabled_reason"].is_null());
        app.order("hooked-gone", free_order(&tier, "i@example.org")).await;
        let got = receiver.wait_for(2).await;
        assert_eq!(got[1].kind(), "order.placed");
        assert_eq!(got[1].body["data"]["order"]["email"], "i@example.org");
    }
}

both_backends! {
    async fn expiry_and_a_sold_out_tier_are_announced(backend) {
        let Some(app) = hooked(backend).await else { return };
        let receiver = Receiver::start().await;
        let tiers = app.shop("hooked-tiers", json!({}), &[json!({"name": "Last seat", "price": 5000, "capacity": 1})]).await;
        let (endpoint, secret) = register(&app, &app.admin, json!({
            "url": receiver.url(), "events": ["order.placed", "order.expired", "tier.sold_out"],
            "event_slugs": ["hooked-tiers"],
        })).await;
        receiver.trust(&[&secret]);
        let order = app.order("hooked-tiers", json!({"email": "e@example.org", "tickets": [{"tier_id": tiers[0], "attendee_name": "E"}]})).await;
        assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
        let got = receiver.wait_for(2).await;
        let mut kinds: Vec<&str> = got.iter().map(|g| g.kind()).collect();
        kinds.sort_unstable();
        assert_eq!(kinds, ["order.placed", "tier.sold_out"]);
        let sold_out = got.iter().find(|g| g.kind() == "tier.sold_out").unwrap();
        assert_eq!(sold_out.body["data"]["tier"]["id"], tiers[0].as_str());
        assert_eq!(sold_out.body["data"]["tier"]["capacity"], 1);

        // Received is not yet recorded: moving the clock past the hold (and
        // so past a delivery's lease) before the outcomes are written would
        // rightly deliver a message again (at least once).
        deliveries_until(&app, &endpoint, |d| d.len() == 2 && d.iter().all(|d| d["state"] == "sent")).await;
        app.let_holds_end();
        crate::refunds::sweep(&app).await;
        let got = receiver.wait_for(3).await;
        assert_eq!(got[2].kind(), "order.expired");
        assert_eq!(got[2].body["data"]["order"]["state"], "expired");
        assert!(got.iter().all(|g| g.verified_by == std::slice::from_ref(&secret)));
    }
}

both_backends! {
    async fn money_arrives_and_leaves_in_order(backend) {
        let Some(app) = hooked(backend).await else { return };
        let receiver = Receiver::start().await;
        let (_, secret) = register(&app, &app.admin, json!({
            "url": receiver.url(),
            "events": ["order.placed", "order.paid", "order.cancelled", "order.refunded"],
        })).await;
        receiver.trust(&[&secret]);
        let (_, placed) = crate::refunds::paid(&app, "hooked-money").await;
        let cancelled = app.post(&crate::refunds::cancel_path("hooked-money", &placed), &app.admin,
            json!({"reason": "Cannot come", "refund": true})).await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);

        let got = receiver.wait_for(4).await;
        let kinds: Vec<&str> = got.iter().map(|g| g.kind()).collect();
        assert_eq!(kinds, ["order.placed", "order.paid", "order.cancelled", "order.refunded"]);
        assert!(got.iter().all(|g| g.verified_by == std::slice::from_ref(&secret)));
        assert!(got.iter().all(|g| g.body["data"]["order"]["code"] == placed.code.as_str()));
        assert_eq!(got[3].body["data"]["refund"], json!({"amount": 9800, "currency": "EUR"}));
        assert_eq!(got[3].body["data"]["order"]["payment"]["amount_refunded"], 9800);
        assert!(got[0].body["data"]["order"]["payment"]["client_secret"].is_null(), "no payment secret in a webhook");
    }
}

both_backends! {
    async fn organizers_see_and_make_endpoints_of_their_own_events_only(backend) {
        let Some(app) = hooked(backend).await else { return };
        conference(&app, "hooked-ours").await;
        conference(&app, "hooked-theirs").await;
        let ours = app.token(Role::Organizer, &["hooked-ours"]).await;
        let volunteer = app.token(Role::Volunteer, &["hooked-ours"]).await;
        let url = "http://127.0.0.1:9/hooks";
        let (theirs, _) = register(&app, &app.admin, json!({"url": url, "events": ["order.paid"], "event_slugs": ["hooked-theirs"]})).await;
        let (everything, _) = register(&app, &app.admin, json!({"url": url, "events": ["order.paid"]})).await;

        let other = app.post("/api/v1/admin/webhooks", &ours, json!({"url": url, "events": ["order.paid"], "event_slugs": ["hooked-theirs"]})).await;
        other.assert_problem(403, "forbidden");
        let both = app.post("/api/v1/admin/webhooks", &ours, json!({"url": url, "events": ["order.paid"], "event_slugs": ["hooked-ours", "hooked-theirs"]})).await;
        both.assert_problem(403, "forbidden");
        let unscoped = app.post("/api/v1/admin/webhooks", &ours, json!({"url": url, "events": ["order.paid"]})).await;
        assert_eq!(unscoped.error_fields(), ["event_slugs"]);
        let (mine, _) = register(&app, &ours, json!({"url": url, "events": ["order.paid"], "event_slugs": ["hooked-ours"]})).await;

        let listed = app.get("/api/v1/admin/webhooks", Some(&ours)).await;
        let ids: Vec<&str> = listed.body["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [mine.as_str()]);
        for id in [&theirs, &everything] {
            app.get(&format!("/api/v1/admin/webhooks/{id}"), Some(&ours)).await.assert_problem(404, "not_found");
            app.get(&format!("/api/v1/admin/webhooks/{id}/deliveries"), Some(&ours)).await.assert_problem(404, "not_found");
            app.patch(&format!("/api/v1/admin/webhooks/{id}"), &ours, json!({"enabled": false})).await.assert_problem(404, "not_found");
            app.delete(&format!("/api/v1/admin/webhooks/{id}"), &ours).await.assert_problem(404, "not_found");
            app.post(&format!("/api/v1/admin/webhooks/{id}/rotate"), &ours, json!({})).await.assert_problem(404, "not_found");
        }
        // Nor can it widen its own endpoint.
        let widened = app.patch(&format!("/api/v1/admin/webhooks/{mine}"), &ours, json!({"event_slugs": ["hooked-ours", "hooked-theirs"]})).await;
        widened.assert_problem(403, "forbidden");
        let to_all = app.patch(&format!("/api/v1/admin/webhooks/{mine}"), &ours, json!({"event_slugs": null})).await;
        assert_eq!(to_all.error_fields(), ["event_slugs"]);
        app.get("/api/v1/admin/webhooks", Some(&volunteer)).await.assert_problem(403, "forbidden");

        let all = app.get("/api/v1/admin/webhooks", Some(&app.admin)).await;
        assert_eq!(all.body["items"].as_array().unwrap().len(), 3);
        assert_eq!(app.delete(&format!("/api/v1/admin/webhooks/{mine}"), &ours).await.status, StatusCode::NO_CONTENT);
        let bad = app.post("/api/v1/admin/webhooks", &app.admin, json!({"url": url, "events": ["ping", "order.paid", "order.paid"], "event_slugs": ["nope"]})).await;
        let mut fields = bad.error_fields();
        fields.sort();
        assert_eq!(fields, ["event_slugs[0]", "events[0]", "events[2]"]);
    }
}

/// Messages are the outbox's rows: none for a change with no endpoint.
#[tokio::test]
async fn without_endpoints_no_webhook_is_written() {
    let app = hooked(Backend::Sqlite).await.unwrap();
    let (tier, _) = conference(&app, "hooked-none").await;
    app.order("hooked-none", free_order(&tier, "n@example.org"))
        .await;
    let rows = entity::outbox_message::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| r.channel == entity::state::MessageChannel::Email)
    );
}
