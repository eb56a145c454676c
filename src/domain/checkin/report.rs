//! The organizers' view: progress per list and the scan log; and the
//! attendee's token, and its reissue.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset, Utc};
use entity::{checkin, checkin_change, checkin_scan, event, order, state::ChangeKind, ticket};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, ExprTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait, prelude::Expr,
};
use uuid::Uuid;

use super::{
    lists::{self, CheckinList, ListKind},
    scan::ScanResult,
    tokens::{self, TokenSettings},
};
use crate::domain::{
    DomainError, audit,
    events::LocalTime,
    keys::KeyRing,
    now,
    orders::{self, OrderState, TicketStatus, effective_state},
    page::{self, Page, TimeCursor},
    staff::Staff,
};

/// How a list is doing.
#[derive(Debug, Clone)]
pub struct Progress {
    pub list: CheckinList,
    pub admitted: u64,
    /// Valid tickets the list admits.
    pub expected: u64,
    /// Admissions per hour (UTC, start of the hour).
    /// Admissions per hour at the venue (the event's time zone).
    pub by_hour: Vec<(DateTime<FixedOffset>, u64)>,
    /// At a swag desk: shirts to hand over and handed over, per size and
    /// cut (empty for entry lists).
    pub sizes: Vec<SizeProgress>,
}

/// Shirts of one size and cut at a swag desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeProgress {
    pub size: String,
    pub cut: Option<String>,
    pub expected: u64,
    pub handed_over: u64,
}

pub async fn progress(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    list_id: Uuid,
) -> Result<Progress, DomainError> {
    let (event, model) = lists::find_managed(db, staff, slug, list_id).await?;
    progress_of(
        db,
        CheckinList::from_model(model)?,
        LocalTime::of(&event.timezone),
    )
    .await
}

/// The progress of a list the caller was already allowed to see.
pub(crate) async fn progress_of(
    db: &DatabaseConnection,
    list: CheckinList,
    zone: LocalTime,
) -> Result<Progress, DomainError> {
    let mut expected = ticket::Entity::find()
        .filter(ticket::Column::EventId.eq(list.event_id))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid));
    if let Some(tiers) = list.covered_tiers(db).await? {
        expected = expected.filter(ticket::Column::TierId.is_in(tiers));
    }
    let sizes = match list.kind {
        ListKind::Entry => Vec::new(),
        ListKind::Swag => sizes_of(db, &list, expected.clone()).await?,
    };
    let expected = expected.count(db).await?;
    let times: Vec<DateTime<Utc>> = checkin::Entity::find()
        .select_only()
        .column(checkin::Column::ScannedAt)
        .filter(checkin::Column::ListId.eq(list.id))
        .into_tuple()
        .all(db)
        .await?;
    let mut by_hour: BTreeMap<DateTime<FixedOffset>, u64> = BTreeMap::new();
    for at in &times {
        *by_hour.entry(zone.hour_of(*at)).or_default() += 1;
    }
    Ok(Progress {
        admitted: times.len() as u64,
        expected,
        by_hour: by_hour.into_iter().collect(),
        sizes,
        list,
    })
}

/// Shirts per size and cut among `expected` tickets, and how many of them
/// were handed over at the desk: two grouped queries.
async fn sizes_of(
    db: &DatabaseConnection,
    list: &CheckinList,
    expected: sea_orm::Select<ticket::Entity>,
) -> Result<Vec<SizeProgress>, DomainError> {
    let grouped = |query: sea_orm::Select<ticket::Entity>| {
        query
            .select_only()
            .column(ticket::Column::SwagSize)
            .column(ticket::Column::SwagCut)
            .column_as(ticket::Column::Id.count(), "n")
            .filter(ticket::Column::SwagSize.is_not_null())
            .group_by(ticket::Column::SwagSize)
            .group_by(ticket::Column::SwagCut)
            .into_tuple::<(String, Option<String>, i64)>()
    };
    let handed: Vec<(String, Option<String>, i64)> = grouped(
        expected.clone().filter(
            ticket::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(checkin::Column::TicketId)
                    .from(checkin::Entity)
                    .and_where(checkin::Column::ListId.eq(list.id))
                    .to_owned(),
            ),
        ),
    )
    .all(db)
    .await?;
    let mut sizes: Vec<SizeProgress> = grouped(expected)
        .all(db)
        .await?
        .into_iter()
        .map(|(size, cut, n)| SizeProgress {
            handed_over: handed
                .iter()
                .find(|(s, c, _)| *s == size && *c == cut)
                .map_or(0, |(_, _, n)| u64::try_from(*n).unwrap_or(0)),
            expected: u64::try_from(n).unwrap_or(0),
            size,
            cut,
        })
        .collect();
    sizes.sort_by(|a, b| (&a.size, &a.cut).cmp(&(&b.size, &b.cut)));
    Ok(sizes)
}

/// Which scans to list.
#[derive(Debug, Clone, Default)]
pub struct ScanFilter {
    pub result: Option<ScanResult>,
    pub device: Option<String>,
    pub ticket: Option<Uuid>,
}

/// A scan as the log shows it: what its device was told, whose ticket it
/// was, and what happened to its admission since.
#[derive(Debug, Clone)]
pub struct LoggedScan {
    pub scan: checkin_scan::Model,
    pub attendee_name: Option<String>,
    pub displaced_by: Option<Displacement>,
    pub undone: Option<Undoing>,
}

/// The earlier offline scan that took an admission over.
#[derive(Debug, Clone)]
pub struct Displacement {
    pub scan_id: Uuid,
    pub device: String,
    pub scanned_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// An organizer's undoing of an admission.
#[derive(Debug, Clone)]
pub struct Undoing {
    pub at: DateTime<Utc>,
    pub staff_id: Option<Uuid>,
    pub reason: Option<String>,
}

/// A list's scans, newest first.
pub async fn scans(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    list_id: Uuid,
    filter: ScanFilter,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<(Page<LoggedScan>, LocalTime), DomainError> {
    let (event, list) = lists::find_managed(db, staff, slug, list_id).await?;
    let limit = page::limit(limit)?;
    let mut query = checkin_scan::Entity::find().filter(checkin_scan::Column::ListId.eq(list.id));
    if let Some(result) = filter.result {
        query = query.filter(checkin_scan::Column::Result.eq(result));
    }
    if let Some(device) = filter.device {
        query = query.filter(checkin_scan::Column::Device.eq(device));
    }
    if let Some(ticket) = filter.ticket {
        query = query.filter(checkin_scan::Column::TicketId.eq(ticket));
    }
    if let Some(cursor) = cursor {
        let cursor = TimeCursor::decode(cursor)?;
        query = query.filter(
            Condition::any()
                .add(checkin_scan::Column::ScannedAt.lt(cursor.at))
                .add(
                    Condition::all()
                        .add(checkin_scan::Column::ScannedAt.eq(cursor.at))
                        .add(checkin_scan::Column::Id.lt(cursor.id)),
                ),
        );
    }
    let rows = query
        .order_by_desc(checkin_scan::Column::ScannedAt)
        .order_by_desc(checkin_scan::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let page = page::paginate(rows, limit, |s| TimeCursor {
        at: s.scanned_at,
        id: s.id,
    });
    let items = annotate(db, page.items).await?;
    Ok((
        Page {
            items,
            next_cursor: page.next_cursor,
        },
        LocalTime::of(&event.timezone),
    ))
}

/// Adds the names and the later changes to a page of scans: three queries a
/// page, whatever its size.
async fn annotate(
    db: &DatabaseConnection,
    scans: Vec<checkin_scan::Model>,
) -> Result<Vec<LoggedScan>, DomainError> {
    let ticket_ids: Vec<Uuid> = scans.iter().filter_map(|s| s.ticket_id).collect();
    let names: HashMap<Uuid, String> = ticket::Entity::find()
        .select_only()
        .columns([ticket::Column::Id, ticket::Column::AttendeeName])
        .filter(ticket::Column::Id.is_in(ticket_ids))
        .into_tuple::<(Uuid, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let changes = checkin_change::Entity::find()
        .filter(checkin_change::Column::ScanId.is_in(scans.iter().map(|s| s.id)))
        .order_by_asc(checkin_change::Column::At)
        .all(db)
        .await?;
    let by_ids: Vec<Uuid> = changes.iter().filter_map(|c| c.by_scan_id).collect();
    let by: HashMap<Uuid, checkin_scan::Model> = if by_ids.is_empty() {
        HashMap::new()
    } else {
        checkin_scan::Entity::find()
            .filter(checkin_scan::Column::Id.is_in(by_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect()
    };
    Ok(scans
        .into_iter()
        .map(|scan| {
            let mine = changes.iter().filter(|c| c.scan_id == scan.id);
            let mut displaced_by = None;
            let mut undone = None;
            for change in mine {
                match change.kind {
                    ChangeKind::Displaced => {
                        displaced_by =
                            change
                                .by_scan_id
                                .and_then(|id| by.get(&id))
                                .map(|s| Displacement {
                                    scan_id: s.id,
                                    device: s.device.clone(),
                                    scanned_at: s.scanned_at,
                                    at: change.at,
                                });
                    }
                    ChangeKind::Undone => {
                        undone = Some(Undoing {
                            at: change.at,
                            staff_id: change.staff_id,
                            reason: change.reason.clone(),
                        });
                    }
                }
            }
            LoggedScan {
                attendee_name: scan.ticket_id.and_then(|id| names.get(&id).cloned()),
                displaced_by,
                undone,
                scan,
            }
        })
        .collect())
}

/// The check-in token of a ticket, for its attendee: only while the ticket is
/// valid and its order paid.
pub async fn attendee_token(
    db: &DatabaseConnection,
    keys: &KeyRing,
    settings: &TokenSettings,
    code: &str,
    order_token: Option<&str>,
    ticket_id: Uuid,
) -> Result<(String, DateTime<Utc>), DomainError> {
    let order = orders::find_by_token(db, code, order_token).await?;
    let ticket = ticket::Entity::find_by_id(ticket_id)
        .filter(ticket::Column::OrderId.eq(order.id))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("ticket"))?;
    if !has_token(&order, &ticket) {
        return Err(DomainError::conflict(
            "ticket_not_valid",
            "this ticket has no check-in token: its order is not paid, or the ticket was cancelled",
        ));
    }
    let event = event::Entity::find_by_id(order.event_id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("event"))?;
    tokens::issue(keys, settings, &event.slug, event.ends_at, &ticket).await
}

/// Whether a ticket has a check-in token: it is valid and its order paid.
fn has_token(order: &order::Model, ticket: &ticket::Model) -> bool {
    ticket.status == TicketStatus::Valid && effective_state(order, now()) == OrderState::Paid
}

/// A reissued ticket: its new token version, and its new token when the
/// ticket can be admitted (valid, order paid), to hand over as a QR code.
#[derive(Debug, Clone)]
pub struct Reissue {
    pub version: i32,
    pub token: Option<String>,
}

/// An organizer reissues a ticket's token: the old one stops working
/// (`superseded`) at once. Audited.
pub async fn reissue(
    db: &DatabaseConnection,
    keys: &KeyRing,
    settings: &TokenSettings,
    staff: &Staff,
    slug: &str,
    code: &str,
    ticket_id: Uuid,
) -> Result<Reissue, DomainError> {
    let event = crate::domain::events::find_managed(db, staff, slug).await?;
    let order = order::Entity::find()
        .filter(order::Column::EventId.eq(event.id))
        .filter(order::Column::Code.eq(orders::normalise_code(code)))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("order"))?;
    let txn = db.begin().await?;
    let changed = ticket::Entity::update_many()
        .col_expr(
            ticket::Column::TokenVersion,
            Expr::col(ticket::Column::TokenVersion).add(1),
        )
        .col_expr(ticket::Column::UpdatedAt, Expr::value(now()))
        .filter(ticket::Column::Id.eq(ticket_id))
        .filter(ticket::Column::OrderId.eq(order.id))
        .exec(&txn)
        .await?
        .rows_affected;
    if changed == 0 {
        return Err(DomainError::NotFound("ticket"));
    }
    let ticket = ticket::Entity::find_by_id(ticket_id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("ticket"))?;
    audit::record(
        &txn,
        staff,
        event.id,
        "ticket.reissued",
        &order.code,
        serde_json::json!({"ticket": ticket_id, "version": ticket.token_version}),
    )
    .await?;
    // The attendee gets the new QR code by mail (the old one is refused now).
    if has_token(&order, &ticket) {
        crate::domain::outbox::enqueue(
            &txn,
            vec![crate::domain::outbox::Outgoing::ticket(&ticket)],
        )
        .await?;
    }
    let notice = crate::domain::webhooks::Notice::ticket(
        entity::state::WebhookType::TicketReissued,
        event.id,
        order.id,
        ticket.id,
    );
    crate::domain::webhooks::announce(&txn, vec![notice]).await?;
    txn.commit().await?;
    let token = if has_token(&order, &ticket) {
        Some(
            tokens::issue(keys, settings, &event.slug, event.ends_at, &ticket)
                .await?
                .0,
        )
    } else {
        None
    };
    Ok(Reissue {
        version: ticket.token_version,
        token,
    })
}
