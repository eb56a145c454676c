//! Recording on an order the payment that was just started for it.
//!
//! Every paid order of a ticket rush records its PaymentIntent right after
//! it is placed. One `UPDATE` and one commit per order made that the
//! costliest statement of the rush on PostgreSQL; here the orders of a rush
//! record theirs in batches (one statement and one commit for all the
//! starts that queued while the previous batch ran), through the same
//! batching worker as placements and admissions. SQLite, whose one writer
//! lives in the process, records each on its own.
//!
//! A start is recorded only on an order that has none yet: the first
//! payment started is the order's only one (see `start`).

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use chrono::{DateTime, Utc};
use entity::order;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, Statement, Value, prelude::Expr,
};
use uuid::Uuid;

use crate::domain::{
    DomainError,
    batching::{Batch, Batcher, Policy, Turn},
};

/// A payment an order row may record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    Intent(String),
    Checkout(String),
}

impl Started {
    fn intent(&self) -> Option<&str> {
        match self {
            Self::Intent(id) => Some(id),
            Self::Checkout(_) => None,
        }
    }

    fn session(&self) -> Option<&str> {
        match self {
            Self::Checkout(id) => Some(id),
            Self::Intent(_) => None,
        }
    }

    /// Whether an order row with these columns holds exactly this payment.
    fn held_by(&self, intent: Option<&str>, session: Option<&str>) -> bool {
        match self {
            Self::Intent(id) => intent == Some(id) && session.is_none(),
            Self::Checkout(id) => session == Some(id),
        }
    }
}

/// One order's start, to record.
pub struct Start {
    pub order_id: Uuid,
    pub started: Started,
    pub at: DateTime<Utc>,
}

/// The recording worker of this instance (created on first use).
#[derive(Clone, Default)]
pub struct Recordings {
    batcher: Arc<OnceLock<Batcher<RecordBatch>>>,
}

struct RecordBatch {
    db: DatabaseConnection,
}

impl Batch for RecordBatch {
    type Key = ();
    type Job = Start;
    type Answer = bool;

    async fn decide(&self, _: (), jobs: &[&Start], turn: &mut Turn) -> Result<Vec<bool>, DbErr> {
        // Batches touch different orders: the next may run beside this one.
        turn.pass();
        record_batch(&self.db, jobs).await
    }
}

impl Recordings {
    /// Records `start` on its order unless the order already has a payment.
    /// Answers whether the order now holds exactly this payment (it was
    /// recorded, or an identical concurrent request recorded it first).
    pub async fn record(&self, db: &DatabaseConnection, start: Start) -> Result<bool, DomainError> {
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(record_batch(db, &[&start]).await?.first() == Some(&true));
        }
        let batcher = self.batcher.get_or_init(|| {
            Batcher::new(
                RecordBatch { db: db.clone() },
                Policy {
                    in_flight: 2,
                    ..Policy::DEFAULT
                },
            )
        });
        let (_, recorded) = batcher.submit((), start).await?;
        Ok(recorded)
    }
}

/// Records a batch: on PostgreSQL in one statement, elsewhere one update
/// per start. Answers per start whether its order holds exactly it.
async fn record_batch(db: &impl ConnectionTrait, starts: &[&Start]) -> Result<Vec<bool>, DbErr> {
    let updated = match db.get_database_backend() {
        DatabaseBackend::Postgres => update_all(db, starts).await?,
        _ => update_each(db, starts).await?,
    };
    // Those not updated: a payment was recorded on the order before.
    let missing: Vec<Uuid> = starts
        .iter()
        .filter(|s| !updated.contains_key(&s.order_id))
        .map(|s| s.order_id)
        .collect();
    let mut rows = updated;
    if !missing.is_empty() {
        for row in order::Entity::find()
            .filter(order::Column::Id.is_in(missing))
            .all(db)
            .await?
        {
            rows.insert(row.id, (row.payment_intent_id, row.checkout_session_id));
        }
    }
    Ok(starts
        .iter()
        .map(|s| {
            rows.get(&s.order_id).is_some_and(|(intent, session)| {
                s.started.held_by(intent.as_deref(), session.as_deref())
            })
        })
        .collect())
}

type Columns = HashMap<Uuid, (Option<String>, Option<String>)>;

/// One `UPDATE ... FROM (VALUES ...)` for the whole batch, answering the
/// orders it changed with what they now hold.
async fn update_all(db: &impl ConnectionTrait, starts: &[&Start]) -> Result<Columns, DbErr> {
    let mut values: Vec<Value> = Vec::with_capacity(starts.len() * 4);
    for s in starts {
        values.extend([
            s.order_id.into(),
            s.started.intent().map(str::to_owned).into(),
            s.started.session().map(str::to_owned).into(),
            s.at.into(),
        ]);
    }
    // An order started twice in one batch (a retried request) matches two
    // input rows; PostgreSQL updates it once, with either: both carry the
    // same Stripe object (one idempotency key per order and method).
    let sql = format!(
        r#"
        UPDATE orders AS o
        SET payment_intent_id = i.intent, checkout_session_id = i.session, updated_at = i.at
        FROM (VALUES {}) AS i (id, intent, session, at)
        WHERE o.id = i.id AND o.payment_intent_id IS NULL AND o.checkout_session_id IS NULL
        RETURNING o.id, o.payment_intent_id, o.checkout_session_id"#,
        crate::domain::values_rows(starts.len(), &["uuid", "text", "text", "timestamptz"])
    );
    let mut out = Columns::with_capacity(starts.len());
    for row in db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            sql,
            values,
        ))
        .await?
    {
        out.insert(
            row.try_get_by_index(0)?,
            (row.try_get_by_index(1)?, row.try_get_by_index(2)?),
        );
    }
    Ok(out)
}

/// One conditional update per start.
async fn update_each(db: &impl ConnectionTrait, starts: &[&Start]) -> Result<Columns, DbErr> {
    let mut out = Columns::with_capacity(starts.len());
    for s in starts {
        let intent = s.started.intent().map(str::to_owned);
        let session = s.started.session().map(str::to_owned);
        let changed = order::Entity::update_many()
            .col_expr(order::Column::PaymentIntentId, Expr::value(intent.clone()))
            .col_expr(
                order::Column::CheckoutSessionId,
                Expr::value(session.clone()),
            )
            .col_expr(order::Column::UpdatedAt, Expr::value(s.at))
            .filter(order::Column::Id.eq(s.order_id))
            .filter(order::Column::PaymentIntentId.is_null())
            .filter(order::Column::CheckoutSessionId.is_null())
            .exec(db)
            .await?
            .rows_affected;
        if changed > 0 {
            out.insert(s.order_id, (intent, session));
        }
    }
    Ok(out)
}
