//! Organizer voucher management.

use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::helpers::ticket;

db_test! {
    async fn a_voucher_round_trips_and_is_validated(app) {
        let tiers = app
            .shop("vouchered", json!({}), &[json!({"name": "Public", "price": 100, "capacity": 10}), json!({"name": "Hidden", "price": 0, "capacity": 10, "hidden": true})])
            .await;
        let created = app
            .post(
                "/api/v1/admin/events/vouchered/vouchers",
                &app.admin,
                json!({"code": "sponsor-acme", "discount_kind": "percent", "discount_value": 20, "applies_to": [tiers[0]], "unlocks": [tiers[1]], "usage_limit": 10}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["code"], "SPONSOR-ACME");
        assert_eq!(created.body["used"], 0);
        let id = created.body["id"].as_str().unwrap();
        let path = format!("/api/v1/admin/events/vouchered/vouchers/{id}");

        let updated = app.patch(&path, &app.admin, json!({"usage_limit": null, "discount_value": 25})).await;
        assert_eq!((updated.body["usage_limit"].clone(), updated.body["discount_value"].clone()), (json!(null), json!(25)));
        let listed = app.get("/api/v1/admin/events/vouchered/vouchers", Some(&app.admin)).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 1);

        let dup = app
            .post("/api/v1/admin/events/vouchered/vouchers", &app.admin, json!({"code": "Sponsor-Acme", "discount_kind": "fixed", "discount_value": 1}))
            .await;
        dup.assert_problem(422, "validation_failed");
        assert_eq!(dup.error_fields(), ["code"]);

        let bad = app
            .post(
                "/api/v1/admin/events/vouchered/vouchers",
                &app.admin,
                json!({"code": "x", "discount_kind": "percent", "discount_value": 0, "unlocks": [tiers[0]], "valid_from": "2027-01-02T00:00:00Z", "valid_until": "2027-01-01T00:00:00Z"}),
            )
            .await;
        bad.assert_problem(422, "validation_failed");
        assert_eq!(bad.error_fields(), ["code", "discount_value", "unlocks[0]", "valid_until"]);

        // Used vouchers are archived, not deleted.
        let order = app
            .order("vouchered", json!({"email": "a@example.org", "voucher": "sponsor-acme", "tickets": [ticket(&tiers[0], "A")]}))
            .await;
        assert_eq!(order.body["total"], 75);
        app.delete(&path, &app.admin).await.assert_problem(409, "voucher_was_used");
        let archived = app.post(&format!("{path}/archive"), &app.admin, json!({})).await;
        assert!(archived.body["archived_at"].is_string());
        let refused = app
            .order("vouchered", json!({"email": "b@example.org", "voucher": "sponsor-acme", "tickets": [ticket(&tiers[0], "B")]}))
            .await;
        refused.assert_problem(422, "invalid_voucher");
    }
}

db_test! {
    async fn a_voucher_outside_its_window_is_invalid(app) {
        let tiers = app.shop("windowed", json!({}), &[json!({"name": "R", "price": 100, "capacity": 10})]).await;
        let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        app.post(
            "/api/v1/admin/events/windowed/vouchers",
            &app.admin,
            json!({"code": "SOON", "discount_kind": "fixed", "discount_value": 10, "valid_from": tomorrow}),
        )
        .await;
        let answer = app.order("windowed", json!({"email": "a@example.org", "voucher": "soon", "tickets": [ticket(&tiers[0], "A")]})).await;
        answer.assert_problem(422, "invalid_voucher");
        assert_eq!(answer.error_fields(), ["voucher"]);
    }
}

db_test! {
    async fn a_front_end_finds_hidden_tiers_from_a_voucher(app) {
        let tiers = app
            .shop("lookup", json!({}), &[json!({"name": "Regular", "price": 10000, "capacity": 10}), json!({"name": "Speaker", "price": 0, "capacity": 5, "hidden": true})])
            .await;
        let until = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        let created = app
            .post("/api/v1/admin/events/lookup/vouchers", &app.admin, json!({"code": "SPEAKER-2027", "discount_kind": "percent", "discount_value": 50, "applies_to": [tiers[0]], "unlocks": [tiers[1]], "usage_limit": 40, "valid_until": until}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

        let found = app.get("/api/v1/events/lookup/vouchers/speaker-2027", None).await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.body);
        let b = &found.body;
        assert_eq!((&b["code"], &b["discount_kind"], &b["discount_value"], &b["available"]), (&json!("SPEAKER-2027"), &json!("percent"), &json!(50), &json!(true)));
        assert_eq!(b["applies_to"], json!([tiers[0]]));
        assert_eq!(b["unlocks"][0]["id"], tiers[1].as_str());
        assert_eq!(b["unlocks"][0]["name"], "Speaker");
        assert_eq!(b["unlocks"][0]["remaining"], 5);
        assert_eq!(b["valid_until"], until.as_str());
        // Nobody learns how often others used it.
        for private in ["used", "usage_limit", "uses", "id"] {
            assert!(b.get(private).is_none(), "{private} leaked: {b}");
        }

        // The tier listing shows the hidden tier to holders of the code only.
        let names = |body: &serde_json::Value| -> Vec<String> { body.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect() };
        assert_eq!(names(&app.get("/api/v1/events/lookup/tiers", None).await.body), ["Regular"]);
        assert_eq!(names(&app.get("/api/v1/events/lookup/tiers?voucher=speaker-2027", None).await.body), ["Regular", "Speaker"]);
        assert_eq!(names(&app.get("/api/v1/events/lookup/tiers?voucher=NOPE", None).await.body), ["Regular"]);

        // Unknown, expired and used-up codes all answer alike.
        let past = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
        app.post("/api/v1/admin/events/lookup/vouchers", &app.admin, json!({"code": "EARLY", "discount_kind": "fixed", "discount_value": 100, "valid_until": past})).await;
        app.post("/api/v1/admin/events/lookup/vouchers", &app.admin, json!({"code": "ONCE", "discount_kind": "fixed", "discount_value": 100, "usage_limit": 1})).await;
        let used = app.order("lookup", json!({"email": "a@example.org", "voucher": "once", "tickets": [ticket(&tiers[0], "A")]})).await;
        assert_eq!(used.status, StatusCode::CREATED, "{}", used.body);
        let mut answers = Vec::new();
        for code in ["NOPE", "EARLY", "ONCE"] {
            let answer = app.get(&format!("/api/v1/events/lookup/vouchers/{code}"), None).await;
            answer.assert_problem(404, "invalid_voucher");
            answers.push(answer.body.to_string().replace(code, "CODE"));
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    }
}

db_test! {
    async fn a_voucher_not_yet_valid_says_when_it_opens(app) {
        app.shop("soon", json!({}), &[json!({"name": "Regular", "price": 10000, "capacity": 10})]).await;
        let from = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        app.post("/api/v1/admin/events/soon/vouchers", &app.admin, json!({"code": "LATER", "discount_kind": "fixed", "discount_value": 100, "valid_from": from})).await;
        let found = app.get("/api/v1/events/soon/vouchers/later", None).await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.body);
        assert_eq!((&found.body["available"], &found.body["valid_from"]), (&json!(false), &json!(from)));
    }
}

#[tokio::test]
async fn voucher_guessing_is_rate_limited() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Backend::Sqlite, |s| {
        s.voucher_lookups_per_minute = 5
    })
    .await
    .unwrap();
    app.shop(
        "guess",
        json!({}),
        &[json!({"name": "Regular", "price": 0, "capacity": 10})],
    )
    .await;
    for i in 0..5 {
        app.get(&format!("/api/v1/events/guess/vouchers/TRY{i}"), None)
            .await
            .assert_problem(404, "invalid_voucher");
    }
    let response = app
        .client
        .get(app.url("/api/v1/events/guess/vouchers/TRY5"))
        .send()
        .await
        .unwrap();
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    crate::helpers::answer(response)
        .await
        .assert_problem(429, "too_many_requests");
    assert!((1..=60).contains(&wait), "{wait}");
    // The tier listing with a code counts against the same budget.
    app.get("/api/v1/events/guess/tiers?voucher=TRY6", None)
        .await
        .assert_problem(429, "too_many_requests");
    // Without a code it is not limited.
    assert_eq!(
        app.get("/api/v1/events/guess/tiers", None).await.status,
        StatusCode::OK
    );
}

db_test! {
    async fn a_quote_prices_the_order_as_placing_would_and_holds_nothing(app) {
        let tiers = app
            .shop("quotes", json!({}), &[json!({"name": "Regular", "price": 10000, "capacity": 2})])
            .await;
        app.post("/api/v1/admin/events/quotes/vouchers", &app.admin, json!({"code": "EARLY20", "discount_kind": "percent", "discount_value": 20})).await;
        let body = json!({"email": "a@example.org", "voucher": "early20", "tickets": [ticket(&tiers[0], "Ada"), ticket(&tiers[0], "Grace")]});
        let quoted = app.post("/api/v1/events/quotes/quote", &app.admin, body.clone()).await;
        assert_eq!(quoted.status, StatusCode::OK, "{}", quoted.body);
        let q = &quoted.body;
        assert_eq!((&q["subtotal"], &q["discount"], &q["total"], &q["payment_required"], &q["voucher"]), (&json!(20000), &json!(4000), &json!(16000), &json!(true), &json!("EARLY20")));
        assert_eq!(q["lines"][1]["attendee_name"], "Grace");
        assert_eq!((&q["lines"][0]["unit_price"], &q["lines"][0]["discount"], &q["lines"][0]["price"]), (&json!(10000), &json!(2000), &json!(8000)));
        // Nothing held, nothing written.
        let listed = app.get("/api/v1/events/quotes/tiers", None).await;
        assert_eq!(listed.body[0]["remaining"], 2, "{}", listed.body);
        assert!(entity::order::Entity::find().all(&app.db).await.unwrap().is_empty());

        // The order placed after it costs what the quote said.
        let placed = app.order("quotes", body).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        assert_eq!(placed.body["total"], q["total"]);

        // Refusals are the ones placing gives.
        for bad in [
            json!({"email": "nope", "voucher": "GONE", "tickets": [ticket(&tiers[0], ""), ticket(&uuid::Uuid::nil().to_string(), "X")]}),
            json!({"email": "b@example.org", "tickets": [ticket(&tiers[0], "Linus")]}),
        ] {
            let quoted = app.post("/api/v1/events/quotes/quote", &app.admin, bad.clone()).await;
            let placed = app.order("quotes", bad).await;
            assert!(quoted.status.is_client_error(), "{}", quoted.body);
            assert_eq!((quoted.status, &quoted.body["code"], &quoted.body["errors"]), (placed.status, &placed.body["code"], &placed.body["errors"]), "{}", quoted.body);
        }
    }
}
