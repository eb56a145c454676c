//! Background work: expiring unpaid orders, forgetting old idempotency
//! keys, recounting the inventory counters, delivering the outbox's mails
//! and webhooks, keeping PostgreSQL's planner's statistics from lagging far
//! behind a new deployment's first rush.
//! Every instance runs it; each step is safe to run concurrently.

mod outbox;
mod webhooks;

pub use outbox::{MailOut, spawn_mail_worker};
pub use webhooks::{HooksOut, PACED, PER_ENDPOINT, spawn_webhook_worker};

use std::{sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;

use crate::{
    domain::{self, clock::Clock, idempotency, payments::Payments},
    telemetry::Metrics,
};

/// Runs the sweeper every `every` until the task is dropped.
pub fn spawn_sweeper(
    db: DatabaseConnection,
    payments: Payments,
    every: Duration,
    clock: Clock,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(clock.scope(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            sweep(&db, &payments).await;
        }
    }))
}

/// Analyzes the busiest tables of a PostgreSQL deployment whenever the
/// planner's belief about them is far off (see [`domain::statistics`]),
/// looking every [`domain::statistics::LOOK_EVERY`] until the task is
/// dropped. Nothing to do on SQLite.
pub fn spawn_statistics(db: DatabaseConnection) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return;
        }
        let mut ticker = tokio::time::interval(domain::statistics::LOOK_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(err) = domain::statistics::analyze_stale_tables(&db).await {
                tracing::warn!(error = %err, "could not analyze tables");
            }
        }
    })
}

/// Recounts every event's inventory counters every `every` until the task
/// is dropped (the first recount one period after start).
pub fn spawn_counter_check(
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    every: Duration,
    clock: Clock,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(clock.scope(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            check_counters(&db, &metrics).await;
        }
    }))
}

/// Recounts every event's counters from its tickets, repairing drift: a
/// counter that disagrees is a bug, logged as an error and counted in the
/// metrics (`tessera_inventory_counter_drift`).
pub async fn check_counters(db: &DatabaseConnection, metrics: &Metrics) {
    let events = match domain::events::all_ids(db).await {
        Ok(events) => events,
        Err(err) => {
            tracing::warn!(error = %err, "could not list events to recount");
            return;
        }
    };
    for event in events {
        match domain::inventory::check_counts(db, event).await {
            Ok(drift) => {
                metrics.counters_checked(drift.wrong);
                if drift.wrong > 0 {
                    tracing::error!(
                        event = %event,
                        counters = drift.wrong,
                        worst = drift.worst,
                        "inventory counters disagreed with the tickets; repaired"
                    );
                }
            }
            Err(err) => tracing::warn!(event = %event, error = %err, "could not recount"),
        }
    }
}

/// One pass: expire due orders (cancelling their payments at Stripe), send
/// refunds Stripe did not answer again, purge old keys. Failures are logged
/// and the next pass tries again.
pub async fn sweep(db: &DatabaseConnection, payments: &Payments) {
    match domain::orders::expire_due(db, 500).await {
        Ok(expired) if expired.is_empty() => {}
        Ok(expired) => {
            tracing::info!(orders = expired.len(), "expired unpaid orders");
            match domain::payments::lapsed_with_payment(db, &expired).await {
                Ok(lapsed) => domain::payments::close_lapsed(payments, &lapsed).await,
                Err(err) => tracing::warn!(error = %err, "could not read lapsed payments"),
            }
        }
        Err(err) => tracing::warn!(error = %err, "could not expire orders"),
    }
    match domain::payments::refunds::retry_requested(db, payments).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(refunds = n, "sent waiting refunds to Stripe again"),
        Err(err) => tracing::warn!(error = %err, "could not retry refunds"),
    }
    match idempotency::purge(db, domain::now() - idempotency::RETENTION).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(keys = n, "purged idempotency keys"),
        Err(err) => tracing::warn!(error = %err, "could not purge idempotency keys"),
    }
}
