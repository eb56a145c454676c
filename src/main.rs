//! The `tessera` command line: parse settings, start logging, run a command.

use std::process::ExitCode;

use clap::Parser;
use tessera::{
    api,
    config::{
        Cli, Command, KeysCommand, RoleArg, Settings, StripeCommand, TokenCommand, WebhookCommand,
    },
    domain::{self, staff::Role},
    startup, telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(&cli.settings.log, cli.settings.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => startup::serve(settings).await,
        Command::Migrate => {
            startup::prepare_database(&settings).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi => {
            print!("{}", api::spec_json());
            Ok(())
        }
        Command::Demo => {
            let db = startup::prepare_database(&settings).await?;
            if domain::demo::ensure_demo_event(&db).await? {
                println!(
                    "demo event created: /api/v1/events/{}",
                    domain::demo::DEMO_SLUG
                );
            } else {
                println!(
                    "demo event already exists: /api/v1/events/{}",
                    domain::demo::DEMO_SLUG
                );
            }
            Ok(())
        }
        Command::Token(command) => {
            let db = startup::prepare_database(&settings).await?;
            token(&db, command).await
        }
        Command::Keys(command) => {
            let db = startup::prepare_database(&settings).await?;
            keys(&db, command).await
        }
        Command::Stripe(StripeCommand::Webhook(WebhookCommand::Create { url })) => {
            create_webhook(&settings, &url).await
        }
    }
}

async fn create_webhook(settings: &Settings, url: &str) -> anyhow::Result<()> {
    use tessera::payments::{stripe::StripeGateway, webhook};
    let parsed = url::Url::parse(url).map_err(|err| anyhow::anyhow!("--url: {err}"))?;
    if parsed.scheme() != "https" {
        anyhow::bail!("--url: Stripe delivers live events to https addresses only");
    }
    if !parsed.path().ends_with("/api/v1/webhooks/stripe") {
        eprintln!(
            "note: tessera receives Stripe events at /api/v1/webhooks/stripe; {} goes elsewhere",
            parsed.path()
        );
    }
    let Some(key) = settings.stripe_key() else {
        anyhow::bail!("STRIPE_SECRET_KEY is not set");
    };
    let gateway = StripeGateway::new(
        key,
        &settings.stripe_api_base,
        std::time::Duration::from_secs(settings.stripe_timeout_seconds),
    )
    .map_err(|err| anyhow::anyhow!(err))?;
    let endpoint = gateway
        .create_webhook_endpoint(parsed.as_str())
        .await
        .map_err(|err| anyhow::anyhow!(err))?;
    println!(
        "created webhook endpoint {} for {}",
        endpoint.id, endpoint.url
    );
    println!(
        "API version {} (tessera reads {}); events: {}",
        endpoint
            .api_version
            .as_deref()
            .unwrap_or("the account's default"),
        webhook::api_version(),
        endpoint.enabled_events.join(", ")
    );
    let Some(secret) = endpoint.secret else {
        anyhow::bail!("Stripe did not return the signing secret; delete the endpoint and retry");
    };
    println!("set STRIPE_WEBHOOK_SECRET to this signing secret; it is shown only now:");
    println!("{secret}");
    Ok(())
}

async fn token(db: &sea_orm::DatabaseConnection, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create(args) => {
            let role = match args.role {
                RoleArg::Admin => Role::Admin,
                RoleArg::Organizer => Role::Organizer,
                RoleArg::Volunteer => Role::Volunteer,
            };
            let input = domain::staff::NewTokenInput {
                name: args.name,
                role,
                events: args.events,
                all_events: args.all_events,
            };
            let created = domain::staff::create(db, input, &domain::staff::Staff::system())
                .await
                .map_err(describe)?;
            let scope = if created.info.all_events {
                "all events".to_owned()
            } else {
                created.info.events.join(", ")
            };
            println!(
                "created {} token {} ({scope}); it is shown only now:",
                created.info.role, created.info.id
            );
            println!("{}", created.secret);
        }
        TokenCommand::List => {
            let mut cursor = None;
            println!(
                "{:<36}  {:<9}  {:<8}  {:<8}  {:<20}  name",
                "id", "role", "hint", "state", "events"
            );
            loop {
                let page = domain::staff::list(
                    db,
                    &domain::staff::Staff::system(),
                    cursor.as_deref(),
                    Some(200),
                )
                .await
                .map_err(describe)?;
                for token in &page.items {
                    let state = if token.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    let events = if token.all_events {
                        "*".to_owned()
                    } else if token.events.is_empty() {
                        "-".to_owned()
                    } else {
                        token.events.join(",")
                    };
                    println!(
                        "{:<36}  {:<9}  {:<8}  {:<8}  {:<20}  {}",
                        token.id, token.role, token.hint, state, events, token.name
                    );
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let info = domain::staff::revoke(db, &domain::staff::Staff::system(), id)
                .await
                .map_err(describe)?;
            println!("revoked token {} ({})", info.id, info.name);
        }
    }
    Ok(())
}

async fn keys(db: &sea_orm::DatabaseConnection, command: KeysCommand) -> anyhow::Result<()> {
    use domain::keys;
    match command {
        KeysCommand::List => {
            keys::ensure(db, None).await.map_err(describe)?;
            println!(
                "{:<16}  {:<8}  {:<32}  public key (x)",
                "kid", "state", "created"
            );
            for key in keys::list(db).await.map_err(describe)? {
                let state = if key.retired_at.is_some() {
                    "retired"
                } else {
                    "active"
                };
                println!(
                    "{:<16}  {:<8}  {:<32}  {}",
                    key.kid,
                    state,
                    key.created_at.to_rfc3339(),
                    key.x
                );
            }
        }
        KeysCommand::Rotate => {
            let key = keys::rotate(db).await.map_err(describe)?;
            println!(
                "new signing key {} (older keys keep verifying until retired)",
                key.kid
            );
        }
        KeysCommand::Retire { kid } => {
            let key = keys::retire(db, &kid).await.map_err(describe)?;
            println!("retired key {}; tokens it signed no longer verify", key.kid);
        }
    }
    Ok(())
}

/// A domain error as a command-line message, with each invalid field named.
fn describe(err: domain::DomainError) -> anyhow::Error {
    match err {
        domain::DomainError::Invalid(errors) => {
            let lines: Vec<String> = errors
                .iter()
                .map(|e| format!("  {}: {}", e.field, e.message))
                .collect();
            anyhow::anyhow!("invalid input:\n{}", lines.join("\n"))
        }
        other => anyhow::Error::new(other),
    }
}
