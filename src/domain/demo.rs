//! The sample conference a newcomer gets with `tessera demo` or
//! `tessera serve --demo`, so the catalogue is not empty on first look.

use chrono::{Duration, DurationRound, TimeDelta};
use entity::event;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::{
    DomainError,
    events::{self, EventInput, SwagSizeInput, Transition},
    now,
    staff::Staff,
    tiers::{self, TierInput},
};

pub const DEMO_SLUG: &str = "demo-conf";

// Long on purpose: the demo event is data, written out in one place.
/// Creates and publishes the sample conference unless an event with its slug
/// exists. Returns whether it was created.
pub async fn ensure_demo_event(db: &DatabaseConnection) -> Result<bool, DomainError> {
    let exists = event::Entity::find()
        .filter(event::Column::Slug.eq(DEMO_SLUG))
        .one(db)
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    let system = Staff::system();
    let today = now()
        .duration_trunc(TimeDelta::days(1))
        .unwrap_or_else(|_| now());
    let starts_at = today + Duration::days(60) + Duration::hours(7);
    let mut swag_sizes = Vec::new();
    for cut in ["straight", "fitted"] {
        for size in ["XS", "S", "M", "L", "XL", "2XL", "3XL"] {
            swag_sizes.push(SwagSizeInput {
                size: size.to_owned(),
                cut: Some(cut.to_owned()),
                stock: Some(if matches!(size, "M" | "L") { 80 } else { 30 }),
            });
        }
    }
    let input = EventInput {
        slug: DEMO_SLUG.to_owned(),
        name: "DemoConf 2027".to_owned(),
        description: Some(
            "A two-day sample conference created by `tessera demo`. Delete it or archive it when you set up your own."
                .to_owned(),
        ),
        timezone: "Europe/Amsterdam".to_owned(),
        starts_at,
        ends_at: starts_at + Duration::days(1) + Duration::hours(10),
        venue: Some("Conference Centre, Main Hall".to_owned()),
        currency: "EUR".to_owned(),
        capacity: Some(500),
        swag_sizes,
        dietary_options: ["none", "vegetarian", "vegan", "halal", "kosher", "gluten-free"]
            .map(str::to_owned)
            .to_vec(),
        attendee_edit_deadline: Some(starts_at - Duration::days(7)),
        reply_to: None,
    };
    events::create(db, &system, input).await?;

    let tiers = [
        TierInput {
            name: "Early bird".to_owned(),
            description: Some("Both days, lunch and a T-shirt, at the early price.".to_owned()),
            price: 19_900,
            capacity: 100,
            sales_end: Some(today + Duration::days(14)),
            includes_swag: Some(true),
            sort_order: Some(10),
            ..Default::default()
        },
        TierInput {
            name: "Regular".to_owned(),
            description: Some("Both days, lunch and a T-shirt.".to_owned()),
            price: 29_900,
            capacity: 300,
            includes_swag: Some(true),
            sort_order: Some(20),
            ..Default::default()
        },
        TierInput {
            name: "Student".to_owned(),
            description: Some("Both days and lunch, for students with a valid ID.".to_owned()),
            price: 4_900,
            capacity: 50,
            max_per_order: Some(1),
            sort_order: Some(30),
            ..Default::default()
        },
        TierInput {
            name: "Speaker".to_owned(),
            description: Some("For speakers, unlocked with their voucher.".to_owned()),
            price: 0,
            capacity: 40,
            hidden: Some(true),
            includes_swag: Some(true),
            max_per_order: Some(1),
            sort_order: Some(40),
            ..Default::default()
        },
    ];
    for tier in tiers {
        tiers::create(db, &system, DEMO_SLUG, tier).await?;
    }
    events::transition(db, &system, DEMO_SLUG, Transition::Publish).await?;
    Ok(true)
}
