//! The ticket rush: N buyers race for one tier of capacity C, K at a time,
//! over real HTTP against a tessera started in this process on loopback.
//! Reports orders per second, latency percentiles and the oversold count
//! (which must be 0), and can write them to docs/benchmarks.md.
//!
//!     cargo run --release -p bench -- --database-url postgres://postgres@127.0.0.1:5432/postgres

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;
use sea_orm::{ColumnTrait, ConnectionTrait, Database, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use tessera::{
    config::Settings,
    domain::{
        events::{self, EventInput, Transition},
        staff::Staff,
        tiers::{self, TierInput},
        vouchers::counting_tickets,
    },
    startup::{Application, prepare_database},
};

#[derive(Debug, Parser)]
#[command(about = "Ticket-rush benchmark for tessera")]
struct Args {
    /// A PostgreSQL server to run on (a fresh database is created and dropped
    /// on it), or nothing for a temporary SQLite file.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Buyers, one order each.
    #[arg(long, default_value_t = 6_000)]
    buyers: usize,
    /// Tickets in the tier.
    #[arg(long, default_value_t = 5_000)]
    capacity: i64,
    /// Buyers in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Database connections in the service's pool.
    #[arg(long, default_value_t = 16)]
    pool: u32,
    /// Write the report as Markdown to this file.
    #[arg(long)]
    write: Option<std::path::PathBuf>,
}

struct Outcome {
    status: u16,
    latency: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (url, cleanup) = database(&args).await?;
    let result = run(&args, &url).await;
    if let Some(cleanup) = cleanup {
        cleanup.await;
    }
    let (report, failed) = result?;
    println!("{report}");
    if let Some(path) = &args.write {
        let section = format!("{START}\n{report}{END}");
        // Keep what people wrote around the figures; replace only the figures.
        let text = match std::fs::read_to_string(path) {
            Ok(old) => match (old.find(START), old.find(END)) {
                (Some(a), Some(b)) if a < b => {
                    format!("{}{section}{}", &old[..a], &old[b + END.len()..])
                }
                _ => format!("{old}\n{section}\n"),
            },
            Err(_) => format!("{section}\n"),
        };
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("written to {}", path.display());
    }
    if failed {
        anyhow::bail!("the rush oversold or answered with errors; see above");
    }
    Ok(())
}

const START: &str = "<!-- bench:start -->";
const END: &str = "<!-- bench:end -->";

type Cleanup = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

async fn database(args: &Args) -> anyhow::Result<(String, Option<Cleanup>)> {
    match &args.database_url {
        Some(admin_url) if admin_url.starts_with("postgres") => {
            let name = format!("tessera_bench_{}", uuid::Uuid::now_v7().simple());
            let admin = Database::connect(admin_url)
                .await
                .context("connecting to PostgreSQL")?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await?;
            let mut url = url::Url::parse(admin_url)?;
            url.set_path(&format!("/{name}"));
            let cleanup: Cleanup = Box::pin(async move {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
            Ok((url.to_string(), Some(cleanup)))
        }
        Some(other) => Ok((other.clone(), None)),
        None => {
            let dir = tempfile::tempdir()?.keep();
            Ok((
                format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
                None,
            ))
        }
    }
}

/// Runs the rush; returns the report and whether it failed (oversold, lost
/// orders or error answers).
async fn run(args: &Args, url: &str) -> anyhow::Result<(String, bool)> {
    let mut settings = Settings::for_database(url.to_owned());
    settings.db_max_connections = args.pool;
    // Buyers arrive through a load balancer, each from an address of their
    // own (IPv6 documentation addresses: a header value, never contacted).
    settings.client_ip_header = Some("x-forwarded-for".into());
    settings.log = "warn".into();
    let db = prepare_database(&settings).await?;
    let backend_version = version(&db).await;

    let system = Staff::system();
    let starts_at = tessera::domain::now() + chrono::Duration::days(30);
    let input = EventInput {
        slug: "rush".into(),
        name: "Rush".into(),
        timezone: "UTC".into(),
        starts_at,
        ends_at: starts_at + chrono::Duration::days(1),
        currency: "EUR".into(),
        ..Default::default()
    };
    events::create(&db, &system, input)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let tier = TierInput {
        name: "Early bird".into(),
        price: 9_900,
        capacity: args.capacity,
        max_per_order: Some(10),
        ..Default::default()
    };
    let (_, tier) = tiers::create(&db, &system, "rush", tier)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    events::transition(&db, &system, "rush", Transition::Publish)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let app = Application::bind(&settings, db.clone()).await?;
    let endpoint = format!("http://{}/api/v1/events/rush/orders", app.addr());
    let server_settings = settings.clone();
    let server = tokio::spawn(async move {
        app.run_until(&server_settings, std::future::pending())
            .await
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let client = client.clone();
        let endpoint = endpoint.clone();
        let next = next.clone();
        let buyers = args.buyers;
        let tier_id = tier.id;
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= buyers {
                    break;
                }
                let body = json!({
                    "email": format!("buyer{i}@example.org"),
                    "tickets": [{"tier_id": tier_id, "attendee_name": format!("Buyer {i}")}],
                });
                let sent = Instant::now();
                let request = client
                    .post(&endpoint)
                    .header("x-forwarded-for", format!("2001:db8::{i:x}"))
                    .json(&body);
                let status = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                outcomes.push(Outcome {
                    status,
                    latency: sent.elapsed(),
                });
            }
            outcomes
        });
    }
    let mut outcomes = Vec::with_capacity(args.buyers);
    while let Some(done) = workers.join_next().await {
        outcomes.extend(done?);
    }
    let elapsed = started.elapsed();
    server.abort();

    let sold = entity::ticket::Entity::find()
        .filter(entity::ticket::Column::TierId.eq(tier.id))
        .filter(counting_tickets(tessera::domain::now()))
        .count(&db)
        .await?;
    let sold = i64::try_from(sold)?;
    let placed = outcomes.iter().filter(|o| o.status == 201).count();
    let sold_out = outcomes.iter().filter(|o| o.status == 409).count();
    let other = outcomes.len() - placed - sold_out;
    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        let rank = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len().max(1));
        latencies
            .get(rank - 1)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let oversold = (sold - args.capacity).max(0);
    let expected = i64::try_from(args.buyers)?.min(args.capacity);
    let seconds = elapsed.as_secs_f64();
    let failed = oversold > 0 || other > 0 || i64::try_from(placed)? != expected;

    let flags = format!(
        "--buyers {} --capacity {} --concurrency {} --pool {}",
        args.buyers, args.capacity, args.concurrency, args.pool
    );
    let report = format!(
        "## Latest run ({backend_kind})\n\n\
         Generated by `cargo run --release -p bench -- {flags}` on {date}.\n\n\
         ### Machine\n\n\
         - CPU: {cpu} ({cores} cores)\n\
         - Memory: {memory}\n\
         - Database: {backend_version}, on the same machine\n\
         - Client, service and database share the machine; the service runs in the benchmark's process, \
         reached over loopback HTTP.\n\n\
         ### Run\n\n\
         | buyers | tier capacity | concurrency | pool |\n| --- | --- | --- | --- |\n\
         | {buyers} | {capacity} | {concurrency} | {pool} |\n\n\
         ### Results\n\n\
         | measure | value |\n| --- | --- |\n\
         | orders placed | {placed} (expected {expected}) |\n\
         | refused `sold_out` | {sold_out} |\n\
         | other answers (errors) | {other} |\n\
         | tickets counted in the database | {sold} |\n\
         | **oversold** | **{oversold}** |\n\
         | wall time | {seconds:.2} s |\n\
         | requests per second | {rps:.0} |\n\
         | orders placed per second | {ops:.0} |\n\
         | latency p50 | {p50:.1} ms |\n\
         | latency p99 | {p99:.1} ms |\n\
         | latency max | {max:.1} ms |\n",
        backend_kind = if backend_version.starts_with("SQLite") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        cpu = cpu_model(),
        cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        memory = memory(),
        buyers = args.buyers,
        capacity = args.capacity,
        concurrency = args.concurrency,
        pool = args.pool,
        rps = outcomes.len() as f64 / seconds,
        ops = placed as f64 / seconds,
        p50 = pct(0.50),
        p99 = pct(0.99),
        max = pct(1.0),
    );
    Ok((report, failed))
}

async fn version(db: &sea_orm::DatabaseConnection) -> String {
    let sql = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "SELECT version()",
        _ => "SELECT 'SQLite ' || sqlite_version()",
    };
    let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql);
    match db.query_one_raw(statement).await {
        Ok(Some(row)) => row.try_get_by_index::<String>(0).unwrap_or_default(),
        _ => "unknown".into(),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn memory() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            let kb: u64 = info
                .lines()
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "unknown".into())
}
