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
//! itself, once, as soon as they hold a few hundred kilobytes and have
//! never been analyzed; autovacuum keeps them fresh afterwards.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

/// The tables read under the event's lock or by the workers' claims.
pub const TABLES: [&str; 3] = ["orders", "ticket", "outbox_message"];

/// Pages (8 KiB) a table holds before it is worth analyzing: about a
/// thousand orders.
pub const PAGES: i64 = 32;

/// Analyzes those of [`TABLES`] that have never been analyzed and hold at
/// least [`PAGES`] pages; answers how many of them still have no
/// statistics (none: nothing left to do). Not on SQLite (its planner needs
/// none of this), where it answers 0.
pub async fn analyze_new_tables(db: &DatabaseConnection) -> Result<usize, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(0);
    }
    let names: Vec<String> = TABLES.iter().map(|t| format!("'{t}'")).collect();
    // `reltuples` is -1 until a table is first vacuumed or analyzed (0
    // before PostgreSQL 14); once analyzed this big, it is above 0.
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!(
                "SELECT c.relname::text, pg_relation_size(c.oid) >= $1 * current_setting('block_size')::bigint \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind = 'r' \
                   AND c.relname IN ({}) AND c.reltuples <= 0",
                names.join(", ")
            ),
            [PAGES.into()],
        ))
        .await?;
    let mut waiting = 0;
    for row in rows {
        let table: String = row.try_get_by_index(0)?;
        let big: bool = row.try_get_by_index(1)?;
        // Only names from TABLES come back.
        match TABLES.iter().find(|t| **t == table) {
            Some(known) if big => {
                db.execute_unprepared(&format!("ANALYZE \"{known}\""))
                    .await?;
                tracing::info!(table = known, "analyzed a new table for the planner");
            }
            _ => waiting += 1,
        }
    }
    Ok(waiting)
}
