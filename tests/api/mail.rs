//! Mail through the outbox to a real SMTP server on loopback: each attendee
//! gets their own ticket with a QR code that scans at the door and their
//! own link; the buyer hears about the order; nothing is lost while the
//! server is down and nothing is sent twice.

use std::collections::HashMap;

use mail_parser::MimeHeaders;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::domain::staff::Role;

use crate::{
    helpers::{Backend, TestApp, spawn_app_with},
    smtp::{Received, SmtpSink, free_port},
};

/// The app's settings for mailing through `url`, polling the outbox often.
fn mailing(url: String) -> impl FnOnce(&mut tessera::config::Settings) {
    move |settings| {
        settings.smtp_url = Some(url.into());
        settings.mail_from = Some("RustFest <tickets@rustfest.example>".to_owned());
        settings.link_base_url = Some("https://tickets.example.org".to_owned());
        settings.outbox_poll_ms = 50;
        settings.smtp_timeout_seconds = 5;
    }
}

async fn mailing_app(backend: Backend, refused: &[&str]) -> Option<(TestApp, SmtpSink)> {
    let sink = SmtpSink::start_at(free_port(), refused);
    let app = spawn_app_with(backend, mailing(sink.url())).await?;
    Some((app, sink))
}

/// A published event starting in an hour (tokens admit today) with a free
/// tier that includes swag, and an entry list; answers the tier and list.
pub(crate) async fn conference(app: &TestApp, slug: &str) -> (String, String) {
    let starts = chrono::Utc::now() + chrono::Duration::hours(1);
    let event = json!({
        "starts_at": starts.to_rfc3339(),
        "ends_at": (starts + chrono::Duration::days(1)).to_rfc3339(),
        "reply_to": "team@rustfest.example",
    });
    let tiers = app
        .shop(
            slug,
            event,
            &[json!({"name": "Community", "price": 0, "capacity": 100, "includes_swag": true})],
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
    (
        tiers[0].clone(),
        list.body["id"].as_str().unwrap().to_owned(),
    )
}

fn attendee(tier: &str, name: &str, email: &str, size: &str) -> Value {
    json!({"tier_id": tier, "attendee_name": name, "attendee_email": email,
           "swag_size": size, "swag_cut": "straight", "dietary": "vegan"})
}

/// The organizer's view of an order's mails.
async fn messages(app: &TestApp, slug: &str, code: &str) -> Vec<Value> {
    let answer = app
        .get(
            &format!("/api/v1/admin/events/{slug}/orders/{code}/messages"),
            Some(&app.admin),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body["items"].as_array().unwrap().clone()
}

/// Waits until every message of the order has left `queued`/`retrying`.
async fn settled(app: &TestApp, slug: &str, code: &str, n: usize) -> Vec<Value> {
    for _ in 0..400 {
        let items = messages(app, slug, code).await;
        if items.len() == n
            && items
                .iter()
                .all(|m| !["queued", "retrying"].contains(&m["state"].as_str().unwrap_or_default()))
        {
            return items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "messages did not settle: {:?}",
        messages(app, slug, code).await
    );
}

fn text_of(received: &Received) -> String {
    received
        .parsed()
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default()
}

/// The `#token=` link a mail carries to `path` (`/tickets/` or `/orders/`).
fn link_in(text: &str, path: &str) -> (String, String) {
    let start = text
        .find(&format!("https://tickets.example.org{path}"))
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let (page, token) = link.split_once("#token=").expect("a token in the fragment");
    let id = page.rsplit('/').next().unwrap().to_owned();
    (id, token.to_owned())
}

/// Decodes the QR code of a PNG back to its text.
fn decode_qr(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    let (w, h) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    // rqrr now and then also reports a spurious grid inside a real one
    // (it depends on the random token drawn); such a grid does not decode.
    // The image must carry exactly one readable code.
    let mut texts: Vec<String> = image
        .detect_grids()
        .iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), 1, "one readable QR code: {texts:?}");
    texts.remove(0)
}

both_backends! {
    async fn every_attendee_gets_their_own_ticket_that_scans_at_the_door(backend) {
        let Some((app, sink)) = mailing_app(backend, &[]).await else { return };
        let (tier, list) = conference(&app, "mailconf").await;
        // Three tickets to two addresses: the buyer's own two and Ben's.
        let order = app
            .order("mailconf", json!({"email": "ana@example.org", "tickets": [
                attendee(&tier, "Ana", "ana@example.org", "M"),
                attendee(&tier, "Ana's colleague", "ana@example.org", "S"),
                attendee(&tier, "Ben", "ben@example.org", "M"),
            ]}))
            .await;
        assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
        let code = order.body["code"].as_str().unwrap().to_owned();

        let mails = sink.wait_for(4).await;
        let items = settled(&app, "mailconf", &code, 4).await;
        assert!(items.iter().all(|m| m["state"] == "sent" && m["attempts"] == 1), "{items:?}");
        assert_eq!(mails.len(), 4, "one confirmation and one mail per ticket, nothing more");

        let mut by_kind: HashMap<&str, Vec<&Received>> = HashMap::new();
        for mail in &mails {
            let parsed = mail.parsed();
            let subject = parsed.subject().unwrap_or_default().to_owned();
            let kind = if subject.starts_with("Your ticket") { "ticket" } else { "confirmation" };
            by_kind.entry(kind).or_default().push(mail);
            assert_eq!(parsed.from().and_then(|a| a.first()).and_then(|a| a.address()), Some("tickets@rustfest.example"));
            assert_eq!(mail.from, "tickets@rustfest.example", "the envelope sender");
            assert_eq!(parsed.reply_to().and_then(|a| a.first()).and_then(|a| a.address()), Some("team@rustfest.example"));
            let id = parsed.message_id().expect("a Message-ID");
            assert!(items.iter().any(|m| id.starts_with(&m["id"].as_str().unwrap().replace('-', ""))), "{id}");
            assert!(parsed.body_html(0).is_some() && parsed.body_text(0).is_some(), "text and HTML");
        }
        let confirmation = by_kind["confirmation"][0];
        assert_eq!(confirmation.to, vec!["ana@example.org"]);
        let confirmation_text = text_of(confirmation);
        assert!(confirmation_text.contains(&code) && confirmation_text.contains("Ben"));
        // The buyer's link opens the order.
        let (link_code, order_link) = link_in(&confirmation_text, "/orders/");
        assert_eq!(link_code, code);
        let opened = app.with_order_token(reqwest::Method::GET, &format!("/api/v1/orders/{code}"), &order_link, None).await;
        assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);

        let tickets = &by_kind["ticket"];
        let mut recipients: Vec<String> = tickets.iter().map(|m| m.to.join(",")).collect();
        recipients.sort();
        assert_eq!(recipients, ["ana@example.org", "ana@example.org", "ben@example.org"]);

        let volunteer = app.token(Role::Volunteer, &["mailconf"]).await;
        let jwks = app.get("/.well-known/jwks.json", None).await;
        for mail in tickets {
            let parsed = mail.parsed();
            let text = text_of(mail);
            // The QR code: inline (referenced by the HTML) and attached.
            let html = parsed.body_html(0).unwrap().into_owned();
            let pngs: Vec<_> = parsed
                .parts
                .iter()
                .filter(|p| p.content_type().is_some_and(|c| c.ctype() == "image" && c.subtype() == Some("png")))
                .collect();
            assert_eq!(pngs.len(), 2, "inline and attached");
            let inline = pngs.iter().find(|p| p.content_id().is_some()).expect("an inline QR code");
            assert!(html.contains(&format!("cid:{}", inline.content_id().unwrap())));
            assert!(pngs.iter().any(|p| p.attachment_name() == Some("ticket-qr.png")));
            let token = decode_qr(inline.contents());
            // It verifies against the published keys...
            let header = jsonwebtoken::decode_header(&token).unwrap();
            let jwk = jwks.body["keys"].as_array().unwrap().iter().find(|k| Some(k["kid"].as_str().unwrap()) == header.kid.as_deref()).unwrap();
            let key = jsonwebtoken::DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap();
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
            validation.set_audience(&["mailconf"]);
            jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("the QR token verifies with the JWKS");
            // ...and admits its attendee at the door, once.
            let scanned = app.post("/api/v1/checkin/scan", &volunteer, json!({"list_id": list, "token": token, "device": "door-1"})).await;
            assert_eq!(scanned.body["result"], "admitted", "{}", scanned.body);

            // The attendee's own link opens their ticket, and only theirs.
            let (ticket_id, ticket_token) = link_in(&text, "/tickets/");
            let own = app.get(&format!("/api/v1/tickets/{ticket_id}"), Some(&ticket_token)).await;
            assert_eq!(own.status, StatusCode::OK, "{}", own.body);
            assert_eq!(own.body["ticket"]["attendee_email"], mail.to[0]);
            assert_eq!(own.body["checkins"][0]["list"], "Entrance");
            assert!(text.contains(own.body["ticket"]["attendee_name"].as_str().unwrap()));
            assert!(text.contains("Shirt: ") && text.contains("vegan"));
            let qr = app.client.get(app.url(&format!("/api/v1/tickets/{ticket_id}/qr.png"))).bearer_auth(&ticket_token).send().await.unwrap();
            assert_eq!(qr.status(), StatusCode::OK);
            // No token, or the order's link, opens nothing here.
            app.get(&format!("/api/v1/tickets/{ticket_id}"), None).await.assert_problem(404, "not_found");
            app.get(&format!("/api/v1/tickets/{ticket_id}"), Some(&order_link)).await.assert_problem(404, "not_found");
            let others: Vec<&str> = order.body["tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).filter(|id| *id != ticket_id).collect();
            app.get(&format!("/api/v1/tickets/{}", others[0]), Some(&ticket_token)).await.assert_problem(404, "not_found");
        }
    }
}

/// Message-IDs of what the sink received, each once.
fn message_ids(mails: &[Received]) -> Vec<String> {
    let mut ids: Vec<String> = mails
        .iter()
        .map(|m| m.parsed().message_id().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Places a free order of one ticket per `(name, email)`.
async fn free_order(
    app: &TestApp,
    slug: &str,
    tier: &str,
    buyer: &str,
    who: &[(&str, &str)],
) -> Value {
    let tickets: Vec<Value> = who.iter().map(|(n, e)| attendee(tier, n, e, "M")).collect();
    let order = app
        .order(slug, json!({"email": buyer, "tickets": tickets}))
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    order.body
}

both_backends! {
    async fn a_mail_server_that_is_down_gets_every_mail_once_when_it_is_back(backend) {
        let addr = free_port();
        let Some(app) = spawn_app_with(backend, mailing(format!("smtp://{addr}"))).await else { return };
        let (tier, _) = conference(&app, "downconf").await;
        let order = free_order(&app, "downconf", &tier, "ana@example.org", &[("Ana", "ana@example.org"), ("Ben", "ben@example.org")]).await;
        let code = order["code"].as_str().unwrap();

        // Nothing listens: every mail waits to be retried, with why.
        let mut items = Vec::new();
        for _ in 0..200 {
            items = messages(&app, "downconf", code).await;
            if items.len() == 3 && items.iter().all(|m| m["state"] == "retrying") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(items.iter().all(|m| m["state"] == "retrying" && m["attempts"] == 1 && m["last_error"].is_string() && m["next_attempt_at"].is_string()), "{items:?}");

        // The server comes back; the retries are due half a minute later.
        let sink = SmtpSink::start_at(addr, &[]);
        app.let_time_pass(chrono::Duration::minutes(1));
        let mails = sink.wait_for(3).await;
        let items = settled(&app, "downconf", code, 3).await;
        assert!(items.iter().all(|m| m["state"] == "sent" && m["attempts"] == 2), "{items:?}");
        // Once each: let more time pass, and nothing more arrives.
        app.let_time_pass(chrono::Duration::hours(1));
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let again = sink.received();
        assert_eq!(again.len(), 3);
        let ids = message_ids(&mails);
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(ids, unique, "every mail once");
    }
}

both_backends! {
    async fn an_address_the_server_refuses_fails_that_mail_alone(backend) {
        let Some((app, sink)) = mailing_app(backend, &["bounce@"]).await else { return };
        let (tier, _) = conference(&app, "bounceconf").await;
        let order = free_order(&app, "bounceconf", &tier, "ana@example.org", &[("Ana", "ana@example.org"), ("Bo", "bounce@example.org")]).await;
        let code = order["code"].as_str().unwrap();
        let items = settled(&app, "bounceconf", code, 3).await;
        let bounced: Vec<&Value> = items.iter().filter(|m| m["recipient"] == "bounce@example.org").collect();
        assert_eq!(bounced.len(), 1);
        assert_eq!(bounced[0]["state"], "failed", "a 5xx is final: {items:?}");
        assert_eq!(bounced[0]["attempts"], 1);
        assert!(bounced[0]["last_error"].as_str().unwrap().contains("550"), "{}", bounced[0]);
        assert!(items.iter().filter(|m| m["recipient"] != "bounce@example.org").all(|m| m["state"] == "sent"));
        assert_eq!(sink.received().len(), 2);
        let metrics = app.metrics().await;
        assert!(metrics.contains(r#"tessera_outbox_attempts_total{channel="email",kind="ticket",state="failed"} 1"#), "{metrics}");
        assert!(metrics.contains(r#"tessera_outbox_attempts_total{channel="email",kind="ticket",state="sent"} 1"#), "{metrics}");

        // The order desk finds the order whose mail bounced...
        let other = free_order(&app, "bounceconf", &tier, "cy@example.org", &[("Cy", "cy@example.org")]).await;
        settled(&app, "bounceconf", other["code"].as_str().unwrap(), 2).await;
        let failing = app.get("/api/v1/admin/events/bounceconf/orders?message_state=failed", Some(&app.admin)).await;
        let codes: Vec<&str> = failing.body["items"].as_array().unwrap().iter().map(|o| o["code"].as_str().unwrap()).collect();
        assert_eq!(codes, [code]);
        // ...and sends it all again, audited: the confirmation and both
        // tickets are queued anew.
        let resent = app.post(&format!("/api/v1/admin/events/bounceconf/orders/{code}/resend"), &app.admin, json!({})).await;
        assert_eq!(resent.status, StatusCode::ACCEPTED, "{}", resent.body);
        let queued: Vec<&str> = resent.body["items"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
        assert_eq!(queued, ["order_confirmed", "ticket", "ticket"]);
        sink.wait_for(5).await;
        let items = settled(&app, "bounceconf", code, 6).await;
        assert_eq!(items.iter().filter(|m| m["state"] == "failed").count(), 2, "the address still bounces");
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let audited = entity::audit_log::Entity::find()
            .filter(entity::audit_log::Column::Action.eq("order.mail_resent"))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(audited.len(), 1);
    }
}

both_backends! {
    async fn without_a_mail_server_mails_wait_and_go_out_once_one_is_configured(backend) {
        let Some(app) = crate::helpers::spawn_app(backend).await else { return };
        let (tier, _) = conference(&app, "laterconf").await;
        let order = free_order(&app, "laterconf", &tier, "ana@example.org", &[("Ana", "ana@example.org")]).await;
        let code = order["code"].as_str().unwrap();
        let mut items = Vec::new();
        for _ in 0..100 {
            items = messages(&app, "laterconf", code).await;
            if items.len() == 2 && items.iter().all(|m| m["state"] == "not_sent") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(items.iter().all(|m| m["state"] == "not_sent" && m["attempts"] == 0), "{items:?}");

        // Another instance with a mail server (a restart with SMTP set).
        let sink = SmtpSink::start_at(free_port(), &[]);
        let mailing_instance = app.another_instance_with(mailing(sink.url())).await;
        sink.wait_for(2).await;
        let items = settled(&mailing_instance, "laterconf", code, 2).await;
        assert!(items.iter().all(|m| m["state"] == "sent"), "{items:?}");
    }
}

both_backends! {
    async fn a_mail_claimed_by_an_instance_that_died_goes_out_after_its_lease(backend) {
        let Some(app) = crate::helpers::spawn_app(backend).await else { return };
        let (tier, _) = conference(&app, "crashconf").await;
        let order = free_order(&app, "crashconf", &tier, "ana@example.org", &[("Ana", "ana@example.org")]).await;
        let code = order["code"].as_str().unwrap();
        // An instance claims both mails and dies before sending them (the
        // order committed, the mails never left).
        let claimed = app
            .on_its_clock(tessera::domain::outbox::claim(
                &app.db,
                entity::state::MessageChannel::Email,
                10,
                chrono::Duration::minutes(5),
                tessera::domain::now(),
            ))
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);

        let sink = SmtpSink::start_at(free_port(), &[]);
        let survivor = app.another_instance_with(mailing(sink.url())).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(sink.received().is_empty(), "the lease still holds");
        survivor.let_time_pass(chrono::Duration::minutes(6));
        let mails = sink.wait_for(2).await;
        let items = settled(&survivor, "crashconf", code, 2).await;
        assert!(items.iter().all(|m| m["state"] == "sent" && m["attempts"] == 2), "{items:?}");
        assert_eq!(mails.len(), 2);
    }
}

both_backends! {
    async fn an_organizers_fix_sends_the_ticket_again_and_a_new_address_retires_the_old_link(backend) {
        let Some((app, sink)) = mailing_app(backend, &[]).await else { return };
        let (tier, _) = conference(&app, "fixconf").await;
        let order = free_order(&app, "fixconf", &tier, "ana@example.org", &[("Ana", "ana@example.org")]).await;
        let code = order["code"].as_str().unwrap();
        let ticket = order["tickets"][0]["id"].as_str().unwrap();
        let mails = sink.wait_for(2).await;
        let first = mails.iter().find(|m| m.parsed().subject().unwrap_or_default().starts_with("Your ticket")).unwrap();
        let (_, old_link) = link_in(&text_of(first), "/tickets/");

        // The attendee fixes their own shirt size with their link: no mail.
        let fixed = app.patch(&format!("/api/v1/tickets/{ticket}"), &old_link, json!({"swag_size": "S", "swag_cut": "straight"})).await;
        assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.body);
        assert_eq!(fixed.body["ticket"]["swag_size"], "S");

        // The organizer moves the ticket to a new address.
        let moved = app
            .patch(
                &format!("/api/v1/admin/events/fixconf/orders/{code}/tickets/{ticket}"),
                &app.admin,
                json!({"attendee_email": "ana.new@example.org", "reason": "typo in the address"}),
            )
            .await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
        let mails = sink.wait_for(3).await;
        let resent = &mails[2];
        assert_eq!(resent.to, vec!["ana.new@example.org"]);
        let (_, new_link) = link_in(&text_of(resent), "/tickets/");
        app.get(&format!("/api/v1/tickets/{ticket}"), Some(&old_link)).await.assert_problem(404, "not_found");
        let own = app.get(&format!("/api/v1/tickets/{ticket}"), Some(&new_link)).await;
        assert_eq!(own.body["ticket"]["attendee_email"], "ana.new@example.org");

        // A reissue sends the new QR code.
        let reissued = app.post(&format!("/api/v1/admin/events/fixconf/orders/{code}/tickets/{ticket}/reissue"), &app.admin, json!({})).await;
        assert_eq!(reissued.status, StatusCode::OK, "{}", reissued.body);
        let mails = sink.wait_for(4).await;
        let qr_token = {
            let parsed = mails[3].parsed();
            let png = parsed.parts.iter().find(|p| p.content_id().is_some()).expect("an inline QR code");
            decode_qr(png.contents())
        };
        let claims: Value = serde_json::from_slice(&base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, qr_token.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(claims["ver"], reissued.body["token_version"]);
        settled(&app, "fixconf", code, 4).await;
    }
}

both_backends! {
    async fn a_card_order_is_reminded_what_to_pay_and_gets_its_tickets_when_stripe_says_paid(backend) {
        let Some((app, sink)) = mailing_app(backend, &[]).await else { return };
        let shop = crate::payments::shop(&app, "cardmail", 10).await;
        // Paid at the page at once: no reminder ever goes out.
        let prompt = crate::payments::place(&app, "cardmail", &shop.tier, &["Bo"]).await;
        let paid = crate::payments::deliver_signed(&app, &crate::payments::succeeded("evt_mail_0", &prompt, 4900)).await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
        sink.wait_for(2).await;

        // The tab closed before paying: two minutes later, what to pay.
        let placed = crate::payments::place(&app, "cardmail", &shop.tier, &["Ana"]).await;
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert_eq!(sink.received().len(), 2, "no reminder while the buyer may be paying");
        app.let_time_pass(chrono::Duration::minutes(3));
        let mails = sink.wait_for(3).await;
        let reminder = text_of(&mails[2]);
        assert!(reminder.contains(&placed.code) && reminder.contains("EUR 49.00") && reminder.contains("held until"), "{reminder}");
        let (_, link) = link_in(&reminder, "/orders/");
        let opened = app.with_order_token(reqwest::Method::GET, &format!("/api/v1/orders/{}", placed.code), &link, None).await;
        assert_eq!(opened.body["payment"]["required"], true, "{}", opened.body);

        let paid = crate::payments::deliver_signed(&app, &crate::payments::succeeded("evt_mail_1", &placed, 4900)).await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
        let mails = sink.wait_for(5).await;
        let subjects: Vec<String> = mails[3..].iter().map(|m| m.parsed().subject().unwrap_or_default().to_owned()).collect();
        assert!(subjects.iter().any(|s| s.contains("is confirmed") && s.contains(&placed.code)), "{subjects:?}");
        assert!(subjects.iter().any(|s| s.starts_with("Your ticket")), "{subjects:?}");
        // The same Stripe event again changes nothing and mails nothing; the
        // prompt order's withdrawn reminder never goes out.
        crate::payments::deliver_signed(&app, &crate::payments::succeeded("evt_mail_1", &placed, 4900)).await;
        app.let_time_pass(chrono::Duration::minutes(10));
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert_eq!(sink.received().len(), 5);
        let items = messages(&app, "cardmail", &prompt.code).await;
        let reminder = items.iter().find(|m| m["kind"] == "order_received").unwrap();
        assert_eq!((&reminder["state"], &reminder["attempts"]), (&json!("skipped"), &json!(0)), "{reminder}");
    }
}

both_backends! {
    async fn header_injection_is_refused_before_anything_is_written(backend) {
        let Some((app, sink)) = mailing_app(backend, &[]).await else { return };
        let (tier, _) = conference(&app, "injectconf").await;
        let mut bad = attendee(&tier, "Ana\r\nBcc: evil@example.org", "ana@example.org", "M");
        let order = app.order("injectconf", json!({"email": "ana@example.org", "tickets": [bad.clone()]})).await;
        order.assert_problem(422, "validation_failed");
        assert_eq!(order.error_fields(), ["tickets[0].attendee_name"]);
        bad["attendee_name"] = json!("Ana");
        bad["attendee_email"] = json!("ana@example.org\r\nBcc: evil@example.org");
        let order = app.order("injectconf", json!({"email": "ana@example.org\nBcc: evil@example.org", "tickets": [bad]})).await;
        order.assert_problem(422, "validation_failed");
        assert_eq!(order.error_fields(), ["email", "tickets[0].attendee_email"]);
        let reply_to = app.patch("/api/v1/admin/events/injectconf", &app.admin, json!({"reply_to": "team@example.org\r\nBcc: evil@example.org"})).await;
        reply_to.assert_problem(422, "validation_failed");
        assert_eq!(reply_to.error_fields(), ["reply_to"]);
        use sea_orm::{EntityTrait, PaginatorTrait};
        assert_eq!(entity::outbox_message::Entity::find().count(&app.db).await.unwrap(), 0);
        assert!(sink.received().is_empty());
    }
}

/// Asks for fresh links for `email`.
async fn recover(app: &TestApp, slug: &str, email: &str) -> crate::helpers::Answer {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/events/{slug}/orders/recover")))
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap();
    crate::helpers::answer(response).await
}

both_backends! {
    async fn a_lost_link_is_recovered_by_mail_and_the_old_links_stop_working(backend) {
        let Some((app, sink)) = mailing_app(backend, &[]).await else { return };
        let (tier, _) = conference(&app, "lostconf").await;
        let order = free_order(&app, "lostconf", &tier, "ana@example.org", &[("Ana", "ana@example.org"), ("Ben", "ben@example.org")]).await;
        let code = order["code"].as_str().unwrap();
        let checkout_token = order["order_token"].as_str().unwrap();
        let mails = sink.wait_for(3).await;
        let ticket_mail = |to: &str| mails.iter().find(|m| m.to == [to] && m.parsed().subject().unwrap_or_default().starts_with("Your ticket")).map(text_of).unwrap();
        let (ana_ticket, ana_old) = link_in(&ticket_mail("ana@example.org"), "/tickets/");
        let (ben_ticket, ben_link) = link_in(&ticket_mail("ben@example.org"), "/tickets/");

        // Nobody learns who holds tickets: the same answer, and no mail.
        let unknown = recover(&app, "lostconf", "nobody@example.org").await;
        assert_eq!(unknown.status, StatusCode::ACCEPTED, "{}", unknown.body);
        assert_eq!(unknown.body["status"], "accepted");

        let asked = recover(&app, "lostconf", " Ana@Example.org ").await;
        assert_eq!((asked.status, &asked.body), (unknown.status, &unknown.body));
        let mails = sink.wait_for(4).await;
        let recovery = &mails[3];
        assert_eq!(recovery.to, ["ana@example.org"]);
        let text = text_of(recovery);
        let (_, new_order_link) = link_in(&text, "/orders/");
        let (ticket_id, new_ticket_link) = link_in(&text, "/tickets/");
        assert_eq!(ticket_id, ana_ticket);
        assert!(!text.contains(&ben_ticket), "Ben's ticket is Ben's");

        // The old links, the checkout's token included, are dead.
        let order_path = format!("/api/v1/orders/{code}");
        app.with_order_token(reqwest::Method::GET, &order_path, checkout_token, None).await.assert_problem(404, "not_found");
        app.get(&format!("/api/v1/tickets/{ana_ticket}"), Some(&ana_old)).await.assert_problem(404, "not_found");
        // The new ones work, and Ben's own link was not touched.
        assert_eq!(app.with_order_token(reqwest::Method::GET, &order_path, &new_order_link, None).await.status, StatusCode::OK);
        assert_eq!(app.get(&format!("/api/v1/tickets/{ana_ticket}"), Some(&new_ticket_link)).await.status, StatusCode::OK);
        assert_eq!(app.get(&format!("/api/v1/tickets/{ben_ticket}"), Some(&ben_link)).await.status, StatusCode::OK);

        // Asking again at once: accepted, but no second mail.
        assert_eq!(recover(&app, "lostconf", "ana@example.org").await.status, StatusCode::ACCEPTED);
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert_eq!(sink.received().len(), 4);
        // And past the address's budget (five an hour): 429 with when to
        // come back.
        for _ in 0..3 {
            recover(&app, "lostconf", "ana@example.org").await;
        }
        let refused = app.client.post(app.url("/api/v1/events/lostconf/orders/recover")).json(&json!({"email": "ana@example.org"})).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key("retry-after"));
        recover(&app, "lostconf", "not an address").await.assert_problem(422, "validation_failed");
    }
}

both_backends! {
    async fn organizers_word_their_own_mails_and_a_template_that_does_not_render_is_refused(backend) {
        let Some((app, sink)) = mailing_app(backend, &[]).await else { return };
        let (tier, _) = conference(&app, "wordconf").await;
        let base = "/api/v1/admin/events/wordconf/templates";
        let listed = app.get(base, Some(&app.admin)).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let kinds: Vec<&str> = listed.body["items"].as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"ticket") && kinds.contains(&"order_confirmed") && kinds.contains(&"recovery"));
        assert!(listed.body["items"].as_array().unwrap().iter().all(|t| t["custom"] == false && t["subject"].as_str().is_some_and(|s| !s.is_empty())));

        // Refused when saved: a syntax error, an unknown variable.
        let broken = app.call(reqwest::Method::PUT, &format!("{base}/ticket"), Some(&app.admin), Some(json!({
            "subject": "Ticket {% if %}", "text": "{{ ticket.name }}", "html": "<p>{{ ticket.nmae }}</p>",
        }))).await;
        broken.assert_problem(422, "validation_failed");
        assert_eq!(broken.error_fields(), ["subject"]);
        let misspelt = app.call(reqwest::Method::PUT, &format!("{base}/ticket"), Some(&app.admin), Some(json!({
            "subject": "Ticket", "text": "{{ ticket.name }}", "html": "<p>{{ ticket.nmae }}</p>",
        }))).await;
        misspelt.assert_problem(422, "validation_failed");
        assert_eq!(misspelt.error_fields(), ["html"]);
        assert_eq!(misspelt.body["errors"][0]["code"], "template_invalid");

        // A preview renders with sample data in the event's frame.
        let preview = app.post(&format!("{base}/ticket/preview"), &app.admin, json!({"subject": "Dein Ticket für {{ event.name }}\n(bitte aufheben)"})).await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
        assert_eq!(preview.body["subject"], "Dein Ticket für Conf wordconf (bitte aufheben)");
        assert!(preview.body["html"].as_str().unwrap().contains("cid:"));

        let saved = app.call(reqwest::Method::PUT, &format!("{base}/ticket"), Some(&app.admin), Some(json!({
            "subject": "Dein Ticket für {{ event.name }}",
            "text": "Hallo {{ ticket.name }}!\n{{ ticket.link }}\n",
            "html": "{% extends \"layout.html\" %}{% block body %}<p>Hallo {{ ticket.name }}</p><img src=\"cid:{{ ticket.qr_cid }}\">{% endblock %}",
        }))).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        assert_eq!(saved.body["custom"], true);

        let order = free_order(&app, "wordconf", &tier, "ana@example.org", &[("Ana <b>Bold</b>", "ana@example.org")]).await;
        let mails = sink.wait_for(2).await;
        let subjects: Vec<String> = mails.iter().map(|m| m.parsed().subject().unwrap_or_default().to_owned()).collect();
        assert!(subjects.contains(&"Dein Ticket für Conf wordconf".to_owned()), "{subjects:?}");
        assert!(subjects.iter().any(|s| s.contains("is confirmed")), "other kinds keep the default: {subjects:?}");
        let ticket_mail = mails.iter().find(|m| m.parsed().subject() == Some("Dein Ticket für Conf wordconf")).unwrap();
        let html = ticket_mail.parsed().body_html(0).unwrap().into_owned();
        assert!(html.contains("Hallo Ana &lt;b&gt;Bold&lt;") && !html.contains("<b>"), "autoescaped: {html}");
        assert!(text_of(ticket_mail).contains("Hallo Ana <b>Bold</b>!"));
        settled(&app, "wordconf", order["code"].as_str().unwrap(), 2).await;

        // Reset: the default again.
        let reset = app.delete(&format!("{base}/ticket"), &app.admin).await;
        assert_eq!((reset.status, &reset.body["custom"]), (StatusCode::OK, &json!(false)));
        free_order(&app, "wordconf", &tier, "cy@example.org", &[("Cy", "cy@example.org")]).await;
        let mails = sink.wait_for(4).await;
        assert!(mails[2..].iter().any(|m| m.parsed().subject().unwrap_or_default().starts_with("Your ticket")));

        // Volunteers cannot touch the wording.
        let volunteer = app.token(Role::Volunteer, &["wordconf"]).await;
        app.get(base, Some(&volunteer)).await.assert_problem(403, "forbidden");
    }
}

both_backends! {
    async fn organizers_tell_every_attendee_once_and_one_click_unsubscribes_from_news_only(backend) {
        let Some((app, sink)) = mailing_app(backend, &[]).await else { return };
        let (tier, _) = conference(&app, "newsconf").await;
        free_order(&app, "newsconf", &tier, "ana@example.org", &[("Ana", "ana@example.org"), ("Ana again", "ana@example.org"), ("Ben", "ben@example.org")]).await;
        let order = free_order(&app, "newsconf", &tier, "cy@example.org", &[("Cy", "cy@example.org")]).await;
        sink.wait_for(6).await;

        let bad = app.post("/api/v1/admin/events/newsconf/messages", &app.admin, json!({"subject": "Doors\r\nBcc: evil@example.org", "text": "x", "tiers": [uuid::Uuid::now_v7()]})).await;
        bad.assert_problem(422, "validation_failed");
        assert_eq!(bad.error_fields(), ["subject", "tiers[0]"]);

        let sent = app.post("/api/v1/admin/events/newsconf/messages", &app.admin, json!({
            "subject": "Doors open at 8:30", "text": "Hello all,\nbring an ID <and a smile>.\n\nSee you!",
        })).await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
        assert_eq!(sent.body["recipients"], 3, "one mail per address");
        let mails = sink.wait_for(9).await;
        let news: Vec<&Received> = mails[6..].iter().collect();
        let mut to: Vec<String> = news.iter().map(|m| m.to.join(",")).collect();
        to.sort();
        assert_eq!(to, ["ana@example.org", "ben@example.org", "cy@example.org"]);
        let cy = news.iter().find(|m| m.to == ["cy@example.org"]).unwrap();
        let parsed = cy.parsed();
        assert_eq!(parsed.subject(), Some("Doors open at 8:30"));
        assert_eq!(parsed.header_raw("List-Unsubscribe-Post").map(str::trim), Some("List-Unsubscribe=One-Click"));
        let unsubscribe = parsed.header_raw("List-Unsubscribe").unwrap().trim().trim_matches(['<', '>']).to_owned();
        assert!(unsubscribe.starts_with(&format!("{}/api/v1/unsubscribe/", app.base)), "{unsubscribe}");
        assert!(text_of(cy).contains("bring an ID <and a smile>."));
        assert!(parsed.body_html(0).unwrap().contains("bring an ID &lt;and a smile&gt;."));
        // Transactional mails carry no unsubscribe header.
        assert!(mails[..6].iter().all(|m| m.parsed().header_raw("List-Unsubscribe").is_none()));

        // Opening the link changes nothing; the one-click POST does.
        let page = app.client.get(&unsubscribe).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let again = app.post("/api/v1/admin/events/newsconf/messages", &app.admin, json!({"subject": "Lunch at 12", "text": "Vegan options at the left."})).await;
        assert_eq!(again.body["recipients"], 3);
        sink.wait_for(12).await;
        let clicked = app.client.post(&unsubscribe).body("List-Unsubscribe=One-Click").header("content-type", "application/x-www-form-urlencoded").send().await.unwrap();
        assert_eq!(clicked.status(), StatusCode::OK);
        let twice = app.client.post(&unsubscribe).send().await.unwrap();
        assert_eq!(twice.status(), StatusCode::OK, "harmless twice");
        let third = app.post("/api/v1/admin/events/newsconf/messages", &app.admin, json!({"subject": "Party at 20:00", "text": "Upstairs."})).await;
        assert_eq!(third.body["recipients"], 2, "Cy opted out");
        let mails = sink.wait_for(14).await;
        assert!(mails[12..].iter().all(|m| m.to != ["cy@example.org"]));
        // Tickets still reach Cy.
        let code = order["code"].as_str().unwrap();
        let resent = app.post(&format!("/api/v1/admin/events/newsconf/orders/{code}/resend"), &app.admin, json!({})).await;
        assert_eq!(resent.status, StatusCode::ACCEPTED);
        let mails = sink.wait_for(16).await;
        assert_eq!(mails[14..].iter().filter(|m| m.to == ["cy@example.org"]).count(), 2);
        assert_eq!(app.client.post(app.url("/api/v1/unsubscribe/nonsense")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    }
}
