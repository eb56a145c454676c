//! The organizer's order desk: search, detail, cancel, comps, audit.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use tessera::domain::staff::Role;

use crate::helpers::ticket;

db_test! {
    async fn organizers_find_orders_by_state_email_code_and_tier(app) {
        let tiers = app
            .shop("desk", json!({}), &[json!({"name": "Paid", "price": 100, "capacity": 10}), json!({"name": "Free", "price": 0, "capacity": 10})])
            .await;
        let pending = app.order("desk", json!({"email": "p@example.org", "tickets": [ticket(&tiers[0], "P")]})).await;
        let paid = app.order("desk", json!({"email": "f@example.org", "tickets": [ticket(&tiers[1], "F")]})).await;
        let list = |query: String| {
            let app = &app;
            async move {
                let answer = app.get(&format!("/api/v1/admin/events/desk/orders{query}"), Some(&app.admin)).await;
                assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
                answer.body["items"].as_array().unwrap().iter().map(|o| o["code"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
            }
        };
        let pending_code = pending.body["code"].as_str().unwrap().to_owned();
        let paid_code = paid.body["code"].as_str().unwrap().to_owned();
        assert_eq!(list(String::new()).await, [pending_code.as_str(), paid_code.as_str()]);
        assert_eq!(list("?state=pending".into()).await, [pending_code.as_str()]);
        assert_eq!(list("?state=paid".into()).await, [paid_code.as_str()]);
        assert_eq!(list("?email=F@Example.org".into()).await, [paid_code.as_str()]);
        assert_eq!(list(format!("?code={}", pending_code.to_lowercase())).await, [pending_code.as_str()]);
        assert_eq!(list(format!("?tier={}", tiers[1])).await, [paid_code.as_str()]);
        assert_eq!(list("?limit=1".into()).await, [pending_code.as_str()]);

        let detail = app.get(&format!("/api/v1/admin/events/desk/orders/{paid_code}"), Some(&app.admin)).await;
        assert_eq!(detail.body["tickets"][0]["attendee_name"], "F");
        assert!(detail.body.get("order_token").is_none());
    }
}

db_test! {
    async fn cancelling_a_paid_order_revokes_its_tickets_and_returns_the_seats(app) {
        let tiers = app.shop("cancel-desk", json!({}), &[json!({"name": "Free", "price": 0, "capacity": 1})]).await;
        let paid = app.order("cancel-desk", json!({"email": "f@example.org", "tickets": [ticket(&tiers[0], "F")]})).await;
        app.order("cancel-desk", json!({"email": "g@example.org", "tickets": [ticket(&tiers[0], "G")]})).await.assert_problem(409, "sold_out");
        let code = paid.body["code"].as_str().unwrap();
        let path = format!("/api/v1/admin/events/cancel-desk/orders/{code}/cancel");

        let no_reason = app.post(&path, &app.admin, json!({"reason": ""})).await;
        assert_eq!(no_reason.error_fields(), ["reason"]);
        let cancelled = app.post(&path, &app.admin, json!({"reason": "Duplicate registration"})).await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
        assert_eq!(cancelled.body["state"], "cancelled");
        assert_eq!(cancelled.body["tickets"][0]["status"], "revoked");
        let again = app.order("cancel-desk", json!({"email": "g@example.org", "tickets": [ticket(&tiers[0], "G")]})).await;
        assert_eq!(again.status, StatusCode::CREATED);

        let audit = entity::audit_log::Entity::find()
            .filter(entity::audit_log::Column::Subject.eq(code))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].action, "order.cancelled");
        assert!(audit[0].staff_name.contains("First admin"));
        assert_eq!(audit[0].detail["reason"], "Duplicate registration");
        let log = app.get("/api/v1/admin/events/cancel-desk/audit", Some(&app.admin)).await;
        assert_eq!(log.body["items"][0]["action"], "order.cancelled");
        assert_eq!(log.body["items"][0]["subject"], code);
        assert_eq!(log.body["items"][0]["detail"]["reason"], "Duplicate registration");
    }
}

db_test! {
    async fn organizers_comp_tickets_for_speakers_within_capacity(app) {
        let tiers = app
            .shop("comps", json!({}), &[json!({"name": "Speaker", "price": 30000, "capacity": 1, "hidden": true, "includes_swag": true})])
            .await;
        let organizer = app.token(Role::Organizer, &["comps"]).await;
        let mut t = ticket(&tiers[0], "Grace Hopper");
        t["swag_size"] = json!("M");
        t["swag_cut"] = json!("fitted");
        let comped = app
            .post("/api/v1/admin/events/comps/comps", &organizer, json!({"email": "grace@example.org", "reason": "Keynote speaker", "tickets": [t.clone()]}))
            .await;
        assert_eq!(comped.status, StatusCode::CREATED, "{}", comped.body);
        let b = &comped.body;
        assert_eq!((b["state"].clone(), b["total"].clone(), b["comp_reason"].clone()), (json!("paid"), json!(0), json!("Keynote speaker")));
        assert_eq!((b["tickets"][0]["unit_price"].clone(), b["tickets"][0]["discount"].clone()), (json!(30000), json!(30000)));
        assert!(b["order_token"].as_str().unwrap().starts_with("tso_"));

        let full = app
            .post("/api/v1/admin/events/comps/comps", &organizer, json!({"email": "x@example.org", "reason": "Another", "tickets": [t]}))
            .await;
        full.assert_problem(409, "sold_out");

        let volunteer = app.token(Role::Volunteer, &["comps"]).await;
        app.post("/api/v1/admin/events/comps/comps", &volunteer, json!({"email": "x@example.org", "reason": "x", "tickets": []}))
            .await
            .assert_problem(403, "forbidden");
        app.get("/api/v1/admin/events/comps/orders", Some(&volunteer)).await.assert_problem(403, "forbidden");

        let audit = entity::audit_log::Entity::find()
            .filter(entity::audit_log::Column::Action.eq("order.comped"))
            .all(&app.db)
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].detail["reason"], "Keynote speaker");
    }
}

db_test! {
    async fn organizers_only_see_orders_of_their_events(app) {
        app.shop("mine", json!({}), &[]).await;
        app.shop("yours", json!({}), &[]).await;
        let organizer = app.token(Role::Organizer, &["mine"]).await;
        assert_eq!(app.get("/api/v1/admin/events/mine/orders", Some(&organizer)).await.status, StatusCode::OK);
        app.get("/api/v1/admin/events/yours/orders", Some(&organizer)).await.assert_problem(403, "forbidden");
        app.get("/api/v1/admin/events/yours/vouchers", Some(&organizer)).await.assert_problem(403, "forbidden");
    }
}

db_test! {
    async fn a_hand_paid_order_cancelled_with_refund_is_settled_without_stripe(app) {
        let tiers = app.shop("hand-cancel", json!({}), &[json!({"name": "Standard", "price": 5000, "capacity": 5})]).await;
        let placed = app.order("hand-cancel", json!({"email": "f@example.org", "tickets": [ticket(&tiers[0], "F")]})).await;
        let code = placed.body["code"].as_str().unwrap();
        let paid = app
            .post(&format!("/api/v1/admin/events/hand-cancel/orders/{code}/mark-paid"), &app.admin, json!({"reference": "bank transfer"}))
            .await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
        let path = format!("/api/v1/admin/events/hand-cancel/orders/{code}/cancel");
        let cancelled = app.post(&path, &app.admin, json!({"reason": "visa refused", "refund": true})).await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
        assert_eq!(cancelled.body["state"], "cancelled");
        assert_eq!(cancelled.body["payment"]["amount_refunded"], 5000, "{}", cancelled.body);
        let refunds = app.get(&format!("/api/v1/admin/events/hand-cancel/orders/{code}/refunds"), Some(&app.admin)).await;
        assert_eq!(refunds.body[0]["source"], "manual", "{}", refunds.body);
        assert_eq!(refunds.body[0]["status"], "succeeded");
        let sent = app.stripe.received_requests().await.unwrap();
        assert!(!sent.iter().any(|r| r.url.path() == "/v1/refunds"), "a refund went to Stripe");
    }
}

db_test! {
    async fn organizers_fix_attendee_data_after_the_deadline(app) {
        let tiers = app
            .shop(
                "fixes",
                json!({"swag_sizes": [{"size": "S"}, {"size": "M", "stock": 1}], "dietary_options": ["vegetarian", "vegan"]}),
                &[json!({"name": "Shirt", "price": 0, "capacity": 10, "includes_swag": true})],
            )
            .await;
        let shirt = |name: &str, size: &str| {
            let mut t = ticket(&tiers[0], name);
            t["swag_size"] = json!(size);
            t
        };
        let placed = app.order("fixes", json!({"email": "jon@example.org", "tickets": [shirt("Jon Smiht", "S")]})).await;
        app.order("fixes", json!({"email": "m@example.org", "tickets": [shirt("Mo", "M")]})).await;
        let code = placed.body["code"].as_str().unwrap().to_owned();
        let ticket_id = placed.body["tickets"][0]["id"].as_str().unwrap().to_owned();
        let order_token = placed.body["order_token"].as_str().unwrap().to_owned();
        let token_path = format!("/api/v1/orders/{code}/tickets/{ticket_id}/token");
        let before = app.with_order_token(reqwest::Method::GET, &token_path, &order_token, None).await;
        assert_eq!(before.status, StatusCode::OK, "{}", before.body);
        let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
        let closed = app.patch("/api/v1/admin/events/fixes", &app.admin, json!({"attendee_edit_deadline": past})).await;
        assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
        let asked = app.with_order_token(reqwest::Method::PATCH, &format!("/api/v1/orders/{code}/tickets/{ticket_id}"), &order_token, Some(json!({"attendee_name": "Jon Smith"}))).await;
        asked.assert_problem(409, "edit_deadline_passed");
        assert!(asked.body["detail"].as_str().unwrap().contains("ask the organizers"), "{}", asked.body);

        let organizer = app.token(Role::Organizer, &["fixes"]).await;
        let path = format!("/api/v1/admin/events/fixes/orders/{code}/tickets/{ticket_id}");
        // Every fault at once, the reason among them.
        let bad = app.patch(&path, &organizer, json!({"attendee_email": "nope", "swag_size": "XXL", "dietary": "paleo"})).await;
        bad.assert_problem(422, "validation_failed");
        assert_eq!(bad.error_fields(), ["attendee_email", "swag_size", "dietary", "reason"]);
        // Stock still counts for organizers.
        app.patch(&path, &organizer, json!({"swag_size": "M", "reason": "asked at the desk"}))
            .await
            .assert_problem(409, "swag_size_unavailable");

        let fixed = app
            .patch(&path, &organizer, json!({"attendee_name": "Jon Smith", "attendee_email": "jon.smith@example.org", "dietary": "vegan", "notes": "wheelchair", "reason": "typo reported by email"}))
            .await;
        assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.body);
        let t = &fixed.body["tickets"][0];
        assert_eq!((&t["attendee_name"], &t["attendee_email"], &t["dietary"], &t["notes"]), (&json!("Jon Smith"), &json!("jon.smith@example.org"), &json!("vegan"), &json!("wheelchair")));
        // The token the attendee already has keeps working.
        let row = entity::ticket::Entity::find_by_id(uuid::Uuid::parse_str(&ticket_id).unwrap()).one(&app.db).await.unwrap().unwrap();
        assert_eq!(row.token_version, 1);
        // Tokens are signed afresh on every fetch (their `iat` moves), so
        // compare what the door checks: the ticket and its token version.
        let after = app.with_order_token(reqwest::Method::GET, &token_path, &order_token, None).await;
        let claims = |answer: &crate::helpers::Answer| -> serde_json::Value {
            use base64::Engine;
            let token = answer.body["token"].as_str().unwrap();
            let payload = token.split('.').nth(1).unwrap();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
        };
        let (old, new) = (claims(&before), claims(&after));
        assert_eq!((&old["sub"], &old["ver"]), (&new["sub"], &new["ver"]), "{old} {new}");
        assert_eq!(old["ver"], 1);

        let log = app.get("/api/v1/admin/events/fixes/audit", Some(&app.admin)).await;
        let entry = &log.body["items"][0];
        assert_eq!(entry["action"], "ticket.updated", "{}", log.body);
        assert_eq!(entry["subject"], code.as_str());
        assert_eq!(entry["detail"]["reason"], "typo reported by email");
        assert_eq!(entry["detail"]["fields"], json!(["attendee_name", "attendee_email", "dietary", "notes"]));
        assert!(entry["staff_name"].as_str().unwrap().contains("organizer"), "{}", entry);

        // Organizers of other events and volunteers cannot.
        app.create_event("elsewhere", json!({})).await;
        let other = app.token(Role::Organizer, &["elsewhere"]).await;
        app.patch(&path, &other, json!({"notes": "x", "reason": "y"})).await.assert_problem(403, "forbidden");
        let volunteer = app.token(Role::Volunteer, &["fixes"]).await;
        app.patch(&path, &volunteer, json!({"notes": "x", "reason": "y"})).await.assert_problem(403, "forbidden");
    }
}

db_test! {
    async fn orders_and_attendees_show_the_voucher_used_and_the_price_paid(app) {
        let tiers = app.shop("paid-what", json!({}), &[json!({"name": "Regular", "price": 10000, "capacity": 10})]).await;
        app.post("/api/v1/admin/events/paid-what/vouchers", &app.admin, json!({"code": "EARLY20", "discount_kind": "percent", "discount_value": 20})).await;
        app.post("/api/v1/admin/events/paid-what/vouchers", &app.admin, json!({"code": "FREE", "discount_kind": "percent", "discount_value": 100})).await;
        let placed = app.order("paid-what", json!({"email": "a@example.org", "voucher": "free", "tickets": [ticket(&tiers[0], "Ada")]})).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        let code = placed.body["code"].as_str().unwrap();
        let desk = app.get(&format!("/api/v1/admin/events/paid-what/orders/{code}"), Some(&app.admin)).await;
        assert_eq!((&desk.body["voucher"], &desk.body["tickets"][0]["price"], &desk.body["tickets"][0]["unit_price"]), (&json!("FREE"), &json!(0), &json!(10000)), "{}", desk.body);
        let listed = app.get("/api/v1/admin/events/paid-what/orders", Some(&app.admin)).await;
        assert_eq!(listed.body["items"][0]["voucher"], "FREE");

        let attendees = app.get("/api/v1/admin/events/paid-what/attendees", Some(&app.admin)).await;
        assert_eq!((&attendees.body["items"][0]["voucher"], &attendees.body["items"][0]["price"]), (&json!("FREE"), &json!(0)), "{}", attendees.body);
        let csv = app.client.get(app.url("/api/v1/admin/events/paid-what/attendees.csv")).bearer_auth(&app.admin).send().await.unwrap().text().await.unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        let row = reader.records().next().unwrap().unwrap();
        let cell = |name: &str| row.get(header.iter().position(|h| h == name).unwrap()).unwrap().to_owned();
        assert_eq!((cell("price"), cell("voucher")), ("0".to_owned(), "FREE".to_owned()));
    }
}
