//! tessera's benchmarks: the real `tessera` binary started as its own
//! process on a fresh database, loaded over loopback HTTP from this one,
//! with the service's and its PostgreSQL backends' CPU time, the service's
//! peak RSS and the database's size measured per scenario:
//!
//! - the ticket rush: N buyers race for one tier of capacity C, K at a time;
//!   reports orders per second, latency percentiles and the oversold count
//!   (which must be 0);
//! - the door rush: K scanners scan every ticket of an event, duplicates
//!   mixed in; reports scans per second, latency percentiles, the admitted
//!   count (which must equal the tickets) and raw token verifications per
//!   second on one core.
//!
//! - the rush again on an event that already holds `--preload` tickets;
//! - a mixed load: catalogue reads, orders, ticket edits, scans, reports;
//! - the rush split across two instances on one database;
//! - the outbox: free orders' mails delivered to a mail server on loopback
//!   (mails per second, delay from payment to delivery). `--mail` runs the
//!   other scenarios with that mail server configured too.
//!
//! `--webhook` runs the rush with one webhook endpoint subscribed to
//! `order.placed` (a receiver on loopback) and reports the delay from each
//! order's answer to its delivery.
//!
//! `--write docs/benchmarks.md` replaces each scenario's figures there.
//!
//!     cargo run --release -p bench -- --database-url postgres://postgres@127.0.0.1:5432/postgres

mod door;
mod hook;
mod machine;
mod mixed;
mod outbox;
mod rush;
mod service;
mod sink;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use sea_orm::{ConnectionTrait, Database};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// The rush on a fresh event.
    Rush,
    /// The rush on an event already holding `--preload` tickets.
    Large,
    Door,
    Mixed,
    /// The rush split across two instances on one database.
    Instances,
    /// Free orders' mails delivered to a mail server on loopback.
    Outbox,
    All,
}

#[derive(Debug, Parser)]
#[command(about = "Benchmarks for tessera")]
pub struct Args {
    /// A PostgreSQL server to run on (a fresh database is created and dropped
    /// on it for each scenario), or nothing for a temporary SQLite file.
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Which scenario to run.
    #[arg(long, value_enum, default_value_t = Scenario::All)]
    scenario: Scenario,
    /// Ticket rush: buyers, one order each.
    #[arg(long, default_value_t = 6_000)]
    buyers: usize,
    /// Ticket rush: tickets in the tier.
    #[arg(long, default_value_t = 5_000)]
    capacity: i64,
    /// The large-event rush: tickets sold before the measured rush starts
    /// (in orders of ten, not measured).
    #[arg(long, default_value_t = 50_000)]
    preload: i64,
    /// Mixed load: requests in all.
    #[arg(long, default_value_t = 6_000)]
    mixed_requests: usize,
    /// The tessera binary to measure (default: build and use the release
    /// binary of this workspace).
    #[arg(long)]
    tessera: Option<std::path::PathBuf>,
    /// Ticket rush: buyers in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Door rush: tickets to scan.
    #[arg(long, default_value_t = 5_000)]
    tickets: usize,
    /// Door rush: share of extra scans that repeat a ticket, in percent.
    #[arg(long, default_value_t = 25)]
    duplicates: usize,
    /// Door rush: scanners in flight at once.
    #[arg(long, default_value_t = 32)]
    scanners: usize,

    /// Door rush: volunteers searching attendees at once, after the rush
    /// (a help desk has one or two).
    #[arg(long, default_value_t = 2)]
    searchers: usize,
    /// Database connections in the service's pool (default: the service's
    /// own default for the database).
    #[arg(long)]
    pool: Option<u32>,
    /// Outbox: free orders placed, each announcing two mails.
    #[arg(long, default_value_t = 5_000)]
    mail_orders: usize,
    /// Run the service with a mail server on loopback configured (mails go
    /// out during the scenario, as in production).
    #[arg(long)]
    mail: bool,
    /// Ticket rush: with one webhook endpoint (a receiver on loopback)
    /// subscribed to `order.placed`; reports the delay from each order's
    /// answer to its delivery.
    #[arg(long)]
    webhook: bool,
    /// Mails the service sends at once (default: the service's own).
    #[arg(long)]
    smtp_connections: Option<u32>,
    /// Write the reports as Markdown into this file.
    #[arg(long)]
    write: Option<std::path::PathBuf>,
}

impl Args {
    /// The service's pool setting, when one was asked for.
    pub fn pool_env(&self) -> Vec<(&'static str, String)> {
        self.pool
            .map(|n| ("TESSERA_DB_MAX_CONNECTIONS", n.to_string()))
            .into_iter()
            .collect()
    }

    /// `--pool N` as given, for the command lines in the reports.
    pub fn pool_flag(&self) -> String {
        self.pool
            .map(|n| format!(" --pool {n}"))
            .unwrap_or_default()
    }
}

/// A scenario's report and whether it failed its correctness check.
pub struct Report {
    /// The marker name in docs/benchmarks.md.
    pub section: &'static str,
    pub markdown: String,
    pub failed: bool,
    /// The scenario's line in the summary table.
    pub figures: Figures,
}

/// What every scenario measures.
pub struct Figures {
    pub scenario: String,
    pub requests: usize,
    pub seconds: f64,
    /// Sorted.
    pub latencies: Vec<std::time::Duration>,
    pub cpu: service::Cpu,
    /// The services' peak RSS (the largest, with two instances).
    pub rss_kib: u64,
    pub database_bytes: u64,
}

impl Figures {
    fn row(&self) -> String {
        let per = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / self.requests.max(1) as f64;
        format!(
            "| {} | {} | {:.0} | {:.1} / {:.1} / {:.1} ms | {:.2} + {:.2} = {:.2} ms | {:.1} MiB | {:.1} MiB |\n",
            self.scenario,
            self.requests,
            self.requests as f64 / self.seconds.max(f64::EPSILON),
            machine::percentile(&self.latencies, 0.50),
            machine::percentile(&self.latencies, 0.99),
            machine::percentile(&self.latencies, 1.0),
            per(self.cpu.service),
            per(self.cpu.database),
            per(self.cpu.service + self.cpu.database),
            self.rss_kib as f64 / 1024.0,
            self.database_bytes as f64 / 1024.0 / 1024.0,
        )
    }
}

fn summary(reports: &[Report], database: &str) -> String {
    let mut out = format!(
        "## Summary: latest run\n\n\
         Generated by `cargo run --release -p bench` on {date}.\n\n{machine}\
         | scenario | requests | per second | p50 / p99 / max | server CPU per request (service + database) | service peak RSS | database size after |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
        date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine = machine::describe(database),
    );
    for report in reports {
        out.push_str(&report.figures.row());
    }
    out
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The benchmark's HTTP clients share tessera's rustls build, which
    // leaves the choice of crypto provider to the process.
    tessera::tls::ensure_provider();
    let binary = service::binary(args.tessera.as_deref())?;
    let wants = |s: Scenario| args.scenario == s || args.scenario == Scenario::All;
    let mut reports = Vec::new();
    if wants(Scenario::Rush) {
        reports.push(with_database(&args, |url| rush::run(&args, &binary, url, 0, 1)).await?);
    }
    if wants(Scenario::Large) {
        reports.push(
            with_database(&args, |url| rush::run(&args, &binary, url, args.preload, 1)).await?,
        );
    }
    if wants(Scenario::Door) {
        reports.push(with_database(&args, |url| door::run(&args, &binary, url)).await?);
    }
    if wants(Scenario::Mixed) {
        reports.push(with_database(&args, |url| mixed::run(&args, &binary, url)).await?);
    }
    if wants(Scenario::Instances) {
        reports.push(with_database(&args, |url| rush::run(&args, &binary, url, 0, 2)).await?);
    }
    if wants(Scenario::Outbox) {
        reports.push(with_database(&args, |url| outbox::run(&args, &binary, url)).await?);
    }
    let database = with_database(&args, |url| async move {
        let db = Database::connect(&url).await?;
        Ok(machine::database_version(&db).await)
    })
    .await?;
    let summary = summary(&reports, &database);
    println!("{summary}");
    let mut failed = false;
    for report in &reports {
        println!("{}", report.markdown);
        failed |= report.failed;
    }
    if let Some(path) = &args.write {
        write_section(path, "summary", &summary)?;
        for report in &reports {
            write_section(path, report.section, &report.markdown)?;
        }
        println!("written to {}", path.display());
    }
    if failed {
        anyhow::bail!("a scenario oversold, lost work or answered with errors; see above");
    }
    Ok(())
}

/// Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`,
/// keeping what people wrote around it.
fn write_section(path: &std::path::Path, name: &str, markdown: &str) -> anyhow::Result<()> {
    let (start, end) = (
        format!("<!-- {name}:start -->"),
        format!("<!-- {name}:end -->"),
    );
    let section = format!("{start}\n{markdown}{end}");
    let text = match std::fs::read_to_string(path) {
        Ok(old) => match (old.find(&start), old.find(&end)) {
            (Some(a), Some(b)) if a < b => {
                format!("{}{section}{}", &old[..a], &old[b + end.len()..])
            }
            _ => format!("{old}\n{section}\n"),
        },
        Err(_) => format!("{section}\n"),
    };
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Runs a scenario on a fresh database, dropped afterwards.
async fn with_database<T, F, Fut>(args: &Args, scenario: F) -> anyhow::Result<T>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
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
            let result = scenario(url.to_string()).await;
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
            result
        }
        Some(other) => scenario(other.clone()).await,
        None => {
            let dir = tempfile::tempdir()?;
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            );
            scenario(url).await
        }
    }
}
