//! Background work: expiring unpaid orders and forgetting old idempotency
//! keys. Every instance runs it; each step is safe to run concurrently.

use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::domain::{self, idempotency};

/// Runs the sweeper every `every` until the task is dropped.
pub fn spawn_sweeper(db: DatabaseConnection, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            sweep(&db).await;
        }
    })
}

/// One pass: expire due orders, purge old keys. Failures are logged and the
/// next pass tries again.
pub async fn sweep(db: &DatabaseConnection) {
    match domain::orders::expire_due(db, 500).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(orders = n, "expired unpaid orders"),
        Err(err) => tracing::warn!(error = %err, "could not expire orders"),
    }
    match idempotency::purge(db, domain::now() - idempotency::RETENTION).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(keys = n, "purged idempotency keys"),
        Err(err) => tracing::warn!(error = %err, "could not purge idempotency keys"),
    }
}
