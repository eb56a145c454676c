//! The volunteer scanner at `/scan/`: how it is served, its offline
//! decisions (node's test runner), and the app itself in headless Chromium
//! over WebDriver: the camera fed a video of a ticket, a hand scanner typing
//! into the field, and the network cut between the browser and tessera.
//!
//! The browser tests need Debian's `chromium` and `chromium-driver`, the
//! unit tests `node`: without them a test says so and passes, except in CI
//! (`CI=true`), where `.ci/run` installs them and a missing one fails.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, spawn_app, ticket};

/// Whether a missing tool may skip a test: only outside CI.
fn may_skip(tool: &str) -> bool {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI must run the scanner's tests: {tool} is missing (.ci/run installs it)"
    );
    eprintln!("{tool} is missing: skipping this scanner test");
    true
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scanner_is_served_from_the_binary_with_a_strict_policy() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let bare = client.get(app.url("/scan")).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(bare.headers()["location"], "/scan/");

    let page = client.get(app.url("/scan/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"),
        "the page loads nothing from elsewhere"
    );

    // Unchanged files cost a 304; every file of the shell is there.
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let again = client
        .get(app.url("/scan/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    for (file, kind) in [
        ("app.js", "text/javascript"),
        ("app.css", "text/css"),
        ("sw.js", "text/javascript"),
        ("app.webmanifest", "application/manifest+json"),
        ("licenses.txt", "text/plain"),
    ] {
        let answer = client
            .get(app.url(&format!("/scan/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{file}");
        assert!(
            answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{file}"
        );
        assert_ne!(answer.headers()["etag"].to_str().unwrap(), etag, "{file}");
    }
    // A page of the service reached under another name than its public URL
    // (here `localhost`) still loads its module script and calls the API,
    // which send `Origin`; other origins stay refused.
    let port = app.base.rsplit(':').next().unwrap();
    let other_name = format!("http://localhost:{port}");
    for (origin, allowed) in [(other_name.as_str(), true), ("https://evil.example", false)] {
        let answer = client
            .get(format!("{other_name}/scan/app.js"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status().is_success(),
            allowed,
            "{origin}: {}",
            answer.status()
        );
    }
    let posted = client.post(app.url("/scan/")).send().await.unwrap();
    assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);
    let missing = client.get(app.url("/scan/nope.js")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_token_comes_with_a_signin_link_that_keeps_it_out_of_logs() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    app.create_event("door", json!({})).await;
    let created = app
        .post(
            "/api/v1/admin/tokens",
            &app.admin,
            json!({"name": "Door 1", "role": "volunteer", "events": ["door"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let token = created.body["token"].as_str().unwrap();
    let link = created.body["signin_url"].as_str().unwrap();
    // In the fragment: never sent in a request, so in no access log.
    let (page, fragment) = link.split_once('#').unwrap();
    assert_eq!(page, format!("{}/scan/", app.base));
    assert_eq!(fragment, format!("signin={token}"));
    let svg = created.body["signin_qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");
    // The list of tokens never shows it again.
    let listed = app.get("/api/v1/admin/tokens", Some(&app.admin)).await;
    assert!(!listed.body.to_string().contains(token));
    assert!(!listed.body.to_string().contains("signin_url"));
}

#[test]
fn the_offline_decisions_pass_their_unit_tests() {
    if !on_path("node") && may_skip("node") {
        return;
    }
    let scan = Path::new(env!("CARGO_MANIFEST_DIR")).join("scan");
    let output = Command::new("node")
        .args(["--test", "test/"])
        .current_dir(&scan)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node --test failed:\n{said}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("# fail 0"), "{said}");
    assert!(!said.contains("# pass 0"), "no test ran: {said}");
}

/// A door with three attendees on one list, a volunteer token, and the
/// attendees' signed tokens.
struct Door {
    list: String,
    volunteer: Value,
    tickets: Vec<(String, String)>,
}

async fn door(app: &TestApp) -> Door {
    let starts = chrono::Utc::now() + chrono::Duration::hours(1);
    let event = json!({"name": "RustConf Door", "starts_at": starts.to_rfc3339(), "ends_at": (starts + chrono::Duration::days(1)).to_rfc3339()});
    let tiers = app
        .shop(
            "door",
            event,
            &[json!({"name": "Conference", "price": 0, "capacity": 100})],
        )
        .await;
    let list = app
        .post(
            "/api/v1/admin/events/door/checkin-lists",
            &app.admin,
            json!({"name": "Main entrance", "kind": "entry"}),
        )
        .await;
    assert_eq!(list.status, StatusCode::CREATED, "{}", list.body);
    let names = ["Ada Lovelace", "Bob Kahn", "Grace Hopper"];
    let order = app
        .order(
            "door",
            json!({"email": "team@example.org", "tickets": names.iter().map(|n| ticket(&tiers[0], n)).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    let code = order.body["code"].as_str().unwrap();
    let order_token = order.body["order_token"].as_str().unwrap();
    let mut tickets = Vec::new();
    for t in order.body["tickets"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        let answer = crate::checkin::token_of(app, code, order_token, id).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        tickets.push((
            id.to_owned(),
            answer.body["token"].as_str().unwrap().to_owned(),
        ));
    }
    let volunteer = app
        .post(
            "/api/v1/admin/tokens",
            &app.admin,
            json!({"name": "Door 1", "role": "volunteer", "events": ["door"]}),
        )
        .await;
    assert_eq!(volunteer.status, StatusCode::CREATED, "{}", volunteer.body);
    Door {
        list: list.body["id"].as_str().unwrap().to_owned(),
        volunteer: volunteer.body,
        tickets,
    }
}

/// A TCP relay in front of the service: the browser's only way to it, which
/// the test can cut (connections refused, open ones dropped) and restore,
/// on the same port so the page's origin and stored data stay the same.
struct Relay {
    origin: String,
    up: watch::Sender<bool>,
    _task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: &str) -> Relay {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let (up, _) = watch::channel(true);
        let watching = up.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut down = watching.subscribe();
                if !*down.borrow_and_update() {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Relay {
            origin,
            up,
            _task: task,
        }
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// Headless Chromium driven over WebDriver, with a fake camera that shows
/// `video` in a loop. Its chromedriver is killed when this is dropped.
struct Browser {
    client: Option<Client>,
    driver: Child,
    profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start(video: &Path) -> Option<Browser> {
        if !(on_path("chromedriver") && Path::new("/usr/bin/chromium").exists())
            && may_skip("chromium or chromedriver")
        {
            return None;
        }
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            client: None,
            driver,
            profile,
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=420,860".to_owned(),
            format!("--user-data-dir={}", browser.profile.path().display()),
            "--use-fake-ui-for-media-stream".to_owned(),
            "--use-fake-device-for-media-stream".to_owned(),
            format!("--use-file-for-fake-video-capture={}", video.display()),
            "--autoplay-policy=no-user-gesture-required".to_owned(),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap();
        browser.client = Some(client);
        Some(browser)
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    async fn eval(&self, script: &str) -> Value {
        self.client().execute(script, vec![]).await.unwrap()
    }

    /// Polls `script` until it returns something truthy, and returns that.
    async fn until(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let started = Instant::now();
        loop {
            let value = self.eval(script).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return value;
            }
            if started.elapsed() > timeout {
                let screen = self
                    .eval(
                        "return location.href + '\\n' + JSON.stringify(performance.getEntries()
                           .map(e => [e.name, e.responseStatus])) + '\\n' + document.body.innerText",
                    )
                    .await;
                panic!("waited {timeout:?} for {what}; the page shows:\n{screen}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the full-screen answer `result` and returns its words.
    async fn answer(&self, result: &str) -> Value {
        let script = format!(
            "const r = document.getElementById('result');
             if (r.hidden || r.dataset.result !== '{result}') return null;
             const t = (id) => document.getElementById(id).textContent;
             return {{colour: r.className, title: t('result-title'), name: t('result-name'),
                      detail: t('result-detail'), extra: t('result-extra')}};"
        );
        self.until(
            &format!("the answer {result}"),
            &script,
            Duration::from_secs(30),
        )
        .await
    }

    /// Asserts that this tab loaded nothing from anywhere but `origin` (the
    /// page's own record of every navigation, script, style and API call).
    async fn fetched_only_from(&self, origin: &str) {
        let fetched = self
            .eval(
                "return performance.getEntriesByType('navigation')
                   .concat(performance.getEntriesByType('resource')).map(e => e.name)",
            )
            .await;
        let fetched = fetched.as_array().unwrap();
        assert!(fetched.len() >= 3, "{fetched:?}");
        for url in fetched {
            assert!(
                url.as_str().unwrap().starts_with(&format!("{origin}/")),
                "the scanner fetched {url}"
            );
        }
    }

    /// With `SCANNER_SCREENSHOTS=<dir>`, saves what the tab shows there (the
    /// README's pictures come from this test).
    async fn screenshot(&self, name: &str) {
        if let Some(dir) = std::env::var_os("SCANNER_SCREENSHOTS") {
            let png = self.client().screenshot().await.unwrap();
            std::fs::write(Path::new(&dir).join(name), png).unwrap();
        }
    }

    /// Waits for the answer to leave the screen by itself.
    async fn answer_gone(&self) {
        self.until(
            "the answer to go",
            "return document.getElementById('result').hidden",
            Duration::from_secs(5),
        )
        .await;
    }

    async fn type_into(&self, id: &str, text: &str) {
        self.client()
            .find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }

    async fn click(&self, css: &str) {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
}

/// A Y4M video (what Chromium's fake camera plays) of `text` as a QR code,
/// black on white in a 640x480 frame.
fn qr_video(text: &str, dir: &Path) -> PathBuf {
    let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
    let modules = code.width();
    let colors = code.to_colors();
    let (width, height) = (640usize, 480usize);
    let scale = (440 / (modules + 8)).max(2);
    let side = modules * scale;
    let (left, top) = ((width - side) / 2, (height - side) / 2);
    let mut luma = vec![235u8; width * height];
    for (i, colour) in colors.iter().enumerate() {
        if *colour != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = (left + (i % modules) * scale, top + (i / modules) * scale);
        for row in y..y + scale {
            luma[row * width + x..row * width + x + scale].fill(16);
        }
    }
    let chroma = vec![128u8; width * height / 4];
    let mut video = format!("YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..10 {
        video.extend_from_slice(b"FRAME\n");
        video.extend_from_slice(&luma);
        video.extend_from_slice(&chroma);
        video.extend_from_slice(&chroma);
    }
    let path = dir.join("ticket.y4m");
    std::fs::write(&path, video).unwrap();
    path
}

async fn admissions_of(
    app: &TestApp,
    list: &str,
    ticket: &str,
) -> Vec<entity::checkin_scan::Model> {
    entity::checkin_scan::Entity::find()
        .filter(entity::checkin_scan::Column::ListId.eq(Uuid::parse_str(list).unwrap()))
        .filter(entity::checkin_scan::Column::TicketId.eq(Uuid::parse_str(ticket).unwrap()))
        .all(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_checks_people_in_with_the_camera_a_hand_scanner_and_no_network() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let door = door(&app).await;
    let files = tempfile::tempdir().unwrap();
    let (ada, ada_token) = door.tickets[0].clone();
    let video = qr_video(&ada_token, files.path());
    let Some(browser) = Browser::start(&video).await else {
        return;
    };
    let relay = Relay::start(&app.base).await;
    // Signed in by the link an organizer got with the token (here through
    // the relay, the browser's only way to tessera).
    let link = door.volunteer["signin_url"].as_str().unwrap();
    let link = link.replacen(&app.base, &relay.origin, 1);
    browser.client().goto(&link).await.unwrap();
    browser
        .until(
            "the list choice",
            &format!(
                "return document.querySelector('.list-choice[data-list=\"{}\"]')",
                door.list
            ),
            Duration::from_secs(20),
        )
        .await;
    let address = browser.eval("return location.href").await;
    assert!(
        !address.as_str().unwrap().contains("signin"),
        "the token left the address bar: {address}"
    );
    browser
        .click(&format!(".list-choice[data-list=\"{}\"]", door.list))
        .await;
    browser
        .until(
            "the list's progress",
            "const p = document.getElementById('progress').textContent; return p === '0 / 3' && p",
            Duration::from_secs(20),
        )
        .await;

    browser.screenshot("scanner.png").await;

    // The camera sees Ada's ticket: green, her name and tier.
    browser.click("#camera-toggle").await;
    let answer = browser.answer("admitted").await;
    browser.screenshot("scanner-admitted.png").await;
    assert!(
        answer["colour"].as_str().unwrap().contains("green"),
        "{answer}"
    );
    assert_eq!(answer["name"], "Ada Lovelace");
    assert!(
        answer["detail"].as_str().unwrap().contains("Conference"),
        "{answer}"
    );
    // The answer goes by itself; then the camera is put away.
    browser.answer_gone().await;
    browser.click("#camera-toggle").await;
    let scans = admissions_of(&app, &door.list, &ada).await;
    let admitted: Vec<_> = scans
        .iter()
        .filter(|s| s.result == entity::state::ScanResult::Admitted)
        .collect();
    assert_eq!(admitted.len(), 1, "{scans:?}");
    let device = admitted[0].device.clone();

    // A hand scanner types the same ticket and Enter: amber, when and where.
    browser.answer_gone().await;
    browser
        .type_into("scan-input", &format!("{ada_token}\u{E007}"))
        .await;
    let answer = browser.answer("already_checked_in").await;
    assert!(
        answer["colour"].as_str().unwrap().contains("amber"),
        "{answer}"
    );
    assert_eq!(answer["title"], "Already checked in");
    assert!(
        answer["extra"].as_str().unwrap().contains(&device),
        "{answer}"
    );

    browser.fetched_only_from(&relay.origin).await;

    // The venue's Wi-Fi drops: two people are admitted on the device alone,
    // the tab is closed and opened again, and the scans wait.
    relay.cut();
    for (i, name) in [(1, "Bob Kahn"), (2, "Grace Hopper")] {
        browser.answer_gone().await;
        browser
            .type_into("scan-input", &format!("{}\u{E007}", door.tickets[i].1))
            .await;
        let answer = browser.answer("admitted").await;
        assert_eq!(answer["name"], name);
        assert!(
            answer["extra"].as_str().unwrap().contains("offline"),
            "{answer}"
        );
    }
    browser
        .until(
            "two scans waiting",
            "return document.getElementById('pending').textContent === '2 waiting to upload'",
            Duration::from_secs(5),
        )
        .await;
    let first = browser.client().window().await.unwrap();
    let reopened = browser.client().new_window(true).await.unwrap();
    browser.client().close_window().await.unwrap();
    assert_ne!(first, reopened.handle);
    browser
        .client()
        .switch_to_window(reopened.handle)
        .await
        .unwrap();
    browser
        .client()
        .goto(&format!("{}/scan/", relay.origin))
        .await
        .unwrap();
    browser
        .until(
            "the scanner, offline, with its two scans",
            "const p = document.getElementById('pending');
             return !document.getElementById('scanner').hidden && p.textContent === '2 waiting to upload'
               && document.getElementById('progress').textContent === '3 / 3'",
            Duration::from_secs(20),
        )
        .await;
    for (ticket, _) in &door.tickets[1..] {
        assert!(admissions_of(&app, &door.list, ticket).await.is_empty());
    }

    // The network comes back: the scans upload by themselves, once.
    relay.restore();
    browser
        .until(
            "the uploads",
            "return document.getElementById('pending').hidden",
            Duration::from_secs(45),
        )
        .await;
    for (ticket, _) in &door.tickets[1..] {
        let scans = admissions_of(&app, &door.list, ticket).await;
        assert_eq!(scans.len(), 1, "{scans:?}");
        assert_eq!(scans[0].result, entity::state::ScanResult::Admitted);
        assert!(scans[0].offline);
        assert_eq!(scans[0].device, device);
        let admission = entity::checkin::Entity::find_by_id((
            Uuid::parse_str(&door.list).unwrap(),
            Uuid::parse_str(ticket).unwrap(),
        ))
        .one(&app.db)
        .await
        .unwrap();
        assert_eq!(admission.unwrap().scan_id, scans[0].id);
    }

    browser.fetched_only_from(&relay.origin).await;
    if let Some(client) = browser.client.clone() {
        client.close().await.unwrap();
    }
}
