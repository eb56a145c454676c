//! The one rule of what counts at an instant.
//!
//! A ticket **takes a seat** at `at` when it is `valid`, or `held` by a hold
//! that has not ended (`hold_expires_at > at`). That one rule decides tier
//! and event capacity, swag stock, voucher uses and what reports call sold
//! and held. An order **holds** at `at` when it is `pending` and its hold has
//! not ended; that decides the hold limits per buyer.
//!
//! Each rule is written twice, once as a Rust predicate for rows in hand and
//! once as a sea-orm `Condition` for queries, side by side here; a test runs
//! both over the same table of cases on both databases.
//!
//! The sweeper marks ended holds `expired`/`released` later, but nothing
//! waits for it: a hold past its time stops counting at that instant.
//!
//! So that nothing has to count an event's tickets to apply the rule, it is
//! split in two: a ticket **claims** its seat while its status is `held` or
//! `valid` (a fact that changes only when a statement changes the status,
//! so counters of claimed tickets can be kept in the same transaction), and
//! a claimed ticket has **lapsed** at `at` when it is `held` and its hold
//! has ended (a fact that changes with the clock, counted among the few
//! held tickets the sweeper has not yet released). A ticket takes a seat
//! exactly when it claims one and has not lapsed; a test checks that the
//! split agrees with [`takes_a_seat`] everywhere.

use chrono::{DateTime, Utc};
use entity::{
    order,
    state::{OrderState, TicketStatus},
    ticket,
};
use sea_orm::{ColumnTrait, Condition};

/// Whether a ticket takes a seat at `at`.
pub fn takes_a_seat(
    status: TicketStatus,
    hold_expires_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> bool {
    match status {
        TicketStatus::Valid => true,
        TicketStatus::Held => hold_expires_at.is_some_and(|until| until > at),
        TicketStatus::Released | TicketStatus::Revoked => false,
    }
}

/// Whether a ticket's status claims its seat (counted in the inventory
/// counters): `held` or `valid`.
pub const fn claims(status: TicketStatus) -> bool {
    matches!(status, TicketStatus::Held | TicketStatus::Valid)
}

/// How a move from `from` to `to` changes the claimed count: -1, 0 or 1.
pub const fn claim_change(from: TicketStatus, to: TicketStatus) -> i64 {
    claims(to) as i64 - claims(from) as i64
}

/// Whether a claimed ticket has lapsed at `at`: held, and its hold ended.
pub fn lapsed(
    status: TicketStatus,
    hold_expires_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> bool {
    status == TicketStatus::Held && hold_expires_at.is_none_or(|until| until <= at)
}

/// The lapsed tickets at `at`, as a query condition: read through the
/// index on (event, status, hold end), so its cost is the number of ended
/// holds not yet swept, not the number of tickets. It is [`lapsed`] for
/// every row the database accepts: a held ticket always has the end of its
/// hold (a constraint since migration `m20261204_000003`), so the ended
/// holds are one range of the index, with no `IS NULL` branch beside it.
pub fn lapsed_tickets(at: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(ticket::Column::Status.eq(TicketStatus::Held))
        .add(ticket::Column::HoldExpiresAt.lte(at))
}

/// The tickets that take a seat at `at`, as a query condition.
pub fn seat_takers(at: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(ticket::Column::Status.eq(TicketStatus::Valid))
        .add(live_holds(at))
}

/// The held tickets still taking their seat at `at` ([`held_at`]), as a
/// query condition.
pub fn live_holds(at: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(ticket::Column::Status.eq(TicketStatus::Held))
        .add(ticket::Column::HoldExpiresAt.gt(at))
}

/// Whether a ticket is held (not paid) and still taking its seat at `at`.
pub fn held_at(
    status: TicketStatus,
    hold_expires_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> bool {
    status == TicketStatus::Held && takes_a_seat(status, hold_expires_at, at)
}

/// A ticket's status as of `at`: a held ticket whose hold ended is
/// `released`, marked by the sweeper or not.
pub fn ticket_status_at(
    status: TicketStatus,
    hold_expires_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> TicketStatus {
    if status == TicketStatus::Held && !takes_a_seat(status, hold_expires_at, at) {
        TicketStatus::Released
    } else {
        status
    }
}

/// Whether an order holds its tickets at `at` (pending, hold not ended).
pub fn holds(state: OrderState, expires_at: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    state == OrderState::Pending && expires_at.is_some_and(|until| until > at)
}

/// The orders that hold their tickets at `at`, as a query condition: the
/// [`pending_orders`] whose [`hold_open`] at `at`.
pub fn holding_orders(at: DateTime<Utc>) -> Condition {
    pending_orders().add(hold_open(at))
}

/// The orders that may hold tickets (pending), whether or not their hold
/// has ended.
pub fn pending_orders() -> Condition {
    Condition::all().add(order::Column::State.eq(OrderState::Pending))
}

/// Whether a pending order's hold is still open at `at`, as an expression.
/// A read that must find a buyer's orders through an index on the buyer
/// filters on [`pending_orders`] and counts only those with this true: a
/// range on the hold's end in the filter would lead PostgreSQL, on tables
/// it has no statistics for yet (a new deployment's first rush), to scan
/// every pending order of the event instead.
pub fn hold_open(at: DateTime<Utc>) -> sea_orm::sea_query::SimpleExpr {
    order::Column::ExpiresAt.gt(at)
}

/// An order's state as of `at`: a pending order whose hold ended is
/// `expired`, marked by the sweeper or not.
pub fn order_state_at(
    state: OrderState,
    expires_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> OrderState {
    if state == OrderState::Pending && !holds(state, expires_at, at) {
        OrderState::Expired
    } else {
        state
    }
}

/// The orders whose state as of `at` is `state`, as a query condition.
pub fn orders_in_state_at(state: OrderState, at: DateTime<Utc>) -> Condition {
    match state {
        OrderState::Pending => holding_orders(at),
        OrderState::Expired => Condition::any()
            .add(order::Column::State.eq(OrderState::Expired))
            .add(
                Condition::all()
                    .add(order::Column::State.eq(OrderState::Pending))
                    .add(
                        Condition::any()
                            .add(order::Column::ExpiresAt.is_null())
                            .add(order::Column::ExpiresAt.lte(at)),
                    ),
            ),
        other => Condition::all().add(order::Column::State.eq(other)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn a_hold_stops_counting_at_its_instant() {
        let at = Utc::now();
        assert!(takes_a_seat(
            TicketStatus::Held,
            Some(at + Duration::seconds(1)),
            at
        ));
        assert!(!takes_a_seat(TicketStatus::Held, Some(at), at));
        assert!(!takes_a_seat(TicketStatus::Held, None, at));
        assert!(takes_a_seat(TicketStatus::Valid, None, at));
        assert!(!takes_a_seat(TicketStatus::Revoked, None, at));
        assert_eq!(
            ticket_status_at(TicketStatus::Held, Some(at), at),
            TicketStatus::Released
        );
        assert_eq!(
            order_state_at(OrderState::Pending, Some(at), at),
            OrderState::Expired
        );
        assert_eq!(
            order_state_at(OrderState::Pending, None, at),
            OrderState::Expired
        );
        assert_eq!(order_state_at(OrderState::Paid, None, at), OrderState::Paid);
    }

    #[test]
    fn claimed_and_not_lapsed_is_taking_a_seat() {
        let at = Utc::now();
        let expiries = [
            None,
            Some(at - Duration::seconds(1)),
            Some(at),
            Some(at + Duration::seconds(1)),
        ];
        for &status in TicketStatus::ALL {
            for expiry in expiries {
                assert_eq!(
                    takes_a_seat(status, expiry, at),
                    claims(status) && !lapsed(status, expiry, at),
                    "{status} {expiry:?}"
                );
                if lapsed(status, expiry, at) {
                    assert!(claims(status), "only a claimed ticket lapses");
                }
            }
            for &to in TicketStatus::ALL {
                assert_eq!(
                    claim_change(status, to),
                    i64::from(claims(to)) - i64::from(claims(status))
                );
            }
        }
    }
}
