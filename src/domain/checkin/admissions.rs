//! Batched admissions on PostgreSQL. At the doors, dozens of scanners admit
//! tickets at once; each admission is an insert that must be durable before
//! the volunteer waves the attendee through. One worker per list takes the
//! admissions queued while its previous statement ran and writes them all in
//! one statement and one commit, so a rush pays a commit per batch rather
//! than per scan. The primary key of the admission still decides: a ticket
//! is admitted at most once per list, whichever instance or batch sees it.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use chrono::{DateTime, Utc};
use entity::{checkin, state::ScanResult};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    Statement, TransactionTrait, Value,
};
use uuid::Uuid;

use super::scan::Admission;
use crate::domain::{
    DomainError,
    batching::{Batch, Batcher, Policy},
};

/// One admission to write, with its scan record.
#[derive(Debug, Clone)]
pub struct Pending {
    pub list_id: Uuid,
    pub list_name: String,
    pub event_id: Uuid,
    pub order_id: Uuid,
    pub ticket_id: Uuid,
    pub scan_id: Uuid,
    pub device: String,
    pub scanned_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub staff_id: Option<Uuid>,
}

/// `None`: admitted. `Some`: the admission that came first.
pub type Written = Option<Admission>;

/// The admission workers of this instance, one per list with traffic.
#[derive(Clone, Default)]
pub struct Admissions {
    batcher: Arc<OnceLock<Batcher<AdmissionBatch>>>,
}

struct AdmissionBatch {
    db: DatabaseConnection,
}

impl Batch for AdmissionBatch {
    type Key = Uuid;
    type Job = Pending;
    type Answer = Written;

    async fn decide(
        &self,
        _list_id: Uuid,
        jobs: &[&Pending],
        _turn: &mut super::super::batching::Turn,
    ) -> Result<Vec<Written>, sea_orm::DbErr> {
        // The admissions and what they announce commit together.
        let txn = self.db.begin().await?;
        let written = write_batch(&txn, jobs).await?;
        let notices = jobs
            .iter()
            .filter(|p| matches!(written.get(&p.scan_id), Some(None)))
            .map(|p| {
                super::scan::checked_in(
                    (p.list_id, &p.list_name),
                    p.event_id,
                    p.order_id,
                    p.ticket_id,
                    &p.device,
                    p.scanned_at,
                )
            })
            .collect();
        crate::domain::webhooks::announce(&txn, notices).await?;
        txn.commit().await?;
        Ok(jobs
            .iter()
            .map(|p| written.get(&p.scan_id).cloned().flatten())
            .collect())
    }
}

impl Admissions {
    /// Writes one admission through the list's worker.
    pub async fn write(
        &self,
        db: &DatabaseConnection,
        pending: Pending,
    ) -> Result<Written, DomainError> {
        let batcher = self
            .batcher
            .get_or_init(|| Batcher::new(AdmissionBatch { db: db.clone() }, Policy::DEFAULT));
        let (_, written) = batcher.submit(pending.list_id, pending).await?;
        Ok(written)
    }
}

// Long on purpose: one SQL statement, built and read back in one place.
/// Writes a batch in one statement: the earliest scan of each ticket is
/// inserted as its admission unless one exists, and every scan is recorded
/// as `admitted` or `already_checked_in`. Answers, per scan id, `None` when
/// it was admitted and the first admission otherwise.
async fn write_batch(
    db: &impl ConnectionTrait,
    batch: &[&Pending],
) -> Result<HashMap<Uuid, Written>, sea_orm::DbErr> {
    let mut values: Vec<Value> = Vec::with_capacity(batch.len() * 8);
    for p in batch {
        values.extend([
            p.list_id.into(),
            p.ticket_id.into(),
            p.scanned_at.into(),
            p.device.clone().into(),
            p.scan_id.into(),
            p.event_id.into(),
            p.recorded_at.into(),
            p.staff_id.into(),
        ]);
    }
    // The two results a batch can record, bound like every other value.
    let admitted = values.len() + 1;
    let already = values.len() + 2;
    values.extend([
        ScanResult::Admitted.into(),
        ScanResult::AlreadyCheckedIn.into(),
    ]);
    let sql = format!(
        r#"
        WITH input (list_id, ticket_id, scanned_at, device, scan_id, event_id, recorded_at, staff_id) AS (
            VALUES {}
        ),
        admitted AS (
            INSERT INTO checkin (list_id, ticket_id, scanned_at, device, scan_id)
            SELECT DISTINCT ON (ticket_id) list_id, ticket_id, scanned_at, device, scan_id
            FROM input ORDER BY ticket_id, scanned_at, scan_id
            ON CONFLICT (list_id, ticket_id) DO NOTHING
            RETURNING scan_id
        )
        INSERT INTO checkin_scan
            (id, list_id, event_id, ticket_id, device, result, scanned_at, recorded_at, staff_id, offline)
        SELECT i.scan_id, i.list_id, i.event_id, i.ticket_id, i.device,
               CASE WHEN i.scan_id IN (SELECT scan_id FROM admitted) THEN ${admitted}::text ELSE ${already}::text END,
               i.scanned_at, i.recorded_at, i.staff_id, false
        FROM input i
        RETURNING id, result"#,
        crate::domain::values_rows(
            batch.len(),
            &[
                "uuid",
                "uuid",
                "timestamptz",
                "text",
                "uuid",
                "uuid",
                "timestamptz",
                "uuid"
            ]
        )
    );
    let results = db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    let mut out: HashMap<Uuid, Written> = HashMap::with_capacity(results.len());
    let mut duplicates: Vec<Uuid> = Vec::new();
    for row in results {
        let id: Uuid = row.try_get_by_index(0)?;
        let result: ScanResult = row.try_get_by_index(1)?;
        if result == ScanResult::Admitted {
            out.insert(id, None);
        } else if let Some(p) = batch.iter().find(|p| p.scan_id == id) {
            duplicates.push(p.ticket_id);
        }
    }
    if !duplicates.is_empty() {
        let list_id = batch.first().map(|p| p.list_id).unwrap_or_default();
        let firsts: HashMap<Uuid, Admission> = checkin::Entity::find()
            .filter(checkin::Column::ListId.eq(list_id))
            .filter(checkin::Column::TicketId.is_in(duplicates))
            .all(db)
            .await?
            .into_iter()
            .map(|a| {
                (
                    a.ticket_id,
                    Admission {
                        at: a.scanned_at,
                        device: a.device,
                    },
                )
            })
            .collect();
        for p in batch {
            out.entry(p.scan_id)
                .or_insert_with(|| firsts.get(&p.ticket_id).cloned());
        }
    }
    Ok(out)
}
