//! Organizer voucher management.

use reqwest::StatusCode;
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
