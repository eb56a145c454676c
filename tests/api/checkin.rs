//! Check-in: signed tokens verified independently, scanning, offline sync,
//! key rotation and the role matrix.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tessera::domain::staff::Role;

use crate::helpers::{Answer, TestApp, ticket};

/// A published event with one free tier (so tickets are valid at once), a
/// paid tier, an entry list for every tier, and one valid ticket.
struct Door {
    free_tier: String,
    paid_tier: String,
    list: String,
    code: String,
    order_token: String,
    ticket: String,
}

async fn door(app: &TestApp, slug: &str) -> Door {
    // The doors open today: tokens are valid from 48 hours before the start.
    let starts = chrono::Utc::now() + chrono::Duration::hours(1);
    let event = json!({"starts_at": starts.to_rfc3339(), "ends_at": (starts + chrono::Duration::days(1)).to_rfc3339()});
    let tiers = app
        .shop(
            slug,
            event,
            &[
                json!({"name": "Free", "price": 0, "capacity": 100, "includes_swag": true}),
                json!({"name": "Paid", "price": 1000, "capacity": 100}),
            ],
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
    let mut t = ticket(&tiers[0], "Ada");
    t["swag_size"] = json!("M");
    t["swag_cut"] = json!("fitted");
    t["dietary"] = json!("vegan");
    let order = app
        .order(slug, json!({"email": "ada@example.org", "tickets": [t]}))
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    Door {
        free_tier: tiers[0].clone(),
        paid_tier: tiers[1].clone(),
        list: list.body["id"].as_str().unwrap().to_owned(),
        code: order.body["code"].as_str().unwrap().to_owned(),
        order_token: order.body["order_token"].as_str().unwrap().to_owned(),
        ticket: order.body["tickets"][0]["id"].as_str().unwrap().to_owned(),
    }
}

pub(crate) async fn token_of(app: &TestApp, code: &str, order_token: &str, ticket: &str) -> Answer {
    app.with_order_token(
        Method::GET,
        &format!("/api/v1/orders/{code}/tickets/{ticket}/token"),
        order_token,
        None,
    )
    .await
}

async fn scan(app: &TestApp, staff: &str, list: &str, token: &str, device: &str) -> Answer {
    app.post(
        "/api/v1/checkin/scan",
        staff,
        json!({"list_id": list, "token": token, "device": device}),
    )
    .await
}

/// Signs arbitrary claims with the service's own active key, as a forger
/// with the key (or the service itself) could.
async fn sign_with_service_key(app: &TestApp, claims: &Value) -> String {
    let keys = entity::signing_key::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    let key = keys.iter().find(|k| k.retired_at.is_none()).unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&key.private_key)
        .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_ed_der(&der),
    )
    .unwrap()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

db_test! {
    async fn invariant_4_a_token_verifies_with_the_published_jwks_alone(app) {
        let d = door(&app, "verify").await;
        let answer = token_of(&app, &d.code, &d.order_token, &d.ticket).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let token = answer.body["token"].as_str().unwrap();
        assert!(token.len() < 400, "a QR-friendly token, got {} characters", token.len());

        // Verify by hand with the Ed25519 public key from the JWKS: no JWT
        // library involved.
        let jwks = app.get("/.well-known/jwks.json", None).await;
        let mut parts = token.split('.');
        let (header, payload, signature) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        let jwk = jwks.body["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).unwrap();
        assert_eq!((jwk["kty"].clone(), jwk["crv"].clone(), jwk["use"].clone()), (json!("OKP"), json!("Ed25519"), json!("sig")));
        let x: [u8; 32] = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap().try_into().unwrap();
        let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
        let signature = ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        key.verify_strict(format!("{}.{}", token.split('.').next().unwrap(), payload).as_bytes(), &signature)
            .expect("the signature verifies with the published key");

        let claims = claims_of(token);
        assert_eq!(claims["aud"], "verify");
        assert_eq!(claims["iss"], "tessera");
        assert_eq!(claims["ver"], 1);
        let ticket_id = uuid::Uuid::parse_str(&d.ticket).unwrap();
        assert_eq!(claims["sub"], URL_SAFE_NO_PAD.encode(ticket_id.as_bytes()));
        assert!(claims["nbf"].as_i64().unwrap() < claims["exp"].as_i64().unwrap());
        assert!(!token.contains("ada") && !claims.to_string().to_lowercase().contains("ada"), "no personal data");

        // QR codes of the same token.
        let svg = app.client.get(app.url(&format!("/api/v1/orders/{}/tickets/{}/qr.svg", d.code, d.ticket)))
            .header("x-order-token", &d.order_token).send().await.unwrap();
        assert_eq!(svg.headers()["content-type"], "image/svg+xml");
        assert!(svg.text().await.unwrap().contains("<svg"));
        let png = app.client.get(app.url(&format!("/api/v1/orders/{}/tickets/{}/qr.png", d.code, d.ticket)))
            .header("x-order-token", &d.order_token).send().await.unwrap();
        assert_eq!(png.headers()["content-type"], "image/png");
        assert_eq!(&png.bytes().await.unwrap()[..4], b"\x89PNG");
    }
}

db_test! {
    async fn a_ticket_is_admitted_once_with_what_the_volunteer_needs(app) {
        let d = door(&app, "admit").await;
        let volunteer = app.token(Role::Volunteer, &["admit"]).await;
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        let first = scan(&app, &volunteer, &d.list, &token, "door-1").await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(first.body["result"], "admitted");
        let attendee = &first.body["attendee"];
        assert_eq!((attendee["name"].clone(), attendee["tier"].clone()), (json!("Ada"), json!("Free")));
        assert_eq!((attendee["swag_size"].clone(), attendee["swag_cut"].clone(), attendee["dietary"].clone()), (json!("M"), json!("fitted"), json!("vegan")));

        let again = scan(&app, &volunteer, &d.list, &token, "door-2").await;
        assert_eq!(again.body["result"], "already_checked_in");
        assert_eq!(again.body["first_admission"]["device"], "door-1");
        assert!(again.body["first_admission"]["at"].is_string());

        let log = app.get(&format!("/api/v1/admin/events/admit/checkin-lists/{}/scans", d.list), Some(&app.admin)).await;
        let results: Vec<_> = log.body["items"].as_array().unwrap().iter().map(|s| s["result"].clone()).collect();
        assert_eq!(results, ["already_checked_in", "admitted"]);
        let progress = app.get(&format!("/api/v1/admin/events/admit/checkin-lists/{}/progress", d.list), Some(&app.admin)).await;
        assert_eq!((progress.body["admitted"].clone(), progress.body["expected"].clone()), (json!(1), json!(1)));
        assert_eq!(progress.body["by_hour"][0]["admitted"], 1);
    }
}

db_test! {
    async fn invariant_4_every_bad_token_is_refused_with_its_reason(app) {
        let d = door(&app, "refusals").await;
        let other = door(&app, "elsewhere").await;
        let staff = app.admin.clone();
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        let claims = claims_of(&token);
        let result = |answer: Answer| answer.body["result"].as_str().unwrap_or_default().to_owned();

        // Tampered payload: the signature no longer matches.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims.clone();
        forged["ver"] = json!(99);
        parts[1] = URL_SAFE_NO_PAD.encode(forged.to_string());
        assert_eq!(result(scan(&app, &staff, &d.list, &parts.join("."), "d").await), "invalid_token");
        assert_eq!(result(scan(&app, &staff, &d.list, "not a token", "d").await), "invalid_token");

        // Signed with another key under our kid, and under an unknown kid.
        let stranger = ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]);
        let der = ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_der(&stranger).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()["kid"].as_str().unwrap().to_owned());
        let wrong_key = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes())).unwrap();
        assert_eq!(result(scan(&app, &staff, &d.list, &wrong_key, "d").await), "invalid_token");
        // "alg": "none" with our kid: no signature is no token.
        let none_header = URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": header.kid}).to_string());
        let unsigned = format!("{none_header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()));
        assert_eq!(result(scan(&app, &staff, &d.list, &unsigned, "d").await), "invalid_token");
        header.kid = Some("unknownkid000000".into());
        let unknown_kid = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes())).unwrap();
        assert_eq!(result(scan(&app, &staff, &d.list, &unknown_kid, "d").await), "invalid_token");

        // Our key, but outside the validity window.
        let now = chrono::Utc::now().timestamp();
        let mut expired = claims.clone();
        expired["exp"] = json!(now - 3600);
        expired["nbf"] = json!(now - 7200);
        assert_eq!(result(scan(&app, &staff, &d.list, &sign_with_service_key(&app, &expired).await, "d").await), "expired");
        let mut early = claims.clone();
        early["nbf"] = json!(now + 3600);
        assert_eq!(result(scan(&app, &staff, &d.list, &sign_with_service_key(&app, &early).await, "d").await), "not_yet_valid");

        // A real token of another event.
        let theirs = token_of(&app, &other.code, &other.order_token, &other.ticket).await.body["token"].as_str().unwrap().to_owned();
        assert_eq!(result(scan(&app, &staff, &d.list, &theirs, "d").await), "wrong_event");

        // Superseded by a reissue.
        let reissued = app
            .post(&format!("/api/v1/admin/events/refusals/orders/{}/tickets/{}/reissue", d.code, d.ticket), &app.admin, json!({}))
            .await;
        assert_eq!(reissued.body["token_version"], 2, "{}", reissued.body);
        // The organizer gets the new token to hand over as a QR code.
        assert_eq!(claims_of(reissued.body["token"].as_str().unwrap())["ver"], 2, "{}", reissued.body);
        assert_eq!(result(scan(&app, &staff, &d.list, &token, "d").await), "superseded");
        let fresh = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        assert_eq!(claims_of(&fresh)["ver"], 2);

        // A pending order's ticket: no token is handed out, and a forged one
        // with our key is still refused.
        let pending = app.order("refusals", json!({"email": "p@example.org", "tickets": [ticket(&d.paid_tier, "P")]})).await;
        let pending_ticket = pending.body["tickets"][0]["id"].as_str().unwrap();
        token_of(&app, pending.body["code"].as_str().unwrap(), pending.body["order_token"].as_str().unwrap(), pending_ticket)
            .await
            .assert_problem(409, "ticket_not_valid");
        let mut unpaid = claims.clone();
        unpaid["sub"] = json!(URL_SAFE_NO_PAD.encode(uuid::Uuid::parse_str(pending_ticket).unwrap().as_bytes()));
        unpaid["ver"] = json!(1);
        assert_eq!(result(scan(&app, &staff, &d.list, &sign_with_service_key(&app, &unpaid).await, "d").await), "unpaid");

        // Not on a list for another tier; outside a closed list's window.
        let paid_only = app
            .post("/api/v1/admin/events/refusals/checkin-lists", &app.admin, json!({"name": "Workshop", "kind": "entry", "tiers": [d.paid_tier]}))
            .await;
        assert_eq!(result(scan(&app, &staff, paid_only.body["id"].as_str().unwrap(), &fresh, "d").await), "not_on_list");
        let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
        let closed = app
            .post("/api/v1/admin/events/refusals/checkin-lists", &app.admin, json!({"name": "Yesterday", "kind": "entry", "closes_at": yesterday}))
            .await;
        assert_eq!(result(scan(&app, &staff, closed.body["id"].as_str().unwrap(), &fresh, "d").await), "outside_window");

        // Cancelled after payment: revoked.
        app.post(&format!("/api/v1/admin/events/refusals/orders/{}/cancel", d.code), &app.admin, json!({"reason": "Refund requested"})).await;
        assert_eq!(result(scan(&app, &staff, &d.list, &fresh, "d").await), "revoked");
        token_of(&app, &d.code, &d.order_token, &d.ticket).await.assert_problem(409, "ticket_not_valid");
    }
}

db_test! {
    async fn invariant_4_twenty_devices_scanning_one_token_admit_it_once(app) {
        let d = door(&app, "crowd").await;
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        let mut set = tokio::task::JoinSet::new();
        for device in 0..20 {
            let request = app
                .client
                .post(app.url("/api/v1/checkin/scan"))
                .bearer_auth(&app.admin)
                .json(&json!({"list_id": d.list, "token": token, "device": format!("door-{device}")}));
            set.spawn(async move { crate::helpers::answer(request.send().await.unwrap()).await });
        }
        let mut results = Vec::new();
        while let Some(answer) = set.join_next().await {
            let answer = answer.unwrap();
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            results.push(answer.body["result"].as_str().unwrap().to_owned());
        }
        assert_eq!(results.iter().filter(|r| *r == "admitted").count(), 1, "{results:?}");
        assert_eq!(results.iter().filter(|r| *r == "already_checked_in").count(), 19);
    }
}

db_test! {
    async fn offline_scans_sync_idempotently_and_the_earliest_wins(app) {
        let d = door(&app, "offline").await;
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        // Door 1 is online and scans now.
        let online = scan(&app, &app.admin, &d.list, &token, "door-1").await;
        assert_eq!(online.body["result"], "admitted");
        // Door 2 was offline and scanned the same ticket ten minutes earlier.
        let earlier = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
        let scan_id = uuid::Uuid::now_v7();
        let bogus_id = uuid::Uuid::now_v7();
        let batch = json!({"list_id": d.list, "device": "door-2", "scans": [
            {"scan_id": scan_id, "token": token, "scanned_at": earlier},
            {"scan_id": bogus_id, "token": "garbage", "scanned_at": earlier}
        ]});
        let synced = app.post("/api/v1/checkin/sync", &app.admin, batch.clone()).await;
        assert_eq!(synced.status, StatusCode::OK, "{}", synced.body);
        let first = &synced.body["results"][0];
        assert_eq!((first["scan_id"].clone(), first["result"].clone(), first["conflict"].clone()), (json!(scan_id), json!("admitted"), json!(true)));
        assert_eq!(first["first_admission"]["device"], "door-1");
        assert_eq!(synced.body["results"][1]["result"], "invalid_token");

        // The earlier scan now stands.
        let again = scan(&app, &app.admin, &d.list, &token, "door-3").await;
        assert_eq!(again.body["first_admission"]["device"], "door-2");

        // Uploading the same batch again changes nothing.
        let before = app.get(&format!("/api/v1/admin/events/offline/checkin-lists/{}/scans", d.list), Some(&app.admin)).await;
        let replayed = app.post("/api/v1/checkin/sync", &app.admin, batch).await;
        assert_eq!(replayed.body["results"][0]["result"], "admitted");
        assert_eq!(replayed.body["results"][1]["result"], "invalid_token");
        let after = app.get(&format!("/api/v1/admin/events/offline/checkin-lists/{}/scans", d.list), Some(&app.admin)).await;
        assert_eq!(before.body["items"].as_array().unwrap().len(), after.body["items"].as_array().unwrap().len());
        let progress = app.get(&format!("/api/v1/admin/events/offline/checkin-lists/{}/progress", d.list), Some(&app.admin)).await;
        assert_eq!(progress.body["admitted"], 1);
    }
}

db_test! {
    async fn a_manifest_carries_keys_and_ticket_deltas(app) {
        let d = door(&app, "manifest").await;
        let path = format!("/api/v1/checkin/lists/{}/manifest", d.list);
        let full = app.get(&path, Some(&app.admin)).await;
        assert_eq!(full.status, StatusCode::OK, "{}", full.body);
        assert_eq!(full.body["jwks"]["keys"].as_array().unwrap().len(), 1);
        let tickets = full.body["tickets"].as_array().unwrap();
        assert_eq!(tickets.len(), 1);
        assert_eq!((tickets[0]["state"].clone(), tickets[0]["token_version"].clone(), tickets[0]["attendee_name"].clone()), (json!("valid"), json!(1), json!("Ada")));
        assert!(tickets[0]["admitted_at"].is_null());
        let cursor = full.body["cursor"].as_str().unwrap().to_owned();

        // Nothing changed: an empty delta (after the overlap window).
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        scan(&app, &app.admin, &d.list, &token, "door-1").await;
        let delta = app.get(&format!("{path}?since={}", urlencode(&cursor)), Some(&app.admin)).await;
        let changed = delta.body["tickets"].as_array().unwrap();
        assert_eq!(changed.len(), 1);
        assert!(changed[0]["admitted_at"].is_string());
    }
}

fn urlencode(value: &str) -> String {
    value.replace('+', "%2B").replace(':', "%3A")
}

db_test! {
    async fn the_swag_desk_says_which_shirt_and_hands_it_over_once(app) {
        let d = door(&app, "swag-desk").await;
        let desk = app
            .post("/api/v1/admin/events/swag-desk/checkin-lists", &app.admin, json!({"name": "Swag desk", "kind": "swag"}))
            .await;
        assert_eq!(desk.status, StatusCode::CREATED, "{}", desk.body);
        let desk = desk.body["id"].as_str().unwrap().to_owned();
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        let first = scan(&app, &app.admin, &desk, &token, "desk").await;
        assert_eq!((first.body["result"].clone(), first.body["list_kind"].clone()), (json!("admitted"), json!("swag")));
        assert_eq!((first.body["attendee"]["swag_size"].clone(), first.body["attendee"]["swag_cut"].clone()), (json!("M"), json!("fitted")));
        assert_eq!(scan(&app, &app.admin, &desk, &token, "desk").await.body["result"], "already_checked_in");
        // The door is a separate list: the shirt does not count as entry.
        assert_eq!(scan(&app, &app.admin, &d.list, &token, "door").await.body["result"], "admitted");
    }
}

db_test! {
    async fn rotated_keys_keep_verifying_until_retired(app) {
        let d = door(&app, "rotation").await;
        let old = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        let rotated = app.post("/api/v1/admin/keys/rotate", &app.admin, json!({})).await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
        let jwks = app.get("/.well-known/jwks.json", None).await;
        assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 2);

        // New tokens carry the new kid; old ones still pass.
        let new = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        let kid = |t: &str| serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(t.split('.').next().unwrap()).unwrap()).unwrap()["kid"].clone();
        assert_eq!(kid(&new), rotated.body["kid"]);
        assert_ne!(kid(&old), kid(&new));
        let second_list = app
            .post("/api/v1/admin/events/rotation/checkin-lists", &app.admin, json!({"name": "Hall B", "kind": "entry"}))
            .await;
        let second_list = second_list.body["id"].as_str().unwrap().to_owned();
        assert_eq!(scan(&app, &app.admin, &d.list, &old, "d").await.body["result"], "admitted");

        // Retiring the old key makes its tokens invalid.
        let old_kid = kid(&old).as_str().unwrap().to_owned();
        let retired = app.post(&format!("/api/v1/admin/keys/{old_kid}/retire"), &app.admin, json!({})).await;
        assert!(retired.body["retired_at"].is_string(), "{}", retired.body);
        assert_eq!(app.get("/.well-known/jwks.json", None).await.body["keys"].as_array().unwrap().len(), 1);
        assert_eq!(scan(&app, &app.admin, &second_list, &old, "d").await.body["result"], "invalid_token");
        assert_eq!(scan(&app, &app.admin, &second_list, &new, "d").await.body["result"], "admitted");
        let new_kid = kid(&new).as_str().unwrap().to_owned();
        app.post(&format!("/api/v1/admin/keys/{new_kid}/retire"), &app.admin, json!({}))
            .await
            .assert_problem(409, "last_signing_key");
    }
}

db_test! {
    async fn volunteers_scan_only_their_events_and_reach_nothing_else(app) {
        let ours = door(&app, "ours-door").await;
        let theirs = door(&app, "theirs-door").await;
        let volunteer = app.token(Role::Volunteer, &["ours-door"]).await;
        let token = token_of(&app, &ours.code, &ours.order_token, &ours.ticket).await.body["token"].as_str().unwrap().to_owned();
        assert_eq!(scan(&app, &volunteer, &ours.list, &token, "d").await.body["result"], "admitted");
        scan(&app, &volunteer, &theirs.list, &token, "d").await.assert_problem(403, "forbidden");
        app.get(&format!("/api/v1/checkin/lists/{}/manifest", theirs.list), Some(&volunteer)).await.assert_problem(403, "forbidden");
        let lists = app.get("/api/v1/checkin/lists", Some(&volunteer)).await;
        let ids: Vec<_> = lists.body.as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(ids, [ours.list.as_str()]);
        for path in [
            format!("/api/v1/admin/events/ours-door/checkin-lists/{}/progress", ours.list),
            format!("/api/v1/admin/events/ours-door/checkin-lists/{}/scans", ours.list),
            "/api/v1/admin/events/ours-door/orders".to_owned(),
            "/api/v1/admin/keys".to_owned(),
        ] {
            app.get(&path, Some(&volunteer)).await.assert_problem(403, "forbidden");
        }
        let organizer = app.token(Role::Organizer, &["ours-door"]).await;
        app.post("/api/v1/admin/keys/rotate", &organizer, json!({})).await.assert_problem(403, "forbidden");
        app.post("/api/v1/checkin/scan", "", json!({"list_id": ours.list, "token": token, "device": "d"}))
            .await
            .assert_problem(401, "unauthorized");
    }
}

db_test! {
    async fn a_device_scanning_a_ticket_twice_is_no_conflict(app) {
        let d = door(&app, "twice").await;
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        let at = |minutes: i64| (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339();
        // One tablet, offline, scanned the same ticket twice.
        let batch = json!({"list_id": d.list, "device": "door-1", "scans": [
            {"scan_id": uuid::Uuid::now_v7(), "token": token, "scanned_at": at(10)},
            {"scan_id": uuid::Uuid::now_v7(), "token": token, "scanned_at": at(9)}
        ]});
        let synced = app.post("/api/v1/checkin/sync", &app.admin, batch).await;
        assert_eq!(synced.status, StatusCode::OK, "{}", synced.body);
        let results = synced.body["results"].as_array().unwrap();
        assert_eq!((results[0]["result"].clone(), results[0]["conflict"].clone()), (json!("admitted"), json!(false)));
        assert_eq!((results[1]["result"].clone(), results[1]["conflict"].clone()), (json!("already_checked_in"), json!(false)), "{}", synced.body);
        // The same tablet uploads an even earlier scan of it later: still its own.
        let earlier = json!({"list_id": d.list, "device": "door-1", "scans": [
            {"scan_id": uuid::Uuid::now_v7(), "token": token, "scanned_at": at(20)}
        ]});
        let again = app.post("/api/v1/checkin/sync", &app.admin, earlier).await;
        assert_eq!(again.body["results"][0]["conflict"], json!(false), "{}", again.body);
        // Another tablet is a conflict.
        let other = json!({"list_id": d.list, "device": "door-2", "scans": [
            {"scan_id": uuid::Uuid::now_v7(), "token": token, "scanned_at": at(5)}
        ]});
        let other = app.post("/api/v1/checkin/sync", &app.admin, other).await;
        assert_eq!((other.body["results"][0]["result"].clone(), other.body["results"][0]["conflict"].clone()), (json!("already_checked_in"), json!(true)));
    }
}

db_test! {
    async fn scanners_see_the_event_and_get_a_cursor_they_can_pass_back(app) {
        let d = door(&app, "named").await;
        let event = app.get("/api/v1/admin/events/named", Some(&app.admin)).await;
        let name = event.body["name"].clone();
        assert!(name.is_string(), "{}", event.body);
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        let scanned = scan(&app, &app.admin, &d.list, &token, "door-1").await;
        assert_eq!((scanned.body["event_slug"].clone(), scanned.body["event_name"].clone()), (json!("named"), name.clone()), "{}", scanned.body);
        let lists = app.get("/api/v1/checkin/lists", Some(&app.admin)).await;
        let ours = lists.body.as_array().unwrap().iter().find(|l| l["id"] == json!(d.list)).unwrap().clone();
        assert_eq!((ours["event_slug"].clone(), ours["event_name"].clone()), (json!("named"), name), "{ours}");
        // The cursor goes back into a URL as it is, with no encoding.
        let path = format!("/api/v1/checkin/lists/{}/manifest", d.list);
        let full = app.get(&path, Some(&app.admin)).await;
        let cursor = full.body["cursor"].as_str().unwrap().to_owned();
        assert!(cursor.ends_with('Z') && !cursor.contains('+'), "{cursor}");
        let delta = app.get(&format!("{path}?since={cursor}"), Some(&app.admin)).await;
        assert_eq!(delta.status, StatusCode::OK, "{}", delta.body);
    }
}

/// Moves an event: it starts `from` hours from now and lasts `hours`.
async fn move_event(app: &TestApp, slug: &str, from: i64, hours: i64) {
    let starts = chrono::Utc::now() + chrono::Duration::hours(from);
    let ends = starts + chrono::Duration::hours(hours);
    let moved = app
        .patch(
            &format!("/api/v1/admin/events/{slug}"),
            &app.admin,
            json!({"starts_at": starts.to_rfc3339(), "ends_at": ends.to_rfc3339()}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
}

db_test! {
    async fn moving_the_event_moves_the_door_not_the_tickets(app) {
        let d = door(&app, "moved").await;
        let volunteer = app.token(Role::Volunteer, &["moved"]).await;
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();

        // Postponed by ten days: the doors (48 h before the start) are not open yet.
        move_event(&app, "moved", 240, 24).await;
        app.let_time_pass(chrono::Duration::seconds(6)); // past the scanners' list cache
        let early = scan(&app, &volunteer, &d.list, &token, "door-1").await;
        assert_eq!(early.body["result"], "not_yet_valid", "{}", early.body);
        assert_eq!(early.body["attendee"]["name"], "Ada", "a refusal still names the attendee: {}", early.body);
        // The manifest tells offline scanners the same window.
        let manifest = app.get(&format!("/api/v1/checkin/lists/{}/manifest", d.list), Some(&volunteer)).await;
        let opens: chrono::DateTime<chrono::Utc> = manifest.body["list"]["admits_from"].as_str().unwrap().parse().unwrap();
        let expected = chrono::Utc::now() + chrono::Duration::hours(240 - 48);
        assert!((opens - expected).num_seconds().abs() < 60, "{}", manifest.body["list"]);

        // Brought forward so that it ended three days ago: over.
        move_event(&app, "moved", -96, 24).await;
        app.let_time_pass(chrono::Duration::seconds(6));
        let late = scan(&app, &volunteer, &d.list, &token, "door-1").await;
        assert_eq!(late.body["result"], "expired", "{}", late.body);
        assert_eq!(late.body["attendee"]["name"], "Ada", "{}", late.body);

        // Under way now: the token fetched before any move gets in.
        move_event(&app, "moved", -1, 24).await;
        app.let_time_pass(chrono::Duration::seconds(6));
        let admitted = scan(&app, &volunteer, &d.list, &token, "door-1").await;
        assert_eq!(admitted.body["result"], "admitted", "{}", admitted.body);
    }
}

db_test! {
    async fn a_lists_own_window_rules_that_list(app) {
        let d = door(&app, "badges").await;
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        // The event starts in a week; badge pick-up opened an hour ago.
        move_event(&app, "badges", 168, 24).await;
        let at = |hours: i64| (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339();
        let pickup = app
            .post("/api/v1/admin/events/badges/checkin-lists", &app.admin, json!({"name": "Badge pick-up", "kind": "entry", "opens_at": at(-1), "closes_at": at(3)}))
            .await;
        let workshop = app
            .post("/api/v1/admin/events/badges/checkin-lists", &app.admin, json!({"name": "Workshop", "kind": "entry", "opens_at": at(2)}))
            .await;
        let pickup = pickup.body["id"].as_str().unwrap().to_owned();
        let workshop = workshop.body["id"].as_str().unwrap().to_owned();
        assert_eq!(scan(&app, &app.admin, &pickup, &token, "desk").await.body["result"], "admitted");
        let closed = scan(&app, &app.admin, &workshop, &token, "room").await;
        assert_eq!((closed.body["result"].clone(), closed.body["attendee"]["name"].clone()), (json!("outside_window"), json!("Ada")));
        // The entrance has no window of its own: the event's, with the grace.
        assert_eq!(scan(&app, &app.admin, &d.list, &token, "door").await.body["result"], "not_yet_valid");
        let lists = app.get("/api/v1/checkin/lists", Some(&app.admin)).await;
        let ours = lists.body.as_array().unwrap().iter().find(|l| l["id"] == json!(pickup)).unwrap().clone();
        assert_eq!(ours["admits_from"].as_str().map(|s| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap().timestamp()),
            Some(ours["opens_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap().timestamp()), "{ours}");
    }
}

db_test! {
    async fn a_tablet_with_a_wrong_clock_admits_nobody_and_wins_nothing(app) {
        let d = door(&app, "skew").await;
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        let sync = |device: &str, scanned_at: String| {
            json!({"list_id": d.list, "device": device, "scans": [{"scan_id": uuid::Uuid::now_v7(), "token": token, "scanned_at": scanned_at}]})
        };
        // A tablet that believes it is 2020, and one a month ahead.
        for (device, at) in [("door-1", "2020-01-01T09:00:00Z".to_owned()), ("door-2", (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339())] {
            let synced = app.post("/api/v1/checkin/sync", &app.admin, sync(device, at)).await;
            assert_eq!(synced.status, StatusCode::OK, "{}", synced.body);
            let answer = &synced.body["results"][0];
            assert_eq!(answer["result"], "clock_skew", "{device}: {}", synced.body);
            assert_eq!(answer["attendee"]["name"], "Ada");
            let server: chrono::DateTime<chrono::Utc> = answer["server_time"].as_str().unwrap().parse().unwrap();
            assert!((chrono::Utc::now() - server).num_seconds().abs() < 30, "{}", synced.body);
        }
        // A few minutes fast is within the tolerance.
        let slightly = app.post("/api/v1/checkin/sync", &app.admin, sync("door-3", (chrono::Utc::now() + chrono::Duration::minutes(3)).to_rfc3339())).await;
        assert_eq!((slightly.body["results"][0]["result"].clone(), slightly.body["results"][0]["conflict"].clone()), (json!("admitted"), json!(false)), "{}", slightly.body);
        // The 2020 tablet uploading again later still wins nothing.
        let again = app.post("/api/v1/checkin/sync", &app.admin, sync("door-1", "2020-01-01T09:05:00Z".to_owned())).await;
        assert_eq!(again.body["results"][0]["result"], "clock_skew");
        let progress = app.get(&format!("/api/v1/admin/events/skew/checkin-lists/{}/progress", d.list), Some(&app.admin)).await;
        assert_eq!(progress.body["admitted"], 1);
        let hours: Vec<_> = progress.body["by_hour"].as_array().unwrap().iter().map(|h| h["hour"].as_str().unwrap_or_default().to_owned()).collect();
        assert!(hours.iter().all(|h| !h.starts_with("2020")), "{hours:?}");
        let log = app.get(&format!("/api/v1/admin/events/skew/checkin-lists/{}/scans?result=admitted", d.list), Some(&app.admin)).await;
        let devices: Vec<_> = log.body["items"].as_array().unwrap().iter().map(|s| s["device"].clone()).collect();
        assert_eq!(devices, [json!("door-3")]);
    }
}

db_test! {
    async fn a_replay_answers_what_the_first_upload_decided_in_request_order(app) {
        let d = door(&app, "replay").await;
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        assert_eq!(scan(&app, &app.admin, &d.list, &token, "door-1").await.body["result"], "admitted");
        let at = |minutes: i64| (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339();
        // Door 2 uploads its later scan first in the request, its earlier one second.
        let (later, earlier) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let batch = json!({"list_id": d.list, "device": "door-2", "scans": [
            {"scan_id": later, "token": token, "scanned_at": at(1)},
            {"scan_id": earlier, "token": token, "scanned_at": at(10)}
        ]});
        let first = app.post("/api/v1/checkin/sync", &app.admin, batch.clone()).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        let results = first.body["results"].as_array().unwrap();
        let ids: Vec<_> = results.iter().map(|r| r["scan_id"].clone()).collect();
        assert_eq!(ids, [json!(later), json!(earlier)], "results in request order");
        // The earlier scan displaced door 1: a conflict, naming door 1.
        assert_eq!((results[1]["result"].clone(), results[1]["conflict"].clone(), results[1]["first_admission"]["device"].clone()),
            (json!("admitted"), json!(true), json!("door-1")), "{}", first.body);
        assert_eq!((results[0]["result"].clone(), results[0]["conflict"].clone()), (json!("already_checked_in"), json!(false)));
        // The tablet timed out and uploads again: the very same answer.
        let again = app.post("/api/v1/checkin/sync", &app.admin, batch).await;
        assert_eq!(again.body, first.body);
    }
}

db_test! {
    async fn the_scan_log_keeps_what_each_device_was_told(app) {
        let d = door(&app, "told").await;
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        let online = scan(&app, &app.admin, &d.list, &token, "door-1").await;
        assert_eq!(online.body["result"], "admitted");
        let offline_id = uuid::Uuid::now_v7();
        let earlier = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
        let batch = json!({"list_id": d.list, "device": "door-2", "scans": [{"scan_id": offline_id, "token": token, "scanned_at": earlier}]});
        assert_eq!(app.post("/api/v1/checkin/sync", &app.admin, batch).await.body["results"][0]["result"], "admitted");

        let log = app.get(&format!("/api/v1/admin/events/told/checkin-lists/{}/scans", d.list), Some(&app.admin)).await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.body);
        let items = log.body["items"].as_array().unwrap();
        let door_1 = items.iter().find(|s| s["device"] == "door-1").unwrap();
        // Door 1 was told `admitted`, and the log still says so, with who displaced it.
        assert_eq!(door_1["result"], "admitted", "{door_1}");
        assert_eq!((door_1["displaced_by"]["scan_id"].clone(), door_1["displaced_by"]["device"].clone()), (json!(offline_id), json!("door-2")), "{door_1}");
        let door_2 = items.iter().find(|s| s["device"] == "door-2").unwrap();
        assert!(door_2["displaced_by"].is_null(), "{door_2}");
        assert_eq!(door_2["conflict"], true);
        // Names, not only ticket ids.
        assert!(items.iter().all(|s| s["attendee_name"] == "Ada"), "{}", log.body);
        // Both admissions are in the log as told; the admission stands for door 2.
        let admitted = app.get(&format!("/api/v1/admin/events/told/checkin-lists/{}/scans?result=admitted", d.list), Some(&app.admin)).await;
        assert_eq!(admitted.body["items"].as_array().unwrap().len(), 2);
        let progress = app.get(&format!("/api/v1/admin/events/told/checkin-lists/{}/progress", d.list), Some(&app.admin)).await;
        assert_eq!(progress.body["admitted"], 1);
    }
}

db_test! {
    async fn a_swag_desk_counts_shirts_not_people(app) {
        let d = door(&app, "shirts").await;
        let free_tier = d.free_tier.clone();
        let comp = |tier: &str, name: &str, size: Option<&str>| {
            let mut t = ticket(tier, name);
            if let Some(size) = size {
                t["swag_size"] = json!(size);
                t["swag_cut"] = json!("straight");
            }
            json!({"email": format!("{}@example.org", name.to_lowercase()), "reason": "Crew", "tickets": [t]})
        };
        let cleo = app.post("/api/v1/admin/events/shirts/comps", &app.admin, comp(&free_tier, "Cleo", Some("M"))).await;
        assert_eq!(cleo.status, StatusCode::CREATED, "{}", cleo.body);
        // Bob's tier includes no swag.
        let bob = app.post("/api/v1/admin/events/shirts/comps", &app.admin, comp(&d.paid_tier, "Bob", None)).await;
        assert_eq!(bob.status, StatusCode::CREATED, "{}", bob.body);
        let bob_token = token_of(&app, bob.body["code"].as_str().unwrap(), bob.body["order_token"].as_str().unwrap(), bob.body["tickets"][0]["id"].as_str().unwrap())
            .await.body["token"].as_str().unwrap().to_owned();
        let ada_token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();

        let desk = app.post("/api/v1/admin/events/shirts/checkin-lists", &app.admin, json!({"name": "Swag desk", "kind": "swag"})).await;
        let desk = desk.body["id"].as_str().unwrap().to_owned();
        let progress_path = format!("/api/v1/admin/events/shirts/checkin-lists/{desk}/progress");
        let progress = app.get(&progress_path, Some(&app.admin)).await;
        assert_eq!((progress.body["expected"].clone(), progress.body["admitted"].clone()), (json!(2), json!(0)), "{}", progress.body);
        let sizes = |body: &Value| -> Vec<(String, String, u64, u64)> {
            body["sizes"].as_array().unwrap().iter()
                .map(|s| (s["size"].as_str().unwrap().to_owned(), s["cut"].as_str().unwrap_or_default().to_owned(), s["expected"].as_u64().unwrap(), s["handed_over"].as_u64().unwrap()))
                .collect()
        };
        assert_eq!(sizes(&progress.body), [("M".into(), "fitted".into(), 1, 0), ("M".into(), "straight".into(), 1, 0)]);

        // Bob gets no shirt, and the desk says why, by name.
        let no = scan(&app, &app.admin, &desk, &bob_token, "desk").await;
        assert_eq!((no.body["result"].clone(), no.body["attendee"]["name"].clone()), (json!("no_swag"), json!("Bob")), "{}", no.body);
        // Listing his tier explicitly does not make a shirt appear either.
        let both = app.post("/api/v1/admin/events/shirts/checkin-lists", &app.admin, json!({"name": "Desk 2", "kind": "swag", "tiers": [free_tier, d.paid_tier]})).await;
        assert_eq!(scan(&app, &app.admin, both.body["id"].as_str().unwrap(), &bob_token, "desk").await.body["result"], "no_swag");

        assert_eq!(scan(&app, &app.admin, &desk, &ada_token, "desk").await.body["result"], "admitted");
        let progress = app.get(&progress_path, Some(&app.admin)).await;
        assert_eq!(progress.body["admitted"], 1);
        assert_eq!(sizes(&progress.body), [("M".into(), "fitted".into(), 1, 1), ("M".into(), "straight".into(), 1, 0)]);
        // The offline desk knows only the shirts.
        let manifest = app.get(&format!("/api/v1/checkin/lists/{desk}/manifest"), Some(&app.admin)).await;
        let names: Vec<_> = manifest.body["tickets"].as_array().unwrap().iter().map(|t| t["attendee_name"].as_str().unwrap().to_owned()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(!names.contains(&"Bob".to_owned()));
        // The entrance counts people.
        let door = app.get(&format!("/api/v1/admin/events/shirts/checkin-lists/{}/progress", d.list), Some(&app.admin)).await;
        assert_eq!(door.body["expected"], 3);
    }
}

db_test! {
    async fn the_attendee_without_a_qr_is_found_and_admitted_once_and_an_organizer_can_undo_it(app) {
        let d = door(&app, "manual").await;
        let _ = door(&app, "manual-other").await;
        let volunteer = app.token(Role::Volunteer, &["manual"]).await;
        let stranger = app.token(Role::Volunteer, &["manual-other"]).await;
        let adam = app
            .post("/api/v1/admin/events/manual/comps", &app.admin, json!({"email": "adam@example.org", "reason": "Crew", "tickets": [ticket(&d.paid_tier, "Adam Smith")]}))
            .await;
        assert_eq!(adam.status, StatusCode::CREATED, "{}", adam.body);
        let search = |q: &str| {
            let path = format!("/api/v1/checkin/lists/{}/attendees?q={}", d.list, urlencode(q));
            let (app, volunteer) = (&app, &volunteer);
            async move { app.get(&path, Some(volunteer)).await }
        };

        search("a").await.assert_problem(422, "validation_failed");
        let found = search("ADA").await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.body);
        let items = found.body["items"].as_array().unwrap();
        let names: Vec<_> = items.iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect();
        assert_eq!(names, ["Ada", "Adam Smith"]);
        let ada = &items[0];
        assert_eq!((ada["ticket_id"].clone(), ada["tier"].clone(), ada["swag_size"].clone(), ada["swag_cut"].clone(), ada["state"].clone()),
            (json!(d.ticket), json!("Free"), json!("M"), json!("fitted"), json!("valid")));
        assert!(ada["admitted_at"].is_null());
        assert_eq!(ada["email_hint"], "a***@e***.org");
        assert!(!found.body.to_string().contains("ada@example.org"), "no email beyond a hint: {}", found.body);
        // By email and by order code.
        assert_eq!(search("ada@exa").await.body["items"].as_array().unwrap().len(), 1);
        let by_code = search(&d.code.to_lowercase()).await;
        assert_eq!(by_code.body["items"][0]["ticket_id"], json!(d.ticket), "{}", by_code.body);
        // Only scanners of the list's event.
        app.get(&format!("/api/v1/checkin/lists/{}/attendees?q=ada", d.list), Some(&stranger)).await.assert_problem(403, "forbidden");

        // Admitted by hand, once.
        let admit = |ticket: &str, device: &str| {
            let (path, body) = (format!("/api/v1/checkin/lists/{}/admit", d.list), json!({"ticket_id": ticket, "device": device}));
            let (app, volunteer) = (&app, &volunteer);
            async move { app.post(&path, volunteer, body).await }
        };
        let first = admit(&d.ticket, "desk-1").await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!((first.body["result"].clone(), first.body["attendee"]["name"].clone()), (json!("admitted"), json!("Ada")));
        let second = admit(&d.ticket, "desk-2").await;
        assert_eq!((second.body["result"].clone(), second.body["first_admission"]["device"].clone()), (json!("already_checked_in"), json!("desk-1")));
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        assert_eq!(scan(&app, &volunteer, &d.list, &token, "door-1").await.body["result"], "already_checked_in");
        assert!(search("ada").await.body["items"][0]["admitted_at"].is_string());
        // A ticket of another event is not found by id.
        admit(&uuid::Uuid::now_v7().to_string(), "desk-1").await.assert_problem(404, "not_found");

        // An organizer undoes the admission made by mistake; the volunteer cannot.
        let scan_id = first.body["scan_id"].as_str().unwrap().to_owned();
        let undo_path = format!("/api/v1/admin/events/manual/checkin-lists/{}/checkins/{scan_id}/undo", d.list);
        app.post(&undo_path, &volunteer, json!({"reason": "Wrong Ada"})).await.assert_problem(403, "forbidden");
        let manifest_path = format!("/api/v1/checkin/lists/{}/manifest", d.list);
        let cursor = app.get(&manifest_path, Some(&volunteer)).await.body["cursor"].as_str().unwrap().to_owned();
        app.let_time_pass(chrono::Duration::seconds(10));
        let undone = app.post(&undo_path, &app.admin, json!({"reason": "Wrong Ada"})).await;
        assert_eq!(undone.status, StatusCode::OK, "{}", undone.body);
        app.post(&undo_path, &app.admin, json!({"reason": "Again"})).await.assert_problem(409, "not_admitted");
        let progress = app.get(&format!("/api/v1/admin/events/manual/checkin-lists/{}/progress", d.list), Some(&app.admin)).await;
        assert_eq!(progress.body["admitted"], 0);
        let log = app.get(&format!("/api/v1/admin/events/manual/checkin-lists/{}/scans", d.list), Some(&app.admin)).await;
        let entry = log.body["items"].as_array().unwrap().iter().find(|s| s["scan_id"] == json!(scan_id)).unwrap().clone();
        assert_eq!((entry["result"].clone(), entry["manual"].clone(), entry["undone"]["reason"].clone()), (json!("admitted"), json!(true), json!("Wrong Ada")), "{entry}");
        let audit = app.get("/api/v1/admin/events/manual/audit", Some(&app.admin)).await;
        assert_eq!(audit.body["items"][0]["action"], "checkin.undone", "{}", audit.body);
        // The offline manifest hears of the undo; she can come in again.
        let delta = app.get(&format!("{manifest_path}?since={cursor}"), Some(&volunteer)).await;
        let ada = delta.body["tickets"].as_array().unwrap().iter().find(|t| t["ticket_id"] == json!(d.ticket)).cloned();
        assert!(ada.is_some_and(|t| t["admitted_at"].is_null()), "{}", delta.body);
        assert_eq!(scan(&app, &volunteer, &d.list, &token, "door-1").await.body["result"], "admitted");
    }
}

db_test! {
    async fn times_people_read_are_in_the_events_time_zone(app) {
        use chrono::Offset;
        let d = door(&app, "zoned").await;
        let token = token_of(&app, &d.code, &d.order_token, &d.ticket).await.body["token"].as_str().unwrap().to_owned();
        let scanned = scan(&app, &app.admin, &d.list, &token, "door-1").await;
        assert_eq!(scanned.body["result"], "admitted", "{}", scanned.body);
        let scanned_at = chrono::Utc::now();
        let offset_of = |value: &serde_json::Value| -> String {
            let text = value.as_str().unwrap_or_else(|| panic!("not a time: {value}"));
            chrono::DateTime::parse_from_rfc3339(text).unwrap().offset().to_string()
        };
        // The test events are in Europe/Berlin: +01:00 in winter, +02:00 in summer.
        let berlin = scanned_at.with_timezone(&chrono_tz::Europe::Berlin).offset().fix().to_string();
        let checkins = app.get("/api/v1/admin/events/zoned/reports/checkins", Some(&app.admin)).await;
        let hour = &checkins.body["arrivals_by_hour"][0]["hour"];
        assert_eq!(offset_of(hour), berlin, "{}", checkins.body);
        let log = app.get(&format!("/api/v1/admin/events/zoned/checkin-lists/{}/scans", d.list), Some(&app.admin)).await;
        assert_eq!(offset_of(&log.body["items"][0]["scanned_at"]), berlin, "{}", log.body);
        let attendees = app.get("/api/v1/admin/events/zoned/attendees?checked_in=true", Some(&app.admin)).await;
        assert_eq!(offset_of(&attendees.body["items"][0]["checked_in_at"]), berlin, "{}", attendees.body);
        let desk = app.get(&format!("/api/v1/admin/events/zoned/orders/{}", d.code), Some(&app.admin)).await;
        assert_eq!(offset_of(&desk.body["created_at"]), berlin, "{}", desk.body);

        // A zone half an hour off UTC: hours start at the venue's full hour.
        let moved = app.patch("/api/v1/admin/events/zoned", &app.admin, json!({"timezone": "Asia/Kolkata"})).await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
        let checkins = app.get("/api/v1/admin/events/zoned/reports/checkins", Some(&app.admin)).await;
        let hour = chrono::DateTime::parse_from_rfc3339(checkins.body["arrivals_by_hour"][0]["hour"].as_str().unwrap()).unwrap();
        assert_eq!(hour.offset().to_string(), "+05:30");
        // The hour of the scan as the server recorded it (not the test's own
        // clock, which may have passed into the next hour meanwhile).
        let recorded = chrono::DateTime::parse_from_rfc3339(log.body["items"][0]["scanned_at"].as_str().unwrap()).unwrap();
        let local = recorded.with_timezone(&chrono_tz::Asia::Kolkata);
        use chrono::Timelike;
        assert_eq!((hour.hour(), hour.minute()), (local.hour(), 0), "{hour}");
        let list = app.get(&format!("/api/v1/admin/events/zoned/checkin-lists/{}/progress", d.list), Some(&app.admin)).await;
        assert_eq!(list.body["by_hour"][0]["hour"], checkins.body["arrivals_by_hour"][0]["hour"], "{}", list.body);
    }
}
