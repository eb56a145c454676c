//! What a conference runs on: the attendee list, and the swag, catering,
//! sales and arrivals figures. Only paid, valid tickets are attendees; held
//! tickets appear only where a report says "held".

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::{checkin, checkin_list, event, order, state::TicketStatus, ticket, tier, voucher};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};
use uuid::Uuid;

use super::{
    DomainError,
    checkin::lists::{CheckinList, ListKind},
    events::{self, Event, SwagSize},
    page::{self, Page, TimeCursor},
    search::{attendee_matches, lower},
    staff::Staff,
};

/// One attendee: a paid, valid ticket.
#[derive(Debug, Clone)]
pub struct Attendee {
    pub ticket_id: Uuid,
    pub order_code: String,
    pub name: String,
    pub email: String,
    pub tier_id: Uuid,
    pub tier: String,
    pub swag_size: Option<String>,
    pub swag_cut: Option<String>,
    pub dietary: Option<String>,
    pub notes: String,
    /// The first admission on an entry list, with the event's UTC offset.
    pub checked_in_at: Option<DateTime<chrono::FixedOffset>>,
    /// What the ticket cost, in minor units of the event's currency.
    pub price: i64,
    /// The voucher code used on this ticket.
    pub voucher: Option<String>,
}

/// Which attendees to list; filters combine.
#[derive(Debug, Clone, Default)]
pub struct AttendeeFilter {
    pub tier: Option<Uuid>,
    pub swag_size: Option<String>,
    pub swag_cut: Option<String>,
    /// A dietary option; `none` for attendees who chose none.
    pub dietary: Option<String>,
    pub checked_in: Option<bool>,
    /// Part of a name, email or order code (case-insensitive).
    pub search: Option<String>,
}

fn entry_admissions() -> sea_orm::sea_query::SelectStatement {
    checkin::Entity::find()
        .select_only()
        .column(checkin::Column::TicketId)
        .inner_join(checkin_list::Entity)
        .filter(checkin_list::Column::Kind.eq(ListKind::Entry))
        .into_query()
}

async fn attendee_query(
    db: &DatabaseConnection,
    event_id: Uuid,
    filter: &AttendeeFilter,
) -> Result<sea_orm::Select<ticket::Entity>, DomainError> {
    let mut query = ticket::Entity::find()
        .filter(ticket::Column::EventId.eq(event_id))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid));
    if let Some(tier) = filter.tier {
        query = query.filter(ticket::Column::TierId.eq(tier));
    }
    if let Some(size) = &filter.swag_size {
        query = query.filter(
            lower((ticket::Entity, ticket::Column::SwagSize)).eq(size.trim().to_lowercase()),
        );
    }
    if let Some(cut) = &filter.swag_cut {
        query = query
            .filter(lower((ticket::Entity, ticket::Column::SwagCut)).eq(cut.trim().to_lowercase()));
    }
    match filter.dietary.as_deref().map(str::trim) {
        Some(d) if d.eq_ignore_ascii_case("none") => {
            query = query.filter(
                Condition::any()
                    .add(ticket::Column::Dietary.is_null())
                    .add(lower((ticket::Entity, ticket::Column::Dietary)).eq("none")),
            );
        }
        Some(d) => {
            query =
                query.filter(lower((ticket::Entity, ticket::Column::Dietary)).eq(d.to_lowercase()))
        }
        None => {}
    }
    match filter.checked_in {
        Some(true) => query = query.filter(ticket::Column::Id.in_subquery(entry_admissions())),
        Some(false) => query = query.filter(ticket::Column::Id.not_in_subquery(entry_admissions())),
        None => {}
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        query = query.filter(attendee_matches(db, event_id, search).await?);
    }
    Ok(query)
}

/// Fills in tier names, order codes and check-in times for a page of tickets.
async fn attendees_of(
    db: &DatabaseConnection,
    tickets: Vec<ticket::Model>,
) -> Result<Vec<Attendee>, DomainError> {
    let Some(event_id) = tickets.first().map(|t| t.event_id) else {
        return Ok(Vec::new());
    };
    let zone = event::Entity::find_by_id(event_id)
        .one(db)
        .await?
        .map_or(events::LocalTime::of("UTC"), |e| {
            events::LocalTime::of(&e.timezone)
        });
    let ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
    let order_ids: Vec<Uuid> = tickets.iter().map(|t| t.order_id).collect();
    let tier_ids: Vec<Uuid> = tickets.iter().map(|t| t.tier_id).collect();
    let codes: HashMap<Uuid, String> = order::Entity::find()
        .filter(order::Column::Id.is_in(order_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.code))
        .collect();
    let voucher_ids: Vec<Uuid> = tickets.iter().filter_map(|t| t.voucher_id).collect();
    let vouchers: HashMap<Uuid, String> = if voucher_ids.is_empty() {
        HashMap::new()
    } else {
        voucher::Entity::find()
            .filter(voucher::Column::Id.is_in(voucher_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|v| (v.id, v.code))
            .collect()
    };
    let tiers: HashMap<Uuid, String> = tier::Entity::find()
        .filter(tier::Column::Id.is_in(tier_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let mut arrived: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    let admissions: Vec<(Uuid, DateTime<Utc>)> = checkin::Entity::find()
        .select_only()
        .column(checkin::Column::TicketId)
        .column(checkin::Column::ScannedAt)
        .inner_join(checkin_list::Entity)
        .filter(checkin_list::Column::Kind.eq(ListKind::Entry))
        .filter(checkin::Column::TicketId.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    for (ticket, at) in admissions {
        let first = arrived.entry(ticket).or_insert(at);
        *first = std::cmp::min(*first, at);
    }
    Ok(tickets
        .into_iter()
        .map(|t| Attendee {
            order_code: codes.get(&t.order_id).cloned().unwrap_or_default(),
            tier: tiers.get(&t.tier_id).cloned().unwrap_or_default(),
            checked_in_at: arrived.get(&t.id).map(|at| zone.at(*at)),
            voucher: t.voucher_id.and_then(|v| vouchers.get(&v).cloned()),
            price: t.price,
            ticket_id: t.id,
            name: t.attendee_name,
            email: t.attendee_email,
            tier_id: t.tier_id,
            swag_size: t.swag_size,
            swag_cut: t.swag_cut,
            dietary: t.dietary,
            notes: t.notes,
        })
        .collect())
}

/// A page of attendees, in the order their tickets were issued.
pub async fn attendees(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    filter: AttendeeFilter,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<Page<Attendee>, DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    let limit = page::limit(limit)?;
    let mut query = attendee_query(db, event.id, &filter).await?;
    if let Some(cursor) = cursor {
        query = query.filter(ticket::Column::Id.gt(TimeCursor::decode(cursor)?.id));
    }
    let tickets = query
        .order_by_asc(ticket::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let created: HashMap<Uuid, DateTime<Utc>> =
        tickets.iter().map(|t| (t.id, t.created_at)).collect();
    let rows = attendees_of(db, tickets).await?;
    Ok(page::paginate(rows, limit, |a| TimeCursor {
        at: created.get(&a.ticket_id).copied().unwrap_or_default(),
        id: a.ticket_id,
    }))
}

/// Attendees one batch at a time after `after`, for streaming exports.
pub async fn attendee_batch(
    db: &DatabaseConnection,
    event_id: Uuid,
    filter: &AttendeeFilter,
    after: Option<Uuid>,
    size: u64,
) -> Result<Vec<Attendee>, DomainError> {
    let mut query = attendee_query(db, event_id, filter).await?;
    if let Some(after) = after {
        query = query.filter(ticket::Column::Id.gt(after));
    }
    let tickets = query
        .order_by_asc(ticket::Column::Id)
        .limit(size)
        .all(db)
        .await?;
    attendees_of(db, tickets).await
}

/// Checks the caller's rights for an export and answers the event id.
pub async fn export_event(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
) -> Result<Uuid, DomainError> {
    Ok(events::find_managed(db, staff, slug).await?.id)
}

/// The event, its tiers and all its tickets, for the reports.
/// An event's tiers in display order.
async fn tiers_of(
    db: &DatabaseConnection,
    event_id: Uuid,
) -> Result<Vec<tier::Model>, DomainError> {
    Ok(tier::Entity::find()
        .filter(tier::Column::EventId.eq(event_id))
        .order_by_asc(tier::Column::SortOrder)
        .order_by_asc(tier::Column::Id)
        .all(db)
        .await?)
}

async fn load(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
) -> Result<(event::Model, Vec<tier::Model>, Vec<ticket::Model>), DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    let tiers = tiers_of(db, event.id).await?;
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::EventId.eq(event.id))
        .all(db)
        .await?;
    Ok((event, tiers, tickets))
}

/// One line of the swag report: a size and cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwagLine {
    pub size: String,
    pub cut: Option<String>,
    /// Shirts for valid tickets, per tier id.
    pub by_tier: BTreeMap<Uuid, u64>,
    pub total: u64,
    pub stock: Option<i32>,
    /// Already handed over at a swag desk.
    pub collected: u64,
    /// What to order from the printer: `total` plus the padding, rounded up.
    pub to_order: u64,
}

/// The swag report: shirts per size and cut, per tier and in total, against
/// stock, with what was already collected and a padded order quantity.
pub async fn swag(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    padding_percent: u32,
) -> Result<(Vec<SwagLine>, Vec<tier::Model>), DomainError> {
    let (event, tiers, tickets) = load(db, staff, slug).await?;
    let chart: Vec<SwagSize> = Event::from_model(event.clone())?.swag_sizes;
    let collected_tickets: std::collections::HashSet<Uuid> = checkin::Entity::find()
        .select_only()
        .column(checkin::Column::TicketId)
        .inner_join(checkin_list::Entity)
        .filter(checkin_list::Column::EventId.eq(event.id))
        .filter(checkin_list::Column::Kind.eq(ListKind::Swag))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let key = |size: &str, cut: Option<&str>| (size.to_lowercase(), cut.map(str::to_lowercase));
    let mut lines: Vec<SwagLine> = chart
        .iter()
        .map(|s| SwagLine {
            size: s.size.clone(),
            cut: s.cut.clone(),
            by_tier: BTreeMap::new(),
            total: 0,
            stock: s.stock,
            collected: 0,
            to_order: 0,
        })
        .collect();
    for t in tickets.iter().filter(|t| t.status == TicketStatus::Valid) {
        let Some(size) = &t.swag_size else { continue };
        let wanted = key(size, t.swag_cut.as_deref());
        let index = match lines
            .iter()
            .position(|l| key(&l.size, l.cut.as_deref()) == wanted)
        {
            Some(i) => i,
            // A size since removed from the chart still has to be printed.
            None => {
                lines.push(SwagLine {
                    size: size.clone(),
                    cut: t.swag_cut.clone(),
                    by_tier: BTreeMap::new(),
                    total: 0,
                    stock: None,
                    collected: 0,
                    to_order: 0,
                });
                lines.len() - 1
            }
        };
        let line = &mut lines[index];
        *line.by_tier.entry(t.tier_id).or_default() += 1;
        line.total += 1;
        if collected_tickets.contains(&t.id) {
            line.collected += 1;
        }
    }
    for line in &mut lines {
        line.to_order = (line.total * (100 + u64::from(padding_percent))).div_ceil(100);
    }
    Ok((lines, tiers))
}

/// The catering report.
#[derive(Debug, Clone)]
pub struct Dietary {
    /// Attendees per option, in the event's order, then `none` (no choice).
    pub counts: Vec<(String, u64)>,
    /// The event's days (in its time zone), each with the same counts: every
    /// ticket covers every day.
    pub days: Vec<NaiveDate>,
    /// Attendees with notes (allergies): what the caterer needs, by name.
    pub notes: Vec<(Uuid, String, String, Option<String>, String)>,
}

pub async fn dietary(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
) -> Result<Dietary, DomainError> {
    let (event_model, _, tickets) = load(db, staff, slug).await?;
    let event = Event::from_model(event_model)?;
    let valid: Vec<&ticket::Model> = tickets
        .iter()
        .filter(|t| t.status == TicketStatus::Valid)
        .collect();
    let mut counts: Vec<(String, u64)> = event
        .dietary_options
        .iter()
        .map(|o| (o.clone(), 0))
        .collect();
    let mut unspecified = 0;
    for t in &valid {
        match t
            .dietary
            .as_deref()
            .and_then(|d| counts.iter_mut().find(|(o, _)| o.eq_ignore_ascii_case(d)))
        {
            Some((_, n)) => *n += 1,
            None => unspecified += 1,
        }
    }
    if !counts.iter().any(|(o, _)| o.eq_ignore_ascii_case("none")) {
        counts.push(("none".into(), unspecified));
    } else if let Some((_, n)) = counts
        .iter_mut()
        .find(|(o, _)| o.eq_ignore_ascii_case("none"))
    {
        *n += unspecified;
    }
    let tz: Tz = event.timezone.parse().unwrap_or(chrono_tz::UTC);
    let first = event.starts_at.with_timezone(&tz).date_naive();
    // An event ending at midnight does not eat on the next day.
    let last = (event.ends_at - Duration::seconds(1))
        .with_timezone(&tz)
        .date_naive();
    let days = first.iter_days().take_while(|d| *d <= last).collect();
    let orders: HashMap<Uuid, String> = order::Entity::find()
        .filter(order::Column::EventId.eq(event.id))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o.code))
        .collect();
    let notes = valid
        .iter()
        .filter(|t| !t.notes.trim().is_empty())
        .map(|t| {
            (
                t.id,
                orders.get(&t.order_id).cloned().unwrap_or_default(),
                t.attendee_name.clone(),
                t.dietary.clone(),
                t.notes.clone(),
            )
        })
        .collect();
    Ok(Dietary {
        counts,
        days,
        notes,
    })
}

/// Arrivals: admitted versus expected per list, and entry admissions per
/// hour.
pub async fn checkins(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
) -> Result<
    (
        Vec<super::checkin::report::Progress>,
        Vec<(DateTime<chrono::FixedOffset>, u64)>,
    ),
    DomainError,
> {
    let event = events::find_managed(db, staff, slug).await?;
    let lists = checkin_list::Entity::find()
        .filter(checkin_list::Column::EventId.eq(event.id))
        .order_by_asc(checkin_list::Column::Id)
        .all(db)
        .await?;
    let mut progress = Vec::with_capacity(lists.len());
    let mut arrivals: BTreeMap<DateTime<chrono::FixedOffset>, u64> = BTreeMap::new();
    let zone = events::LocalTime::of(&event.timezone);
    for list in lists {
        let p =
            super::checkin::report::progress_of(db, CheckinList::from_model(list)?, zone).await?;
        if p.list.kind == ListKind::Entry {
            for (hour, n) in &p.by_hour {
                *arrivals.entry(*hour).or_default() += n;
            }
        }
        progress.push(p);
    }
    Ok((progress, arrivals.into_iter().collect()))
}

/// Neutralises a spreadsheet formula: a cell a spreadsheet would run as a
/// formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) gets a
/// leading apostrophe, so it is shown as text.
pub fn csv_cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    }
}

mod sales;
#[cfg(test)]
mod tests;

pub use sales::{Sales, TierSales, sales};
