use reqwest::StatusCode;
use serde_json::json;

db_test! {
    async fn an_organizer_publishes_an_event_with_two_tiers_and_attendees_see_them(app) {
        let organizer = app.all_events_token(tessera::domain::staff::Role::Organizer).await;
        let mut body = crate::helpers::event_body("pycon-x");
        body["capacity"] = json!(150);
        let created = app.post("/api/v1/admin/events", &organizer, body).await;
        assert_eq!(created.status, StatusCode::CREATED);
        for (name, price, capacity, order) in [("Regular", 25000, 300, 2), ("Student", 5000, 40, 1)] {
            let tier = app
                .post(
                    "/api/v1/admin/events/pycon-x/tiers",
                    &organizer,
                    json!({"name": name, "price": price, "capacity": capacity, "sort_order": order}),
                )
                .await;
            assert_eq!(tier.status, StatusCode::CREATED, "{}", tier.body);
        }
        // Drafts are invisible.
        app.get("/api/v1/events/pycon-x", None).await.assert_problem(404, "not_found");
        app.get("/api/v1/events/pycon-x/tiers", None).await.assert_problem(404, "not_found");
        assert_eq!(app.get("/api/v1/events", None).await.body["items"], json!([]));

        let published = app.post("/api/v1/admin/events/pycon-x/publish", &organizer, json!({})).await;
        assert_eq!(published.status, StatusCode::OK);

        let events = app.get("/api/v1/events", None).await;
        assert_eq!(events.body["items"][0]["slug"], "pycon-x");
        let event = app.get("/api/v1/events/pycon-x", None).await;
        assert_eq!(event.body["currency"], "EUR");
        assert_eq!(event.body["swag_sizes"][0], json!({"size": "S", "cut": "straight", "available": true}));
        assert!(event.body.get("status").is_none() && event.body.get("capacity").is_none());

        let tiers = app.get("/api/v1/events/pycon-x/tiers", None).await;
        let tiers = tiers.body.as_array().unwrap();
        assert_eq!(tiers.len(), 2);
        assert_eq!(tiers[0]["name"], "Student");
        assert_eq!(
            (tiers[0]["price"].clone(), tiers[0]["currency"].clone(), tiers[0]["sale_state"].clone(), tiers[0]["remaining"].clone()),
            (json!(5000), json!("EUR"), json!("on_sale"), json!(40))
        );
        // The venue (150) caps the bigger tier (300).
        assert_eq!((tiers[1]["name"].clone(), tiers[1]["remaining"].clone()), (json!("Regular"), json!(150)));
    }
}

db_test! {
    async fn hidden_and_archived_tiers_are_not_listed(app) {
        app.create_event("secretive", json!({})).await;
        app.create_tier("secretive", json!({"name": "Visible", "price": 100, "capacity": 5})).await;
        app.create_tier("secretive", json!({"name": "Speaker", "price": 0, "capacity": 5, "hidden": true})).await;
        let old = app.create_tier("secretive", json!({"name": "Old", "price": 100, "capacity": 5})).await;
        app.post(
            &format!("/api/v1/admin/events/secretive/tiers/{}/archive", old["id"].as_str().unwrap()),
            &app.admin,
            json!({}),
        )
        .await;
        app.publish("secretive").await;
        let tiers = app.get("/api/v1/events/secretive/tiers", None).await;
        let names: Vec<_> = tiers.body.as_array().unwrap().iter().map(|t| t["name"].clone()).collect();
        assert_eq!(names, ["Visible"]);
    }
}

db_test! {
    async fn sale_states_follow_the_sales_window_and_capacity(app) {
        app.create_event("windows", json!({})).await;
        let now = chrono::Utc::now();
        let hour = chrono::Duration::hours(1);
        app.create_tier("windows", json!({"name": "Later", "price": 1, "capacity": 5, "sales_start": (now + hour).to_rfc3339(), "sort_order": 1})).await;
        app.create_tier("windows", json!({"name": "Closed", "price": 1, "capacity": 5, "sales_end": (now - hour).to_rfc3339(), "sort_order": 2})).await;
        app.create_tier("windows", json!({"name": "Empty", "price": 1, "capacity": 0, "sort_order": 3})).await;
        app.create_tier("windows", json!({"name": "Open", "price": 1, "capacity": 5, "sort_order": 4})).await;
        app.publish("windows").await;
        let tiers = app.get("/api/v1/events/windows/tiers", None).await;
        let states: Vec<_> = tiers.body.as_array().unwrap().iter().map(|t| t["sale_state"].clone()).collect();
        assert_eq!(states, ["upcoming", "ended", "sold_out", "on_sale"]);
    }
}

db_test! {
    async fn archived_events_leave_the_catalogue(app) {
        app.create_event("bygone", json!({})).await;
        app.publish("bygone").await;
        assert_eq!(app.get("/api/v1/events/bygone", None).await.status, StatusCode::OK);
        app.post("/api/v1/admin/events/bygone/archive", &app.admin, json!({})).await;
        app.get("/api/v1/events/bygone", None).await.assert_problem(404, "not_found");
        assert_eq!(app.get("/api/v1/events", None).await.body["items"], json!([]));
    }
}

db_test! {
    async fn a_swag_size_that_is_gone_shows_as_unavailable(app) {
        let mut event = crate::helpers::event_body("shirts-left");
        event["swag_sizes"][0]["stock"] = json!(1);
        let created = app.post("/api/v1/admin/events", &app.admin, event).await;
        assert_eq!(created.status, reqwest::StatusCode::CREATED, "{}", created.body);
        let tier = app
            .post("/api/v1/admin/events/shirts-left/tiers", &app.admin, json!({"name": "Regular", "price": 0, "capacity": 10, "includes_swag": true}))
            .await;
        let tier = tier.body["id"].as_str().unwrap().to_owned();
        app.post("/api/v1/admin/events/shirts-left/publish", &app.admin, json!({})).await;
        let sizes = |body: &serde_json::Value| -> Vec<(String, String, bool)> {
            body["swag_sizes"].as_array().unwrap().iter()
                .map(|s| (s["size"].as_str().unwrap().to_owned(), s["cut"].as_str().unwrap_or_default().to_owned(), s["available"].as_bool().unwrap()))
                .collect()
        };
        let before = app.get("/api/v1/events/shirts-left", None).await;
        assert_eq!(sizes(&before.body)[0], ("S".into(), "straight".into(), true), "{}", before.body);
        assert!(before.body["swag_sizes"][0].get("stock").is_none(), "no stock count: {}", before.body);
        let mut t = crate::helpers::ticket(&tier, "Ada");
        t["swag_size"] = json!("S");
        t["swag_cut"] = json!("straight");
        let order = app.order("shirts-left", json!({"email": "ada@example.org", "tickets": [t]})).await;
        assert_eq!(order.status, reqwest::StatusCode::CREATED, "{}", order.body);
        let after = app.get("/api/v1/events/shirts-left", None).await;
        assert_eq!(sizes(&after.body), [
            ("S".into(), "straight".into(), false),
            ("M".into(), "straight".into(), true),
            ("M".into(), "fitted".into(), true),
        ]);
    }
}
