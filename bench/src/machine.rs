//! Facts about the machine a run came from, and latency percentiles.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection};

pub async fn database_version(db: &DatabaseConnection) -> String {
    let sql = match db.get_database_backend() {
        // The benchmark reaches the database with the service's URL, so its
        // own connection says whether the service's queries pay for TLS.
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT version() || CASE WHEN (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) \
             THEN ', reached over TLS' ELSE ', reached without TLS' END"
        }
        _ => "SELECT 'SQLite ' || sqlite_version()",
    };
    let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql);
    match db.query_one_raw(statement).await {
        Ok(Some(row)) => row.try_get_by_index::<String>(0).unwrap_or_default(),
        _ => "unknown".into(),
    }
}

pub fn backend_kind(version: &str) -> &'static str {
    if version.starts_with("SQLite") {
        "SQLite"
    } else {
        "PostgreSQL"
    }
}

pub fn cpu_model() -> String {
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

pub fn memory() -> String {
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

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The machine section of a report.
pub fn describe(database: &str) -> String {
    format!(
        "### Machine\n\n\
         - CPU: {} ({} cores)\n\
         - Memory: {}\n\
         - Database: {database}, on the same machine\n\
         - Client, service and database share the machine; the service is the release `tessera` binary \
         in its own process, reached over loopback HTTP; Stripe is a stand-in on loopback in the benchmark's process.\n\n",
        cpu_model(),
        cores(),
        memory()
    )
}

/// Latency percentile in milliseconds (`p` in 0..=1) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}
