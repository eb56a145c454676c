use reqwest::StatusCode;

use crate::helpers::{Backend, spawn_app_with};

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

async fn browsers_on_allowed_origins_get_cors_headers(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| {
        settings.cors_origins = vec!["https://tickets.example.org".to_owned()];
    })
    .await
    else {
        return;
    };
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/admin/events"))
        .header("origin", "https://tickets.example.org")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://tickets.example.org"
    );

    let simple = app
        .client
        .get(app.url("/api/v1/events"))
        .header("origin", "https://tickets.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://tickets.example.org"
    );
    let exposed = simple.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");

    let foreign = app
        .client
        .get(app.url("/api/v1/events"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    crate::helpers::answer(foreign)
        .await
        .assert_problem(403, "forbidden");

    // The service's own docs page keeps working.
    let own = app
        .client
        .get(app.url("/api/v1/events"))
        .header("origin", app.base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
}

#[tokio::test]
async fn browsers_on_allowed_origins_get_cors_headers_on_sqlite() {
    browsers_on_allowed_origins_get_cors_headers(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn browsers_on_allowed_origins_get_cors_headers_on_postgres() {
    browsers_on_allowed_origins_get_cors_headers(Backend::Postgres).await;
}

async fn without_configured_origins_no_cors_headers_are_sent(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| settings.cors_origins.clear()).await else {
        return;
    };
    let response = app
        .client
        .get(app.url("/api/v1/events"))
        .header("origin", "https://tickets.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn without_configured_origins_no_cors_headers_are_sent_on_sqlite() {
    without_configured_origins_no_cors_headers_are_sent(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn without_configured_origins_no_cors_headers_are_sent_on_postgres() {
    without_configured_origins_no_cors_headers_are_sent(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn killed_database_connections_answer_503_never_500() {
    let Some(app) = crate::helpers::spawn_app(Backend::Postgres).await else {
        return;
    };
    app.create_event("steady", serde_json::json!({})).await;
    let outside = crate::outage::Outside::connect(&app).await;
    let app = std::sync::Arc::new(app);
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let app = app.clone();
        load.spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..60 {
                let answer = app
                    .get("/api/v1/admin/events/steady", Some(&app.admin))
                    .await;
                if answer.status != StatusCode::OK {
                    answer.assert_problem(503, "database_unavailable");
                }
                statuses.push(answer.status.as_u16());
            }
            statuses
        });
    }
    for _ in 0..15 {
        outside.kill_connections().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut statuses = Vec::new();
    while let Some(done) = load.join_next().await {
        statuses.extend(done.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    // And it recovers by itself.
    let answer = app
        .get("/api/v1/admin/events/steady", Some(&app.admin))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn readiness_follows_the_database_and_recovers() {
    let Some(app) = crate::helpers::spawn_app(Backend::Postgres).await else {
        return;
    };
    let outside = crate::outage::Outside::connect(&app).await;
    assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);

    outside.cut_off().await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.body
    );
    let answer = app.get("/api/v1/admin/events", Some(&app.admin)).await;
    answer.assert_problem(503, "database_unavailable");
    assert!(app.get("/healthz", None).await.status == StatusCode::OK);

    outside.restore().await;
    let mut ready = false;
    for _ in 0..50 {
        if app.get("/readyz", None).await.status == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "/readyz did not recover");
    assert_eq!(
        app.get("/api/v1/admin/events", Some(&app.admin))
            .await
            .status,
        StatusCode::OK
    );
}
