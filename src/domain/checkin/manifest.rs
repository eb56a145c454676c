//! What an offline scanner downloads: the list, and every ticket it may see
//! with what to do about it, or only those changed since the last download.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{checkin, checkin_change, checkin_scan, order, ticket, tier};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::scan::{ManifestState, OpenList, Scanning, open_list};
use crate::domain::{DomainError, now, orders::TicketStatus, staff::Staff};

/// A ticket as an offline scanner needs it.
#[derive(Debug, Clone)]
pub struct ManifestTicket {
    pub ticket_id: Uuid,
    pub token_version: i32,
    pub state: ManifestState,
    pub attendee_name: String,
    pub tier: String,
    pub swag_size: Option<String>,
    pub swag_cut: Option<String>,
    pub dietary: Option<String>,
    /// When it was admitted on this list, if it was.
    pub admitted_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// What a scanner needs to work without the network: the tickets of the
/// list's tiers that changed since `since` (all of them without it), and
/// those admitted since then. Changes are read with a few seconds of overlap,
/// so nothing committed while the previous manifest was read is missed.
pub async fn manifest(
    db: &DatabaseConnection,
    cache: &Scanning,
    staff: &Staff,
    list_id: Uuid,
    since: Option<DateTime<Utc>>,
) -> Result<(OpenList, Vec<ManifestTicket>, DateTime<Utc>), DomainError> {
    let open = open_list(db, cache, staff, list_id).await?;
    let list = &open.list;
    let generated_at = now();
    let from = since.map(|s| s - chrono::Duration::seconds(5));
    let mut query = ticket::Entity::find()
        .find_also_related(tier::Entity)
        .filter(ticket::Column::EventId.eq(open.event_id));
    if let Some(tiers) = list.covered_tiers(db).await? {
        query = query.filter(ticket::Column::TierId.is_in(tiers));
    }
    if let Some(from) = from {
        let admitted_since: Vec<Uuid> = checkin_scan::Entity::find()
            .filter(checkin_scan::Column::ListId.eq(list.id))
            .filter(checkin_scan::Column::RecordedAt.gte(from))
            .filter(checkin_scan::Column::TicketId.is_not_null())
            .all(db)
            .await?
            .into_iter()
            .filter_map(|s| s.ticket_id)
            .collect();
        // An admission undone or displaced since changes what the device knows.
        let changed_since: Vec<Uuid> = checkin_change::Entity::find()
            .select_only()
            .column(checkin_change::Column::TicketId)
            .filter(checkin_change::Column::ListId.eq(list.id))
            .filter(checkin_change::Column::At.gte(from))
            .into_tuple()
            .all(db)
            .await?;
        query = query.filter(
            sea_orm::Condition::any()
                .add(ticket::Column::UpdatedAt.gte(from))
                .add(ticket::Column::Id.is_in(admitted_since))
                .add(ticket::Column::Id.is_in(changed_since)),
        );
    } else {
        // A full manifest: only tickets that ever counted.
        query = query
            .filter(ticket::Column::Status.is_in([TicketStatus::Valid, TicketStatus::Revoked]));
    }
    let rows = query.order_by_asc(ticket::Column::Id).all(db).await?;
    let admissions: HashMap<Uuid, DateTime<Utc>> = checkin::Entity::find()
        .filter(checkin::Column::ListId.eq(list.id))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.ticket_id, a.scanned_at))
        .collect();
    // Few orders are ever disputed: read the event's, not every row's order.
    let disputed: std::collections::HashSet<Uuid> = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::EventId.eq(open.event_id))
        .filter(order::Column::DisputedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let tickets = rows
        .into_iter()
        .map(|(t, tier)| ManifestTicket {
            ticket_id: t.id,
            token_version: t.token_version,
            state: ManifestState::of(t.status, disputed.contains(&t.order_id)),
            attendee_name: t.attendee_name,
            tier: tier.map(|t| t.name).unwrap_or_default(),
            swag_size: t.swag_size,
            swag_cut: t.swag_cut,
            dietary: t.dietary,
            admitted_at: admissions.get(&t.id).copied(),
            updated_at: t.updated_at,
        })
        .collect();
    Ok((open, tickets, generated_at))
}
