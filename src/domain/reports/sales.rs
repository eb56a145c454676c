//! The sales report: sold, held and available per tier, the money in and
//! out, orders per state and tickets sold per day.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use chrono_tz::Tz;
use entity::{
    order, refund,
    state::{RefundStatus, TicketStatus},
    ticket, tier,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
use uuid::Uuid;

use super::load;
use crate::domain::{
    DomainError,
    catalog::{self, Taken},
    counting, money, now,
    orders::{OrderState, effective_state},
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
    let (event, tiers, tickets) = load(db, staff, slug).await?;
    let at = now();
    let orders: HashMap<Uuid, order::Model> = order::Entity::find()
        .filter(order::Column::EventId.eq(event.id))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let refunded = refunded_per_ticket(db, event.id, &tickets).await?;
    let taken = crate::domain::inventory::taken(db, event.id, at).await?;
    let tz: Tz = event.timezone.parse().unwrap_or(chrono_tz::UTC);
    let mut by_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    let mut lines = Vec::with_capacity(tiers.len());
    for tier in tiers {
        let mine: Vec<&ticket::Model> = tickets.iter().filter(|t| t.tier_id == tier.id).collect();
        let sold = mine
            .iter()
            .filter(|t| t.status == TicketStatus::Valid)
            .count() as u64;
        let held = mine
            .iter()
            .filter(|t| counting::held_at(t.status, t.hold_expires_at, at))
            .count() as u64;
        let (mut gross, mut refunds) = (0, 0);
        for t in &mine {
            refunds += refunded.get(&t.id).copied().unwrap_or(0);
            let Some(paid_at) = orders.get(&t.order_id).and_then(|o| o.paid_at) else {
                continue;
            };
            gross += t.price;
            if t.status == TicketStatus::Valid {
                *by_day
                    .entry(paid_at.with_timezone(&tz).date_naive())
                    .or_default() += 1;
            }
        }
        let counts = Taken {
            tier: taken.by_tier.get(&tier.id).copied().unwrap_or(0),
            event: taken.total,
        };
        let available = catalog::availability(&tier, (&event).into(), counts, at).remaining;
        lines.push(TierSales {
            tier,
            sold,
            held,
            available,
            gross,
            refunded: refunds,
            net: gross - refunds,
        });
    }
    let mut states: HashMap<OrderState, u64> = HashMap::new();
    let mut kept = (0, 0);
    for order in orders.values() {
        let state = effective_state(order, at);
        *states.entry(state).or_default() += 1;
        let holds = order.amount_paid - order.amount_refunded;
        if state == OrderState::Cancelled && holds > 0 {
            kept = (kept.0 + 1, kept.1 + holds);
        }
    }
    Ok(Sales {
        currency: event.currency,
        tiers: lines,
        orders_by_state: OrderState::ALL
            .iter()
            .map(|s| (*s, states.get(s).copied().unwrap_or(0)))
            .collect(),
        by_day: by_day.into_iter().collect(),
        cancelled_unrefunded: kept,
    })
}

/// The money refunded, per ticket: each succeeded refund is split over the
/// tickets it revoked, or over its order's tickets when it named none (an
/// amount-only refund, one made in Stripe's dashboard, a late payment sent
/// back), in proportion to their prices.
async fn refunded_per_ticket(
    db: &DatabaseConnection,
    event_id: Uuid,
    tickets: &[ticket::Model],
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
    let mut by_order: HashMap<Uuid, Vec<&ticket::Model>> = HashMap::new();
    for t in tickets {
        by_order.entry(t.order_id).or_default().push(t);
    }
    let mut out: HashMap<Uuid, i64> = HashMap::new();
    for row in rows {
        let named = crate::domain::payments::refunds::ticket_ids(&row);
        let mut over: Vec<&ticket::Model> = by_order
            .get(&row.order_id)
            .map(|ts| {
                ts.iter()
                    .copied()
                    .filter(|t| named.is_empty() || named.contains(&t.id))
                    .collect()
            })
            .unwrap_or_default();
        over.sort_by_key(|t| t.id);
        let prices: Vec<i64> = over.iter().map(|t| t.price).collect();
        for (t, part) in over.iter().zip(money::allocate(row.amount, &prices)) {
            *out.entry(t.id).or_default() += part;
        }
    }
    Ok(out)
}
