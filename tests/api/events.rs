use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::event_body;

db_test! {
    async fn an_event_round_trips_through_create_read_and_update(app) {
        let created = app.create_event("rustfest", json!({"venue": "Hall 7", "description": "Two days\nof Rust"})).await;
        assert_eq!(created["status"], "draft");
        assert_eq!(created["currency"], "EUR");
        assert_eq!(created["capacity"], 500);
        assert_eq!(created["swag_sizes"][0], json!({"size": "S", "cut": "straight", "stock": 50}));
        assert_eq!(created["swag_sizes"][2], json!({"size": "M", "cut": "fitted", "stock": null}));

        let read = app.get("/api/v1/admin/events/rustfest", Some(&app.admin)).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(read.body, created);

        let updated = app
            .patch(
                "/api/v1/admin/events/rustfest",
                &app.admin,
                json!({"name": "RustFest 2027", "capacity": null, "venue": null, "dietary_options": ["none", "halal"]}),
            )
            .await;
        assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
        assert_eq!(updated.body["name"], "RustFest 2027");
        assert_eq!(updated.body["capacity"], json!(null));
        assert_eq!(updated.body["venue"], json!(null));
        assert_eq!(updated.body["dietary_options"], json!(["none", "halal"]));
        // Untouched fields stay.
        assert_eq!(updated.body["description"], "Two days\nof Rust");
        assert_eq!(updated.body["swag_sizes"], created["swag_sizes"]);

        let again = app.get("/api/v1/admin/events/rustfest", Some(&app.admin)).await;
        assert_eq!(again.body, updated.body);
    }
}

db_test! {
    async fn an_invalid_event_names_every_bad_field(app) {
        let mut body = event_body("Bad Slug!");
        body["name"] = json!("x".repeat(201));
        body["timezone"] = json!("Mars/Olympus_Mons");
        body["currency"] = json!("EURO");
        body["ends_at"] = body["starts_at"].clone();
        body["capacity"] = json!(-3);
        body["swag_sizes"] = json!([{"size": "M", "cut": "fitted"}, {"size": "m", "cut": "FITTED", "stock": -1}]);
        body["dietary_options"] = json!(["vegan", "Vegan", ""]);
        let answer = app.post("/api/v1/admin/events", &app.admin, body).await;
        answer.assert_problem(422, "validation_failed");
        let mut fields = answer.error_fields();
        fields.sort();
        assert_eq!(
            fields,
            [
                "capacity",
                "currency",
                "dietary_options[1]",
                "dietary_options[2]",
                "ends_at",
                "name",
                "slug",
                "swag_sizes[1]",
                "swag_sizes[1].stock",
                "timezone",
            ]
        );
        // Nothing was written.
        let listed = app.get("/api/v1/admin/events", Some(&app.admin)).await;
        assert_eq!(listed.body["items"], json!([]));
    }
}

db_test! {
    async fn a_taken_slug_is_refused(app) {
        app.create_event("dup", json!({})).await;
        let again = app.post("/api/v1/admin/events", &app.admin, event_body("dup")).await;
        again.assert_problem(422, "validation_failed");
        assert_eq!(again.error_fields(), ["slug"]);
        assert_eq!(again.body["errors"][0]["code"], "taken");
    }
}

db_test! {
    async fn absurd_lengths_are_refused(app) {
        let mut body = event_body("long-one");
        body["description"] = json!("a".repeat(20_001));
        body["venue"] = json!("v".repeat(501));
        body["swag_sizes"] = json!((0..65).map(|i| json!({"size": format!("S{i}")})).collect::<Vec<_>>());
        let answer = app.post("/api/v1/admin/events", &app.admin, body).await;
        answer.assert_problem(422, "validation_failed");
        let fields = answer.error_fields();
        for field in ["description", "venue", "swag_sizes"] {
            assert!(fields.contains(&field.to_owned()), "{field} missing from {fields:?}");
        }
    }
}

db_test! {
    async fn an_update_must_leave_a_valid_event(app) {
        let created = app.create_event("shifty", json!({})).await;
        let answer = app
            .patch("/api/v1/admin/events/shifty", &app.admin, json!({"ends_at": created["starts_at"]}))
            .await;
        answer.assert_problem(422, "validation_failed");
        assert_eq!(answer.error_fields(), ["ends_at"]);
        let unchanged = app.get("/api/v1/admin/events/shifty", Some(&app.admin)).await;
        assert_eq!(unchanged.body["ends_at"], created["ends_at"]);
    }
}

db_test! {
    async fn events_go_from_draft_to_published_to_archived(app) {
        app.create_event("lifecycle", json!({})).await;
        let published = app.post("/api/v1/admin/events/lifecycle/publish", &app.admin, json!({})).await;
        assert_eq!(published.body["status"], "published");
        let first_published = published.body["published_at"].clone();
        assert!(first_published.is_string());

        let again = app.post("/api/v1/admin/events/lifecycle/publish", &app.admin, json!({})).await;
        assert_eq!((again.status, &again.body["published_at"]), (StatusCode::OK, &first_published));

        let draft = app.post("/api/v1/admin/events/lifecycle/unpublish", &app.admin, json!({})).await;
        assert_eq!(draft.body["status"], "draft");
        assert_eq!(draft.body["published_at"], first_published);

        // Once it has orders, it is archived, never deleted.
        let tier = app.create_tier("lifecycle", json!({"name": "Free", "price": 0, "capacity": 5})).await;
        app.publish("lifecycle").await;
        let order = app
            .order("lifecycle", json!({"email": "a@example.org", "tickets": [crate::helpers::ticket(tier["id"].as_str().unwrap(), "A")]}))
            .await;
        assert_eq!(order.status, StatusCode::CREATED);
        app.delete("/api/v1/admin/events/lifecycle", &app.admin).await.assert_problem(409, "event_has_orders");
        // And its currency is settled.
        let currency = app.patch("/api/v1/admin/events/lifecycle", &app.admin, json!({"currency": "USD"})).await;
        currency.assert_problem(422, "validation_failed");
        assert_eq!(currency.error_fields(), ["currency"]);

        let archived = app.post("/api/v1/admin/events/lifecycle/archive", &app.admin, json!({})).await;
        assert_eq!(archived.body["status"], "archived");
        assert!(archived.body["archived_at"].is_string());
        app.patch("/api/v1/admin/events/lifecycle", &app.admin, json!({"name": "x"}))
            .await
            .assert_problem(409, "event_archived");
        app.post("/api/v1/admin/events/lifecycle/publish", &app.admin, json!({}))
            .await
            .assert_problem(409, "event_archived");
        // Still readable by organizers, with its status filter.
        let archived_list = app.get("/api/v1/admin/events?status=archived", Some(&app.admin)).await;
        assert_eq!(archived_list.body["items"][0]["slug"], "lifecycle");
        let drafts = app.get("/api/v1/admin/events?status=draft", Some(&app.admin)).await;
        assert_eq!(drafts.body["items"], json!([]));
    }
}

db_test! {
    async fn an_event_without_orders_can_be_deleted(app) {
        app.create_event("scratch", json!({})).await;
        app.create_tier("scratch", json!({"name": "R", "price": 1, "capacity": 1})).await;
        app.publish("scratch").await;
        let deleted = app.delete("/api/v1/admin/events/scratch", &app.admin).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        app.get("/api/v1/admin/events/scratch", Some(&app.admin)).await.assert_problem(404, "not_found");
        // The slug is free again.
        app.create_event("scratch", json!({})).await;
    }
}

db_test! {
    async fn event_lists_page_with_a_cursor_in_start_order(app) {
        for (slug, days) in [("third", 30), ("first", 10), ("second", 20)] {
            let starts = chrono::Utc::now() + chrono::Duration::days(days);
            app.create_event(
                slug,
                json!({"starts_at": starts.to_rfc3339(), "ends_at": (starts + chrono::Duration::hours(8)).to_rfc3339()}),
            )
            .await;
        }
        let first = app.get("/api/v1/admin/events?limit=2", Some(&app.admin)).await;
        let slugs: Vec<_> = first.body["items"].as_array().unwrap().iter().map(|e| e["slug"].clone()).collect();
        assert_eq!(slugs, ["first", "second"]);
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let second = app.get(&format!("/api/v1/admin/events?limit=2&cursor={cursor}"), Some(&app.admin)).await;
        let slugs: Vec<_> = second.body["items"].as_array().unwrap().iter().map(|e| e["slug"].clone()).collect();
        assert_eq!(slugs, ["third"]);
        assert_eq!(second.body["next_cursor"], json!(null));

        app.get("/api/v1/admin/events?limit=0", Some(&app.admin)).await.assert_problem(422, "validation_failed");
        let bad_cursor = app.get("/api/v1/admin/events?cursor=garbage", Some(&app.admin)).await;
        bad_cursor.assert_problem(422, "validation_failed");
        assert_eq!(bad_cursor.error_fields(), ["cursor"]);
    }
}
