//! tessera's benchmarks, over real HTTP against a tessera started in this
//! process on loopback:
//!
//! - the ticket rush: N buyers race for one tier of capacity C, K at a time;
//!   reports orders per second, latency percentiles and the oversold count
//!   (which must be 0);
//! - the door rush: K scanners scan every ticket of an event, duplicates
//!   mixed in; reports scans per second, latency percentiles, the admitted
//!   count (which must equal the tickets) and raw token verifications per
//!   second on one core.
//!
//! `--write docs/benchmarks.md` replaces each scenario's figures there.
//!
//!     cargo run --release -p bench -- --database-url postgres://postgres@127.0.0.1:5432/postgres

mod door;
mod machine;
mod rush;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use sea_orm::{ConnectionTrait, Database};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Rush,
    Door,
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
    /// Ticket rush: tickets sold before the measured rush starts (in orders
    /// of ten, not measured), to compare a fresh event with a large one.
    #[arg(long, default_value_t = 0)]
    preload: i64,
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
    /// Database connections in the service's pool.
    #[arg(long, default_value_t = 16)]
    pool: u32,
    /// Write the reports as Markdown into this file.
    #[arg(long)]
    write: Option<std::path::PathBuf>,
}

/// A scenario's report and whether it failed its correctness check.
pub struct Report {
    /// The marker name in docs/benchmarks.md.
    pub section: &'static str,
    pub markdown: String,
    pub failed: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut reports = Vec::new();
    if matches!(args.scenario, Scenario::Rush | Scenario::All) {
        reports.push(with_database(&args, |url| rush::run(&args, url)).await?);
    }
    if matches!(args.scenario, Scenario::Door | Scenario::All) {
        reports.push(with_database(&args, |url| door::run(&args, url)).await?);
    }
    let mut failed = false;
    for report in &reports {
        println!("{}", report.markdown);
        failed |= report.failed;
        if let Some(path) = &args.write {
            write_section(path, report.section, &report.markdown)?;
            println!("written to {}", path.display());
        }
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
async fn with_database<F, Fut>(args: &Args, scenario: F) -> anyhow::Result<Report>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Report>>,
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
