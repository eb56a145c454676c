//! Resource limits: no client can grow the metrics, hold every connection,
//! or get an answer that is not problem+json.

use reqwest::{Method, StatusCode};

use crate::helpers::{Backend, TestApp, spawn_app};

async fn series(app: &TestApp) -> usize {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("tessera_http_requests_total{")
                || l.starts_with("tessera_http_request_duration_seconds_count{")
        })
        .count()
}

async fn odd_requests(app: &TestApp, from: usize, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for i in from..from + n {
        let method = Method::from_bytes(format!("XQZ{i}").as_bytes()).unwrap();
        let request = app
            .client
            .request(method, app.url(&format!("/healthz/{i}/odd-{i}?x={i}")));
        let plain = app.client.request(
            Method::from_bytes(format!("M{i}").as_bytes()).unwrap(),
            app.url("/healthz"),
        );
        let missing = app.client.get(app.url(&format!("/api/v1/nope-{i}")));
        set.spawn(async move {
            for request in [request, plain, missing] {
                let _ = request.send().await.unwrap().bytes().await;
            }
        });
        if set.len() >= 32 {
            set.join_next().await;
        }
    }
    while set.join_next().await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_and_paths_add_no_metrics_series() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    odd_requests(&app, 0, 50).await;
    let before = series(&app).await;
    odd_requests(&app, 50, 1_500).await;
    // The /metrics reads themselves add their own (fixed) series once.
    series(&app).await;
    let after = series(&app).await;
    assert!(before > 0);
    assert!(after <= before + 2, "series grew from {before} to {after}");
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(
        !text.contains("XQZ") && !text.contains("odd-"),
        "raw methods or paths leaked into labels"
    );
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}
