//! Ticket tiers: what is sold, at what price, how many, and when.

use chrono::{DateTime, Utc};
use entity::{event, tier};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};
use uuid::Uuid;

use super::{
    DomainError, at_db_precision,
    events::{self, EventStatus},
    inventory, is_foreign_key_violation,
    money::MAX_PRICE_MINOR,
    now,
    staff::Staff,
    validation::FieldErrors,
};

pub const MAX_TIERS_PER_EVENT: u64 = 100;
pub const MAX_PER_ORDER_LIMIT: i64 = 100;
/// The largest per-buyer limit a tier may set.
pub const MAX_PER_BUYER_LIMIT: i64 = 10_000;
pub const DEFAULT_MAX_PER_ORDER: i64 = 10;

/// Everything needed to create a tier.
#[derive(Debug, Clone, Default)]
pub struct TierInput {
    pub name: String,
    pub description: Option<String>,
    /// In minor units of the event's currency.
    pub price: i64,
    pub capacity: i64,
    pub sales_start: Option<DateTime<Utc>>,
    pub sales_end: Option<DateTime<Utc>>,
    pub min_per_order: Option<i64>,
    pub max_per_order: Option<i64>,
    pub max_per_buyer: Option<i64>,
    pub hidden: Option<bool>,
    pub includes_swag: Option<bool>,
    pub sort_order: Option<i64>,
}

/// A partial update; for nullable fields `Some(None)` clears them.
#[derive(Debug, Clone, Default)]
pub struct TierPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<i64>,
    pub capacity: Option<i64>,
    pub sales_start: Option<Option<DateTime<Utc>>>,
    pub sales_end: Option<Option<DateTime<Utc>>>,
    pub min_per_order: Option<i64>,
    pub max_per_order: Option<i64>,
    pub max_per_buyer: Option<Option<i64>>,
    pub hidden: Option<bool>,
    pub includes_swag: Option<bool>,
    pub sort_order: Option<i64>,
}

#[derive(Debug, Clone)]
struct ValidTier {
    name: String,
    description: String,
    price: i64,
    capacity: i32,
    sales_start: Option<DateTime<Utc>>,
    sales_end: Option<DateTime<Utc>>,
    min_per_order: i32,
    max_per_order: i32,
    max_per_buyer: Option<i32>,
    hidden: bool,
    includes_swag: bool,
    sort_order: i32,
}

fn validate(mut input: TierInput, event_has_swag: bool) -> Result<ValidTier, FieldErrors> {
    input.sales_start = input.sales_start.map(at_db_precision);
    input.sales_end = input.sales_end.map(at_db_precision);
    let mut errors = FieldErrors::new();
    let name = errors.text("name", &input.name, 1, 200, false);
    let description = errors.text(
        "description",
        input.description.as_deref().unwrap_or(""),
        0,
        5_000,
        true,
    );
    if !(0..=MAX_PRICE_MINOR).contains(&input.price) {
        errors.add(
            "price",
            "out_of_range",
            format!("must be between 0 and {MAX_PRICE_MINOR} (minor units, e.g. cents)"),
        );
    }
    let capacity = errors.range_i32("capacity", input.capacity, 0, events::MAX_CAPACITY);
    if let (Some(start), Some(end)) = (input.sales_start, input.sales_end)
        && end <= start
    {
        errors.add(
            "sales_end",
            "ends_before_start",
            "must be after sales_start",
        );
    }
    let min = input.min_per_order.unwrap_or(1);
    let max = input
        .max_per_order
        .unwrap_or(DEFAULT_MAX_PER_ORDER.max(min));
    let min_per_order = errors.range_i32("min_per_order", min, 1, MAX_PER_ORDER_LIMIT);
    let max_per_order = errors.range_i32("max_per_order", max, 1, MAX_PER_ORDER_LIMIT);
    if min > max && !errors.has("min_per_order") && !errors.has("max_per_order") {
        errors.add(
            "max_per_order",
            "below_minimum",
            "must not be less than min_per_order",
        );
    }
    let max_per_buyer = input
        .max_per_buyer
        .map(|n| errors.range_i32("max_per_buyer", n, 1, MAX_PER_BUYER_LIMIT));
    let includes_swag = input.includes_swag.unwrap_or(false);
    if includes_swag && !event_has_swag {
        errors.add(
            "includes_swag",
            "no_swag_sizes",
            "the event has no swag size chart yet; add swag_sizes to the event first",
        );
    }
    let sort_order = errors.range_i32(
        "sort_order",
        input.sort_order.unwrap_or(0),
        -1_000_000,
        1_000_000,
    );
    errors.finish(ValidTier {
        name,
        description,
        price: input.price,
        capacity,
        sales_start: input.sales_start,
        sales_end: input.sales_end,
        min_per_order,
        max_per_order,
        max_per_buyer,
        hidden: input.hidden.unwrap_or(false),
        includes_swag,
        sort_order,
    })
}

fn event_has_swag(event: &event::Model) -> bool {
    event
        .swag_sizes
        .as_array()
        .is_some_and(|sizes| !sizes.is_empty())
}

fn ensure_editable(event: &event::Model) -> Result<(), DomainError> {
    if event.status == EventStatus::Archived {
        return Err(DomainError::conflict(
            "event_archived",
            "archived events cannot be changed",
        ));
    }
    Ok(())
}

/// Adds a tier to an event.
pub async fn create(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    input: TierInput,
) -> Result<(event::Model, tier::Model), DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    ensure_editable(&event)?;
    let count = event.find_related(tier::Entity).count(db).await?;
    if count >= MAX_TIERS_PER_EVENT {
        return Err(DomainError::conflict(
            "too_many_tiers",
            format!("an event may have at most {MAX_TIERS_PER_EVENT} tiers"),
        ));
    }
    let valid = validate(input, event_has_swag(&event))?;
    let at = now();
    let model = tier::ActiveModel {
        id: Set(Uuid::now_v7()),
        event_id: Set(event.id),
        name: Set(valid.name),
        description: Set(valid.description),
        price: Set(valid.price),
        capacity: Set(valid.capacity),
        sales_start: Set(valid.sales_start),
        sales_end: Set(valid.sales_end),
        min_per_order: Set(valid.min_per_order),
        max_per_order: Set(valid.max_per_order),
        max_per_buyer: Set(valid.max_per_buyer),
        hidden: Set(valid.hidden),
        includes_swag: Set(valid.includes_swag),
        sort_order: Set(valid.sort_order),
        archived_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(db)
    .await?;
    Ok((event, model))
}

/// Every tier of an event, archived ones too, in display order.
pub async fn list(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
) -> Result<(event::Model, Vec<tier::Model>), DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    let tiers = ordered(&event).all(db).await?;
    Ok((event, tiers))
}

/// The tiers of an event in the order attendees see them.
pub(crate) fn ordered(event: &event::Model) -> sea_orm::Select<tier::Entity> {
    event
        .find_related(tier::Entity)
        .order_by_asc(tier::Column::SortOrder)
        .order_by_asc(tier::Column::Id)
}

async fn find(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    tier_id: Uuid,
) -> Result<(event::Model, tier::Model), DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    let tier = tier::Entity::find_by_id(tier_id)
        .filter(tier::Column::EventId.eq(event.id))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("tier"))?;
    Ok((event, tier))
}

pub async fn get(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    tier_id: Uuid,
) -> Result<(event::Model, tier::Model), DomainError> {
    find(db, staff, slug, tier_id).await
}

/// Applies a partial update; the result must pass every rule of creation.
pub async fn update(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    tier_id: Uuid,
    patch: TierPatch,
) -> Result<(event::Model, tier::Model), DomainError> {
    let (event, current) = find(db, staff, slug, tier_id).await?;
    ensure_editable(&event)?;
    if current.archived_at.is_some() {
        return Err(DomainError::conflict(
            "tier_archived",
            "archived tiers cannot be changed",
        ));
    }
    let input = TierInput {
        name: patch.name.unwrap_or_else(|| current.name.clone()),
        description: Some(
            patch
                .description
                .unwrap_or_else(|| current.description.clone()),
        ),
        price: patch.price.unwrap_or(current.price),
        capacity: patch.capacity.unwrap_or(i64::from(current.capacity)),
        sales_start: patch.sales_start.unwrap_or(current.sales_start),
        sales_end: patch.sales_end.unwrap_or(current.sales_end),
        min_per_order: Some(
            patch
                .min_per_order
                .unwrap_or(i64::from(current.min_per_order)),
        ),
        max_per_order: Some(
            patch
                .max_per_order
                .unwrap_or(i64::from(current.max_per_order)),
        ),
        max_per_buyer: patch
            .max_per_buyer
            .unwrap_or(current.max_per_buyer.map(i64::from)),
        hidden: Some(patch.hidden.unwrap_or(current.hidden)),
        includes_swag: Some(patch.includes_swag.unwrap_or(current.includes_swag)),
        sort_order: Some(patch.sort_order.unwrap_or(i64::from(current.sort_order))),
    };
    let valid = validate(input, event_has_swag(&event))?;
    let shrinks = valid.capacity < current.capacity;
    let txn = db.begin().await?;
    if shrinks {
        inventory::lock_event(&txn, event.id).await?;
        let limit = inventory::NewLimit::Tier {
            id: current.id,
            capacity: i64::from(valid.capacity),
        };
        inventory::ensure_fits(&txn, event.id, &[limit], now()).await?;
    }
    let mut active: tier::ActiveModel = current.into();
    active.name = Set(valid.name);
    active.description = Set(valid.description);
    active.price = Set(valid.price);
    active.capacity = Set(valid.capacity);
    active.sales_start = Set(valid.sales_start);
    active.sales_end = Set(valid.sales_end);
    active.min_per_order = Set(valid.min_per_order);
    active.max_per_order = Set(valid.max_per_order);
    active.max_per_buyer = Set(valid.max_per_buyer);
    active.hidden = Set(valid.hidden);
    active.includes_swag = Set(valid.includes_swag);
    active.sort_order = Set(valid.sort_order);
    active.updated_at = Set(now());
    let tier = active.update(&txn).await?;
    txn.commit().await?;
    Ok((event, tier))
}

/// Archives a tier: it stops selling and disappears from the catalogue, and
/// everything already sold in it stays. Archiving twice is harmless.
pub async fn archive(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    tier_id: Uuid,
) -> Result<(event::Model, tier::Model), DomainError> {
    let (event, current) = find(db, staff, slug, tier_id).await?;
    if current.archived_at.is_some() {
        return Ok((event, current));
    }
    let at = now();
    let mut active: tier::ActiveModel = current.into();
    active.archived_at = Set(Some(at));
    active.updated_at = Set(at);
    let tier = active.update(db).await?;
    Ok((event, tier))
}

fn has_tickets() -> DomainError {
    DomainError::conflict(
        "tier_has_tickets",
        "a tier with tickets is archived, not deleted: POST .../archive",
    )
}

/// Deletes a tier that never had a ticket; otherwise the tier must be
/// archived instead.
pub async fn delete(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
    tier_id: Uuid,
) -> Result<(), DomainError> {
    let (_, tier) = find(db, staff, slug, tier_id).await?;
    let tickets = entity::ticket::Entity::find()
        .filter(entity::ticket::Column::TierId.eq(tier.id))
        .count(db)
        .await?;
    if tickets > 0 {
        return Err(has_tickets());
    }
    match tier.delete(db).await {
        Ok(_) => Ok(()),
        Err(err) if is_foreign_key_violation(&err) => Err(has_tickets()),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn input() -> TierInput {
        TierInput {
            name: "Regular".into(),
            price: 24_900,
            capacity: 300,
            ..Default::default()
        }
    }

    fn fields(result: Result<ValidTier, FieldErrors>) -> Vec<String> {
        result
            .err()
            .map(|e| e.iter().map(|e| e.field.clone()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn defaults_fill_the_optional_fields() {
        let valid = validate(input(), false).unwrap();
        assert_eq!((valid.min_per_order, valid.max_per_order), (1, 10));
        assert!(!valid.hidden && !valid.includes_swag);
    }

    #[test]
    fn prices_capacities_and_windows_are_checked() {
        let now = Utc::now();
        let bad = TierInput {
            name: "".into(),
            price: -1,
            capacity: -5,
            sales_start: Some(now),
            sales_end: Some(now - Duration::hours(1)),
            min_per_order: Some(5),
            max_per_order: Some(2),
            includes_swag: Some(true),
            ..Default::default()
        };
        let fields = fields(validate(bad, false));
        for expected in [
            "name",
            "price",
            "capacity",
            "sales_end",
            "max_per_order",
            "includes_swag",
        ] {
            assert!(
                fields.contains(&expected.to_owned()),
                "{expected} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn a_minimum_above_the_default_maximum_raises_the_maximum() {
        let valid = validate(
            TierInput {
                min_per_order: Some(12),
                ..input()
            },
            false,
        )
        .unwrap();
        assert_eq!((valid.min_per_order, valid.max_per_order), (12, 12));
    }

    #[test]
    fn free_tiers_are_allowed() {
        assert!(
            validate(
                TierInput {
                    price: 0,
                    ..input()
                },
                false
            )
            .is_ok()
        );
    }
}
