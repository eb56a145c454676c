//! Inventory: holding tickets without ever overselling.
//!
//! A ticket counts against its tier's capacity, the event's capacity, the
//! stock of its swag size and cut (where the event tracks stock) and its
//! voucher's usage limit, from the moment it is held. It counts while it is
//! `valid` (paid) or `held` with a hold that has not expired: an expired hold
//! stops counting at once, whether or not a sweeper has marked it yet.
//!
//! Every placement goes through one worker per event, which takes the
//! requests queued while the previous batch ran and decides them in one
//! transaction: lock the event row (PostgreSQL `SELECT ... FOR UPDATE`, an
//! SQLite write lock), read what is taken (the counters of `counts`), admit
//! what fits in arrival order, insert the admitted orders and their
//! counters, commit. The lock makes instances behind a load balancer take
//! turns; the batch makes the lock cheap, because a rush of buyers pays for
//! one commit per batch instead of one per order. On PostgreSQL a second
//! batch is gathered and queued on the lock while the first commits
//! ([`Policy::in_flight`]).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use entity::{
    event, order,
    state::{OrderState, WebhookType},
    ticket, tier,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, ExprTrait, QueryFilter, QuerySelect, QueryTrait, TransactionTrait,
    prelude::Expr,
    sea_query::{LockType, UnionType},
};
use uuid::Uuid;

use super::{
    DomainError,
    batching::{Batch, Batcher, Policy, Turn},
    counting,
    events::SwagSize,
    inserts::Inserts,
    validation::FieldErrors,
    webhooks::{Listeners, Notice},
};

mod counts;
mod ledger;

pub use counts::{Deltas, Drift, check as check_counts, taken, voucher_uses};

use ledger::{Held, Ledger, Room, judge};

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
    /// Whether hold limits apply: a buyer's pending order, which holds its
    /// tickets; not a free order or a comp, which hold nothing.
    pub limited: bool,
}

/// Why a placement was refused. Indices point into `Placement::tickets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The tier (or the venue) has fewer tickets left than asked for.
    SoldOut { tickets: Vec<usize> },
    /// The swag size and cut has no stock left for these tickets.
    SwagSoldOut { tickets: Vec<usize> },
    /// The buyer already has as many tickets of these tickets' tier as the
    /// tier allows one buyer (`max_per_buyer`).
    BuyerLimit { tickets: Vec<usize> },
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
    batcher: Batcher<Placements>,
    placing: Placing,
}

/// How many placements this instance is deciding right now (queued or in
/// a batch). Work that can wait, webhook deliveries, paces itself while
/// there are any: the cores and the database go to the rush first.
#[derive(Debug, Clone, Default)]
pub struct Placing(Arc<PlacingInner>);

#[derive(Debug, Default)]
struct PlacingInner {
    count: AtomicUsize,
    /// Told when the count falls to zero.
    quiet: tokio::sync::Notify,
}

impl Placing {
    /// Whether any placement is being decided.
    pub fn busy(&self) -> bool {
        self.0.count.load(Ordering::Acquire) > 0
    }

    /// Counts one placement until the answer is dropped.
    pub fn enter(&self) -> PlacingNow {
        self.0.count.fetch_add(1, Ordering::AcqRel);
        PlacingNow(self.0.clone())
    }

    /// Returns once no placement is being decided (at once if none is).
    pub async fn quiet(&self) {
        let notified = self.0.quiet.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.busy() {
            notified.await;
        }
    }
}

/// One placement counted by [`Placing`], for as long as it lives.
#[derive(Debug)]
pub struct PlacingNow(Arc<PlacingInner>);

impl Drop for PlacingNow {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.quiet.notify_waiters();
        }
    }
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
        turn: &mut Turn,
    ) -> Result<Vec<Option<Refusal>>, DbErr> {
        try_batch(&self.db, self.limits, event_id, jobs, turn).await
    }
}

impl Inventory {
    pub fn new(db: DatabaseConnection, limits: HoldLimits) -> Self {
        // On PostgreSQL the next batch is gathered and queued on the event's
        // row lock while the current one works and commits; SQLite has one
        // writer for the whole file, so a second batch could only wait.
        let in_flight = match db.get_database_backend() {
            DatabaseBackend::Postgres => 2,
            _ => 1,
        };
        Self {
            batcher: Batcher::new(
                Placements { db, limits },
                Policy {
                    max_batch: MAX_BATCH,
                    in_flight,
                    ..Policy::DEFAULT
                },
            ),
            placing: Placing::default(),
        }
    }

    /// The count of placements being decided on this instance.
    pub fn placing(&self) -> Placing {
        self.placing.clone()
    }

    pub fn limits(&self) -> HoldLimits {
        self.batcher.batch().limits
    }

    /// Decides one placement: inserted, or refused with the reason.
    pub async fn place(&self, placement: Placement) -> Result<Decision, DomainError> {
        let event_id = placement.order.event_id;
        let _counted = self.placing.enter();
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

/// An event and its tiers.
type Limits = (event::Model, Vec<tier::Model>);

/// Takes the per-event lock (as [`lock_event`]) and reads the event and its
/// tiers under it. On PostgreSQL one statement does all three (`FOR UPDATE
/// OF` the event's row alone): every round trip made under the lock
/// lengthens the time the event's next batch waits for it.
async fn lock_and_read(txn: &DatabaseTransaction, event_id: Uuid) -> Result<Limits, DbErr> {
    if txn.get_database_backend() != DatabaseBackend::Postgres {
        lock_event(txn, event_id).await?;
        return read_limits(txn, event_id).await;
    }
    let mut select = event::Entity::find_by_id(event_id).find_with_related(tier::Entity);
    QueryTrait::query(&mut select).lock_with_tables(LockType::Update, [event::Entity]);
    select
        .all(txn)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| DbErr::RecordNotFound(format!("event {event_id}")))
}

/// The event and its tiers, without a lock.
async fn read_limits(db: &impl ConnectionTrait, event_id: Uuid) -> Result<Limits, DbErr> {
    let event = event::Entity::find_by_id(event_id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("event {event_id}")))?;
    let tiers = tier::Entity::find()
        .filter(tier::Column::EventId.eq(event_id))
        .all(db)
        .await?;
    Ok((event, tiers))
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

/// What is taken in an event at an instant (see the `counts` module).
#[derive(Debug, Default)]
pub struct Taken {
    pub by_tier: HashMap<Uuid, i64>,
    pub by_swag: HashMap<(String, Option<String>), i64>,
    pub by_voucher: HashMap<Uuid, i64>,
    pub total: i64,
}

/// Tickets of each tier with a per-buyer limit that the batch's buyers
/// already have (held or valid), by buyer email.
async fn bought_by(
    txn: &impl ConnectionTrait,
    event_id: Uuid,
    room: &Room,
    placements: &[&Placement],
    at: DateTime<Utc>,
) -> Result<HashMap<(String, Uuid), i64>, DbErr> {
    let tiers: Vec<Uuid> = room.per_buyer.keys().copied().collect();
    let buyers: Vec<String> = placements.iter().map(|p| p.order.email.clone()).collect();
    if tiers.is_empty() || buyers.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, Uuid, i64)> = ticket::Entity::find()
        .select_only()
        .column_as(order::Column::Email, "email")
        .column(ticket::Column::TierId)
        .column_as(Expr::col((ticket::Entity, ticket::Column::Id)).count(), "n")
        .inner_join(order::Entity)
        .filter(ticket::Column::EventId.eq(event_id))
        .filter(ticket::Column::TierId.is_in(tiers))
        .filter(order::Column::Email.is_in(buyers))
        .filter(counting::seat_takers(at))
        .group_by(order::Column::Email)
        .group_by(ticket::Column::TierId)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(email, tier, n)| ((email, tier), n))
        .collect())
}

/// Held (unpaid, unexpired) tickets per buyer email and per client key,
/// for the hold limits: the tickets of the buyers' pending orders, read
/// from the orders alone (indexed by event, key and state) without touching
/// the tickets. One statement (a `UNION ALL` of one grouped read per key,
/// so each keeps its own index) under the event's lock; pending orders
/// whose hold ended count for nothing (see [`counting::hold_open`]).
async fn held_by(
    db: &impl ConnectionTrait,
    event_id: Uuid,
    emails: Vec<String>,
    clients: Vec<String>,
    at: DateTime<Utc>,
) -> Result<[HashMap<String, Held>; 2], DbErr> {
    let mut held = [HashMap::new(), HashMap::new()];
    let backend = db.get_database_backend();
    let Some(statement) = held_by_statement(backend, event_id, [emails, clients], at) else {
        return Ok(held);
    };
    for row in db.query_all_raw(statement).await? {
        let kind: i32 = row.try_get_by_index(0)?;
        let key: String = row.try_get_by_index(1)?;
        let tickets: i64 = row.try_get_by_index(2)?;
        let first_expiry: Option<DateTime<Utc>> = row.try_get_by_index(3)?;
        if let Some(map) = usize::try_from(kind).ok().and_then(|k| held.get_mut(k)) {
            map.insert(
                key,
                Held {
                    tickets,
                    first_expiry,
                },
            );
        }
    }
    Ok(held)
}

/// The statement of [`held_by`] for keys `[emails, clients]` (none when
/// there are none): public so that tests can look at its plan.
#[doc(hidden)]
pub fn held_by_statement(
    backend: DatabaseBackend,
    event_id: Uuid,
    [emails, clients]: [Vec<String>; 2],
    at: DateTime<Utc>,
) -> Option<sea_orm::Statement> {
    const KINDS: [(order::Column, &str); 2] =
        [(order::Column::Email, "0"), (order::Column::ClientKey, "1")];
    let mut parts = KINDS
        .into_iter()
        .zip([emails, clients])
        .filter(|(_, keys)| !keys.is_empty())
        .map(|((column, kind), keys)| {
            order::Entity::find()
                .select_only()
                .column_as(Expr::cust(kind), "kind")
                .column_as(column, "key")
                .column_as(
                    Expr::expr(
                        Expr::case(
                            counting::hold_open(at),
                            Expr::col(order::Column::TicketCount),
                        )
                        .finally(0),
                    )
                    .sum()
                    .cast_as("bigint"),
                    "n",
                )
                .column_as(
                    Expr::expr(Expr::case(
                        counting::hold_open(at),
                        Expr::col(order::Column::ExpiresAt),
                    ))
                    .min(),
                    "first_expiry",
                )
                .filter(order::Column::EventId.eq(event_id))
                .filter(column.is_in(keys))
                .filter(counting::pending_orders())
                .group_by(column)
                .into_query()
        });
    let mut query = parts.next()?;
    for part in parts {
        query.union(UnionType::All, part);
    }
    Some(backend.build(&query))
}

async fn room(
    txn: &impl ConnectionTrait,
    (event, models): &Limits,
    at: DateTime<Utc>,
) -> Result<Room, DbErr> {
    let event_id = event.id;
    let tiers: HashMap<Uuid, i64> = models
        .iter()
        .map(|t| (t.id, i64::from(t.capacity)))
        .collect();
    let per_buyer: HashMap<Uuid, i64> = models
        .iter()
        .filter_map(|t| Some((t.id, i64::from(t.max_per_buyer?))))
        .collect();
    let stock: HashMap<(String, Option<String>), i64> =
        serde_json::from_value::<Vec<SwagSize>>(event.swag_sizes.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| Some((s.key(), i64::from(s.stock?))))
            .collect();
    Ok(Room {
        capacity: event.capacity.map(i64::from),
        tiers,
        per_buyer,
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
    let limits = lock_and_read(txn, order.event_id).await?;
    let at = super::now();
    let room = room(txn, &limits, at).await?;
    let voucher = match order.voucher_id {
        Some(id) => super::vouchers::limit_of(txn, id)
            .await?
            .map(|limit| (id, limit)),
        None => None,
    };
    let placement = Placement {
        order: order.clone(),
        tickets: tickets.to_vec(),
        voucher,
        limited: false,
    };
    // The order was counted against its buyer's limits when it was placed.
    let ledger = Ledger {
        room,
        by_email: HashMap::new(),
        by_client: HashMap::new(),
        bought: HashMap::new(),
    };
    Ok(judge(&placement, &HoldLimits::NONE, &ledger, at))
}

/// Everything a batch is judged against, read at `at` (under the event lock
/// when placing; as of now, without it, for a quote).
async fn ledger(
    db: &impl ConnectionTrait,
    limits: &Limits,
    placements: &[&Placement],
    at: DateTime<Utc>,
) -> Result<Ledger, DbErr> {
    let event_id = limits.0.id;
    let room = room(db, limits, at).await?;
    let limited = placements.iter().filter(|p| p.limited);
    let emails: Vec<String> = limited.clone().map(|p| p.order.email.clone()).collect();
    let clients: Vec<String> = limited.map(|p| p.order.client_key.clone()).collect();
    let [by_email, by_client] = held_by(db, event_id, emails, clients, at).await?;
    let bought = bought_by(db, event_id, &room, placements, at).await?;
    Ok(Ledger {
        room,
        by_email,
        by_client,
        bought,
    })
}

/// Whether `placement` would be placed now, by the same rules as
/// [`Inventory::place`], holding and writing nothing: for a quote. (A
/// placement a moment later may still be refused: others buy meanwhile.)
pub async fn preview(
    db: &DatabaseConnection,
    limits: HoldLimits,
    placement: &Placement,
) -> Result<Option<Refusal>, DbErr> {
    let at = super::now();
    let event = read_limits(db, placement.order.event_id).await?;
    let ledger = ledger(db, &event, &[placement], at).await?;
    Ok(judge(placement, &limits, &ledger, at))
}

/// What a batch announces to webhooks: each order placed (and paid, when
/// it was paid at once), and each tier whose last ticket it took.
fn placed_notices(
    event_id: Uuid,
    admitted: &[&Placement],
    ledger: &Ledger,
    taken_before: &HashMap<Uuid, i64>,
) -> Vec<Notice> {
    let mut notices = Vec::new();
    for placement in admitted {
        let order = &placement.order;
        notices.push(Notice::order(WebhookType::OrderPlaced, event_id, order.id));
        if order.state == OrderState::Paid {
            notices.push(Notice::order(WebhookType::OrderPaid, event_id, order.id));
        }
    }
    for tier in ledger.sold_out_since(taken_before) {
        notices.push(Notice {
            kind: WebhookType::TierSoldOut,
            event_id,
            order_id: None,
            ticket_id: None,
            data: serde_json::json!({ "tier_id": tier }),
        });
    }
    notices
}

/// Decides a batch in one transaction; `None` means placed.
async fn try_batch(
    db: &DatabaseConnection,
    limits: HoldLimits,
    event_id: Uuid,
    placements: &[&Placement],
    turn: &mut Turn,
) -> Result<Vec<Option<Refusal>>, DbErr> {
    let txn = db.begin().await?;
    // Who hears of the placements is no business of the lock's: read first.
    let listeners = Listeners::of(&txn, event_id).await?;
    let event = lock_and_read(&txn, event_id).await?;
    // The next batch may now queue on the lock behind this one.
    turn.pass();
    let at = super::now();
    let mut ledger = ledger(&txn, &event, placements, at).await?;
    let taken_before = ledger.room.taken.by_tier.clone();
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
        // The orders, their tickets, the counters they move and their mails
        // and webhooks: one statement on PostgreSQL (each round trip made
        // under the lock delays the event's next batch); a placement that
        // rolls back announces nothing.
        let mut inserts = Inserts::for_backend(txn.get_database_backend());
        inserts.rows(
            admitted
                .iter()
                .map(|p| order::ActiveModel::from(p.order.clone()))
                .collect(),
        );
        inserts.rows(
            admitted
                .iter()
                .flat_map(|p| p.tickets.iter().cloned().map(ticket::ActiveModel::from))
                .collect(),
        );
        let mut deltas = Deltas::default();
        for ticket in admitted.iter().flat_map(|p| &p.tickets) {
            deltas.ticket(ticket, i64::from(counting::claims(ticket.status)));
        }
        deltas.add_to(&mut inserts);
        let mut messages: Vec<_> = admitted
            .iter()
            .flat_map(|p| super::outbox::placed(&p.order, &p.tickets))
            .collect();
        let notices = placed_notices(event_id, &admitted, &ledger, &taken_before);
        messages.extend(listeners.messages(&notices));
        super::outbox::add_to(&mut inserts, messages);
        inserts.exec(&txn).await?;
    }
    txn.commit().await?;
    Ok(decisions)
}

#[cfg(test)]
mod tests;
