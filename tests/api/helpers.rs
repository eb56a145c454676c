//! `spawn_app()` and friends: a fresh database and a running service per test.

use std::{future::pending, time::Duration};

use reqwest::{Client, Method, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tessera::{
    config::Settings,
    domain::{
        clock::Clock,
        staff::{self, NewTokenInput, Role},
    },
    startup::{Application, prepare_database},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once on SQLite and once on PostgreSQL, as two tests
/// named `<name>::sqlite` and `<name>::postgres`.
macro_rules! db_test {
    ($(#[$meta:meta])* async fn $name:ident($app:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($app: $crate::helpers::TestApp) $body

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await;
                run(app.expect("SQLite is always available")).await;
            }

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(tessera_postgres), ignore = "set TEST_DATABASE_URL to run it on PostgreSQL")]
            async fn postgres() {
                if let Some(app) = $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await {
                    run(app).await;
                }
            }
        }
    };
}

/// Runs a test body once on SQLite and once on PostgreSQL; the body sets
/// up its own app from `backend` (and returns early when PostgreSQL is not
/// configured outside CI).
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($backend: Backend) $body

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite).await;
            }

            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(tessera_postgres), ignore = "set TEST_DATABASE_URL to run it on PostgreSQL")]
            async fn postgres() {
                run(Backend::Postgres).await;
            }
        }
    };
}

/// A database that exists for one test and is dropped after it.
pub struct TestDatabase {
    pub url: String,
    backend: Backend,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A fresh, empty database; `None` for PostgreSQL when
    /// `TEST_DATABASE_URL` is not set (outside CI only: in CI that fails).
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("tessera.db");
                Some(Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    backend,
                    admin_url: None,
                    name: String::new(),
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "CI must run the PostgreSQL tests: set TEST_DATABASE_URL"
                    );
                    eprintln!("TEST_DATABASE_URL is not set: skipping the PostgreSQL variant");
                    return None;
                };
                let name = format!("tessera_test_{}", uuid::Uuid::now_v7().simple());
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                Some(Self {
                    url: url.to_string(),
                    backend,
                    admin_url: Some(admin_url),
                    name,
                    _dir: None,
                })
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.backend != Backend::Postgres {
            return;
        }
        let (Some(admin_url), name) = (self.admin_url.clone(), self.name.clone()) else {
            return;
        };
        // Drop runs inside the test's runtime; use a runtime of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(&admin_url).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// A running service on its own database, with an admin token.
pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub db: DatabaseConnection,
    pub admin: String,
    /// The Stripe stand-in the service talks to (see `stripe_stub`).
    pub stripe: wiremock::MockServer,
    /// The app's clock: tests move it instead of editing rows.
    pub clock: Clock,
    /// How long a pending order holds its tickets.
    pub hold: chrono::Duration,
    /// The app's metrics, for jobs the tests run themselves.
    pub metrics: std::sync::Arc<tessera::telemetry::Metrics>,
    /// The app's count of placements being decided (webhook lanes pace
    /// themselves while it is not zero).
    pub placing: tessera::domain::inventory::Placing,
    server: tokio::task::JoinHandle<()>,
    /// What a second instance needs to start on the same database.
    settings: Settings,
    /// Shared with the other instances on the same database; dropped with
    /// the last of them.
    _database: std::sync::Arc<TestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Like `spawn_app`, with settings changed by `configure` first.
pub async fn spawn_app_with(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    let mut settings = Settings::for_database(database.url.clone()).expect("default settings");
    // Tests drive expiry themselves; the background sweeper only runs at start.
    settings.sweep_seconds = 3_600;
    let stripe = wiremock::MockServer::start().await;
    crate::stripe_stub::mount_default(&stripe).await;
    settings.stripe_secret_key = Some("sk_test_stub".to_owned().into());
    settings.stripe_api_base = stripe.uri();
    settings.stripe_webhook_secret = vec![crate::stripe_stub::WEBHOOK_SECRET.to_owned().into()];
    settings.stripe_timeout_seconds = 2;
    // The conference's front end (Checkout may send buyers back there).
    settings.cors_origins = vec!["https://tickets.example.org".to_owned()];
    configure(&mut settings);
    let db = prepare_database(&settings).await.expect("prepare database");
    let admin = staff::bootstrap_admin(&db)
        .await
        .expect("bootstrap admin")
        .expect("a fresh database mints an admin token");
    let clock = Clock::settable();
    Some(
        start_instance(
            settings,
            db,
            admin,
            stripe,
            clock,
            std::sync::Arc::new(database),
        )
        .await,
    )
}

/// Serves one instance of the service on a prepared database.
async fn start_instance(
    settings: Settings,
    db: DatabaseConnection,
    admin: String,
    stripe: wiremock::MockServer,
    clock: Clock,
    database: std::sync::Arc<TestDatabase>,
) -> TestApp {
    let hold = settings.hold_limits().hold;
    let app = Application::bind(&settings, db.clone())
        .await
        .expect("bind")
        .with_clock(clock.clone());
    let base = format!("http://{}", app.addr());
    let metrics = app.state().metrics.clone();
    let placing = app.state().inventory.placing();
    let serving = settings.clone();
    let server = tokio::spawn(async move {
        let _ = app.run_until(&serving, pending()).await;
    });
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    TestApp {
        base,
        client,
        db,
        admin,
        stripe,
        clock,
        hold,
        metrics,
        placing,
        server,
        settings,
        _database: database,
    }
}

impl TestApp {
    /// A second instance of the service on this app's database, as behind a
    /// load balancer: its own process state (pool, placement workers,
    /// caches, sweeper, Stripe stand-in), the same database, settings and
    /// clock. On SQLite both open the same file, as two processes would.
    pub async fn another_instance(&self) -> TestApp {
        self.another_instance_with(|_| {}).await
    }

    /// Like [`TestApp::another_instance`], with its settings changed by
    /// `configure` (a restart with a new configuration).
    pub async fn another_instance_with(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let db = prepare_database(&self.settings)
            .await
            .expect("connect the second instance");
        let stripe = wiremock::MockServer::start().await;
        crate::stripe_stub::mount_default(&stripe).await;
        let mut settings = self.settings.clone();
        settings.stripe_api_base = stripe.uri();
        configure(&mut settings);
        start_instance(
            settings,
            db,
            self.admin.clone(),
            stripe,
            self.clock.clone(),
            self._database.clone(),
        )
        .await
    }
}

/// A response's status and JSON body (`Value::Null` when it has none).
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Value,
}

impl Answer {
    /// The field names of a problem+json validation error.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// Asserts a problem+json answer with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.code(), code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["type"]
                .as_str()
                .is_some_and(|t| t.ends_with(code))
        );
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
    }
}

pub async fn answer(response: Response) -> Answer {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        content_type,
        body,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// The `/metrics` page as text.
    pub async fn metrics(&self) -> String {
        let response = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics");
        response.text().await.expect("metrics text")
    }

    /// Lets `by` pass on the app's clock: holds end, windows open and close,
    /// with no row touched.
    pub fn let_time_pass(&self, by: chrono::Duration) {
        assert!(self.clock.advance(by), "the test app's clock is settable");
    }

    /// Lets every hold placed so far end.
    pub fn let_holds_end(&self) {
        self.let_time_pass(self.hold + chrono::Duration::minutes(1));
    }

    /// Runs domain code (a sweep, say) on the app's clock.
    pub async fn on_its_clock<F: std::future::Future>(&self, work: F) -> F::Output {
        self.clock.scope(work).await
    }

    /// Puts every `Idempotency-Key` record back the way a process killed
    /// after acting, before storing its answer, leaves it: claimed,
    /// unanswered, its lease run out.
    pub async fn as_if_the_process_died(&self) {
        use entity::idempotency_key::{Column, Entity};
        use sea_orm::{EntityTrait, prelude::Expr};
        Entity::update_many()
            .col_expr(Column::ResponseStatus, Expr::value(Option::<i32>::None))
            .col_expr(Column::ResponseBody, Expr::value(Option::<String>::None))
            .col_expr(
                Column::LockedUntil,
                Expr::value(Some(chrono::Utc::now() - chrono::Duration::seconds(1))),
            )
            .exec(&self.db)
            .await
            .expect("rewind idempotency records");
    }

    /// Mints a token scoped to `events` directly in the database (admins:
    /// pass none).
    pub async fn token(&self, role: Role, events: &[&str]) -> String {
        self.mint(role, events, false).await
    }

    /// Mints an organizer or volunteer token that covers every event.
    pub async fn all_events_token(&self, role: Role) -> String {
        self.mint(role, &[], true).await
    }

    async fn mint(&self, role: Role, events: &[&str], all_events: bool) -> String {
        let input = NewTokenInput {
            name: format!("test {role}"),
            role,
            events: events.iter().map(|s| (*s).to_owned()).collect(),
            all_events,
        };
        staff::create(&self.db, input, &staff::Staff::system())
            .await
            .expect("create token")
            .secret
    }

    /// Creates a draft event through the API and returns its slug.
    pub async fn create_event(&self, slug: &str, extra: Value) -> Value {
        let mut body = event_body(slug);
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let created = self.post("/api/v1/admin/events", &self.admin, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body
    }

    /// Creates a tier through the API and returns it.
    pub async fn create_tier(&self, slug: &str, body: Value) -> Value {
        let created = self
            .post(
                &format!("/api/v1/admin/events/{slug}/tiers"),
                &self.admin,
                body,
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body
    }

    pub async fn publish(&self, slug: &str) {
        let published = self
            .post(
                &format!("/api/v1/admin/events/{slug}/publish"),
                &self.admin,
                json!({}),
            )
            .await;
        assert_eq!(published.status, StatusCode::OK, "{}", published.body);
    }
}

impl TestApp {
    /// Creates, fills and publishes an event for selling: returns the tier
    /// ids in the order given.
    pub async fn shop(&self, slug: &str, event: Value, tiers: &[Value]) -> Vec<String> {
        self.create_event(slug, event).await;
        let mut ids = Vec::new();
        for tier in tiers {
            let created = self.create_tier(slug, tier.clone()).await;
            ids.push(created["id"].as_str().unwrap().to_owned());
        }
        self.publish(slug).await;
        ids
    }

    /// Places an order as a buyer.
    pub async fn order(&self, slug: &str, body: Value) -> Answer {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/events/{slug}/orders")))
            .json(&body)
            .send()
            .await
            .expect("request");
        answer(response).await
    }

    /// Places `n` orders at once, each built by `body(i)`.
    pub async fn rush(&self, slug: &str, n: usize, body: impl Fn(usize) -> Value) -> Vec<Answer> {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            let request = self
                .client
                .post(self.url(&format!("/api/v1/events/{slug}/orders")))
                .json(&body(i));
            set.spawn(async move { answer(request.send().await.expect("request")).await });
        }
        let mut answers = Vec::with_capacity(n);
        while let Some(done) = set.join_next().await {
            answers.push(done.expect("task"));
        }
        answers
    }

    /// Calls an order endpoint with the order token.
    pub async fn with_order_token(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("x-order-token", token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.expect("request")).await
    }
}

/// One ticket for `tier`, attendee `name`.
pub fn ticket(tier: &str, name: &str) -> Value {
    json!({"tier_id": tier, "attendee_name": name})
}

/// A valid event, starting in ninety days.
pub fn event_body(slug: &str) -> Value {
    let starts = chrono::Utc::now() + chrono::Duration::days(90);
    json!({
        "slug": slug,
        "name": format!("Conf {slug}"),
        "timezone": "Europe/Berlin",
        "starts_at": starts.to_rfc3339(),
        "ends_at": (starts + chrono::Duration::days(2)).to_rfc3339(),
        "currency": "EUR",
        "capacity": 500,
        "swag_sizes": [
            {"size": "S", "cut": "straight", "stock": 50},
            {"size": "M", "cut": "straight", "stock": 80},
            {"size": "M", "cut": "fitted"}
        ],
        "dietary_options": ["none", "vegetarian", "vegan"]
    })
}
