//! Connecting to the database and bringing its schema up to date.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    TransactionTrait,
};

/// Connects to PostgreSQL or SQLite, whichever the URL names. SQLite files are
/// created when missing (`mode=rwc`) and run in WAL mode with foreign keys on.
pub async fn connect(
    url: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections.max(1))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    Database::connect(options).await
}

/// Applies pending migrations. On PostgreSQL they run in one transaction
/// holding an advisory lock, so instances starting together take turns and a
/// failed migration leaves nothing half-done.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let txn = db.begin().await?;
            // "tessera" in ASCII, as the lock's key.
            txn.execute_unprepared("SELECT pg_advisory_xact_lock(7365437286553441)")
                .await?;
            Migrator::up(&txn, None).await?;
            txn.commit().await
        }
        _ => Migrator::up(db, None).await,
    }
}

/// How long `/readyz` waits for the database.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the database answers a trivial query within `PING_TIMEOUT`.
pub async fn ping(db: &DatabaseConnection) -> bool {
    matches!(
        tokio::time::timeout(PING_TIMEOUT, db.ping()).await,
        Ok(Ok(()))
    )
}

/// Pool usage for metrics: (connections open, connections idle).
pub fn pool_usage(db: &DatabaseConnection) -> Option<(u32, u32)> {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            Some((
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            ))
        }
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            Some((
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            ))
        }
        _ => None,
    }
}
