//! The sales report: sold, held and available per tier, the money in and
//! out, orders per state and tickets sold per day.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use entity::{
    order, refund,
    state::{RefundStatus, TicketStatus},
    ticket, tier,
};
use sea_orm::{
    ColumnTrait, DatabaseBackend, DatabaseConnection, EntityTrait, ExprTrait, PaginatorTrait,
    QueryFilter, QuerySelect, QueryTrait, sea_query::Expr,
};
use uuid::Uuid;

use crate::domain::{
    DomainError,
    catalog::{self, Taken},
    counting, events, inventory, money, now,
    orders::OrderState,
    staff::Staff,
};

/// Sales of one tier.
#[derive(Debug, Clone)]
pub struct TierSales {
    pub tier: tier::Model,
    pub sold: u64,
    pub held: u64,
    pub available: i64,
    /// What paid orders paid for this tier's tickets.
    pub gross: i64,
    pub refunded: i64,
    pub net: i64,
}

/// The sales report.
#[derive(Debug, Clone)]
pub struct Sales {
    pub currency: String,
    pub tiers: Vec<TierSales>,
    pub orders_by_state: Vec<(OrderState, u64)>,
    /// Tickets sold per day (the day their order was paid, in the event's
    /// time zone).
    pub by_day: Vec<(NaiveDate, u64)>,
    /// Cancelled orders that still hold money (cancelled with
    /// `refund: false`, or refunded only in part): how many, and how much.
    pub cancelled_unrefunded: (u64, i64),
}

pub async fn sales(
    db: &DatabaseConnection,
    staff: &Staff,
    slug: &str,
) -> Result<Sales, DomainError> {
    let event = events::find_managed(db, staff, slug).await?;
    let tiers = super::tiers_of(db, event.id).await?;
    let at = now();
    let taken = inventory::taken(db, event.id, at).await?;
    let held = held_by_tier(db, event.id, at).await?;
    let gross = gross_by_tier(db, event.id).await?;
    let refunded = refunded_by_tier(db, event.id).await?;
    let tz: Tz = event.timezone.parse().unwrap_or(chrono_tz::UTC);
    let mut lines = Vec::with_capacity(tiers.len());
    for tier in tiers {
        let taking = taken.by_tier.get(&tier.id).copied().unwrap_or(0);
        let held = held.get(&tier.id).copied().unwrap_or(0);
        let gross = gross.get(&tier.id).copied().unwrap_or(0);
        let refunds = refunded.get(&tier.id).copied().unwrap_or(0);
        let counts = Taken {
            tier: taking,
            event: taken.total,
        };
        let available = catalog::availability(&tier, (&event).into(), counts, at).remaining;
        lines.push(TierSales {
            tier,
            // What takes a seat is sold (valid) or held.
            sold: u64::try_from(taking - held).unwrap_or(0),
            held: u64::try_from(held).unwrap_or(0),
            available,
            gross,
            refunded: refunds,
            net: gross - refunds,
        });
    }
    Ok(Sales {
        currency: event.currency.clone(),
        tiers: lines,
        orders_by_state: orders_by_state(db, event.id, at).await?,
        by_day: sold_by_day(db, event.id, tz).await?,
        cancelled_unrefunded: cancelled_unrefunded(db, event.id).await?,
    })
}

/// Held tickets whose hold has not ended, per tier: read through the index
/// on (event, status, hold end), so only live holds are visited.
async fn held_by_tier(
    db: &DatabaseConnection,
    event_id: Uuid,
    at: DateTime<Utc>,
) -> Result<HashMap<Uuid, i64>, DomainError> {
    let rows: Vec<(Uuid, i64)> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::TierId)
        .column_as(Expr::col(ticket::Column::Id).count(), "n")
        .filter(ticket::Column::EventId.eq(event_id))
        .filter(counting::live_holds(at))
        .group_by(ticket::Column::TierId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// What paid orders paid, per tier: the prices of the tickets of every
/// order that was ever paid, summed by the database.
async fn gross_by_tier(
    db: &DatabaseConnection,
    event_id: Uuid,
) -> Result<HashMap<Uuid, i64>, DomainError> {
    let rows: Vec<(Uuid, i64)> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::TierId)
        .column_as(
            Expr::col((ticket::Entity, ticket::Column::Price))
                .sum()
                .cast_as("bigint"),
            "gross",
        )
        .inner_join(order::Entity)
        .filter(ticket::Column::EventId.eq(event_id))
        .filter(order::Column::PaidAt.is_not_null())
        .group_by(ticket::Column::TierId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Orders per state as of `at` (a pending order whose hold ended counts as
/// expired), counted by the database.
async fn orders_by_state(
    db: &DatabaseConnection,
    event_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Vec<(OrderState, u64)>, DomainError> {
    let stored: Vec<(OrderState, i64)> = order::Entity::find()
        .select_only()
        .column(order::Column::State)
        .column_as(Expr::col(order::Column::Id).count(), "n")
        .filter(order::Column::EventId.eq(event_id))
        .group_by(order::Column::State)
        .into_tuple()
        .all(db)
        .await?;
    let lapsed = order::Entity::find()
        .filter(order::Column::EventId.eq(event_id))
        .filter(order::Column::State.eq(OrderState::Pending))
        .filter(counting::orders_in_state_at(OrderState::Expired, at))
        .count(db)
        .await?;
    let mut states: HashMap<OrderState, u64> = stored
        .into_iter()
        .map(|(state, n)| (state, u64::try_from(n).unwrap_or(0)))
        .collect();
    if lapsed > 0 {
        // Two reads, two instants: never below zero.
        let pending = states.entry(OrderState::Pending).or_default();
        let lapsed = Ord::min(lapsed, *pending);
        *pending -= lapsed;
        *states.entry(OrderState::Expired).or_default() += lapsed;
    }
    Ok(OrderState::ALL
        .iter()
        .map(|s| (*s, states.get(s).copied().unwrap_or(0)))
        .collect())
}

/// Every real time zone's offset is a whole number of quarter hours, so a
/// quarter hour of UTC never straddles a local midnight.
const QUARTER_HOUR: i64 = 900;

/// Valid tickets per day their order was paid, in the event's time zone:
/// the database groups them by quarter hour of UTC, which are then put on
/// local days (a few rows per day of sales, whatever the number of orders).
async fn sold_by_day(
    db: &DatabaseConnection,
    event_id: Uuid,
    tz: Tz,
) -> Result<Vec<(NaiveDate, u64)>, DomainError> {
    let paid_at = r#""orders"."paid_at""#;
    let bucket = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            format!("CAST(FLOOR(EXTRACT(EPOCH FROM {paid_at}) / {QUARTER_HOUR}) AS BIGINT)")
        }
        _ => format!("CAST(strftime('%s', {paid_at}) AS INTEGER) / {QUARTER_HOUR}"),
    };
    let rows: Vec<(i64, i64)> = ticket::Entity::find()
        .select_only()
        .column_as(Expr::cust(bucket.clone()), "bucket")
        .column_as(Expr::col((ticket::Entity, ticket::Column::Id)).count(), "n")
        .inner_join(order::Entity)
        .filter(ticket::Column::EventId.eq(event_id))
        .filter(ticket::Column::Status.eq(TicketStatus::Valid))
        .filter(order::Column::PaidAt.is_not_null())
        .group_by(Expr::cust(bucket))
        .into_tuple()
        .all(db)
        .await?;
    let mut by_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for (bucket, n) in rows {
        let Some(start) = DateTime::<Utc>::from_timestamp(bucket * QUARTER_HOUR, 0) else {
            continue;
        };
        *by_day
            .entry(start.with_timezone(&tz).date_naive())
            .or_default() += u64::try_from(n).unwrap_or(0);
    }
    Ok(by_day.into_iter().collect())
}

/// Cancelled orders that still hold money: how many, and how much.
async fn cancelled_unrefunded(
    db: &DatabaseConnection,
    event_id: Uuid,
) -> Result<(u64, i64), DomainError> {
    let kept = Expr::col(order::Column::AmountPaid).sub(Expr::col(order::Column::AmountRefunded));
    let row: Option<(i64, Option<i64>)> = order::Entity::find()
        .select_only()
        .column_as(Expr::col(order::Column::Id).count(), "n")
        .column_as(kept.clone().sum().cast_as("bigint"), "amount")
        .filter(order::Column::EventId.eq(event_id))
        .filter(order::Column::State.eq(OrderState::Cancelled))
        .filter(kept.gt(0))
        .into_tuple()
        .one(db)
        .await?;
    let (n, amount) = row.unwrap_or((0, None));
    Ok((u64::try_from(n).unwrap_or(0), amount.unwrap_or(0)))
}

/// The money refunded, per tier: each succeeded refund is split over the
/// tickets it revoked, or over its order's tickets when it named none (an
/// amount-only refund, one made in Stripe's dashboard, a late payment sent
/// back), in proportion to their prices. Reads the refunds and the tickets
/// of refunded orders only.
async fn refunded_by_tier(
    db: &DatabaseConnection,
    event_id: Uuid,
) -> Result<HashMap<Uuid, i64>, DomainError> {
    let of_event = order::Entity::find()
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::EventId.eq(event_id))
        .into_query();
    let rows = refund::Entity::find()
        .filter(refund::Column::OrderId.in_subquery(of_event))
        .filter(refund::Column::Status.eq(RefundStatus::Succeeded))
        .all(db)
        .await?;
    let orders: Vec<Uuid> = rows.iter().map(|r| r.order_id).collect();
    let mut by_order: HashMap<Uuid, Vec<ticket::Model>> = HashMap::new();
    for chunk in orders.chunks(500) {
        for t in ticket::Entity::find()
            .filter(ticket::Column::OrderId.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            by_order.entry(t.order_id).or_default().push(t);
        }
    }
    let mut out: HashMap<Uuid, i64> = HashMap::new();
    for row in rows {
        let named = crate::domain::payments::refunds::ticket_ids(&row);
        let mut over: Vec<&ticket::Model> = by_order
            .get(&row.order_id)
            .map(|ts| {
                ts.iter()
                    .filter(|t| named.is_empty() || named.contains(&t.id))
                    .collect()
            })
            .unwrap_or_default();
        over.sort_by_key(|t| t.id);
        let prices: Vec<i64> = over.iter().map(|t| t.price).collect();
        for (t, part) in over.iter().zip(money::allocate(row.amount, &prices)) {
            *out.entry(t.tier_id).or_default() += part;
        }
    }
    Ok(out)
}
