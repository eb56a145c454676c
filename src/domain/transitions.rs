//! Every change of an order's state or a ticket's status, in one place.
//!
//! Each change is one guarded statement, `UPDATE … SET state = to WHERE id =
//! … AND state IN (the states allowed to move to it)`, that answers whether
//! it moved. Two writers racing (a payment and the sweeper, a refund and a
//! cancel) cannot undo each other: the second one finds the row already
//! moved and changes nothing.
//!
//! The allowed moves (also in the README), by where they lead:
//!
//! | to          | from                                                      |
//! |-------------|-----------------------------------------------------------|
//! | `paid`      | `pending`; `expired` (paid late, the seats still free)    |
//! | `expired`   | `pending` (the hold ended)                                |
//! | `cancelled` | `pending` (before payment); `paid` (by an organizer)      |
//! | `refunded`  | `paid` (last ticket refunded); `expired`, `cancelled` (a late payment sent back) |
//! | ticket `valid`    | `held`; `released` (paid late, the seats still free) |
//! | ticket `released` | `held` (the order's hold ended)                     |
//! | ticket `revoked`  | `valid` (cancelled or refunded)                     |
//!
//! No move leads back: every state has a rank and every move raises it, so
//! no sequence of events moves an order backwards or pays it twice.

use chrono::{DateTime, Utc};
use entity::{
    order,
    state::{OrderState, RefundStatus, TicketStatus},
    ticket,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, UpdateMany, sea_query::Expr,
};
use uuid::Uuid;

use super::{counting, inventory::Deltas};

/// The states an order may move to `to` from.
pub const fn order_sources(to: OrderState) -> &'static [OrderState] {
    use OrderState::*;
    match to {
        Pending => &[],
        // Paid in time, or paid late while the seats were still free.
        Paid => &[Pending, Expired],
        Expired => &[Pending],
        // Before payment (the hold ends) or after it (an organizer cancels).
        Cancelled => &[Pending, Paid],
        // Every ticket refunded, or a late payment sent back.
        Refunded => &[Paid, Expired, Cancelled],
    }
}

/// The statuses a ticket may move to `to` from.
pub const fn ticket_sources(to: TicketStatus) -> &'static [TicketStatus] {
    use TicketStatus::*;
    match to {
        Held => &[],
        Valid => &[Held, Released],
        Released => &[Held],
        Revoked => &[Valid],
    }
}

/// The statuses a refund may move to `to` from. Stripe's own statuses may
/// go back and forth while the refund is open (`pending`, `requires_action`)
/// and a succeeded refund can still fail; failed and canceled are final.
pub const fn refund_sources(to: RefundStatus) -> &'static [RefundStatus] {
    use RefundStatus::*;
    match to {
        Requested => &[],
        Pending => &[Requested, RequiresAction],
        RequiresAction => &[Requested, Pending],
        Succeeded => &[Requested, Pending, RequiresAction],
        Failed | Canceled => &[Requested, Pending, RequiresAction, Succeeded],
    }
}

/// Whether a refund may move from `from` to `to`.
pub fn refund_may_move(from: RefundStatus, to: RefundStatus) -> bool {
    refund_sources(to).contains(&from)
}

/// Whether an order may move from `from` to `to`.
pub fn order_may_move(from: OrderState, to: OrderState) -> bool {
    order_sources(to).contains(&from)
}

/// Whether a ticket may move from `from` to `to`.
pub fn ticket_may_move(from: TicketStatus, to: TicketStatus) -> bool {
    ticket_sources(to).contains(&from)
}

/// Moves one order to `to` if its state allows it; `more` adds the columns
/// that change with the move (amounts, Stripe ids, flags). Sets `updated_at`,
/// and `cancelled_at` on a cancel, `paid_at` on payment. Answers whether the
/// order moved.
pub async fn move_order<C, F>(
    db: &C,
    order_id: Uuid,
    to: OrderState,
    at: DateTime<Utc>,
    more: F,
) -> Result<bool, DbErr>
where
    C: ConnectionTrait,
    F: FnOnce(UpdateMany<order::Entity>) -> UpdateMany<order::Entity>,
{
    move_order_from(db, order_id, order_sources(to), to, at, more).await
}

/// Like [`move_order`], from `from` only (those of them the graph allows):
/// for a caller whose rule is narrower than the graph.
pub async fn move_order_from<C, F>(
    db: &C,
    order_id: Uuid,
    from: &[OrderState],
    to: OrderState,
    at: DateTime<Utc>,
    more: F,
) -> Result<bool, DbErr>
where
    C: ConnectionTrait,
    F: FnOnce(UpdateMany<order::Entity>) -> UpdateMany<order::Entity>,
{
    let from: Vec<OrderState> = from
        .iter()
        .copied()
        .filter(|f| order_may_move(*f, to))
        .collect();
    if from.is_empty() {
        return Ok(false);
    }
    let mut update = order::Entity::update_many()
        .col_expr(order::Column::State, Expr::value(to))
        .col_expr(order::Column::UpdatedAt, Expr::value(at));
    match to {
        OrderState::Cancelled => {
            update = update.col_expr(order::Column::CancelledAt, Expr::value(Some(at)));
        }
        OrderState::Paid => {
            update = update
                .col_expr(order::Column::PaidAt, Expr::value(Some(at)))
                .col_expr(
                    order::Column::ExpiresAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                );
        }
        OrderState::Pending | OrderState::Expired | OrderState::Refunded => {}
    }
    let moved = more(update)
        .filter(order::Column::Id.eq(order_id))
        .filter(order::Column::State.is_in(from))
        .exec(db)
        .await?
        .rows_affected;
    Ok(moved > 0)
}

/// Moves an order's tickets (all of them, or `only` these) to `to`, those
/// whose status allows it. A ticket that leaves `held` loses its hold time.
/// The inventory counters follow in the same transaction: the tickets of a
/// move that changes what claims a seat (`released` to `valid`, `held` to
/// `released`, `valid` to `revoked`) are read back from the update itself
/// (`RETURNING`) and counted. Answers how many moved.
pub async fn move_tickets<C: ConnectionTrait>(
    db: &C,
    order_id: Uuid,
    only: Option<&[Uuid]>,
    to: TicketStatus,
    at: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut moved = 0;
    let mut deltas = Deltas::default();
    for &from in ticket_sources(to) {
        let mut update = ticket::Entity::update_many()
            .col_expr(ticket::Column::Status, Expr::value(to))
            .col_expr(ticket::Column::UpdatedAt, Expr::value(at));
        if matches!(to, TicketStatus::Valid | TicketStatus::Released) {
            update = update.col_expr(
                ticket::Column::HoldExpiresAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
        }
        update = update
            .filter(ticket::Column::OrderId.eq(order_id))
            .filter(ticket::Column::Status.eq(from));
        if let Some(ids) = only {
            update = update.filter(ticket::Column::Id.is_in(ids.iter().copied()));
        }
        let change = counting::claim_change(from, to);
        if change == 0 {
            moved += update.exec(db).await?.rows_affected;
        } else {
            let tickets = update.exec_with_returning(db).await?;
            for ticket in &tickets {
                deltas.ticket(ticket, change);
            }
            moved += u64::try_from(tickets.len()).unwrap_or(u64::MAX);
        }
    }
    deltas.apply(db).await?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rank per state such that every allowed move raises it: proof that
    /// the graph has no cycle, so nothing ever moves back.
    fn order_rank(state: OrderState) -> u8 {
        match state {
            OrderState::Pending => 0,
            OrderState::Expired => 1,
            OrderState::Paid => 2,
            OrderState::Cancelled => 3,
            OrderState::Refunded => 4,
        }
    }

    fn ticket_rank(status: TicketStatus) -> u8 {
        match status {
            TicketStatus::Held => 0,
            TicketStatus::Released => 1,
            TicketStatus::Valid => 2,
            TicketStatus::Revoked => 3,
        }
    }

    #[test]
    fn every_order_move_goes_forward() {
        for &from in OrderState::ALL {
            for &to in OrderState::ALL {
                if order_may_move(from, to) {
                    assert!(order_rank(from) < order_rank(to), "{from} -> {to}");
                }
            }
            assert!(!order_may_move(from, from), "{from} -> {from}");
        }
    }

    #[test]
    fn every_ticket_move_goes_forward() {
        for &from in TicketStatus::ALL {
            for &to in TicketStatus::ALL {
                if ticket_may_move(from, to) {
                    assert!(ticket_rank(from) < ticket_rank(to), "{from} -> {to}");
                }
            }
        }
    }

    #[test]
    fn nothing_leaves_a_final_state() {
        for &to in OrderState::ALL {
            assert!(!order_may_move(OrderState::Refunded, to));
        }
        for &to in TicketStatus::ALL {
            assert!(!ticket_may_move(TicketStatus::Revoked, to));
        }
        // Nothing is ever made pending or held again.
        assert!(order_sources(OrderState::Pending).is_empty());
        assert!(ticket_sources(TicketStatus::Held).is_empty());
    }

    #[test]
    fn a_refund_ends_failed_or_canceled_and_never_un_succeeds_but_by_failing() {
        for &to in RefundStatus::ALL {
            assert!(!refund_may_move(RefundStatus::Failed, to));
            assert!(!refund_may_move(RefundStatus::Canceled, to));
            assert!(!refund_may_move(to, RefundStatus::Requested));
        }
        assert!(!refund_may_move(
            RefundStatus::Succeeded,
            RefundStatus::Pending
        ));
        assert!(refund_may_move(
            RefundStatus::Succeeded,
            RefundStatus::Failed
        ));
        for &from in RefundStatus::ALL {
            // Whatever Stripe says last about an open refund, it can finish.
            if !from.is_final_failure() && from != RefundStatus::Succeeded {
                assert!(refund_may_move(from, RefundStatus::Succeeded));
            }
        }
    }

    #[test]
    fn the_documented_graph_is_the_one_enforced() {
        let moves: Vec<(OrderState, OrderState)> = OrderState::ALL
            .iter()
            .flat_map(|&to| order_sources(to).iter().map(move |&from| (from, to)))
            .collect();
        use OrderState::*;
        assert_eq!(
            moves,
            [
                (Pending, Paid),
                (Expired, Paid),
                (Pending, Expired),
                (Pending, Cancelled),
                (Paid, Cancelled),
                (Paid, Refunded),
                (Expired, Refunded),
                (Cancelled, Refunded),
            ]
        );
    }
}
