//! Inventory: holding tickets without ever overselling.
//!
//! A ticket counts against its tier's capacity, the event's capacity, the
//! stock of its swag size and cut (where the event tracks stock) and its
//! voucher's usage limit, from the moment it is held. It counts while it is
//! `valid` (paid) or `held` with a hold that has not expired: an expired hold
//! stops counting at once, whether or not a sweeper has marked it yet.
//!
//! Every placement goes through one worker per event, which takes the
//! requests queued while the previous transaction ran and decides them in one
//! transaction: lock the event row (PostgreSQL `SELECT ... FOR UPDATE`, an
//! SQLite write lock), count what is taken, admit what fits in arrival order,
//! insert the admitted orders, commit. The lock makes instances behind a load
//! balancer take turns; the batch makes the lock cheap, because a rush of
//! buyers pays for one commit per batch instead of one per order.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use entity::{event, order, ticket, tier};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, ExprTrait, QueryFilter, QuerySelect, TransactionTrait, prelude::Expr,
};
use uuid::Uuid;

use super::{
    DomainError,
    batching::{Batch, Batcher, Policy},
    counting,
    events::SwagSize,
    validation::FieldErrors,
    vouchers::uses_of,
};

/// The most requests decided in one transaction.
const MAX_BATCH: usize = 128;

/// Limits on what one buyer may hold unpaid at once, so nobody can lock up a
/// tier with unpaid holds.
#[derive(Debug, Clone, Copy)]
pub struct HoldLimits {
    pub per_email: i64,
    pub per_client: i64,
    /// How long a pending order holds its tickets.
    pub hold: chrono::Duration,
}

impl HoldLimits {
    /// No caps, for placements that are not limited (`limited: false`); the
    /// configured ones come from the settings.
    const NONE: Self = Self {
        per_email: i64::MAX,
        per_client: i64::MAX,
        hold: chrono::Duration::zero(),
    };
}

/// An order ready to insert, with its tickets.
#[derive(Debug, Clone)]
pub struct Placement {
    pub order: order::Model,
    pub tickets: Vec<ticket::Model>,
    /// The voucher used and its usage limit.
    pub voucher: Option<(Uuid, Option<i32>)>,
    /// Whether hold limits apply (buyers' pending orders; not comps).
    pub limited: bool,
}

/// Why a placement was refused. Indices point into `Placement::tickets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The tier (or the venue) has fewer tickets left than asked for.
    SoldOut { tickets: Vec<usize> },
    /// The swag size and cut has no stock left for these tickets.
    SwagSoldOut { tickets: Vec<usize> },
    /// The voucher has no uses left.
    VoucherUsedUp,
    /// The buyer holds too many unpaid tickets already; retry after this.
    HoldLimit { retry_after: Duration },
}

#[derive(Debug)]
pub enum Decision {
    Placed(Box<Placement>),
    Refused(Refusal),
}

/// The placement workers of this instance, one per event with traffic.
#[derive(Clone)]
pub struct Inventory {
    limits: HoldLimits,
    batcher: Batcher<Placements>,
}

/// Placements of one event, decided in batches under the event's lock.
struct Placements {
    db: DatabaseConnection,
    limits: HoldLimits,
}

impl Batch for Placements {
    type Key = Uuid;
    type Job = Placement;
    type Answer = Option<Refusal>;

    async fn decide(
        &self,
        event_id: Uuid,
        jobs: &[&Placement],
    ) -> Result<Vec<Option<Refusal>>, DbErr> {
        try_batch(&self.db, self.limits, event_id, jobs).await
    }
}

impl Inventory {
    pub fn new(db: DatabaseConnection, limits: HoldLimits) -> Self {
        Self {
            limits,
            batcher: Batcher::new(
                Placements { db, limits },
                Policy {
                    max_batch: MAX_BATCH,
                    ..Policy::DEFAULT
                },
            ),
        }
    }

    pub fn limits(&self) -> HoldLimits {
        self.limits
    }

    /// Decides one placement: inserted, or refused with the reason.
    pub async fn place(&self, placement: Placement) -> Result<Decision, DomainError> {
        let event_id = placement.order.event_id;
        Ok(match self.batcher.submit(event_id, placement).await? {
            (placement, None) => Decision::Placed(Box::new(placement)),
            (_, Some(refusal)) => Decision::Refused(refusal),
        })
    }
}

/// Takes the per-event lock inside `txn`: on PostgreSQL a row lock on the
/// event, on SQLite the database's write lock (taken by a write, so the
/// transaction never has to upgrade from a read snapshot).
pub async fn lock_event(txn: &DatabaseTransaction, event_id: Uuid) -> Result<(), DbErr> {
    match txn.get_database_backend() {
        DatabaseBackend::Postgres => {
            event::Entity::find_by_id(event_id)
                .lock_exclusive()
                .one(txn)
                .await?;
        }
        _ => {
            event::Entity::update_many()
                .col_expr(
                    event::Column::UpdatedAt,
                    Expr::col(event::Column::UpdatedAt),
                )
                .filter(event::Column::Id.eq(event_id))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

/// A new limit an organizer asks for, to be checked against what is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewLimit {
    /// A tier's capacity.
    Tier { id: Uuid, capacity: i64 },
    /// The event's capacity (None: unlimited).
    Event { capacity: Option<i64> },
    /// The stock of one swag size and cut (lower-cased), the `index`-th of
    /// the event's size chart.
    Swag {
        index: usize,
        key: (String, Option<String>),
        stock: i64,
    },
}

/// Refuses limits below what is sold or held right now, naming the count.
/// Call inside `txn` after [`lock_event`], then write the new limits in the
/// same transaction: no placement can slip in between.
pub async fn ensure_fits(
    txn: &DatabaseTransaction,
    event_id: Uuid,
    limits: &[NewLimit],
    at: DateTime<Utc>,
) -> Result<(), DomainError> {
    let taken = taken(txn, event_id, at).await?;
    let mut errors = FieldErrors::new();
    let below = |field: &str, limit: i64, count: i64, errors: &mut FieldErrors| {
        if limit < count {
            errors.add(
                field.to_owned(),
                "below_taken",
                format!("{count} are already sold or held; the limit cannot be lower"),
            );
        }
    };
    for limit in limits {
        match limit {
            NewLimit::Tier { id, capacity } => below(
                "capacity",
                *capacity,
                taken.by_tier.get(id).copied().unwrap_or(0),
                &mut errors,
            ),
            NewLimit::Event { capacity } => {
                if let Some(capacity) = capacity {
                    below("capacity", *capacity, taken.total, &mut errors);
                }
            }
            NewLimit::Swag { index, key, stock } => below(
                &format!("swag_sizes[{index}].stock"),
                *stock,
                taken.by_swag.get(key).copied().unwrap_or(0),
                &mut errors,
            ),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Unavailable {
            code: "capacity_below_taken",
            errors,
        })
    }
}

/// What is taken right now in an event, counted from the tickets.
#[derive(Debug, Default)]
pub struct Taken {
    pub by_tier: HashMap<Uuid, i64>,
    pub by_swag: HashMap<(String, Option<String>), i64>,
    pub total: i64,
}

pub async fn taken(
    db: &impl ConnectionTrait,
    event_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Taken, DbErr> {
    let rows: Vec<(Uuid, Option<String>, Option<String>, i64)> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::TierId)
        .column(ticket::Column::SwagSize)
        .column(ticket::Column::SwagCut)
        .column_as(Expr::col(ticket::Column::Id).count(), "n")
        .filter(ticket::Column::EventId.eq(event_id))
        .filter(counting::seat_takers(at))
        .group_by(ticket::Column::TierId)
        .group_by(ticket::Column::SwagSize)
        .group_by(ticket::Column::SwagCut)
        .into_tuple()
        .all(db)
        .await?;
    let mut taken = Taken::default();
    for (tier, size, cut, n) in rows {
        *taken.by_tier.entry(tier).or_default() += n;
        if let Some(size) = size {
            *taken
                .by_swag
                .entry((size.to_lowercase(), cut.map(|c| c.to_lowercase())))
                .or_default() += n;
        }
        taken.total += n;
    }
    Ok(taken)
}

/// Held (unpaid, unexpired) tickets per key, for the hold limits: the
/// tickets of the buyer's pending orders, read from the orders alone (indexed
/// by event, key and state) without touching the tickets.
async fn held_by(
    txn: &DatabaseTransaction,
    event_id: Uuid,
    column: order::Column,
    keys: Vec<String>,
    at: DateTime<Utc>,
) -> Result<HashMap<String, Held>, DbErr> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64, Option<DateTime<Utc>>)> = order::Entity::find()
        .select_only()
        .column(column)
        .column_as(
            Expr::col(order::Column::TicketCount)
                .sum()
                .cast_as("bigint"),
            "n",
        )
        .column_as(Expr::col(order::Column::ExpiresAt).min(), "first_expiry")
        .filter(order::Column::EventId.eq(event_id))
        .filter(column.is_in(keys))
        .filter(counting::holding_orders(at))
        .group_by(column)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(key, tickets, first_expiry)| {
            (
                key,
                Held {
                    tickets,
                    first_expiry,
                },
            )
        })
        .collect())
}

/// Unpaid tickets a buyer holds, and when the first of their holds ends.
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    tickets: i64,
    first_expiry: Option<DateTime<Utc>>,
}

/// What an event can still sell: capacities, swag stock, what is taken.
struct Room {
    capacity: Option<i64>,
    tiers: HashMap<Uuid, i64>,
    stock: HashMap<(String, Option<String>), i64>,
    taken: Taken,
}

/// Everything a batch of placements is judged against, read once under the
/// event lock, and kept current as placements are admitted.
struct Ledger {
    room: Room,
    by_email: HashMap<String, Held>,
    by_client: HashMap<String, Held>,
    used: HashMap<Uuid, i64>,
}

impl Ledger {
    /// Judges one placement against what is left and, when it fits, takes
    /// what it holds. `None` means admitted.
    fn admit(
        &mut self,
        placement: &Placement,
        limits: &HoldLimits,
        at: DateTime<Utc>,
    ) -> Option<Refusal> {
        let refusal = judge(placement, limits, self, at);
        if refusal.is_some() {
            return refusal;
        }
        let taken = &mut self.room.taken;
        let n = i64::try_from(placement.tickets.len()).unwrap_or(i64::MAX);
        for t in &placement.tickets {
            *taken.by_tier.entry(t.tier_id).or_default() += 1;
            if let Some(size) = &t.swag_size {
                *taken
                    .by_swag
                    .entry((
                        size.to_lowercase(),
                        t.swag_cut.as_ref().map(|c| c.to_lowercase()),
                    ))
                    .or_default() += 1;
            }
        }
        taken.total += n;
        if placement.limited {
            for held in [
                self.by_email
                    .entry(placement.order.email.clone())
                    .or_default(),
                self.by_client
                    .entry(placement.order.client_key.clone())
                    .or_default(),
            ] {
                held.tickets += n;
                held.first_expiry = held.first_expiry.or(placement.order.expires_at);
            }
        }
        if let Some((voucher, _)) = placement.voucher {
            let counted = placement
                .tickets
                .iter()
                .filter(|t| t.voucher_id == Some(voucher))
                .count();
            *self.used.entry(voucher).or_default() += i64::try_from(counted).unwrap_or(i64::MAX);
        }
        None
    }
}

async fn room(txn: &DatabaseTransaction, event_id: Uuid, at: DateTime<Utc>) -> Result<Room, DbErr> {
    let event = event::Entity::find_by_id(event_id)
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("event {event_id}")))?;
    let tiers: HashMap<Uuid, i64> = tier::Entity::find()
        .filter(tier::Column::EventId.eq(event_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|t| (t.id, i64::from(t.capacity)))
        .collect();
    let stock: HashMap<(String, Option<String>), i64> =
        serde_json::from_value::<Vec<SwagSize>>(event.swag_sizes.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| {
                Some((
                    (s.size.to_lowercase(), s.cut.map(|c| c.to_lowercase())),
                    i64::from(s.stock?),
                ))
            })
            .collect();
    Ok(Room {
        capacity: event.capacity.map(i64::from),
        tiers,
        stock,
        taken: taken(txn, event_id, at).await?,
    })
}

/// Takes the seats of an order whose hold ended back, if they are still
/// free: for a payment that arrived late, or an organizer marking such an
/// order paid. Runs inside `txn` under the event lock (taken here); `None`
/// means the seats are the order's again (the caller marks them valid).
pub async fn reacquire(
    txn: &DatabaseTransaction,
    order: &order::Model,
    tickets: &[ticket::Model],
) -> Result<Option<Refusal>, DbErr> {
    lock_event(txn, order.event_id).await?;
    let at = super::now();
    let room = room(txn, order.event_id, at).await?;
    let voucher = match order.voucher_id {
        Some(id) => super::vouchers::limit_of(txn, id)
            .await?
            .map(|limit| (id, limit)),
        None => None,
    };
    let used = uses_of(txn, voucher.iter().map(|(id, _)| *id).collect(), at).await?;
    let placement = Placement {
        order: order.clone(),
        tickets: tickets.to_vec(),
        voucher,
        limited: false,
    };
    let ledger = Ledger {
        room,
        by_email: HashMap::new(),
        by_client: HashMap::new(),
        used,
    };
    Ok(judge(&placement, &HoldLimits::NONE, &ledger, at))
}

/// Decides a batch in one transaction; `None` means placed.
async fn try_batch(
    db: &DatabaseConnection,
    limits: HoldLimits,
    event_id: Uuid,
    placements: &[&Placement],
) -> Result<Vec<Option<Refusal>>, DbErr> {
    let txn = db.begin().await?;
    lock_event(&txn, event_id).await?;
    let at = super::now();
    let room = room(&txn, event_id, at).await?;
    let limited = placements.iter().filter(|p| p.limited);
    let emails: Vec<String> = limited.clone().map(|p| p.order.email.clone()).collect();
    let clients: Vec<String> = limited.map(|p| p.order.client_key.clone()).collect();
    let by_email = held_by(&txn, event_id, order::Column::Email, emails, at).await?;
    let by_client = held_by(&txn, event_id, order::Column::ClientKey, clients, at).await?;
    let vouchers: Vec<Uuid> = placements
        .iter()
        .filter_map(|p| p.voucher.map(|(id, _)| id))
        .collect();
    let used = uses_of(&txn, vouchers, at).await?;
    let mut ledger = Ledger {
        room,
        by_email,
        by_client,
        used,
    };
    let decisions: Vec<Option<Refusal>> = placements
        .iter()
        .map(|placement| ledger.admit(placement, &limits, at))
        .collect();
    let admitted: Vec<&Placement> = placements
        .iter()
        .zip(&decisions)
        .filter(|(_, refusal)| refusal.is_none())
        .map(|(placement, _)| *placement)
        .collect();

    if !admitted.is_empty() {
        let orders: Vec<order::ActiveModel> =
            admitted.iter().map(|p| p.order.clone().into()).collect();
        order::Entity::insert_many(orders).exec(&txn).await?;
        let tickets: Vec<ticket::ActiveModel> = admitted
            .iter()
            .flat_map(|p| p.tickets.iter().cloned().map(Into::into))
            .collect();
        // SQLite allows at most 32,766 bound values in one statement.
        for chunk in tickets.chunks(500) {
            ticket::Entity::insert_many(chunk.to_vec())
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(decisions)
}

/// Whether `placement` fits in what `ledger` says is left; the refusal when
/// not. Pure: the caller applies an admission ([`Ledger::admit`]).
fn judge(
    placement: &Placement,
    limits: &HoldLimits,
    ledger: &Ledger,
    at: DateTime<Utc>,
) -> Option<Refusal> {
    let Ledger {
        room:
            Room {
                capacity: event_capacity,
                tiers,
                stock,
                taken,
            },
        by_email,
        by_client,
        used,
    } = ledger;
    let event_capacity = *event_capacity;
    let n = i64::try_from(placement.tickets.len()).unwrap_or(i64::MAX);
    if placement.limited {
        let email = by_email
            .get(&placement.order.email)
            .copied()
            .unwrap_or_default();
        let client = by_client
            .get(&placement.order.client_key)
            .copied()
            .unwrap_or_default();
        let over: Vec<Held> = [(email, limits.per_email), (client, limits.per_client)]
            .into_iter()
            // A cap limits what one buyer holds across orders; it never
            // refuses, on its own, an order its tiers allow (one order may be
            // larger than the cap: waiting could never cure that).
            .filter(|(held, limit)| held.tickets + n > Ord::max(*limit, n))
            .map(|(held, _)| held)
            .collect();
        if !over.is_empty() {
            // Room comes back when the first of the blocking holds ends.
            let first = over.iter().filter_map(|h| h.first_expiry).max();
            let wait = first.map_or(limits.hold, |first| first - at);
            return Some(Refusal::HoldLimit {
                retry_after: wait
                    .to_std()
                    .unwrap_or(Duration::from_secs(1))
                    .max(Duration::from_secs(1)),
            });
        }
    }
    // Per tier, then the venue as a whole.
    let mut wanted: HashMap<Uuid, Vec<usize>> = HashMap::new();
    for (i, t) in placement.tickets.iter().enumerate() {
        wanted.entry(t.tier_id).or_default().push(i);
    }
    let mut short: Vec<usize> = Vec::new();
    for (tier, indices) in &wanted {
        let capacity = tiers.get(tier).copied().unwrap_or(0);
        let left = capacity - taken.by_tier.get(tier).copied().unwrap_or(0);
        if left < i64::try_from(indices.len()).unwrap_or(i64::MAX) {
            short.extend(indices);
        }
    }
    if short.is_empty()
        && let Some(capacity) = event_capacity
        && capacity - taken.total < n
    {
        short.extend(0..placement.tickets.len());
    }
    if !short.is_empty() {
        short.sort_unstable();
        return Some(Refusal::SoldOut { tickets: short });
    }
    let mut wanted_swag: HashMap<(String, Option<String>), Vec<usize>> = HashMap::new();
    for (i, t) in placement.tickets.iter().enumerate() {
        if let Some(size) = &t.swag_size {
            let key = (
                size.to_lowercase(),
                t.swag_cut.as_ref().map(|c| c.to_lowercase()),
            );
            wanted_swag.entry(key).or_default().push(i);
        }
    }
    let mut swag_short: Vec<usize> = Vec::new();
    for (key, indices) in &wanted_swag {
        if let Some(stock) = stock.get(key) {
            let left = stock - taken.by_swag.get(key).copied().unwrap_or(0);
            if left < i64::try_from(indices.len()).unwrap_or(i64::MAX) {
                swag_short.extend(indices);
            }
        }
    }
    if !swag_short.is_empty() {
        swag_short.sort_unstable();
        return Some(Refusal::SwagSoldOut {
            tickets: swag_short,
        });
    }
    if let Some((voucher, Some(limit))) = placement.voucher {
        let uses = placement
            .tickets
            .iter()
            .filter(|t| t.voucher_id == Some(voucher))
            .count();
        let so_far = used.get(&voucher).copied().unwrap_or(0);
        if so_far + i64::try_from(uses).unwrap_or(i64::MAX) > i64::from(limit) {
            return Some(Refusal::VoucherUsedUp);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    //! `judge` and `Ledger::admit` against a reference model small enough to
    //! read at a glance: random batches over random tiers, stock, vouchers
    //! and earlier holds.

    use proptest::prelude::*;

    use super::*;
    use entity::state::{OrderState, TicketStatus};

    const TIERS: usize = 3;
    const SIZES: [&str; 2] = ["s", "m"];
    const BUYERS: usize = 3;

    #[derive(Debug, Clone)]
    struct Want {
        buyer: usize,
        tickets: Vec<(usize, Option<usize>)>,
        voucher: bool,
    }

    #[derive(Debug, Clone)]
    struct World {
        event_capacity: Option<i64>,
        tier_capacity: [i64; TIERS],
        stock: [Option<i64>; 2],
        voucher_limit: Option<i32>,
        held_before: [i64; BUYERS],
        wants: Vec<Want>,
    }

    fn world() -> impl Strategy<Value = World> {
        let want = (
            0..BUYERS,
            prop::collection::vec((0..TIERS, prop::option::of(0..SIZES.len())), 1..5),
            any::<bool>(),
        )
            .prop_map(|(buyer, tickets, voucher)| Want {
                buyer,
                tickets,
                voucher,
            });
        (
            prop::option::of(0i64..12),
            [0i64..6, 0i64..6, 0i64..6],
            [prop::option::of(0i64..5), prop::option::of(0i64..5)],
            prop::option::of(0i32..6),
            [0i64..4, 0i64..4, 0i64..4],
            prop::collection::vec(want, 1..12),
        )
            .prop_map(
                |(event_capacity, tier_capacity, stock, voucher_limit, held_before, wants)| World {
                    event_capacity,
                    tier_capacity,
                    stock,
                    voucher_limit,
                    held_before,
                    wants,
                },
            )
    }

    const LIMITS: HoldLimits = HoldLimits {
        per_email: 4,
        per_client: 100,
        hold: chrono::Duration::minutes(15),
    };

    fn ids() -> ([Uuid; TIERS], Uuid) {
        (
            [Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)],
            Uuid::from_u128(99),
        )
    }

    fn placement(want: &Want, at: DateTime<Utc>) -> Placement {
        let (tiers, voucher) = ids();
        let order_id = Uuid::now_v7();
        let order = order::Model {
            id: order_id,
            event_id: Uuid::nil(),
            code: String::new(),
            email: format!("buyer{}@example.org", want.buyer),
            token_hash: String::new(),
            state: OrderState::Pending,
            currency: "EUR".into(),
            subtotal: 0,
            discount: 0,
            total: 0,
            ticket_count: i32::try_from(want.tickets.len()).unwrap(),
            voucher_id: want.voucher.then_some(voucher),
            expires_at: Some(at + LIMITS.hold),
            client_key: format!("client{}", want.buyer),
            comp_reason: None,
            created_by_staff: None,
            created_at: at,
            updated_at: at,
            paid_at: None,
            cancelled_at: None,
            payment_intent_id: None,
            checkout_session_id: None,
            charge_id: None,
            amount_paid: 0,
            amount_refunded: 0,
            payment_error: None,
            flag: None,
            flag_detail: None,
            disputed_at: None,
            idempotency_ref: None,
            charge_refunded: 0,
            dispute_id: None,
            dispute_status: None,
        };
        let tickets = want
            .tickets
            .iter()
            .map(|(tier, size)| ticket::Model {
                id: Uuid::now_v7(),
                order_id,
                event_id: Uuid::nil(),
                tier_id: tiers[*tier],
                status: TicketStatus::Held,
                hold_expires_at: order.expires_at,
                attendee_name: "A".into(),
                attendee_email: order.email.clone(),
                swag_size: size.map(|s| SIZES[s].to_uppercase()),
                swag_cut: None,
                dietary: None,
                notes: String::new(),
                unit_price: 0,
                discount: 0,
                price: 0,
                voucher_id: order.voucher_id,
                token_version: 1,
                created_at: at,
                updated_at: at,
            })
            .collect();
        Placement {
            order,
            tickets,
            voucher: want.voucher.then_some((voucher, None)),
            limited: true,
        }
    }

    /// The rules as a person would state them, kept as plain counts.
    #[derive(Debug, Clone)]
    struct Reference {
        left_tier: [i64; TIERS],
        left_event: Option<i64>,
        left_stock: [Option<i64>; 2],
        left_uses: Option<i64>,
        held: [i64; BUYERS],
    }

    impl Reference {
        fn fits(&self, want: &Want) -> bool {
            let n = want.tickets.len() as i64;
            let per_tier = (0..TIERS).all(|t| {
                want.tickets.iter().filter(|(tier, _)| *tier == t).count() as i64
                    <= self.left_tier[t]
            });
            let venue = self.left_event.is_none_or(|left| n <= left);
            let shirts = (0..SIZES.len()).all(|s| {
                self.left_stock[s].is_none_or(|left| {
                    want.tickets
                        .iter()
                        .filter(|(_, size)| *size == Some(s))
                        .count() as i64
                        <= left
                })
            });
            let uses = !want.voucher || self.left_uses.is_none_or(|left| n <= left);
            // One buyer holds at most the cap across orders; a single order
            // may be larger than the cap when it holds nothing else.
            let holds = self.held[want.buyer] + n <= Ord::max(LIMITS.per_email, n);
            per_tier && venue && shirts && uses && holds
        }

        fn take(&mut self, want: &Want) {
            let n = want.tickets.len() as i64;
            for (tier, size) in &want.tickets {
                self.left_tier[*tier] -= 1;
                if let Some(s) = size
                    && let Some(left) = self.left_stock[*s].as_mut()
                {
                    *left -= 1;
                }
            }
            if let Some(left) = self.left_event.as_mut() {
                *left -= n;
            }
            if want.voucher
                && let Some(left) = self.left_uses.as_mut()
            {
                *left -= n;
            }
            self.held[want.buyer] += n;
        }
    }

    fn ledger(world: &World, at: DateTime<Utc>) -> Ledger {
        let (tiers, voucher) = ids();
        let by_email = (0..BUYERS)
            .filter(|b| world.held_before[*b] > 0)
            .map(|b| {
                (
                    format!("buyer{b}@example.org"),
                    Held {
                        tickets: world.held_before[b],
                        first_expiry: Some(at + chrono::Duration::minutes(5)),
                    },
                )
            })
            .collect();
        Ledger {
            room: Room {
                capacity: world.event_capacity,
                tiers: tiers.iter().copied().zip(world.tier_capacity).collect(),
                stock: SIZES
                    .iter()
                    .zip(world.stock)
                    .filter_map(|(size, stock)| stock.map(|n| (((*size).to_owned(), None), n)))
                    .collect(),
                taken: Taken::default(),
            },
            by_email,
            by_client: HashMap::new(),
            used: HashMap::from([(voucher, 0)]),
        }
    }

    proptest! {
        #[test]
        fn a_batch_admits_in_arrival_order_whatever_fits_and_never_more(world in world()) {
            let at = Utc::now();
            let (_, voucher) = ids();
            let mut ledger = ledger(&world, at);
            let mut reference = Reference {
                left_tier: world.tier_capacity,
                left_event: world.event_capacity,
                left_stock: world.stock,
                left_uses: world.voucher_limit.map(i64::from),
                held: world.held_before,
            };
            for want in &world.wants {
                let mut placement = placement(want, at);
                placement.voucher = want.voucher.then_some((voucher, world.voucher_limit));
                let admitted = ledger.admit(&placement, &LIMITS, at).is_none();
                prop_assert_eq!(admitted, reference.fits(want), "{:?} with {:?}", want, reference);
                if admitted {
                    reference.take(want);
                }
            }
            // Never past any limit.
            prop_assert!(reference.left_tier.iter().all(|left| *left >= 0));
            prop_assert!(reference.left_event.is_none_or(|left| left >= 0));
            prop_assert!(reference.left_stock.iter().all(|left| left.is_none_or(|l| l >= 0)));
            prop_assert!(reference.left_uses.is_none_or(|left| left >= 0));
        }
    }
}
