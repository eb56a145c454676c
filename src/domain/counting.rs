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

/// The tickets that take a seat at `at`, as a query condition.
pub fn seat_takers(at: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(ticket::Column::Status.eq(TicketStatus::Valid))
        .add(
            Condition::all()
                .add(ticket::Column::Status.eq(TicketStatus::Held))
                .add(ticket::Column::HoldExpiresAt.gt(at)),
        )
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

/// The orders that hold their tickets at `at`, as a query condition.
pub fn holding_orders(at: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(order::Column::State.eq(OrderState::Pending))
        .add(order::Column::ExpiresAt.gt(at))
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
}
