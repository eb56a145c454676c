//! Command line and environment configuration. Every setting is a flag and an
//! environment variable; the defaults run tessera with no set-up at all.

use std::{fmt, net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The conference registration and ticketing API.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (the default when no command is given).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document as JSON on stdout.
    Openapi,
    /// Create the sample conference ("demo-conf") if it does not exist yet.
    Demo,
    /// Manage staff tokens (the credentials of organizers and volunteers).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the keys that sign check-in tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Set up the Stripe account tessera takes payments with.
    #[command(subcommand)]
    Stripe(StripeCommand),
}

#[derive(Debug, Subcommand)]
pub enum StripeCommand {
    /// Manage the webhook endpoint Stripe reports payments to.
    #[command(subcommand)]
    Webhook(WebhookCommand),
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Create the endpoint at Stripe (needs STRIPE_SECRET_KEY), for exactly
    /// the event types tessera handles, pinned to the API version tessera
    /// reads; the signing secret (STRIPE_WEBHOOK_SECRET) is printed alone on
    /// the last line of stdout, once.
    Create {
        /// Where Stripe should deliver, e.g.
        /// `https://tickets.example.org/api/v1/webhooks/stripe` (https).
        #[arg(long)]
        url: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys (never their private parts).
    List,
    /// Add a new signing key; tokens signed by older keys keep verifying.
    Rotate,
    /// Retire a key: tokens it signed stop verifying.
    Retire {
        /// The key id (`kid`), as shown by `tessera keys list`.
        kid: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; the secret is printed alone on the last line of stdout.
    Create(TokenCreate),
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its id; it stops working at once.
    Revoke {
        /// The token's id, as shown by `tessera token list`.
        id: uuid::Uuid,
    },
}

#[derive(Debug, Args)]
pub struct TokenCreate {
    /// What the token may do.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// A label for people, e.g. "Door volunteer 3" or "Ana (organizer)".
    #[arg(long)]
    pub name: String,
    /// Limit the token to this event (by slug); repeat for several events.
    /// An organizer or volunteer token needs `--event` or `--all-events`.
    #[arg(long = "event", value_name = "SLUG")]
    pub events: Vec<String>,
    /// Let the token cover every event, present and future.
    #[arg(long, conflicts_with = "events")]
    pub all_events: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Organizer,
    Volunteer,
}

/// Settings shared by every command.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Database to use: `sqlite://path?mode=rwc` or `postgres://user:pass@host/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://tessera.db?mode=rwc",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Secret,

    /// Maximum number of pooled database connections (default: 10 on
    /// PostgreSQL, 4 on SQLite, whose single writer gains nothing from more
    /// and whose every connection keeps its own page and statement caches).
    #[arg(long, env = "TESSERA_DB_MAX_CONNECTIONS", global = true)]
    pub db_max_connections: Option<u32>,

    /// Address and port to listen on.
    #[arg(
        long,
        env = "TESSERA_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: SocketAddr,

    /// Public base URL of this service, used in printed links (defaults to
    /// `http://<bind address>`).
    #[arg(long, env = "TESSERA_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Seconds a pending (unpaid) order holds its tickets.
    #[arg(long, env = "TESSERA_HOLD_SECONDS", default_value_t = 900, global = true,
          value_parser = clap::value_parser!(u32).range(30..=86_400))]
    pub hold_seconds: u32,

    /// Most unpaid tickets one buyer email may hold at once, per event.
    #[arg(
        long,
        env = "TESSERA_MAX_HELD_PER_EMAIL",
        default_value_t = 10,
        global = true
    )]
    pub max_held_per_email: u32,

    /// Most unpaid tickets one client address may hold at once, per event.
    #[arg(
        long,
        env = "TESSERA_MAX_HELD_PER_CLIENT",
        default_value_t = 20,
        global = true
    )]
    pub max_held_per_client: u32,

    /// Header carrying the client's address when tessera runs behind a proxy
    /// or load balancer (e.g. `X-Forwarded-For`; its last entry is used).
    /// Without it, the connection's peer address is the client.
    #[arg(long, env = "TESSERA_CLIENT_IP_HEADER", global = true)]
    pub client_ip_header: Option<String>,

    /// Seconds between sweeps that mark unpaid orders expired and forget old
    /// idempotency keys (availability never waits for them).
    #[arg(long, env = "TESSERA_SWEEP_SECONDS", default_value_t = 30, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub sweep_seconds: u64,

    /// Minutes between recounts of every event's inventory counters from its
    /// tickets (drift is repaired, logged and counted in the metrics).
    #[arg(long, env = "TESSERA_COUNTER_CHECK_MINUTES", default_value_t = 15, global = true,
          value_parser = clap::value_parser!(u64).range(1..=1_440))]
    pub counter_check_minutes: u64,

    /// A PKCS#8 PEM file with an Ed25519 key to sign check-in tokens with
    /// (imported into the database on start). Without it, a key is generated
    /// on first start and kept in the database.
    #[arg(long, env = "TESSERA_SIGNING_KEY_FILE", global = true)]
    pub signing_key_file: Option<std::path::PathBuf>,

    /// The `iss` claim of check-in tokens.
    #[arg(
        long,
        env = "TESSERA_TOKEN_ISSUER",
        default_value = "tessera",
        global = true
    )]
    pub token_issuer: String,

    /// Hours before an event starts and after it ends that its check-in
    /// tokens are valid.
    #[arg(long, env = "TESSERA_CHECKIN_GRACE_HOURS", default_value_t = 48, global = true,
          value_parser = clap::value_parser!(u32).range(0..=720))]
    pub checkin_grace_hours: u32,

    /// How many seconds ahead of the server's clock an offline scan may be
    /// dated before the scanning device's clock is taken to be wrong
    /// (`clock_skew`).
    #[arg(long, env = "TESSERA_CHECKIN_CLOCK_SKEW_SECONDS", default_value_t = 300, global = true,
          value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub checkin_clock_skew_seconds: u32,

    /// Browser origins of the front ends allowed to call the API (CORS),
    /// comma-separated, e.g. `https://tickets.example.org`. Empty: only
    /// same-origin pages (such as /docs) and non-browser clients.
    #[arg(
        long,
        env = "TESSERA_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<String>,

    /// Stripe secret key (`sk_test_...` / `sk_live_...`). Without it, free
    /// orders work and paid checkout answers `payments_not_configured`.
    #[arg(long, env = "STRIPE_SECRET_KEY", global = true, hide_env_values = true)]
    pub stripe_secret_key: Option<Secret>,

    /// Signing secret(s) of the Stripe webhook endpoint (`whsec_...`),
    /// comma-separated while a secret is being rotated.
    #[arg(
        long,
        env = "STRIPE_WEBHOOK_SECRET",
        value_delimiter = ',',
        global = true,
        hide_env_values = true
    )]
    pub stripe_webhook_secret: Vec<Secret>,

    /// Stripe's API base URL; only tests and local doubles change it.
    #[arg(
        long,
        env = "STRIPE_API_BASE",
        default_value = "https://api.stripe.com",
        global = true
    )]
    pub stripe_api_base: String,

    /// Seconds to wait for one Stripe request before giving up.
    #[arg(long, env = "STRIPE_TIMEOUT_SECONDS", default_value_t = 10, global = true,
          value_parser = clap::value_parser!(u64).range(1..=120))]
    pub stripe_timeout_seconds: u64,

    /// Mail server for attendees' mails: `smtp://host:port` (STARTTLS when
    /// the server offers it; add `?tls=required` to insist),
    /// `smtp://user:pass@host:587`, or `smtps://user:pass@host:465` (TLS
    /// from the first byte). Without it, mails wait in the outbox as
    /// `not_sent` and go out once a server is configured.
    #[arg(long, env = "TESSERA_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<Secret>,

    /// The sender of every mail, e.g. `RustFest <tickets@rustfest.example>`;
    /// needed with `TESSERA_SMTP_URL`. Events can set their own reply-to.
    #[arg(long, env = "TESSERA_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,

    /// Where the links in mails lead: the conference's front end, which
    /// serves `/orders/{code}` and `/tickets/{id}` and reads the token from
    /// the URL's fragment (`#token=…`). Defaults to the public URL.
    #[arg(long, env = "TESSERA_LINK_BASE_URL", global = true)]
    pub link_base_url: Option<String>,

    /// Seconds to wait for the mail server in one delivery attempt.
    #[arg(long, env = "TESSERA_SMTP_TIMEOUT_SECONDS", default_value_t = 20, global = true,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub smtp_timeout_seconds: u64,

    /// Mails each instance sends at once, each on a connection of its own
    /// to the mail server (a mail takes at least one round of TCP's delayed
    /// acknowledgement, about 40 ms, on its connection).
    #[arg(long, env = "TESSERA_SMTP_CONNECTIONS", default_value_t = 8, global = true,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub smtp_connections: u32,

    /// Milliseconds between two looks for due messages in the outbox.
    #[arg(long, env = "TESSERA_OUTBOX_POLL_MS", default_value_t = 1_000, global = true,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub outbox_poll_ms: u64,

    /// Lets webhooks go to loopback, private and link-local addresses (and
    /// names such as `localhost`): for tests and closed networks only. By
    /// default such targets are refused at registration and at every
    /// delivery, after DNS resolution.
    #[arg(long, env = "TESSERA_WEBHOOK_ALLOW_PRIVATE", global = true)]
    pub webhook_allow_private: bool,

    /// Lets webhooks go to `http://` URLs as well as `https://`.
    #[arg(long, env = "TESSERA_WEBHOOK_ALLOW_HTTP", global = true)]
    pub webhook_allow_http: bool,

    /// Seconds a receiver has to answer one webhook delivery attempt.
    #[arg(long, env = "TESSERA_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10, global = true,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub webhook_timeout_seconds: u64,

    /// Webhook requests each instance has in flight at once, all endpoints
    /// together (at most 16 to any one endpoint).
    #[arg(long, env = "TESSERA_WEBHOOK_CONNECTIONS", default_value_t = 64, global = true,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub webhook_connections: u32,

    /// Log filter, in `tracing` env-filter syntax (e.g. `info`, `tessera=debug`).
    #[arg(long, env = "TESSERA_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Log format: human-readable `text` or one JSON object per line.
    #[arg(long, env = "TESSERA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// With `serve`: also create the sample conference on start.
    #[arg(long, env = "TESSERA_DEMO", global = true)]
    pub demo: bool,

    /// Seconds to let in-flight requests finish after SIGINT/SIGTERM.
    #[arg(
        long,
        env = "TESSERA_SHUTDOWN_TIMEOUT",
        default_value_t = 30,
        global = true
    )]
    pub shutdown_timeout: u64,

    /// Seconds a client has to send a request's headers; slower clients are
    /// disconnected.
    #[arg(long, env = "TESSERA_HEADER_TIMEOUT", default_value_t = DEFAULT_HEADER_TIMEOUT, global = true,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout: u64,

    /// Seconds a client has, from the start of a request, to send its whole
    /// body; slower ones are answered 408.
    #[arg(long, env = "TESSERA_BODY_TIMEOUT", default_value_t = DEFAULT_BODY_TIMEOUT, global = true,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub body_timeout: u64,

    /// Seconds a connection may sit idle (no byte in or out) before it is
    /// closed, kept-alive connections included.
    #[arg(long, env = "TESSERA_IDLE_TIMEOUT", default_value_t = DEFAULT_IDLE_TIMEOUT, global = true,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub idle_timeout: u64,

    /// Most connections open at once (lowered to fit the process's file
    /// descriptor limit, which tessera raises to its hard limit on start).
    #[arg(long, env = "TESSERA_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS, global = true,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// Voucher code lookups (`GET /events/{slug}/vouchers/{code}`, and tier
    /// listings with `?voucher=`) per client address per minute, against
    /// guessing codes.
    #[arg(long, env = "TESSERA_VOUCHER_LOOKUPS_PER_MINUTE", default_value_t = 30, global = true,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub voucher_lookups_per_minute: u32,

    /// Lost-link recoveries (`POST /events/{slug}/orders/recover`) per
    /// client address per hour.
    #[arg(long, env = "TESSERA_RECOVERIES_PER_HOUR", default_value_t = 20, global = true,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub recoveries_per_hour: u32,

    /// Most connections open at once from one peer address; 0 for no cap.
    /// Default: 256, or no cap when `TESSERA_CLIENT_IP_HEADER` is set (the
    /// peer is then the proxy, which should do its own limiting).
    #[arg(long, env = "TESSERA_MAX_CONNECTIONS_PER_CLIENT", global = true)]
    pub max_connections_per_client: Option<u64>,
}

pub const DEFAULT_HEADER_TIMEOUT: u64 = 10;
pub const DEFAULT_BODY_TIMEOUT: u64 = 30;
pub const DEFAULT_IDLE_TIMEOUT: u64 = 60;
pub const DEFAULT_MAX_CONNECTIONS: u64 = 4_096;
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: u64 = 256;
/// File descriptors kept back from the connection cap for the database pool,
/// logs and the like.
const RESERVED_DESCRIPTORS: u64 = 64;

impl Settings {
    /// Settings for tests and embedding: everything at its default but the
    /// database, listening on an ephemeral loopback port.
    pub fn for_database(database_url: impl Into<String>) -> Result<Self, clap::Error> {
        use clap::{Args, FromArgMatches};
        // The defaults are the command line's own, read without the
        // environment, so each is written once (in its `#[arg]`).
        let matches = Self::augment_args(clap::Command::new("tessera"))
            .mut_args(|arg| arg.env(None::<&'static str>))
            .try_get_matches_from(["tessera"])?;
        let mut settings = Self::from_arg_matches(&matches)?;
        settings.database_url = Secret(database_url.into());
        settings.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        Ok(settings)
    }

    /// The base URL printed in links: `--public-url`, or the bind address.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .as_deref()
            .unwrap_or(&format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned()
    }

    /// Checks the CORS origins: each must be `scheme://host[:port]`, nothing
    /// more. Returns them normalised.
    pub fn checked_cors_origins(&self) -> Result<Vec<String>, String> {
        self.cors_origins
            .iter()
            .map(|origin| origin.trim())
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                let parsed = url::Url::parse(origin)
                    .map_err(|err| format!("CORS origin {origin:?}: {err}"))?;
                let bare =
                    parsed.path() == "/" && parsed.query().is_none() && parsed.fragment().is_none();
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() || !bare
                {
                    return Err(format!(
                        "CORS origin {origin:?} must look like https://tickets.example.org"
                    ));
                }
                Ok(parsed.origin().ascii_serialization())
            })
            .collect()
    }

    /// The SMTP URL, if one is set (blank counts as none).
    /// What webhook endpoints may target.
    pub fn webhook_reach(&self) -> crate::domain::webhooks::Reach {
        crate::domain::webhooks::Reach {
            http: self.webhook_allow_http,
            private: self.webhook_allow_private,
        }
    }

    pub fn smtp(&self) -> Option<&str> {
        self.smtp_url
            .as_ref()
            .map(Secret::expose)
            .filter(|url| !url.trim().is_empty())
    }

    /// The Stripe secret key, if one is set (a blank value, as a compose
    /// file's `${STRIPE_SECRET_KEY:-}` gives, counts as none).
    pub fn stripe_key(&self) -> Option<&str> {
        self.stripe_secret_key
            .as_ref()
            .map(|key| key.expose().trim())
            .filter(|key| !key.is_empty())
    }

    /// The webhook signing secrets, blanks left out.
    pub fn webhook_secrets(&self) -> Vec<String> {
        self.stripe_webhook_secret
            .iter()
            .map(|secret| secret.expose().trim().to_owned())
            .filter(|secret| !secret.is_empty())
            .collect()
    }

    pub fn hold_limits(&self) -> crate::domain::inventory::HoldLimits {
        crate::domain::inventory::HoldLimits {
            per_email: i64::from(self.max_held_per_email),
            per_client: i64::from(self.max_held_per_client),
            hold: chrono::Duration::seconds(i64::from(self.hold_seconds)),
        }
    }

    pub fn token_settings(&self) -> crate::domain::checkin::tokens::TokenSettings {
        crate::domain::checkin::tokens::TokenSettings {
            issuer: self.token_issuer.clone(),
            grace: chrono::Duration::hours(i64::from(self.checkin_grace_hours)),
            clock_skew: chrono::Duration::seconds(i64::from(self.checkin_clock_skew_seconds)),
        }
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout)
    }

    /// The database pool's size: as configured, or the backend's default.
    pub fn db_pool_size(&self) -> u32 {
        self.db_max_connections.unwrap_or_else(|| {
            if self.database_url.expose().starts_with("sqlite:") {
                4
            } else {
                10
            }
        })
    }

    /// The connection limits, with the total cap fitted under `descriptors`
    /// (the process's file descriptor limit, when known).
    pub fn connection_limits(&self, descriptors: Option<u64>) -> crate::server::ConnectionLimits {
        let fitted = descriptors.map_or(self.max_connections, |limit| {
            let usable = limit
                .saturating_sub(RESERVED_DESCRIPTORS)
                .saturating_sub(u64::from(self.db_pool_size()));
            self.max_connections.min(usable.max(1))
        });
        let per_client =
            self.max_connections_per_client
                .unwrap_or(if self.client_ip_header.is_some() {
                    0
                } else {
                    DEFAULT_MAX_CONNECTIONS_PER_CLIENT
                });
        crate::server::ConnectionLimits {
            max_connections: usize::try_from(fitted).unwrap_or(usize::MAX),
            max_per_client: usize::try_from(per_client).unwrap_or(usize::MAX),
            header_timeout: Duration::from_secs(self.header_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A string that never shows itself in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(**redacted**)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**redacted**")
    }
}

/// A database URL safe to print: the password, if any, is masked.
pub fn redact_database_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only fails for URLs that cannot have a password at all.
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<unparsable database url>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_defaults_to_the_backend_and_yields_to_a_setting() {
        let sqlite = Settings::for_database("sqlite://t.db?mode=rwc").unwrap();
        let postgres = Settings::for_database("postgres://u@h/db").unwrap();
        assert_eq!((sqlite.db_pool_size(), postgres.db_pool_size()), (4, 10));
        let mut chosen = sqlite;
        chosen.db_max_connections = Some(12);
        assert_eq!(chosen.db_pool_size(), 12);
    }

    #[test]
    fn secrets_do_not_print_themselves() {
        let secret = Secret::from("postgres://u:hunter2@db/x".to_owned());
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(!format!("{secret}").contains("hunter2"));
    }

    #[test]
    fn database_urls_are_printed_without_their_password() {
        let shown = redact_database_url("postgres://app:hunter2@db:5432/tessera");
        assert_eq!(shown, "postgres://app:****@db:5432/tessera");
        assert_eq!(
            redact_database_url("sqlite://tessera.db?mode=rwc"),
            "sqlite://tessera.db?mode=rwc"
        );
    }

    #[test]
    fn blank_stripe_settings_count_as_unset() {
        let mut settings = Settings::for_database("sqlite::memory:").unwrap();
        settings.stripe_secret_key = Some(" ".to_owned().into());
        settings.stripe_webhook_secret = vec!["".to_owned().into(), " whsec_a ".to_owned().into()];
        assert_eq!(settings.stripe_key(), None);
        assert_eq!(settings.webhook_secrets(), vec!["whsec_a".to_owned()]);
        settings.stripe_secret_key = Some("sk_test_1".to_owned().into());
        assert_eq!(settings.stripe_key(), Some("sk_test_1"));
    }

    #[test]
    fn cors_origins_must_be_bare_origins() {
        let mut settings = Settings::for_database("sqlite::memory:").unwrap();
        settings.cors_origins = vec![
            "https://tickets.example.org/".into(),
            " http://localhost:5173".into(),
        ];
        assert_eq!(
            settings.checked_cors_origins(),
            Ok(vec![
                "https://tickets.example.org".to_owned(),
                "http://localhost:5173".to_owned()
            ])
        );
        for bad in [
            "tickets.example.org",
            "https://x.org/path",
            "ftp://x.org",
            "*",
        ] {
            settings.cors_origins = vec![bad.into()];
            assert!(settings.checked_cors_origins().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_parses_with_no_arguments() {
        let cli = Cli::try_parse_from(["tessera"]);
        assert!(cli.is_ok_and(|cli| cli.command.is_none()));
    }
}
