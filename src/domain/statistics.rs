//! Statistics for PostgreSQL's planner on a new deployment.
//!
//! PostgreSQL plans from statistics that autovacuum gathers once a table
//! has changed enough, checked once a minute. A new deployment's first
//! ticket rush fills empty tables within seconds, and until then the
//! planner guesses: it takes an order's row to be kilobytes wide (the
//! declared lengths of its text columns), so it believes the table holds a
//! tenth of its rows, and any index on the event looks as good as the one
//! on the buyer. The hold-cap read under the event's lock was then planned
//! as a scan of every pending order of the event, its cost growing with
//! every order of the rush. So each instance analyzes the busiest tables
//! itself as soon as they hold a few dozen kilobytes.
//!
//! Statistics taken at the wrong moment are as bad as none: an `ANALYZE`
//! that runs while a large write is still uncommitted (an import, or the
//! first batches of a rush) counts the committed rows only, and records a
//! table of eight pages holding one row. The planner scales what it was
//! told by the table's pages as it grows, so that density stays wrong until
//! autovacuum's next look. So the rule is not "analyze once" but "analyze
//! when the planner's belief is off": a table is analyzed again whenever
//! the rows it would estimate (the analyzed rows per page times the pages
//! the table has now) are fewer than half of the live rows PostgreSQL's
//! statistics collector counts. A table that only grows keeps its density
//! and is not analyzed again; autovacuum keeps it fresh.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

/// The tables read under the event's lock or by the workers' claims.
pub const TABLES: [&str; 3] = ["orders", "ticket", "outbox_message"];

/// Pages (8 KiB) a table holds before it is worth analyzing: about 250
/// orders, a tenth of a second into a rush.
pub const PAGES: i64 = 8;

/// How often an instance looks: one small catalog query.
pub const LOOK_EVERY: Duration = Duration::from_millis(500);

/// Analyzes those of [`TABLES`] that hold at least [`PAGES`] pages and
/// whose statistics make the planner believe they hold fewer than half of
/// their live rows (never analyzed, or analyzed in the middle of a large
/// write); answers the tables it analyzed. Nothing on SQLite (its planner
/// needs none of this).
pub async fn analyze_stale_tables(db: &DatabaseConnection) -> Result<Vec<&'static str>, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(Vec::new());
    }
    let names: Vec<String> = TABLES.iter().map(|t| format!("'{t}'")).collect();
    // `reltuples` is -1 until a table is first vacuumed or analyzed (0 with
    // `relpages` 0 before PostgreSQL 14); the planner's estimate is then
    // its own guess, counted here as none. `n_live_tup` counts committed
    // rows only, so a write still running does not trigger a look.
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!(
                "SELECT t.relname FROM ( \
                   SELECT c.relname::text AS relname, c.reltuples, c.relpages, s.n_live_tup, \
                          pg_relation_size(c.oid) / current_setting('block_size')::bigint AS pages \
                   FROM pg_class c \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   JOIN pg_stat_user_tables s ON s.relid = c.oid \
                   WHERE n.nspname = current_schema() AND c.relkind = 'r' \
                     AND c.relname IN ({}) \
                 ) t \
                 WHERE t.pages >= $1 AND t.n_live_tup > 2 * CASE \
                   WHEN t.reltuples < 0 THEN 0 \
                   WHEN t.relpages = 0 THEN t.reltuples \
                   ELSE t.reltuples / t.relpages * t.pages END",
                names.join(", ")
            ),
            [PAGES.into()],
        ))
        .await?;
    let mut analyzed = Vec::new();
    for row in rows {
        let table: String = row.try_get_by_index(0)?;
        // Only names from TABLES come back.
        if let Some(known) = TABLES.iter().find(|t| **t == table) {
            db.execute_unprepared(&format!("ANALYZE \"{known}\""))
                .await?;
            tracing::info!(
                table = known,
                "analyzed a table whose statistics were behind"
            );
            analyzed.push(*known);
        }
    }
    Ok(analyzed)
}
