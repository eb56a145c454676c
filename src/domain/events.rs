//! Events: one conference edition or meetup, with its size chart, dietary
//! options and life cycle (`draft` → `published` ⇄ `draft`, any → `archived`).

use std::collections::{HashMap, HashSet};

pub use entity::state::EventStatus;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use entity::{event, tier};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    ModelTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    DomainError, at_db_precision, inventory, is_foreign_key_violation, is_unique_violation,
    money::Currency,
    now,
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

/// A swag size as a client sends it.
#[derive(Debug, Clone, Default)]
pub struct SwagSizeInput {
    pub size: String,
    pub cut: Option<String>,
    pub stock: Option<i64>,
}

/// Everything needed to create an event.
#[derive(Debug, Clone, Default)]
pub struct EventInput {
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub timezone: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub venue: Option<String>,
    pub currency: String,
    pub capacity: Option<i64>,
    pub swag_sizes: Vec<SwagSizeInput>,
    pub dietary_options: Vec<String>,
    pub attendee_edit_deadline: Option<DateTime<Utc>>,
}

/// A partial update: `None` leaves a field alone; for nullable fields
/// `Some(None)` clears it. The slug never changes: front ends link to it.
#[derive(Debug, Clone, Default)]
pub struct EventPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub timezone: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub venue: Option<Option<String>>,
    pub currency: Option<String>,
    pub capacity: Option<Option<i64>>,
    pub swag_sizes: Option<Vec<SwagSizeInput>>,
    pub dietary_options: Option<Vec<String>>,
    pub attendee_edit_deadline: Option<Option<DateTime<Utc>>>,
}

/// An input that passed every rule.
#[derive(Debug, Clone)]
struct ValidEvent {
    slug: String,
    name: String,
    description: String,
    timezone: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    venue: Option<String>,
    currency: String,
    capacity: Option<i32>,
    swag_sizes: Vec<SwagSize>,
    dietary_options: Vec<String>,
    attendee_edit_deadline: Option<DateTime<Utc>>,
}

/// Checks a slug: 3 to 64 of `a-z`, `0-9` and single hyphens inside.
pub fn check_slug(errors: &mut FieldErrors, field: &str, slug: &str) {
    let ok_chars = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(3..=64).contains(&slug.len()) {
        errors.add(field, "invalid_slug", "must be 3 to 64 characters long");
    } else if !ok_chars || slug.starts_with('-') || slug.ends_with('-') || slug.contains("--") {
        errors.add(
            field,
            "invalid_slug",
            "may contain only a-z, 0-9 and single hyphens, and must start and end with a letter or digit",
        );
    }
}

fn validate(mut input: EventInput) -> Result<ValidEvent, FieldErrors> {
    input.starts_at = at_db_precision(input.starts_at);
    input.ends_at = at_db_precision(input.ends_at);
    input.attendee_edit_deadline = input.attendee_edit_deadline.map(at_db_precision);
    let mut errors = FieldErrors::new();
    check_slug(&mut errors, "slug", &input.slug);
    let name = errors.text("name", &input.name, 1, 200, false);
    let description = errors.text(
        "description",
        input.description.as_deref().unwrap_or(""),
        0,
        20_000,
        true,
    );
    let venue = input
        .venue
        .as_deref()
        .map(|venue| errors.text("venue", venue, 1, 500, true));

    if input.timezone.parse::<Tz>().is_err() {
        errors.add(
            "timezone",
            "unknown_timezone",
            "must be an IANA time zone name, e.g. Europe/Berlin",
        );
    }
    if Currency::parse(&input.currency).is_none() {
        errors.add(
            "currency",
            "unknown_currency",
            "must be an ISO 4217 currency code, e.g. EUR",
        );
    }

    if input.ends_at <= input.starts_at {
        errors.add("ends_at", "ends_before_start", "must be after starts_at");
    } else if input.ends_at - input.starts_at > Duration::days(MAX_EVENT_DAYS) {
        errors.add(
            "ends_at",
            "too_long",
            format!("an event may last at most {MAX_EVENT_DAYS} days"),
        );
    }
    if let Some(deadline) = input.attendee_edit_deadline
        && deadline > input.ends_at
    {
        errors.add(
            "attendee_edit_deadline",
            "after_event_end",
            "must not be after ends_at",
        );
    }

    let capacity = input
        .capacity
        .map(|capacity| errors.range_i32("capacity", capacity, 1, MAX_CAPACITY));

    if input.swag_sizes.len() > MAX_SWAG_SIZES {
        errors.add(
            "swag_sizes",
            "too_many",
            format!("at most {MAX_SWAG_SIZES} sizes"),
        );
    }
    let mut seen_sizes = HashSet::new();
    let mut swag_sizes = Vec::with_capacity(input.swag_sizes.len());
    for (i, entry) in input.swag_sizes.iter().enumerate() {
        let size = errors.text(&format!("swag_sizes[{i}].size"), &entry.size, 1, 16, false);
        let cut = entry
            .cut
            .as_deref()
            .map(|cut| errors.text(&format!("swag_sizes[{i}].cut"), cut, 1, 32, false));
        let stock = entry.stock.map(|stock| {
            errors.range_i32(&format!("swag_sizes[{i}].stock"), stock, 0, MAX_CAPACITY)
        });
        let key = (size.to_lowercase(), cut.as_deref().map(str::to_lowercase));
        if !seen_sizes.insert(key) {
            errors.add(
                format!("swag_sizes[{i}]"),
                "duplicate",
                "this size and cut is already in the chart",
            );
        }
        swag_sizes.push(SwagSize { size, cut, stock });
    }

    if input.dietary_options.len() > MAX_DIETARY_OPTIONS {
        errors.add(
            "dietary_options",
            "too_many",
            format!("at most {MAX_DIETARY_OPTIONS} options"),
        );
    }
    let mut seen_options = HashSet::new();
    let mut dietary_options = Vec::with_capacity(input.dietary_options.len());
    for (i, option) in input.dietary_options.iter().enumerate() {
        let field = format!("dietary_options[{i}]");
        let option = errors.text(&field, option, 1, 64, false);
        if !seen_options.insert(option.to_lowercase()) {
            errors.add(field, "duplicate", "this option is already listed");
        }
        dietary_options.push(option);
    }

    errors.finish(ValidEvent {
        slug: input.slug,
        name,
        description,
        timezone: input.timezone,
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        venue,
        currency: input.currency,
        capacity,
        swag_sizes,
        dietary_options,
        attendee_edit_deadline: input.attendee_edit_deadline,
    })
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
    let input = EventInput {
        slug: current.slug.clone(),
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
    };
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
    active.updated_at = Set(now());
    let updated = active.update(&txn).await?;
    txn.commit().await?;
    Event::from_model(updated)
}

/// The event's current capacity and swag stock, to tell which limits a
/// patch lowers.
struct Limits {
    capacity: Option<i32>,
    stock: HashMap<(String, Option<String>), i32>,
}

fn stock_key(size: &SwagSize) -> (String, Option<String>) {
    (
        size.size.to_lowercase(),
        size.cut.as_ref().map(|c| c.to_lowercase()),
    )
}

impl Limits {
    fn of(event: &Event) -> Self {
        Self {
            capacity: event.capacity,
            stock: event
                .swag_sizes
                .iter()
                .filter_map(|s| s.stock.map(|stock| (stock_key(s), stock)))
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
        let key = stock_key(size);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_input() -> EventInput {
        let starts_at = DateTime::parse_from_rfc3339("2027-05-10T09:00:00+02:00")
            .map(|d| d.to_utc())
            .unwrap_or_default();
        EventInput {
            slug: "rustfest-2027".into(),
            name: "RustFest 2027".into(),
            timezone: "Europe/Berlin".into(),
            starts_at,
            ends_at: starts_at + Duration::days(2),
            currency: "EUR".into(),
            swag_sizes: vec![SwagSizeInput {
                size: "M".into(),
                cut: Some("fitted".into()),
                stock: Some(10),
            }],
            dietary_options: vec!["none".into(), "vegan".into()],
            ..Default::default()
        }
    }

    fn fields(result: Result<ValidEvent, FieldErrors>) -> Vec<String> {
        match result {
            Ok(_) => vec![],
            Err(errors) => errors.iter().map(|e| e.field.clone()).collect(),
        }
    }

    #[test]
    fn a_complete_event_is_valid() {
        assert_eq!(fields(validate(valid_input())), Vec::<String>::new());
    }

    #[test]
    fn slugs_are_url_safe() {
        for bad in [
            "ab",
            "Has-Caps",
            "-lead",
            "trail-",
            "dou--ble",
            "spa ce",
            "ünï",
            &"a".repeat(65),
        ] {
            let mut errors = FieldErrors::new();
            check_slug(&mut errors, "slug", bad);
            assert!(errors.has("slug"), "{bad} should be refused");
        }
        let mut errors = FieldErrors::new();
        check_slug(&mut errors, "slug", "pycon-de-2027");
        assert!(errors.is_empty());
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let mut input = valid_input();
        input.timezone = "Mars/Olympus".into();
        input.currency = "EURO".into();
        input.ends_at = input.starts_at - Duration::hours(1);
        input.capacity = Some(0);
        input.name = "x".repeat(201);
        input.swag_sizes.push(SwagSizeInput {
            size: "m".into(),
            cut: Some("Fitted".into()),
            stock: Some(-1),
        });
        input.dietary_options.push("Vegan".into());
        let fields = fields(validate(input));
        for expected in [
            "timezone",
            "currency",
            "ends_at",
            "capacity",
            "name",
            "swag_sizes[1]",
            "swag_sizes[1].stock",
            "dietary_options[2]",
        ] {
            assert!(
                fields.contains(&expected.to_owned()),
                "{expected} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn the_edit_deadline_cannot_pass_the_end_of_the_event() {
        let mut input = valid_input();
        input.attendee_edit_deadline = Some(input.ends_at + Duration::minutes(1));
        assert_eq!(fields(validate(input)), vec!["attendee_edit_deadline"]);
    }

    #[test]
    fn absurdly_long_events_are_refused() {
        let mut input = valid_input();
        input.ends_at = input.starts_at + Duration::days(MAX_EVENT_DAYS + 1);
        assert_eq!(fields(validate(input)), vec!["ends_at"]);
    }
}
