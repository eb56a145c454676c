//! Building and running the service, shared by `main` and the tests.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::{
    api,
    config::{Settings, redact_database_url},
    db, domain,
    domain::{inventory::Inventory, payments::Payments},
    jobs,
    payments::{PaymentGateway, StripeGateway},
    server,
    state::AppState,
    telemetry::Metrics,
};

/// Lost-link recoveries one email address may ask for in an hour (each
/// instance; at most one mail per address every five minutes across all).
const RECOVERIES_PER_EMAIL_PER_HOUR: u32 = 5;

/// Connects to the configured database and applies pending migrations.
pub async fn prepare_database(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url.expose();
    let shown = redact_database_url(url);
    let db = db::connect(url, settings.db_pool_size())
        .await
        .with_context(|| format!("could not connect to the database at {shown}"))?;
    db::migrate(&db)
        .await
        .with_context(|| format!("could not migrate the database at {shown}"))?;
    tracing::info!(database = %shown, "database ready");
    Ok(db)
}

/// The service, bound to its port and ready to run.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    cors_origins: Vec<String>,
    mail: jobs::MailOut,
    hooks: jobs::HooksOut,
}

impl Application {
    /// Binds the listening socket (port 0 picks a free port) around an
    /// already prepared database.
    pub async fn bind(settings: &Settings, db: DatabaseConnection) -> anyhow::Result<Self> {
        let gateway: Option<Arc<dyn PaymentGateway>> = match settings.stripe_key() {
            Some(key) => Some(Arc::new(
                StripeGateway::new(
                    key,
                    &settings.stripe_api_base,
                    std::time::Duration::from_secs(settings.stripe_timeout_seconds),
                )
                .map_err(anyhow::Error::msg)?,
            )),
            None => None,
        };
        Self::bind_with_gateway(settings, db, gateway).await
    }

    /// Like [`Application::bind`], with the payment gateway given (the
    /// benchmark uses an in-process one).
    pub async fn bind_with_gateway(
        settings: &Settings,
        db: DatabaseConnection,
        gateway: Option<Arc<dyn PaymentGateway>>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("could not listen on {}", settings.bind))?;
        let addr = listener
            .local_addr()
            .context("the listener has no address")?;
        let pem = match &settings.signing_key_file {
            Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                format!("could not read the signing key file {}", path.display())
            })?),
            None => None,
        };
        if let Some(created) = domain::keys::ensure(&db, pem.as_deref())
            .await
            .context("could not set up the check-in signing key")?
        {
            tracing::info!(kid = %created.kid, "check-in signing key ready");
        }
        let return_origins = settings
            .checked_cors_origins()
            .map_err(anyhow::Error::msg)?;
        let webhook_secrets = settings.webhook_secrets();
        if gateway.is_some() && webhook_secrets.is_empty() {
            tracing::warn!(
                "STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: no payment can be confirmed"
            );
        }
        let payments = Payments {
            gateway,
            return_origins,
            webhook_secrets,
            recordings: Default::default(),
        };
        let state = AppState {
            payments,
            keys: domain::keys::KeyRing::new(db.clone()),
            tokens: settings.token_settings(),
            scanning: Default::default(),
            staff: Default::default(),
            inventory: Inventory::new(db.clone(), settings.hold_limits()),
            clock: domain::clock::Clock::system(),
            voucher_lookups: crate::api::guessing::GuessBudget::per_minute(
                settings.voucher_lookups_per_minute,
            ),
            recoveries_by_client: crate::api::guessing::GuessBudget::per_hour(
                settings.recoveries_per_hour,
                "link recoveries",
            ),
            recoveries_by_email: crate::api::guessing::GuessBudget::per_hour(
                RECOVERIES_PER_EMAIL_PER_HOUR,
                "link recoveries for this address",
            ),
            webhook_reach: settings.webhook_reach(),
            service_url: settings.base_url(addr),
            db,
            metrics: Arc::new(Metrics::new()),
            client_ip_header: settings
                .client_ip_header
                .as_ref()
                .map(|h| h.trim().to_lowercase()),
        };
        let mut cors_origins = settings
            .checked_cors_origins()
            .map_err(anyhow::Error::msg)?;
        if !cors_origins.is_empty() {
            // The service's own pages (/docs) must keep working.
            if let Ok(own) = url::Url::parse(&settings.base_url(addr)) {
                cors_origins.push(own.origin().ascii_serialization());
            }
        }
        let mail = mail_out(settings, &state, addr)?;
        let hooks = jobs::HooksOut::new(
            state.db.clone(),
            crate::webhooks::Sender::new(
                settings.webhook_reach(),
                std::time::Duration::from_secs(settings.webhook_timeout_seconds),
            )
            .map_err(anyhow::Error::msg)?,
            usize::try_from(settings.webhook_connections).unwrap_or(1),
            state.inventory.placing(),
            state.metrics.clone(),
        );
        Ok(Self {
            listener,
            addr,
            state,
            cors_origins,
            mail,
            hooks,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Reads the time from `clock` (a settable one, in tests).
    pub fn with_clock(mut self, clock: domain::clock::Clock) -> Self {
        self.state.clock = clock;
        self
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish
    /// for up to `settings.shutdown_timeout`.
    pub async fn run_until(
        self,
        settings: &Settings,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let sweeper = jobs::spawn_sweeper(
            self.state.db.clone(),
            self.state.payments.clone(),
            std::time::Duration::from_secs(settings.sweep_seconds),
            self.state.clock.clone(),
        );
        let counter_check = jobs::spawn_counter_check(
            self.state.db.clone(),
            self.state.metrics.clone(),
            std::time::Duration::from_secs(settings.counter_check_minutes * 60),
            self.state.clock.clone(),
        );
        let mail_worker = jobs::spawn_mail_worker(
            self.mail,
            std::time::Duration::from_millis(settings.outbox_poll_ms),
            self.state.clock.clone(),
        );
        let webhook_worker = jobs::spawn_webhook_worker(
            self.hooks,
            std::time::Duration::from_millis(settings.outbox_poll_ms),
            self.state.clock.clone(),
        );
        let statistics = jobs::spawn_statistics(self.state.db.clone());
        let limits = settings.connection_limits(raise_descriptor_limit());
        tracing::info!(
            max_connections = limits.max_connections,
            max_per_client = limits.max_per_client,
            "connection limits"
        );
        let metrics = self.state.metrics.clone();
        let served = server::serve(
            self.listener,
            api::routes(self.state, &self.cors_origins, settings.body_timeout()),
            limits,
            metrics,
            shutdown,
            settings.shutdown_timeout(),
        )
        .await;
        sweeper.abort();
        counter_check.abort();
        mail_worker.abort();
        webhook_worker.abort();
        statistics.abort();
        served
    }
}

/// The mail worker's set-up: the SMTP server and sender when configured
/// (a sender is required then), the links' base otherwise the public URL.
fn mail_out(
    settings: &Settings,
    state: &AppState,
    addr: SocketAddr,
) -> anyhow::Result<jobs::MailOut> {
    let (mailer, from) = match settings.smtp() {
        Some(url) => {
            let from = settings
                .mail_from
                .as_deref()
                .filter(|f| !f.trim().is_empty())
                .context(
                    "TESSERA_SMTP_URL is set but TESSERA_MAIL_FROM is not: mails need a sender",
                )?;
            let from: lettre::message::Mailbox = from
                .parse()
                .map_err(|err| anyhow::anyhow!("TESSERA_MAIL_FROM is not a mail address: {err}"))?;
            let mailer = crate::mail::SmtpMailer::from_url(
                url,
                std::time::Duration::from_secs(settings.smtp_timeout_seconds),
                settings.smtp_connections,
            )
            .map_err(anyhow::Error::msg)?;
            let mailer: Arc<dyn crate::mail::Mailer> = Arc::new(mailer);
            (Some(mailer), Some(from))
        }
        None => {
            tracing::warn!(
                "TESSERA_SMTP_URL is not set: mails wait in the outbox as not_sent and go out once it is"
            );
            (None, None)
        }
    };
    let links = settings
        .link_base_url
        .as_deref()
        .filter(|base| !base.trim().is_empty())
        .map(|base| base.trim().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| settings.base_url(addr));
    Ok(jobs::MailOut {
        db: state.db.clone(),
        keys: state.keys.clone(),
        tokens: state.tokens.clone(),
        links: domain::mail::LinkBase {
            front_end: links,
            service: settings.base_url(addr),
        },
        from,
        mailer,
        in_flight: usize::try_from(settings.smtp_connections).unwrap_or(1),
        metrics: state.metrics.clone(),
    })
}

/// Raises the soft limit on open files to the hard limit (as Go and others
/// do at start), and answers the limit now in force.
fn raise_descriptor_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(err) => {
            tracing::warn!(error = %err, "could not read or raise the open-file limit");
            None
        }
    }
}

/// `tessera serve`: prepare the database, mint the first admin token when
/// there is none, optionally create the demo event, and serve until SIGINT or
/// SIGTERM.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let db = prepare_database(&settings).await?;
    let first_admin = domain::staff::bootstrap_admin(&db)
        .await
        .context("could not create the first admin token")?;
    if settings.demo
        && domain::demo::ensure_demo_event(&db)
            .await
            .context("could not create the demo event")?
    {
        tracing::info!(slug = domain::demo::DEMO_SLUG, "demo event created");
    }
    let shutdown = shutdown_signal().context("could not install signal handlers")?;
    let app = Application::bind(&settings, db).await?;
    let base = settings.base_url(app.addr());
    // Written to stdout, not the log: the token must never reach log storage.
    println!("tessera is listening on http://{}", app.addr());
    println!("  API docs:     {base}/docs");
    println!("  Scanner:      {base}/scan/");
    println!("  OpenAPI spec: {base}/openapi.json");
    if let Some(token) = first_admin {
        println!();
        println!("  ================================================================");
        println!("  First start: an admin token was created. It is shown only now.");
        println!("  Store it somewhere safe, then create per-person tokens with it.");
        println!();
        println!("    TESSERA ADMIN TOKEN: {token}");
        println!();
        println!("  Try it:");
        println!("    curl -H 'Authorization: Bearer {token}' {base}/api/v1/admin/events");
        println!("  ================================================================");
    }
    tracing::info!(address = %app.addr(), "listening");
    app.run_until(&settings, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// A future that completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are
/// installed here, at once, so a signal that arrives before the server runs
/// still shuts it down gracefully.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing in-flight requests");
        })
    }
}
