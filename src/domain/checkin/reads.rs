//! Reading the ticket behind a scan. At the doors, dozens of scanners ask
//! for one ticket each at the same moment; on PostgreSQL one reader per
//! event takes the tickets asked for while its previous read ran and reads
//! them all in one statement, so a rush pays a round trip per batch rather
//! than per scan (the admissions that follow are batched the same way, see
//! [`super::admissions`]). What a scan reads is the same either way: each
//! ticket row as committed when the statement ran.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use chrono::{DateTime, Utc};
use entity::{order, ticket, tier};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    Select,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::domain::{
    DomainError,
    batching::{Batch, Batcher, Policy, Turn},
    orders::{OrderState, TicketStatus},
};

/// The ticket behind a token, with what the scan decides on.
#[derive(Debug, Clone, FromQueryResult)]
pub(super) struct ScanRow {
    pub(super) id: Uuid,
    pub(super) event_id: Uuid,
    pub(super) order_id: Uuid,
    pub(super) tier_id: Uuid,
    pub(super) status: TicketStatus,
    pub(super) token_version: i32,
    pub(super) attendee_name: String,
    pub(super) swag_size: Option<String>,
    pub(super) swag_cut: Option<String>,
    pub(super) dietary: Option<String>,
    pub(super) tier_name: String,
    pub(super) includes_swag: bool,
    pub(super) order_state: OrderState,
    pub(super) order_disputed_at: Option<DateTime<Utc>>,
}

/// The columns of [`ScanRow`], from the ticket, its tier and its order.
fn scan_rows() -> Select<ticket::Entity> {
    ticket::Entity::find()
        .select_only()
        .columns([
            ticket::Column::Id,
            ticket::Column::EventId,
            ticket::Column::OrderId,
            ticket::Column::TierId,
            ticket::Column::Status,
            ticket::Column::TokenVersion,
            ticket::Column::AttendeeName,
            ticket::Column::SwagSize,
            ticket::Column::SwagCut,
            ticket::Column::Dietary,
        ])
        .column_as(tier::Column::Name, "tier_name")
        .column_as(tier::Column::IncludesSwag, "includes_swag")
        .column_as(order::Column::State, "order_state")
        .column_as(order::Column::DisputedAt, "order_disputed_at")
        .inner_join(tier::Entity)
        .inner_join(order::Entity)
}

/// One ticket, read on its own.
pub(super) async fn scan_row(
    db: &DatabaseConnection,
    id: Uuid,
) -> Result<Option<ScanRow>, DomainError> {
    Ok(scan_rows()
        .filter(ticket::Column::Id.eq(id))
        .into_model::<ScanRow>()
        .one(db)
        .await?)
}

/// The ticket readers of this instance, one per event with scans.
#[derive(Clone, Default)]
pub(super) struct Reads {
    batcher: Arc<OnceLock<Batcher<ReadBatch>>>,
}

impl Reads {
    /// Reads one ticket of `event_id` through the event's reader (its row
    /// whatever its event: the caller compares).
    pub(super) async fn read(
        &self,
        db: &DatabaseConnection,
        event_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ScanRow>, DomainError> {
        let batcher = self.batcher.get_or_init(|| {
            Batcher::new(
                ReadBatch { db: db.clone() },
                // Reads take no lock: two batches may run at once.
                Policy {
                    in_flight: 2,
                    ..Policy::DEFAULT
                },
            )
        });
        let (_, row) = batcher.submit(event_id, id).await?;
        Ok(row)
    }
}

struct ReadBatch {
    db: DatabaseConnection,
}

impl Batch for ReadBatch {
    type Key = Uuid;
    type Job = Uuid;
    type Answer = Option<ScanRow>;

    async fn decide(
        &self,
        _event_id: Uuid,
        ids: &[&Uuid],
        turn: &mut Turn,
    ) -> Result<Vec<Option<ScanRow>>, sea_orm::DbErr> {
        turn.pass();
        // One statement text whatever the batch's size: the ids as one JSON
        // array, unpacked once (`ANY(ARRAY(…))`) and probed in the primary
        // key.
        let wanted: Vec<serde_json::Value> = ids.iter().map(|id| id.to_string().into()).collect();
        let rows = scan_rows()
            .filter(Expr::cust_with_exprs(
                "$1 = ANY(ARRAY(SELECT jsonb_array_elements_text($2)::uuid))",
                [
                    Expr::col((ticket::Entity, ticket::Column::Id)),
                    Expr::val(serde_json::Value::Array(wanted)).cast_as("jsonb"),
                ],
            ))
            .into_model::<ScanRow>()
            .all(&self.db)
            .await?;
        let found: HashMap<Uuid, ScanRow> = rows.into_iter().map(|r| (r.id, r)).collect();
        // A ticket scanned twice in one batch gets its row twice.
        Ok(ids.iter().map(|id| found.get(*id).cloned()).collect())
    }
}
