//! The public catalogue: published events and the tiers an attendee can see,
//! with their live sale state.

use chrono::{DateTime, Utc};
pub use entity::state::SaleState;
use entity::{event, tier};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::{
    DomainError,
    events::{self, Event, EventStatus},
    inventory,
    page::{self, Page},
    tiers,
};

/// Tickets that already count against capacity: sold, or held by an order
/// that has not expired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    pub tier: i64,
    pub event: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    pub state: SaleState,
    /// Tickets still to be had in this tier (the venue's capacity included).
    pub remaining: i64,
}

/// What of the event the sale state depends on.
#[derive(Debug, Clone, Copy)]
pub struct Venue {
    pub capacity: Option<i32>,
    pub ends_at: DateTime<Utc>,
}

impl From<&event::Model> for Venue {
    fn from(event: &event::Model) -> Self {
        Self {
            capacity: event.capacity,
            ends_at: event.ends_at,
        }
    }
}

/// The sale state and remaining count of a tier at `now`.
pub fn availability(
    tier: &tier::Model,
    venue: Venue,
    taken: Taken,
    now: DateTime<Utc>,
) -> Availability {
    let tier_left = i64::from(tier.capacity) - taken.tier;
    let event_left = venue
        .capacity
        .map_or(i64::MAX, |capacity| i64::from(capacity) - taken.event);
    let remaining = tier_left.min(event_left).max(0);
    let closed = now >= venue.ends_at || tier.sales_end.is_some_and(|end| now >= end);
    let state = if closed {
        SaleState::Ended
    } else if tier.sales_start.is_some_and(|start| now < start) {
        SaleState::Upcoming
    } else if remaining == 0 {
        SaleState::SoldOut
    } else {
        SaleState::OnSale
    };
    Availability { state, remaining }
}

fn published() -> sea_orm::Select<event::Entity> {
    event::Entity::find().filter(event::Column::Status.eq(EventStatus::Published))
}

/// Published events in start order.
pub async fn list_events(
    db: &DatabaseConnection,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<Page<Event>, DomainError> {
    let limit = page::limit(limit)?;
    events::query_page(db, published(), cursor, limit).await
}

async fn find_published(db: &DatabaseConnection, slug: &str) -> Result<event::Model, DomainError> {
    published()
        .filter(event::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("event"))
}

/// A published event; drafts and archived events are not found.
pub async fn get_event(db: &DatabaseConnection, slug: &str) -> Result<Event, DomainError> {
    Event::from_model(find_published(db, slug).await?)
}

/// Whether each size and cut of the event's chart, in chart order, can
/// still be chosen: one without stock is unlimited, one with stock is
/// available while fewer tickets than its stock hold or have it.
pub async fn swag_availability(
    db: &DatabaseConnection,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<Vec<bool>, DomainError> {
    if event.swag_sizes.iter().all(|s| s.stock.is_none()) {
        return Ok(vec![true; event.swag_sizes.len()]);
    }
    let taken = inventory::taken(db, event.id, now).await?;
    Ok(event
        .swag_sizes
        .iter()
        .map(|s| {
            s.stock.is_none_or(|stock| {
                taken.by_swag.get(&s.key()).copied().unwrap_or(0) < i64::from(stock)
            })
        })
        .collect())
}

/// The tiers an attendee sees: not hidden, not archived, in display order,
/// each with its availability.
pub async fn list_tiers(
    db: &DatabaseConnection,
    slug: &str,
    now: DateTime<Utc>,
) -> Result<(Event, Vec<(tier::Model, Availability)>), DomainError> {
    let event = find_published(db, slug).await?;
    let tiers = tiers::ordered(&event)
        .filter(tier::Column::Hidden.eq(false))
        .filter(tier::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let taken = inventory::taken(db, event.id, now).await?;
    let listed = tiers
        .into_iter()
        .map(|tier| {
            let counts = Taken {
                tier: taken.by_tier.get(&tier.id).copied().unwrap_or(0),
                event: taken.total,
            };
            let availability = availability(&tier, (&event).into(), counts, now);
            (tier, availability)
        })
        .collect();
    Ok((Event::from_model(event)?, listed))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use uuid::Uuid;

    use super::*;

    fn fixtures(now: DateTime<Utc>) -> (tier::Model, event::Model) {
        let event = event::Model {
            id: Uuid::now_v7(),
            slug: "conf".into(),
            name: "Conf".into(),
            description: String::new(),
            timezone: "UTC".into(),
            starts_at: now + Duration::days(30),
            ends_at: now + Duration::days(31),
            venue: None,
            currency: "EUR".into(),
            capacity: Some(100),
            swag_sizes: serde_json::json!([]),
            dietary_options: serde_json::json!([]),
            attendee_edit_deadline: None,
            status: EventStatus::Published,
            published_at: Some(now),
            archived_at: None,
            created_at: now,
            updated_at: now,
        };
        let tier = tier::Model {
            id: Uuid::now_v7(),
            event_id: event.id,
            name: "Regular".into(),
            description: String::new(),
            price: 10_000,
            capacity: 50,
            sales_start: None,
            sales_end: None,
            min_per_order: 1,
            max_per_order: 10,
            max_per_buyer: None,
            hidden: false,
            includes_swag: false,
            sort_order: 0,
            archived_at: None,
            created_at: now,
            updated_at: now,
        };
        (tier, event)
    }

    #[test]
    fn an_open_tier_is_on_sale_with_its_capacity_left() {
        let now = Utc::now();
        let (tier, event) = fixtures(now);
        let a = availability(&tier, (&event).into(), Taken::default(), now);
        assert_eq!(
            a,
            Availability {
                state: SaleState::OnSale,
                remaining: 50
            }
        );
    }

    #[test]
    fn the_venue_capacity_caps_what_a_tier_has_left() {
        let now = Utc::now();
        let (tier, event) = fixtures(now);
        let a = availability(
            &tier,
            (&event).into(),
            Taken {
                tier: 10,
                event: 95,
            },
            now,
        );
        assert_eq!(
            a,
            Availability {
                state: SaleState::OnSale,
                remaining: 5
            }
        );
        let full = availability(
            &tier,
            (&event).into(),
            Taken {
                tier: 10,
                event: 100,
            },
            now,
        );
        assert_eq!(
            full,
            Availability {
                state: SaleState::SoldOut,
                remaining: 0
            }
        );
    }

    #[test]
    fn sales_windows_decide_upcoming_and_ended() {
        let now = Utc::now();
        let (mut tier, event) = fixtures(now);
        tier.sales_start = Some(now + Duration::hours(1));
        assert_eq!(
            availability(&tier, (&event).into(), Taken::default(), now).state,
            SaleState::Upcoming
        );
        tier.sales_start = Some(now - Duration::hours(2));
        tier.sales_end = Some(now - Duration::hours(1));
        assert_eq!(
            availability(&tier, (&event).into(), Taken::default(), now).state,
            SaleState::Ended
        );
        tier.sales_end = Some(now);
        assert_eq!(
            availability(&tier, (&event).into(), Taken::default(), now).state,
            SaleState::Ended
        );
    }

    #[test]
    fn nothing_sells_once_the_event_is_over() {
        let now = Utc::now();
        let (tier, event) = fixtures(now);
        let later = event.ends_at + Duration::minutes(1);
        assert_eq!(
            availability(&tier, (&event).into(), Taken::default(), later).state,
            SaleState::Ended
        );
    }

    #[test]
    fn a_tier_over_sold_never_shows_negative_remaining() {
        let now = Utc::now();
        let (tier, event) = fixtures(now);
        let a = availability(
            &tier,
            (&event).into(),
            Taken {
                tier: 60,
                event: 60,
            },
            now,
        );
        assert_eq!(
            a,
            Availability {
                state: SaleState::SoldOut,
                remaining: 0
            }
        );
    }
}
