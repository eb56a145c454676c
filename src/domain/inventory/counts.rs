//! Counters of what an event's tickets claim, so that what is taken costs
//! the same to read at ticket 50,000 as at ticket 1.
//!
//! The invariant (also in `docs/inventory.md`): for every event, and within
//! it every tier, swag size and cut and voucher, the `inventory_count` row
//! holds the number of its tickets whose status **claims** a seat (`held`
//! or `valid`, [`counting::claims`]). What is **taken** at an instant is
//! that count less the claimed tickets that have **lapsed** by then (held,
//! their hold ended, not yet released by the sweeper), which are read
//! through the index on (event, status, hold end): a handful of rows,
//! however large the event.
//!
//! The counters change only here, in the transaction of the change they
//! follow: [`Deltas::apply`] after a placement inserts its tickets, a
//! status move ([`crate::domain::transitions::move_tickets`]) or a swag
//! change. Every change of an event's counters upserts the event's own row
//! first (rows in key order, the event's row before its parts), so writers
//! of one event queue on that row and never deadlock on the others.
//!
//! [`check`] recounts an event from its tickets under its lock, repairs any
//! counter that disagrees and says how many did; the counter check job
//! runs it periodically and reports drift in the logs and metrics.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use entity::{inventory_count, state::TicketStatus, ticket};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait, OnConflict},
};
use uuid::Uuid;

use super::{Taken, lock_event};
use crate::domain::counting;
use crate::domain::inserts::Inserts;

const EVENT: &str = "event";
const TIER: &str = "tier";
const SWAG: &str = "swag";
const VOUCHER: &str = "voucher";

/// Separates a swag size from its cut in a counter's key.
const CUT: char = '\u{1f}';

/// The counter key of a swag size and cut (lower-cased, as the stock chart
/// compares them).
fn swag_key(size: &str, cut: Option<&str>) -> String {
    format!(
        "{}{CUT}{}",
        size.to_lowercase(),
        cut.unwrap_or_default().to_lowercase()
    )
}

fn parse_swag_key(key: &str) -> (String, Option<String>) {
    match key.split_once(CUT) {
        Some((size, "")) => (size.to_owned(), None),
        Some((size, cut)) => (size.to_owned(), Some(cut.to_owned())),
        None => (key.to_owned(), None),
    }
}

/// What one group of tickets counts towards: the event, its tier, its swag
/// size and cut, its voucher.
struct Parts<'a> {
    tier: Uuid,
    size: Option<&'a str>,
    cut: Option<&'a str>,
    voucher: Option<Uuid>,
}

impl<'a> Parts<'a> {
    fn of(t: &'a ticket::Model) -> Self {
        Self {
            tier: t.tier_id,
            size: t.swag_size.as_deref(),
            cut: t.swag_cut.as_deref(),
            voucher: t.voucher_id,
        }
    }

    fn of_group((tier, size, cut, voucher, _): &'a Group) -> Self {
        Self {
            tier: *tier,
            size: size.as_deref(),
            cut: cut.as_deref(),
            voucher: *voucher,
        }
    }

    fn keys(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        [
            Some((EVENT, String::new())),
            Some((TIER, self.tier.to_string())),
            self.size.map(|size| (SWAG, swag_key(size, self.cut))),
            self.voucher.map(|v| (VOUCHER, v.to_string())),
        ]
        .into_iter()
        .flatten()
    }
}

/// Changes to counters, gathered in a transaction and written at once.
#[derive(Debug, Default)]
pub struct Deltas(BTreeMap<(Uuid, &'static str, String), i64>);

impl Deltas {
    /// Counts `ticket` `by` (1: it now claims a seat; -1: it no longer does).
    pub fn ticket(&mut self, ticket: &ticket::Model, by: i64) {
        for (scope, key) in Parts::of(ticket).keys() {
            *self.0.entry((ticket.event_id, scope, key)).or_default() += by;
        }
    }

    /// Writes the changes: one upsert, rows in key order, each event's own
    /// row included (first) even when its total did not change, so that the
    /// writers of one event always meet on it first.
    pub async fn apply(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let mut inserts = Inserts::for_backend(db.get_database_backend());
        self.add_to(&mut inserts);
        inserts.exec(db).await
    }

    /// Adds the upsert that [`Deltas::apply`] runs to `inserts`, to be
    /// written with the rest of a transaction's inserts.
    pub fn add_to(mut self, inserts: &mut Inserts) {
        let events: Vec<Uuid> = self.0.keys().map(|(event, _, _)| *event).collect();
        for event in events {
            self.0.entry((event, EVENT, String::new())).or_default();
        }
        let rows: Vec<inventory_count::ActiveModel> = self
            .0
            .into_iter()
            .filter(|((_, scope, _), by)| *by != 0 || *scope == EVENT)
            .map(
                |((event_id, scope, key), by)| inventory_count::ActiveModel {
                    event_id: sea_orm::Set(event_id),
                    scope: sea_orm::Set(scope.to_owned()),
                    key: sea_orm::Set(key),
                    claimed: sea_orm::Set(by),
                },
            )
            .collect();
        if rows.is_empty() {
            return;
        }
        // Four values a row; an event has a few dozen counters at most.
        let values = rows.len() * 4;
        let claimed = inventory_count::Column::Claimed;
        let upsert = inventory_count::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    inventory_count::Column::EventId,
                    inventory_count::Column::Scope,
                    inventory_count::Column::Key,
                ])
                .value(
                    claimed,
                    Expr::col((inventory_count::Entity, claimed))
                        .add(Expr::col((Alias::new("excluded"), claimed))),
                )
                .to_owned(),
            )
            .into_query();
        inserts.statement(upsert, values);
    }
}

/// Adds `n` tickets to the counter `scope`/`key` of `taken`.
fn count_into(taken: &mut Taken, scope: &str, key: &str, n: i64) {
    match scope {
        EVENT => taken.total += n,
        TIER => {
            if let Ok(id) = key.parse() {
                *taken.by_tier.entry(id).or_default() += n;
            }
        }
        SWAG => *taken.by_swag.entry(parse_swag_key(key)).or_default() += n,
        VOUCHER => {
            if let Ok(id) = key.parse() {
                *taken.by_voucher.entry(id).or_default() += n;
            }
        }
        _ => {}
    }
}

/// The event's counters as stored.
async fn stored(
    db: &impl ConnectionTrait,
    event_id: Uuid,
) -> Result<Vec<inventory_count::Model>, DbErr> {
    inventory_count::Entity::find()
        .filter(inventory_count::Column::EventId.eq(event_id))
        .all(db)
        .await
}

type Group = (Uuid, Option<String>, Option<String>, Option<Uuid>, i64);

/// Tickets of the event matching `condition`, grouped by what they count
/// towards.
async fn grouped(
    db: &impl ConnectionTrait,
    event_id: Uuid,
    condition: sea_orm::Condition,
) -> Result<Vec<Group>, DbErr> {
    ticket::Entity::find()
        .select_only()
        .column(ticket::Column::TierId)
        .column(ticket::Column::SwagSize)
        .column(ticket::Column::SwagCut)
        .column(ticket::Column::VoucherId)
        .column_as(Expr::col(ticket::Column::Id).count(), "n")
        .filter(ticket::Column::EventId.eq(event_id))
        .filter(condition)
        .group_by(ticket::Column::TierId)
        .group_by(ticket::Column::SwagSize)
        .group_by(ticket::Column::SwagCut)
        .group_by(ticket::Column::VoucherId)
        .into_tuple()
        .all(db)
        .await
}

fn count_groups(taken: &mut Taken, groups: &[Group], sign: i64) {
    for group in groups {
        for (scope, key) in Parts::of_group(group).keys() {
            count_into(taken, scope, &key, sign * group.4);
        }
    }
}

/// What is taken in an event at `at`: the claimed counters less the
/// tickets that lapsed by then. Two small reads, whatever the event's size.
pub async fn taken(
    db: &impl ConnectionTrait,
    event_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Taken, DbErr> {
    let mut taken = Taken::default();
    for row in stored(db, event_id).await? {
        count_into(&mut taken, &row.scope, &row.key, row.claimed);
    }
    let lapsed = grouped(db, event_id, counting::lapsed_tickets(at)).await?;
    count_groups(&mut taken, &lapsed, -1);
    Ok(taken)
}

/// Uses of some of an event's vouchers at `at` (tickets that take a seat
/// with them); absent means none. The same two small reads as [`taken`].
pub async fn voucher_uses(
    db: &impl ConnectionTrait,
    event_id: Uuid,
    ids: &[Uuid],
    at: DateTime<Utc>,
) -> Result<HashMap<Uuid, i64>, DbErr> {
    let mut uses = taken(db, event_id, at).await?.by_voucher;
    uses.retain(|id, _| ids.contains(id));
    Ok(uses)
}

/// What a recount of one event found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drift {
    /// Counters that disagreed with the tickets (and were repaired).
    pub wrong: u64,
    /// The largest difference, stored minus counted.
    pub worst: i64,
}

/// Recounts an event's claimed tickets under its lock, and repairs the
/// counters that disagree. The recount reads every ticket of the event:
/// this is the periodic check, never a request's path.
pub async fn check(db: &DatabaseConnection, event_id: Uuid) -> Result<Drift, DbErr> {
    let txn = db.begin().await?;
    lock_event(&txn, event_id).await?;
    // Placements wait on the event's lock; every other writer of the
    // counters waits on the event's own counter row.
    Deltas(BTreeMap::from([((event_id, EVENT, String::new()), 0)]))
        .apply(&txn)
        .await?;
    let claimed: Vec<TicketStatus> = TicketStatus::ALL
        .iter()
        .copied()
        .filter(|s| counting::claims(*s))
        .collect();
    let groups = grouped(
        &txn,
        event_id,
        sea_orm::Condition::all().add(ticket::Column::Status.is_in(claimed)),
    )
    .await?;
    let mut counted: HashMap<(&'static str, String), i64> = HashMap::new();
    for group in &groups {
        for key in Parts::of_group(group).keys() {
            *counted.entry(key).or_default() += group.4;
        }
    }
    counted.entry((EVENT, String::new())).or_default();
    for row in stored(&txn, event_id).await? {
        let Some(scope) = [EVENT, TIER, SWAG, VOUCHER]
            .into_iter()
            .find(|s| *s == row.scope)
        else {
            continue;
        };
        *counted.entry((scope, row.key)).or_default() -= row.claimed;
    }
    // `counted` now holds, per counter, what the tickets say less what is
    // stored: the repair.
    let mut fix = Deltas::default();
    let mut drift = Drift::default();
    for ((scope, key), missing) in counted {
        if missing != 0 {
            drift.wrong += 1;
            if missing.abs() > drift.worst.abs() {
                drift.worst = -missing;
            }
            fix.0.insert((event_id, scope, key), missing);
        }
    }
    fix.apply(&txn).await?;
    txn.commit().await?;
    Ok(drift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swag_key_reads_back_as_written() {
        for (size, cut) in [("M", None), ("XL", Some("Fitted")), ("2XL", Some("a b"))] {
            let key = swag_key(size, cut);
            assert_eq!(
                parse_swag_key(&key),
                (size.to_lowercase(), cut.map(str::to_lowercase))
            );
        }
        assert_ne!(swag_key("m", None), swag_key("m", Some("x")));
    }
}
