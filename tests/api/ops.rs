use reqwest::StatusCode;

db_test! {
    async fn health_and_readiness_answer(app) {
        let health = app.get("/healthz", None).await;
        assert_eq!((health.status, health.body["status"].as_str()), (StatusCode::OK, Some("ok")));
        let ready = app.get("/readyz", None).await;
        assert_eq!((ready.status, ready.body["status"].as_str()), (StatusCode::OK, Some("ready")));
    }
}

db_test! {
    async fn metrics_count_requests_by_route_pattern_and_status(app) {
        app.get("/api/v1/events", None).await;
        app.get("/api/v1/events/no-such-event", None).await;
        let response = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert!(response.headers()["content-type"].to_str().unwrap().contains("openmetrics-text"));
        let text = response.text().await.unwrap();
        assert!(text.contains(r#"tessera_http_requests_total{method="GET",route="/api/v1/events",status="200"} 1"#), "{text}");
        // The slug is not a label value: routes are patterns.
        assert!(!text.contains("no-such-event"), "{text}");
        assert!(text.contains("tessera_http_request_duration_seconds_bucket"), "{text}");
        assert!(text.contains("tessera_db_pool_connections"), "{text}");
    }
}

db_test! {
    async fn every_response_carries_a_request_id(app) {
        let response = app.client.get(app.url("/healthz")).send().await.unwrap();
        let generated = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_eq!(generated.len(), 36);

        let response = app
            .client
            .get(app.url("/nope"))
            .header("x-request-id", "front-end-42")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], "front-end-42");
    }
}

db_test! {
    async fn docs_and_spec_are_served(app) {
        let docs = app.client.get(app.url("/docs")).send().await.unwrap();
        assert_eq!(docs.status(), StatusCode::OK);
        assert!(docs.text().await.unwrap().contains("swagger"));
        let spec = app.get("/openapi.json", None).await;
        assert_eq!(spec.status, StatusCode::OK);
        assert_eq!(spec.body["info"]["title"], "tessera");
    }
}
