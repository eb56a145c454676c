use reqwest::StatusCode;
use serde_json::json;

db_test! {
    async fn a_tier_round_trips_through_create_read_and_update(app) {
        app.create_event("tiered", json!({})).await;
        let tier = app
            .create_tier(
                "tiered",
                json!({"name": "Early bird", "price": 19900, "capacity": 100, "includes_swag": true, "max_per_order": 4}),
            )
            .await;
        assert_eq!(tier["event"], "tiered");
        assert_eq!(tier["currency"], "EUR");
        assert_eq!((tier["min_per_order"].clone(), tier["max_per_order"].clone()), (json!(1), json!(4)));
        assert_eq!(tier["hidden"], false);
        let id = tier["id"].as_str().unwrap();

        let read = app.get(&format!("/api/v1/admin/events/tiered/tiers/{id}"), Some(&app.admin)).await;
        assert_eq!(read.body, tier);

        let updated = app
            .patch(&format!("/api/v1/admin/events/tiered/tiers/{id}"), &app.admin, json!({"price": 24900, "hidden": true}))
            .await;
        assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
        assert_eq!((updated.body["price"].clone(), updated.body["hidden"].clone()), (json!(24900), json!(true)));
        assert_eq!(updated.body["name"], "Early bird");

        let listed = app.get("/api/v1/admin/events/tiered/tiers", Some(&app.admin)).await;
        assert_eq!(listed.body, json!([updated.body]));
    }
}

db_test! {
    async fn an_invalid_tier_names_every_bad_field(app) {
        app.create_event("strict", json!({"swag_sizes": []})).await;
        let now = chrono::Utc::now();
        let answer = app
            .post(
                "/api/v1/admin/events/strict/tiers",
                &app.admin,
                json!({
                    "name": "",
                    "price": -100,
                    "capacity": 2_000_000,
                    "sales_start": now.to_rfc3339(),
                    "sales_end": (now - chrono::Duration::hours(1)).to_rfc3339(),
                    "min_per_order": 5,
                    "max_per_order": 2,
                    "includes_swag": true
                }),
            )
            .await;
        answer.assert_problem(422, "validation_failed");
        let mut fields = answer.error_fields();
        fields.sort();
        assert_eq!(fields, ["capacity", "includes_swag", "max_per_order", "name", "price", "sales_end"]);
        let listed = app.get("/api/v1/admin/events/strict/tiers", Some(&app.admin)).await;
        assert_eq!(listed.body, json!([]));
    }
}

db_test! {
    async fn tiers_with_tickets_are_archived_not_deleted(app) {
        app.create_event("kept", json!({})).await;
        let tier = app.create_tier("kept", json!({"name": "Regular", "price": 100, "capacity": 10})).await;
        let id = tier["id"].as_str().unwrap();
        app.publish("kept").await;
        let order = app.order("kept", json!({"email": "a@example.org", "tickets": [crate::helpers::ticket(id, "A")]})).await;
        assert_eq!(order.status, StatusCode::CREATED);

        let path = format!("/api/v1/admin/events/kept/tiers/{id}");
        app.delete(&path, &app.admin).await.assert_problem(409, "tier_has_tickets");
        let archived = app.post(&format!("{path}/archive"), &app.admin, json!({})).await;
        assert!(archived.body["archived_at"].is_string());
        app.patch(&path, &app.admin, json!({"price": 1})).await.assert_problem(409, "tier_archived");
        let public = app.get("/api/v1/events/kept/tiers", None).await;
        assert_eq!(public.body, json!([]));
        // The held ticket stays with its order.
        let code = order.body["code"].as_str().unwrap();
        let kept = app.get(&format!("/api/v1/admin/events/kept/orders/{code}"), Some(&app.admin)).await;
        assert_eq!(kept.body["tickets"][0]["tier_name"], "Regular");
    }
}

db_test! {
    async fn tiers_without_tickets_can_be_deleted(app) {
        app.create_event("drafty", json!({})).await;
        let tier = app.create_tier("drafty", json!({"name": "Regular", "price": 100, "capacity": 10})).await;
        let path = format!("/api/v1/admin/events/drafty/tiers/{}", tier["id"].as_str().unwrap());
        assert_eq!(app.delete(&path, &app.admin).await.status, StatusCode::NO_CONTENT);
        app.get(&path, Some(&app.admin)).await.assert_problem(404, "not_found");
    }
}

db_test! {
    async fn a_tier_is_only_found_under_its_own_event(app) {
        app.create_event("one", json!({})).await;
        app.create_event("two", json!({})).await;
        let tier = app.create_tier("one", json!({"name": "Regular", "price": 100, "capacity": 10})).await;
        let wrong = format!("/api/v1/admin/events/two/tiers/{}", tier["id"].as_str().unwrap());
        app.get(&wrong, Some(&app.admin)).await.assert_problem(404, "not_found");
    }
}

db_test! {
    async fn removing_the_size_chart_is_refused_while_tiers_include_swag(app) {
        app.create_event("shirts", json!({})).await;
        app.create_tier("shirts", json!({"name": "With shirt", "price": 0, "capacity": 10, "includes_swag": true})).await;
        let answer = app.patch("/api/v1/admin/events/shirts", &app.admin, json!({"swag_sizes": []})).await;
        answer.assert_problem(422, "validation_failed");
        assert_eq!(answer.error_fields(), ["swag_sizes"]);
    }
}
