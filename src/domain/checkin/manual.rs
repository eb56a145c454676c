//! The attendee without their QR code: volunteers find them on their list by
//! name, email or order code and admit them by hand
//! (`scan::admit_by_hand`); organizers undo an admission made by mistake.

use std::collections::{HashMap, HashSet};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::{checkin, checkin_scan, order, state::ChangeKind, ticket, tier};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use super::{
    lists,
    scan::{ManifestState, Scanning, change, open_list},
};
use crate::domain::{
    DomainError, audit, now,
    orders::TicketStatus,
    page::{self, Page},
    search::{attendee_matches, email_hint},
    staff::Staff,
    validation::FieldErrors,
};

/// An attendee as the door may see them: no email beyond a hint.
#[derive(Debug, Clone)]
pub struct DoorAttendee {
    pub ticket_id: Uuid,
    pub name: String,
    pub tier: String,
    pub swag_size: Option<String>,
    pub swag_cut: Option<String>,
    pub state: ManifestState,
    /// When they were admitted on this list, if they were.
    pub admitted_at: Option<DateTime<Utc>>,
    /// e.g. `a***@e***.org`, to tell two people of one name apart.
    pub email_hint: String,
}

/// The shortest search a volunteer may run: one letter would list the event.
pub const MIN_QUERY: usize = 2;

/// Attendees of the list (its covered tiers; tickets that were ever valid)
/// whose name, email or order code contains `q`, by name.
pub async fn search(
    db: &DatabaseConnection,
    cache: &Scanning,
    staff: &Staff,
    list_id: Uuid,
    q: &str,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<Page<DoorAttendee>, DomainError> {
    let q = q.trim();
    if q.chars().count() < MIN_QUERY {
        return Err(FieldErrors::single("q", "too_short", "at least 2 characters").into());
    }
    let limit = page::limit(limit)?;
    let open = open_list(db, cache, staff, list_id).await?;
    let mut query = ticket::Entity::find()
        .find_also_related(tier::Entity)
        .filter(ticket::Column::EventId.eq(open.event_id))
        .filter(ticket::Column::Status.is_in([TicketStatus::Valid, TicketStatus::Revoked]))
        .filter(attendee_matches(db, open.event_id, q).await?);
    if let Some(tiers) = open.list.covered_tiers(db).await? {
        query = query.filter(ticket::Column::TierId.is_in(tiers));
    }
    if let Some(cursor) = cursor {
        let (name, id) = decode(cursor)?;
        query = query.filter(
            Condition::any()
                .add(ticket::Column::AttendeeName.gt(name.clone()))
                .add(
                    Condition::all()
                        .add(ticket::Column::AttendeeName.eq(name))
                        .add(ticket::Column::Id.gt(id)),
                ),
        );
    }
    let mut rows = query
        .order_by_asc(ticket::Column::AttendeeName)
        .order_by_asc(ticket::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| rows.last().map(|(t, _)| encode(&t.attendee_name, t.id)))
        .flatten();
    let ids: Vec<Uuid> = rows.iter().map(|(t, _)| t.id).collect();
    let admitted: HashMap<Uuid, DateTime<Utc>> = checkin::Entity::find()
        .filter(checkin::Column::ListId.eq(list_id))
        .filter(checkin::Column::TicketId.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.ticket_id, a.scanned_at))
        .collect();
    let disputed: HashSet<Uuid> = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::Id.is_in(rows.iter().map(|(t, _)| t.order_id)))
        .filter(order::Column::DisputedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let items = rows
        .into_iter()
        .map(|(t, tier)| DoorAttendee {
            state: ManifestState::of(t.status, disputed.contains(&t.order_id)),
            admitted_at: admitted.get(&t.id).copied(),
            email_hint: email_hint(&t.attendee_email),
            ticket_id: t.id,
            name: t.attendee_name,
            tier: tier.map(|t| t.name).unwrap_or_default(),
            swag_size: t.swag_size,
            swag_cut: t.swag_cut,
        })
        .collect();
    Ok(Page { items, next_cursor })
}

fn encode(name: &str, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{id}|{name}"))
}

fn decode(cursor: &str) -> Result<(String, Uuid), FieldErrors> {
    let invalid = page::invalid_cursor;
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (id, name) = text.split_once('|').ok_or_else(invalid)?;
    Ok((name.to_owned(), id.parse().map_err(|_| invalid())?))
}

/// An admission undone.
#[derive(Debug, Clone)]
pub struct Undone {
    pub scan_id: Uuid,
    pub ticket_id: Uuid,
    pub at: DateTime<Utc>,
}

/// An organizer undoes the admission a scan made (a volunteer let the wrong
/// person in): the ticket may be admitted on the list again. The scan keeps
/// what its device was told; the undoing is its own fact, and audited.
pub async fn undo(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    list_id: Uuid,
    scan_id: Uuid,
    reason: &str,
) -> Result<Undone, DomainError> {
    let mut errors = FieldErrors::new();
    let reason = errors.text("reason", reason, 1, 500, false);
    errors.finish(())?;
    let (event, list) = lists::find_managed(db, staff, slug, list_id).await?;
    let scan = checkin_scan::Entity::find_by_id(scan_id)
        .filter(checkin_scan::Column::ListId.eq(list.id))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("scan"))?;
    let not_admitted = || {
        DomainError::conflict(
            "not_admitted",
            "this scan's admission does not stand: it was refused, undone, or displaced by an earlier scan",
        )
    };
    let ticket_id = scan.ticket_id.ok_or_else(not_admitted)?;
    let at = now();
    let txn = db.begin().await?;
    let removed = checkin::Entity::delete_many()
        .filter(checkin::Column::ListId.eq(list.id))
        .filter(checkin::Column::TicketId.eq(ticket_id))
        .filter(checkin::Column::ScanId.eq(scan_id))
        .exec(&txn)
        .await?
        .rows_affected;
    if removed != 1 {
        return Err(not_admitted());
    }
    let mut undone = change(list.id, ticket_id, scan_id, ChangeKind::Undone, at);
    undone.staff_id = Set(Some(staff.id).filter(|id| !id.is_nil()));
    undone.reason = Set(Some(reason.clone()));
    undone.insert(&txn).await?;
    audit::record(
        &txn,
        staff,
        event.id,
        "checkin.undone",
        &ticket_id.to_string(),
        serde_json::json!({"list_id": list.id, "list": list.name, "scan_id": scan_id, "reason": reason}),
    )
    .await?;
    txn.commit().await?;
    Ok(Undone {
        scan_id,
        ticket_id,
        at,
    })
}
