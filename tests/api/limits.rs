//! Resource limits: no client can grow the metrics, hold every connection,
//! or get an answer that is not problem+json.

use reqwest::{Method, StatusCode};

use crate::helpers::{Backend, TestApp, spawn_app};

async fn series(app: &TestApp) -> usize {
    app.metrics()
        .await
        .lines()
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
    let text = app.metrics().await;
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(
        !text.contains("XQZ") && !text.contains("odd-"),
        "raw methods or paths leaked into labels"
    );
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

/// A raw connection to the app from `source` (any 127.x address), so a test
/// can play a client on an address of its own.
async fn connect_from(app: &TestApp, source: [u8; 4]) -> TcpStream {
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind((std::net::Ipv4Addr::from(source), 0).into())
        .unwrap();
    socket.connect(addr).await.unwrap()
}

/// Everything the server sends until it closes (or `limit` passes).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

async fn app_with_limits(configure: impl FnOnce(&mut tessera::config::Settings)) -> TestApp {
    crate::helpers::spawn_app_with(Backend::Sqlite, configure)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_headers_slowly_is_disconnected() {
    let app = app_with_limits(|s| s.header_timeout = 1).await;
    let mut slow = connect_from(&app, [127, 0, 0, 2]).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // Others are served meanwhile.
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    let closed = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a slow-header client kept its connection");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_its_body_slowly_gets_408() {
    let app = app_with_limits(|s| s.body_timeout = 1).await;
    let mut slow = connect_from(&app, [127, 0, 0, 2]).await;
    slow.write_all(
        b"POST /api/v1/events/any/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"tick",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut slow, Duration::from_secs(5))
        .await
        .expect("the server closed the connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("application/problem+json")
            && answer.contains("\"code\":\"request_timeout\""),
        "{answer}"
    );
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_idle_sockets_from_one_client_do_not_starve_others() {
    let app = app_with_limits(|s| {
        s.max_connections_per_client = Some(20);
        s.idle_timeout = 2;
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(connect_from(&app, [127, 0, 0, 2]).await);
    }
    // Make sure the server has taken all twenty before the next one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = connect_from(&app, [127, 0, 0, 2]).await;
    let refused = read_until_closed(&mut over, Duration::from_secs(3))
        .await
        .expect("refused and closed");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.contains("too_many_connections")
            && refused.to_lowercase().contains("retry-after: 1"),
        "{refused}"
    );

    for _ in 0..20 {
        assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    }
    // Idle connections are closed after the idle timeout, freeing the slots.
    for stream in &mut idle {
        assert!(
            read_until_closed(stream, Duration::from_secs(6))
                .await
                .is_some(),
            "an idle socket stayed open"
        );
    }
    let mut again = connect_from(&app, [127, 0, 0, 2]).await;
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut again, Duration::from_secs(3))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // On a connection of its own: the test client's pooled keep-alive
    // connections have outlived the 2-second idle timeout too, and reusing
    // one races with the server closing it.
    let mut probe = connect_from(&app, [127, 0, 0, 3]).await;
    probe
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let metrics = read_until_closed(&mut probe, Duration::from_secs(3))
        .await
        .unwrap();
    assert!(
        metrics.contains("tessera_http_connections_refused_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_urls_and_headers_get_problem_json() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let long = app
        .get(&format!("/api/v1/events/{}", "a".repeat(20_000)), None)
        .await;
    long.assert_problem(414, "uri_too_long");

    let mut request = app.client.get(app.url("/healthz"));
    for i in 0..150 {
        request = request.header(format!("x-filler-{i}"), "y");
    }
    let many = crate::helpers::answer(request.send().await.unwrap()).await;
    many.assert_problem(431, "headers_too_large");

    let big = app
        .client
        .get(app.url("/healthz"))
        .header("x-big", "z".repeat(40_000))
        .send()
        .await
        .unwrap();
    crate::helpers::answer(big)
        .await
        .assert_problem(431, "headers_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_a_path_does_not_take_gets_405_with_allow() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let response = app
        .client
        .put(app.url("/api/v1/events/some-conf"))
        .send()
        .await
        .unwrap();
    let allow = response
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    crate::helpers::answer(response)
        .await
        .assert_problem(405, "method_not_allowed");
    assert_eq!(allow.as_deref(), Some("GET, HEAD"));

    let response = app
        .client
        .get(app.url("/api/v1/checkin/scan"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers().get("allow").unwrap(), "POST");
}
