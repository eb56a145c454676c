use reqwest::StatusCode;
use serde_json::json;

db_test! {
    async fn malformed_json_is_a_400_problem(app) {
        for body in [r#"{"slug": "x", "#, "not json at all", "{} {}"] {
            let response = app
                .client
                .post(app.url("/api/v1/admin/events"))
                .bearer_auth(&app.admin)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            crate::helpers::answer(response).await.assert_problem(400, "malformed_body");
        }
    }
}

db_test! {
    async fn a_wrong_type_or_missing_field_is_a_422_naming_the_field(app) {
        let mut body = crate::helpers::event_body("typed");
        body["capacity"] = json!("lots");
        let answer = app.post("/api/v1/admin/events", &app.admin, body).await;
        answer.assert_problem(422, "validation_failed");
        assert_eq!(answer.error_fields(), ["capacity"]);
        assert_eq!(answer.body["errors"][0]["code"], "invalid_type");

        let mut body = crate::helpers::event_body("typed");
        body["swag_sizes"][1]["stock"] = json!(1.5);
        let answer = app.post("/api/v1/admin/events", &app.admin, body).await;
        assert_eq!(answer.error_fields(), ["swag_sizes[1].stock"]);

        let mut body = crate::helpers::event_body("typed");
        body.as_object_mut().unwrap().remove("currency");
        let answer = app.post("/api/v1/admin/events", &app.admin, body).await;
        answer.assert_problem(422, "validation_failed");
        assert_eq!(answer.error_fields(), ["currency"]);
        assert_eq!(answer.body["errors"][0]["code"], "required");

        let mut body = crate::helpers::event_body("typed");
        body["starts_at"] = json!("next tuesday");
        let answer = app.post("/api/v1/admin/events", &app.admin, body).await;
        assert_eq!(answer.error_fields(), ["starts_at"]);

        let mut body = crate::helpers::event_body("typed");
        body["prize"] = json!(1);
        let answer = app.post("/api/v1/admin/events", &app.admin, body).await;
        assert_eq!(answer.error_fields(), ["prize"]);
        assert_eq!(answer.body["errors"][0]["code"], "unknown_field");
    }
}

db_test! {
    async fn a_body_that_is_not_json_is_a_415_problem(app) {
        let response = app
            .client
            .post(app.url("/api/v1/admin/events"))
            .bearer_auth(&app.admin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("slug=x")
            .send()
            .await
            .unwrap();
        crate::helpers::answer(response).await.assert_problem(415, "unsupported_media_type");
    }
}

db_test! {
    async fn unknown_paths_and_methods_are_problems(app) {
        app.get("/api/v1/nothing-here", None).await.assert_problem(404, "not_found");
        let answer = app.call(reqwest::Method::PUT, "/api/v1/events", None, None).await;
        answer.assert_problem(405, "method_not_allowed");
        app.get("/api/v1/events/no-such-event", None).await.assert_problem(404, "not_found");
    }
}

db_test! {
    async fn bad_path_and_query_parameters_name_the_parameter(app) {
        app.create_event("params", json!({})).await;
        // An id that is not a UUID names no tier.
        let answer = app.get("/api/v1/admin/events/params/tiers/not-a-uuid", Some(&app.admin)).await;
        answer.assert_problem(404, "not_found");

        let answer = app.get("/api/v1/events?limit=many", None).await;
        answer.assert_problem(400, "invalid_parameter");
        assert_eq!(answer.error_fields(), ["limit"]);

        let answer = app.get("/api/v1/admin/events?status=deleted", Some(&app.admin)).await;
        answer.assert_problem(400, "invalid_parameter");
        assert_eq!(answer.error_fields(), ["status"]);
    }
}

db_test! {
    async fn an_oversized_body_is_refused(app) {
        let mut body = crate::helpers::event_body("huge");
        body["description"] = json!("x".repeat(300 * 1024));
        let answer = app.post("/api/v1/admin/events", &app.admin, body).await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        answer.assert_problem(413, "payload_too_large");
    }
}

db_test! {
    async fn nul_characters_never_reach_the_database(app) {
        let tiers = app
            .shop("nul-conf", json!({}), &[json!({"name": "Free", "price": 0, "capacity": 10})])
            .await;
        for path in [
            "/api/v1/events/nul%00conf",
            "/api/v1/events/nul-conf%00",
            "/api/v1/events/nul-conf/vouchers/AB%00CD",
            "/api/v1/orders/AB%00CD",
        ] {
            app.get(path, None).await.assert_problem(404, "not_found");
        }
        let search = app.get("/api/v1/admin/events/nul-conf/attendees?q=a%00b", Some(&app.admin)).await;
        search.assert_problem(422, "control_characters");
        assert_eq!(search.error_fields(), ["q"]);

        let order = app
            .order("nul-conf", json!({"email": "ada\u{0}@example.org", "tickets": [crate::helpers::ticket(&tiers[0], "Ada")]}))
            .await;
        order.assert_problem(422, "validation_failed");
        assert_eq!(order.error_fields(), ["email"]);
        let order = app
            .order("nul-conf", json!({"email": "ada@example.org", "tickets": [crate::helpers::ticket(&tiers[0], "A\u{0}da")]}))
            .await;
        assert_eq!(order.error_fields(), ["tickets[0].attendee_name"]);

        let mut event = crate::helpers::event_body("nul\u{0}slug");
        event["name"] = json!("Fine");
        let created = app.post("/api/v1/admin/events", &app.admin, event).await;
        created.assert_problem(422, "validation_failed");
        assert_eq!(created.error_fields(), ["slug"]);
    }
}

db_test! {
    async fn attendee_search_matches_percent_and_underscore_literally(app) {
        let tiers = app
            .shop("like-conf", json!({}), &[json!({"name": "Free", "price": 0, "capacity": 10})])
            .await;
        for (email, name) in [("ada@example.org", "Ada"), ("bo@example.org", "Bo_100%")] {
            let placed = app.order("like-conf", json!({"email": email, "tickets": [crate::helpers::ticket(&tiers[0], name)]})).await;
            assert_eq!(placed.status, reqwest::StatusCode::CREATED, "{}", placed.body);
        }
        let names = |answer: &crate::helpers::Answer| -> Vec<String> {
            answer.body["items"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_owned()).collect()
        };
        let all = app.get("/api/v1/admin/events/like-conf/attendees?q=%25", Some(&app.admin)).await;
        assert_eq!(names(&all), ["Bo_100%"], "{}", all.body);
        let under = app.get("/api/v1/admin/events/like-conf/attendees?q=_", Some(&app.admin)).await;
        assert_eq!(names(&under), ["Bo_100%"], "{}", under.body);
    }
}

db_test! {
    async fn a_date_where_a_timestamp_is_expected_says_so(app) {
        for given in ["2027-01-02", "2027-01-02T09:00:00", "next tuesday"] {
            let mut body = crate::helpers::event_body("dated");
            body["starts_at"] = json!(given);
            let answer = app.post("/api/v1/admin/events", &app.admin, body).await;
            answer.assert_problem(422, "validation_failed");
            assert_eq!(answer.error_fields(), ["starts_at"]);
            let error = &answer.body["errors"][0];
            assert_eq!(error["code"], "invalid_datetime", "{given}: {}", answer.body);
            let message = error["message"].as_str().unwrap();
            assert!(message.contains("2027-01-02T09:00:00Z") && !message.contains("premature"), "{given}: {message}");
        }
    }
}

db_test! {
    async fn every_missing_field_is_named_at_once(app) {
        let mut body = crate::helpers::event_body("all-at-once");
        let fields = body.as_object_mut().unwrap();
        for gone in ["currency", "starts_at", "name"] {
            fields.remove(gone);
        }
        let answer = app.post("/api/v1/admin/events", &app.admin, body).await;
        answer.assert_problem(422, "validation_failed");
        let mut named = answer.error_fields();
        named.sort_unstable();
        assert_eq!(named, ["currency", "name", "starts_at"], "{}", answer.body);
        assert!(answer.body["errors"].as_array().unwrap().iter().all(|e| e["code"] == "required"));

        // Nested too: each ticket's missing fields, and the buyer's email.
        let tiers = app.shop("nested-missing", json!({}), &[json!({"name": "Free", "price": 0, "capacity": 5})]).await;
        let order = app
            .order("nested-missing", json!({"tickets": [{"tier_id": tiers[0]}, {"attendee_name": "Grace"}]}))
            .await;
        order.assert_problem(422, "validation_failed");
        let mut named = order.error_fields();
        named.sort_unstable();
        assert_eq!(named, ["email", "tickets[0].attendee_name", "tickets[1].tier_id"], "{}", order.body);
    }
}
