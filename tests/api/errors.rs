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
