//! The public catalogue: published events and the tiers an attendee can see,
//! with their live sale state.

use chrono::{DateTime, Utc};
pub use entity::state::SaleState;
use entity::{event, tier, voucher};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};

use super::{
    DomainError,
    events::{self, Event, EventStatus},
    inventory,
    page::{self, Page},
    tiers,
    vouchers::{self, Voucher},
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
/// each with its availability; with a voucher code that can be used now,
/// also the hidden tiers it unlocks (an unusable code adds nothing).
pub async fn list_tiers(
    db: &DatabaseConnection,
    slug: &str,
    voucher: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(Event, Vec<(tier::Model, Availability)>), DomainError> {
    let event = find_published(db, slug).await?;
    let unlocked = match voucher {
        Some(code) => lookup(db, event.id, code, now)
            .await?
            .filter(|found| found.usable(now))
            .map(|found| found.voucher.unlocks)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let tiers = tiers::ordered(&event)
        .filter(
            Condition::any()
                .add(tier::Column::Hidden.eq(false))
                .add(tier::Column::Id.is_in(unlocked)),
        )
        .filter(tier::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let listed = with_availability(db, &event, tiers, now).await?;
    Ok((Event::from_model(event)?, listed))
}

async fn with_availability(
    db: &DatabaseConnection,
    event: &event::Model,
    tiers: Vec<tier::Model>,
    now: DateTime<Utc>,
) -> Result<Vec<(tier::Model, Availability)>, DomainError> {
    let taken = inventory::taken(db, event.id, now).await?;
    Ok(tiers
        .into_iter()
        .map(|tier| {
            let counts = Taken {
                tier: taken.by_tier.get(&tier.id).copied().unwrap_or(0),
                event: taken.total,
            };
            let availability = availability(&tier, event.into(), counts, now);
            (tier, availability)
        })
        .collect())
}

/// A voucher found by its code, with whether uses are left.
struct Found {
    voucher: Voucher,
    uses_left: bool,
}

impl Found {
    /// Whether a buyer can redeem it now.
    fn usable(&self, now: DateTime<Utc>) -> bool {
        self.uses_left && self.voucher.redeemable_at(now)
    }

    /// Whether it is gone for good: archived, past its window, used up.
    /// (Not yet open is not gone: the buyer may come back.)
    fn gone(&self, now: DateTime<Utc>) -> bool {
        !self.uses_left
            || self.voucher.archived_at.is_some()
            || self.voucher.valid_until.is_some_and(|until| now >= until)
    }
}

/// A voucher by code, with the same two queries whether or not the code
/// exists, so the answer time does not tell a guesser which codes do.
async fn lookup(
    db: &DatabaseConnection,
    event_id: uuid::Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<Found>, DomainError> {
    let model = voucher::Entity::find()
        .filter(voucher::Column::EventId.eq(event_id))
        .filter(voucher::Column::Code.eq(vouchers::normalise_code(code)))
        .one(db)
        .await?;
    let id = model.as_ref().map_or(uuid::Uuid::nil(), |m| m.id);
    let used = vouchers::uses_of(db, event_id, vec![id], now).await?;
    let Some(model) = model else {
        return Ok(None);
    };
    let used = used.get(&id).copied().unwrap_or(0);
    let uses_left = model
        .usage_limit
        .is_none_or(|limit| used < i64::from(limit));
    Ok(Some(Found {
        voucher: Voucher::from_model(model)?,
        uses_left,
    }))
}

/// What a buyer may learn of a voucher: never how often others used it.
#[derive(Debug, Clone)]
pub struct VoucherOffer {
    pub voucher: Voucher,
    /// Redeemable right now (false only while it is not yet valid).
    pub available: bool,
    /// The hidden tiers it unlocks that are on offer (not archived), with
    /// their availability.
    pub unlocks: Vec<(tier::Model, Availability)>,
}

/// A published event's voucher by code, for a buyer's front end. `None`
/// for an unknown, archived, expired or used-up code alike.
pub async fn voucher_offer(
    db: &DatabaseConnection,
    slug: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Event, VoucherOffer)>, DomainError> {
    let event = find_published(db, slug).await?;
    let found = lookup(db, event.id, code, now).await?;
    let ids = found
        .as_ref()
        .map(|f| f.voucher.unlocks.clone())
        .unwrap_or_default();
    let tiers = tiers::ordered(&event)
        .filter(tier::Column::Id.is_in(ids))
        .filter(tier::Column::ArchivedAt.is_null())
        .all(db)
        .await?;
    let unlocks = with_availability(db, &event, tiers, now).await?;
    let Some(found) = found.filter(|f| !f.gone(now)) else {
        return Ok(None);
    };
    let available = found.usable(now);
    Ok(Some((
        Event::from_model(event)?,
        VoucherOffer {
            voucher: found.voucher,
            available,
            unlocks,
        },
    )))
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
            reply_to: None,
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
