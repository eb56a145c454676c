//! Events: one conference edition or meetup, with its size chart, dietary
//! options and life cycle (`draft` → `published` ⇄ `draft`, any → `archived`).

use std::collections::HashMap;

pub use entity::state::EventStatus;

use chrono::{DateTime, Utc};
use entity::{event, tier};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    ModelTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use input::{EventInput, EventPatch, SwagSizeInput, check_slug};

/// The event's time zone, for the times people read (arrivals at 08:00 means
/// 08:00 at the venue): an instant shown with the zone's UTC offset at that
/// moment, still RFC 3339 and the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime(chrono_tz::Tz);

impl LocalTime {
    /// The zone of an IANA name, UTC for a name the event could not have
    /// been given (names are checked when written).
    pub fn of(name: &str) -> Self {
        Self(name.parse().unwrap_or(chrono_tz::UTC))
    }

    pub fn at(self, at: DateTime<Utc>) -> chrono::DateTime<chrono::FixedOffset> {
        at.with_timezone(&self.0).fixed_offset()
    }

    /// The instant in the zone itself (its abbreviation, e.g. `CEST`, for
    /// people to read).
    pub fn at_zone(self, at: DateTime<Utc>) -> chrono::DateTime<chrono_tz::Tz> {
        at.with_timezone(&self.0)
    }

    /// The start of the local hour `at` falls in (for a zone 5:30 ahead of
    /// UTC, hours start at :30 UTC).
    pub fn hour_of(self, at: DateTime<Utc>) -> chrono::DateTime<chrono::FixedOffset> {
        use chrono::Timelike;
        let local = self.at(at);
        local
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(local)
    }
}
use input::{ValidEvent, validate};

use super::{
    DomainError, inventory, is_foreign_key_violation, is_unique_violation, now,
    page::{self, Page, TimeCursor},
    staff::{Scope, Staff},
    validation::FieldErrors,
};

pub const MAX_SWAG_SIZES: usize = 64;
pub const MAX_DIETARY_OPTIONS: usize = 32;
pub const MAX_CAPACITY: i64 = 1_000_000;
/// Longer than any conference; longer spans are typing mistakes.
pub const MAX_EVENT_DAYS: i64 = 62;

/// One entry of the swag size chart, e.g. size `M` in the `fitted` cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwagSize {
    pub size: String,
    pub cut: Option<String>,
    /// Shirts available in this size and cut; `None` when not tracked.
    pub stock: Option<i32>,
}

impl SwagSize {
    /// The size and cut as stock is counted: case-insensitively.
    pub fn key(&self) -> (String, Option<String>) {
        (
            self.size.to_lowercase(),
            self.cut.as_ref().map(|c| c.to_lowercase()),
        )
    }
}

/// An event as the rest of the service sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub timezone: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub venue: Option<String>,
    pub currency: String,
    pub capacity: Option<i32>,
    pub swag_sizes: Vec<SwagSize>,
    pub dietary_options: Vec<String>,
    pub attendee_edit_deadline: Option<DateTime<Utc>>,
    /// Where replies to the event's mails go.
    pub reply_to: Option<String>,
    pub status: EventStatus,
    pub published_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Event {
    pub fn from_model(model: event::Model) -> Result<Self, DomainError> {
        let swag_sizes = serde_json::from_value(model.swag_sizes)
            .map_err(|err| DomainError::Corrupt(format!("event {} swag_sizes: {err}", model.id)))?;
        let dietary_options = serde_json::from_value(model.dietary_options).map_err(|err| {
            DomainError::Corrupt(format!("event {} dietary_options: {err}", model.id))
        })?;
        Ok(Self {
            id: model.id,
            slug: model.slug,
            name: model.name,
            description: model.description,
            timezone: model.timezone,
            starts_at: model.starts_at,
            ends_at: model.ends_at,
            venue: model.venue,
            currency: model.currency,
            capacity: model.capacity,
            swag_sizes,
            dietary_options,
            attendee_edit_deadline: model.attendee_edit_deadline,
            reply_to: model.reply_to,
            status: model.status,
            published_at: model.published_at,
            archived_at: model.archived_at,
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }

    /// Until when attendees may edit their tickets: the deadline the
    /// organizers set, or the start of the event.
    pub fn edits_close_at(&self) -> DateTime<Utc> {
        self.attendee_edit_deadline.unwrap_or(self.starts_at)
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, DomainError> {
    serde_json::to_value(value).map_err(|err| DomainError::Corrupt(err.to_string()))
}

fn slug_taken() -> FieldErrors {
    FieldErrors::single("slug", "taken", "another event already uses this slug")
}

/// Creates a draft event.
pub async fn create(
    db: &DatabaseConnection,
    staff: &Staff,
    input: EventInput,
) -> Result<Event, DomainError> {
    staff.require_event_creator()?;
    // Validation first: nothing the client sent reaches a query unchecked.
    let valid = validate(input)?;
    let taken = event::Entity::find()
        .filter(event::Column::Slug.eq(&valid.slug))
        .count(db)
        .await?
        > 0;
    if taken {
        return Err(slug_taken().into());
    }
    let at = now();
    let model = event::ActiveModel {
        id: Set(Uuid::now_v7()),
        slug: Set(valid.slug),
        name: Set(valid.name),
        description: Set(valid.description),
        timezone: Set(valid.timezone),
        starts_at: Set(valid.starts_at),
        ends_at: Set(valid.ends_at),
        venue: Set(valid.venue),
        currency: Set(valid.currency),
        capacity: Set(valid.capacity),
        swag_sizes: Set(to_json(&valid.swag_sizes)?),
        dietary_options: Set(to_json(&valid.dietary_options)?),
        attendee_edit_deadline: Set(valid.attendee_edit_deadline),
        reply_to: Set(valid.reply_to),
        status: Set(EventStatus::Draft),
        published_at: Set(None),
        archived_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    };
    match model.insert(db).await {
        Ok(model) => Event::from_model(model),
        // Two organizers raced for the same slug; the loser hears the same
        // answer as if it had been slower.
        Err(err) if is_unique_violation(&err) => Err(slug_taken().into()),
        Err(err) => Err(err.into()),
    }
}

/// Which events an organizer lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventFilter {
    pub status: Option<EventStatus>,
}

fn in_order_after(cursor: Option<&str>) -> Result<Option<Condition>, DomainError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let cursor = TimeCursor::decode(cursor)?;
    Ok(Some(
        Condition::any()
            .add(event::Column::StartsAt.gt(cursor.at))
            .add(
                Condition::all()
                    .add(event::Column::StartsAt.eq(cursor.at))
                    .add(event::Column::Id.gt(cursor.id)),
            ),
    ))
}

/// Lists events in start order, limited to the caller's scope.
pub async fn list(
    db: &DatabaseConnection,
    staff: &Staff,
    filter: EventFilter,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<Page<Event>, DomainError> {
    staff.require_organizer()?;
    let limit = page::limit(limit)?;
    let mut query = event::Entity::find();
    if let Some(status) = filter.status {
        query = query.filter(event::Column::Status.eq(status.as_str()));
    }
    if let Scope::Events(ids) = &staff.scope {
        query = query.filter(event::Column::Id.is_in(ids.iter().copied()));
    }
    query_page(db, query, cursor, limit).await
}

/// Runs an event query one page at a time, in start order.
pub(crate) async fn query_page(
    db: &impl ConnectionTrait,
    mut query: sea_orm::Select<event::Entity>,
    cursor: Option<&str>,
    limit: u64,
) -> Result<Page<Event>, DomainError> {
    if let Some(after) = in_order_after(cursor)? {
        query = query.filter(after);
    }
    let rows = query
        .order_by_asc(event::Column::StartsAt)
        .order_by_asc(event::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let events = rows
        .into_iter()
        .map(Event::from_model)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page::paginate(events, limit, |event| TimeCursor {
        at: event.starts_at,
        id: event.id,
    }))
}

/// Finds an event the caller organizes: 404 when it does not exist, 403 when
/// it exists outside the caller's scope.
pub async fn find_managed(
    db: &impl ConnectionTrait,
    staff: &Staff,
    slug: &str,
) -> Result<event::Model, DomainError> {
    staff.require_organizer()?;
    let model = event::Entity::find()
        .filter(event::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("event"))?;
    staff.require_organizer_of(model.id)?;
    Ok(model)
}

/// The ids of the events `slugs` name, in their order; an unknown or
/// repeated slug is a fault of `field[i]` in `errors`.
pub async fn ids_of_slugs(
    db: &impl ConnectionTrait,
    field: &str,
    slugs: &[String],
    errors: &mut FieldErrors,
) -> Result<Vec<Uuid>, DomainError> {
    let mut ids = Vec::with_capacity(slugs.len());
    for (i, slug) in slugs.iter().enumerate() {
        match event::Entity::find()
            .filter(event::Column::Slug.eq(slug))
            .one(db)
            .await?
        {
            Some(event) if !ids.contains(&event.id) => ids.push(event.id),
            Some(_) => errors.add(
                format!("{field}[{i}]"),
                "duplicate",
                "this event is listed twice",
            ),
            None => errors.add(
                format!("{field}[{i}]"),
                "unknown_event",
                format!("no event has the slug {slug:?}"),
            ),
        }
    }
    Ok(ids)
}

pub async fn get(db: &DatabaseConnection, staff: &Staff, slug: &str) -> Result<Event, DomainError> {
    Event::from_model(find_managed(db, staff, slug).await?)
}

fn ensure_not_archived(model: &event::Model) -> Result<(), DomainError> {
    if model.status == EventStatus::Archived {
        return Err(DomainError::conflict(
            "event_archived",
            "archived events cannot be changed",
        ));
    }
    Ok(())
}

/// Applies a partial update; the result must pass every rule of creation.
pub async fn update(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    patch: EventPatch,
) -> Result<Event, DomainError> {
    let model = find_managed(db, staff, slug).await?;
    ensure_not_archived(&model)?;
    let current = Event::from_model(model.clone())?;
    let current_limits = Limits::of(&current);

    let mut errors = FieldErrors::new();
    if let Some(currency) = &patch.currency
        && *currency != current.currency
        && current.published_at.is_some()
    {
        errors.add(
            "currency",
            "locked",
            "the currency cannot change once the event has been published",
        );
    }
    let input = patched(current, patch);
    let valid = match validate(input) {
        Ok(valid) => errors.finish(valid)?,
        Err(mut more) => {
            for error in errors.iter() {
                more.add(error.field.clone(), error.code, error.message.clone());
            }
            return Err(more.into());
        }
    };
    if valid.swag_sizes.is_empty() {
        ensure_no_swag_tiers(db, &model).await?;
    }

    let txn = db.begin().await?;
    let limits = shrinking_limits(&current_limits, &valid);
    if !limits.is_empty() {
        inventory::lock_event(&txn, model.id).await?;
        inventory::ensure_fits(&txn, model.id, &limits, now()).await?;
    }
    let mut active: event::ActiveModel = model.into();
    active.name = Set(valid.name);
    active.description = Set(valid.description);
    active.timezone = Set(valid.timezone);
    active.starts_at = Set(valid.starts_at);
    active.ends_at = Set(valid.ends_at);
    active.venue = Set(valid.venue);
    active.currency = Set(valid.currency);
    active.capacity = Set(valid.capacity);
    active.swag_sizes = Set(to_json(&valid.swag_sizes)?);
    active.dietary_options = Set(to_json(&valid.dietary_options)?);
    active.attendee_edit_deadline = Set(valid.attendee_edit_deadline);
    active.reply_to = Set(valid.reply_to);
    active.updated_at = Set(now());
    let updated = active.update(&txn).await?;
    txn.commit().await?;
    Event::from_model(updated)
}

/// The event as it would be with `patch` applied.
fn patched(current: Event, patch: EventPatch) -> EventInput {
    EventInput {
        slug: current.slug,
        name: patch.name.unwrap_or(current.name),
        description: Some(patch.description.unwrap_or(current.description)),
        timezone: patch.timezone.unwrap_or(current.timezone),
        starts_at: patch.starts_at.unwrap_or(current.starts_at),
        ends_at: patch.ends_at.unwrap_or(current.ends_at),
        venue: patch.venue.unwrap_or(current.venue),
        currency: patch.currency.unwrap_or(current.currency),
        capacity: patch.capacity.unwrap_or(current.capacity.map(i64::from)),
        swag_sizes: match patch.swag_sizes {
            Some(sizes) => sizes,
            None => current
                .swag_sizes
                .into_iter()
                .map(|s| SwagSizeInput {
                    size: s.size,
                    cut: s.cut,
                    stock: s.stock.map(i64::from),
                })
                .collect(),
        },
        dietary_options: patch.dietary_options.unwrap_or(current.dietary_options),
        attendee_edit_deadline: patch
            .attendee_edit_deadline
            .unwrap_or(current.attendee_edit_deadline),
        reply_to: patch.reply_to.unwrap_or(current.reply_to),
    }
}

/// An empty size chart is refused while tiers that include swag remain.
async fn ensure_no_swag_tiers(
    db: &DatabaseConnection,
    model: &event::Model,
) -> Result<(), DomainError> {
    let swag_tiers = model
        .find_related(tier::Entity)
        .filter(tier::Column::IncludesSwag.eq(true))
        .filter(tier::Column::ArchivedAt.is_null())
        .count(db)
        .await?;
    if swag_tiers > 0 {
        return Err(FieldErrors::single(
            "swag_sizes",
            "required_by_tiers",
            "tiers that include swag need at least one size",
        )
        .into());
    }
    Ok(())
}

/// The event's current capacity and swag stock, to tell which limits a
/// patch lowers.
struct Limits {
    capacity: Option<i32>,
    stock: HashMap<(String, Option<String>), i32>,
}

impl Limits {
    fn of(event: &Event) -> Self {
        Self {
            capacity: event.capacity,
            stock: event
                .swag_sizes
                .iter()
                .filter_map(|s| s.stock.map(|stock| (s.key(), stock)))
                .collect(),
        }
    }
}

/// The limits a valid patch lowers (or sets where there was none), to be
/// checked against what is already taken.
fn shrinking_limits(before: &Limits, after: &ValidEvent) -> Vec<inventory::NewLimit> {
    let mut limits = Vec::new();
    if let Some(capacity) = after.capacity
        && before.capacity.is_none_or(|old| capacity < old)
    {
        limits.push(inventory::NewLimit::Event {
            capacity: Some(i64::from(capacity)),
        });
    }
    for (index, size) in after.swag_sizes.iter().enumerate() {
        let key = size.key();
        if let Some(stock) = size.stock
            && before.stock.get(&key).is_none_or(|old| stock < *old)
        {
            limits.push(inventory::NewLimit::Swag {
                index,
                key,
                stock: i64::from(stock),
            });
        }
    }
    limits
}

/// A change of life-cycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Publish,
    Unpublish,
    Archive,
}

/// Publishes, unpublishes or archives an event. Asking for the state the
/// event is already in changes nothing and succeeds.
pub async fn transition(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    to: Transition,
) -> Result<Event, DomainError> {
    let model = find_managed(db, staff, slug).await?;
    let status: EventStatus = model.status;
    let at = now();
    let mut active: event::ActiveModel = model.clone().into();
    match (to, status) {
        (_, EventStatus::Archived) => {
            if to == Transition::Archive {
                return Event::from_model(model);
            }
            return Err(DomainError::conflict(
                "event_archived",
                "archived events cannot be changed",
            ));
        }
        (Transition::Publish, EventStatus::Published)
        | (Transition::Unpublish, EventStatus::Draft) => {
            return Event::from_model(model);
        }
        (Transition::Publish, EventStatus::Draft) => {
            active.status = Set(EventStatus::Published);
            if model.published_at.is_none() {
                active.published_at = Set(Some(at));
            }
        }
        (Transition::Unpublish, EventStatus::Published) => {
            active.status = Set(EventStatus::Draft);
        }
        (Transition::Archive, _) => {
            active.status = Set(EventStatus::Archived);
            active.archived_at = Set(Some(at));
        }
    }
    active.updated_at = Set(at);
    Event::from_model(active.update(db).await?)
}

fn has_orders() -> DomainError {
    DomainError::conflict(
        "event_has_orders",
        "an event with orders is archived, not deleted: POST .../archive",
    )
}

/// Every event's id, for the background jobs that visit each event.
pub async fn all_ids(db: &DatabaseConnection) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .order_by_asc(event::Column::Id)
        .into_tuple()
        .all(db)
        .await
}

/// Deletes an event that never had an order (its tiers and vouchers go with
/// it). An event with orders, even cancelled ones, is archived instead.
pub async fn delete(db: &DatabaseConnection, staff: &Staff, slug: &str) -> Result<(), DomainError> {
    let model = find_managed(db, staff, slug).await?;
    let orders = entity::order::Entity::find()
        .filter(entity::order::Column::EventId.eq(model.id))
        .count(db)
        .await?;
    if orders > 0 {
        return Err(has_orders());
    }
    match model.delete(db).await {
        Ok(_) => Ok(()),
        // An order arrived between the check and the delete.
        Err(err) if is_foreign_key_violation(&err) => Err(has_orders()),
        Err(err) => Err(err.into()),
    }
}

mod input;
#[cfg(test)]
mod tests;
