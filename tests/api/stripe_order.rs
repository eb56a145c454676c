//! Invariant 8: money figures equal the ledger whatever order Stripe's
//! events arrive in. Each case places a fresh order and applies one
//! permutation of the same events through the service's own webhook
//! effects; every permutation must end in the state Stripe's real order
//! gives.

use entity::state::{DisputeStatus, OrderState, RefundStatus, TicketStatus};
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use tessera::{
    domain::payments::{self, Payments},
    payments::webhook::{Incoming, Notice, Refs},
};

use crate::{
    helpers::{Backend, TestApp, spawn_app},
    payments::{Placed, order_row, place, shop},
};

/// One event, before it is bound to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// An earlier attempt's card was declined.
    Declined,
    /// The payment succeeded (full amount).
    Paid,
    /// A refund of `percent` of the total, by its Stripe id, in a status.
    Refund(&'static str, i64, RefundStatus),
    /// The charge's refunded total is now `percent` of the total.
    ChargeRefunded(i64),
    DisputeOpened,
    DisputeClosed(DisputeStatus),
}

const TOTAL: i64 = 9_800;

fn bind(event: Event, n: usize, placed: &Placed) -> Incoming {
    let refs = Refs {
        order_id: placed.id.parse().ok(),
        payment_intent: Some(placed.intent.clone()),
        charge: Some(format!("ch_{}", placed.id.replace('-', ""))),
        checkout_session: None,
    };
    let (kind, notice) = match event {
        Event::Declined => (
            "payment_intent.payment_failed",
            Notice::PaymentFailed {
                refs,
                reason: "card_declined".into(),
            },
        ),
        Event::Paid => (
            "payment_intent.succeeded",
            Notice::Paid {
                refs,
                amount: TOTAL,
                currency: "eur".into(),
            },
        ),
        Event::Refund(id, percent, status) => (
            "refund.updated",
            Notice::Refund {
                refs,
                stripe_id: format!("{id}_{}", placed.id),
                ours: None,
                amount: TOTAL * percent / 100,
                currency: "eur".into(),
                status,
                failure: None,
            },
        ),
        Event::ChargeRefunded(percent) => (
            "charge.refunded",
            Notice::ChargeRefunded {
                refs,
                amount_refunded: TOTAL * percent / 100,
                currency: "eur".into(),
            },
        ),
        Event::DisputeOpened => (
            "charge.dispute.created",
            Notice::Dispute {
                refs,
                id: format!("dp_{}", placed.id),
                reason: "fraudulent".into(),
                status: DisputeStatus::NeedsResponse,
                closed: false,
            },
        ),
        Event::DisputeClosed(status) => (
            "charge.dispute.closed",
            Notice::Dispute {
                refs,
                id: format!("dp_{}", placed.id),
                reason: "fraudulent".into(),
                status,
                closed: true,
            },
        ),
    };
    Incoming {
        id: format!("evt_{n}_{}", placed.id),
        event_type: kind.into(),
        notice,
    }
}

/// What must not depend on the order of events.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    state: OrderState,
    amount_paid: i64,
    amount_refunded: i64,
    blocked_at_the_door: bool,
    tickets: Vec<TicketStatus>,
    refunds: Vec<(RefundStatus, i64)>,
}

async fn outcome(app: &TestApp, placed: &Placed) -> Outcome {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let order = order_row(app, &placed.code).await;
    let mut tickets: Vec<TicketStatus> = entity::ticket::Entity::find()
        .filter(entity::ticket::Column::OrderId.eq(order.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.status)
        .collect();
    tickets.sort();
    let mut refunds: Vec<(RefundStatus, i64)> = entity::refund::Entity::find()
        .filter(entity::refund::Column::OrderId.eq(order.id))
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.status, r.amount))
        .collect();
    refunds.sort();
    Outcome {
        state: order.state,
        amount_paid: order.amount_paid,
        amount_refunded: order.amount_refunded,
        blocked_at_the_door: order.disputed_at.is_some(),
        tickets,
        refunds,
    }
}

async fn deliver(app: &TestApp, slug: &str, tier: &str, events: &[Event]) -> Outcome {
    let placed = place(app, slug, tier, &["Ada", "Grace"]).await;
    let payments = Payments::default();
    for (n, event) in events.iter().enumerate() {
        payments::apply(&app.db, &payments, bind(*event, n, &placed))
            .await
            .unwrap();
    }
    outcome(app, &placed).await
}

/// Applies `events` in Stripe's own order and then in `cases` shuffled
/// orders, each to a fresh order: every one must end where the first did.
fn converges(
    runtime: &tokio::runtime::Runtime,
    app: &TestApp,
    slug: &str,
    events: Vec<Event>,
    cases: u32,
) -> Outcome {
    let tier = runtime.block_on(async { shop(app, slug, 10_000).await.tier });
    let expected = runtime.block_on(deliver(app, slug, &tier, &events));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&Just(events).prop_shuffle(), |shuffled| {
            let got = runtime.block_on(deliver(app, slug, &tier, &shuffled));
            if got == expected {
                Ok(())
            } else {
                Err(TestCaseError::fail(format!(
                    "{shuffled:?} ended in {got:?}, not {expected:?}"
                )))
            }
        })
        .unwrap();
    expected
}

fn invariant_8_stripe_events_in_any_order_end_in_one_state(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(app) = runtime.block_on(spawn_app(backend)) else {
        return;
    };
    let cases = if backend == Backend::Sqlite { 48 } else { 24 };

    // Refunded in full from the dashboard in two refunds, with a declined
    // first attempt and a dispute that was won.
    let full = converges(
        &runtime,
        &app,
        "any-order-full",
        vec![
            Event::Declined,
            Event::Paid,
            Event::Refund("re_a", 30, RefundStatus::Pending),
            Event::Refund("re_a", 30, RefundStatus::Succeeded),
            Event::Refund("re_b", 70, RefundStatus::Succeeded),
            Event::ChargeRefunded(100),
            Event::DisputeOpened,
            Event::DisputeClosed(DisputeStatus::Won),
        ],
        cases,
    );
    assert_eq!(full.state, OrderState::Refunded);
    assert_eq!((full.amount_paid, full.amount_refunded), (TOTAL, TOTAL));
    assert_eq!(full.tickets, [TicketStatus::Revoked, TicketStatus::Revoked]);
    assert!(!full.blocked_at_the_door);

    // Refunded in part, then a lost dispute: still paid, blocked at the door.
    let partial = converges(
        &runtime,
        &app,
        "any-order-partial",
        vec![
            Event::Paid,
            Event::Refund("re_a", 25, RefundStatus::Pending),
            Event::Refund("re_a", 25, RefundStatus::Succeeded),
            Event::ChargeRefunded(25),
            Event::DisputeOpened,
            Event::DisputeClosed(DisputeStatus::Lost),
        ],
        cases,
    );
    assert_eq!(partial.state, OrderState::Paid);
    assert_eq!(
        (partial.amount_paid, partial.amount_refunded),
        (TOTAL, TOTAL / 4)
    );
    assert_eq!(partial.tickets, [TicketStatus::Valid, TicketStatus::Valid]);
    assert!(partial.blocked_at_the_door);

    // The sequence seen in the field: a dashboard refund of everything that
    // arrives before the payment it refunds.
    let tier = runtime.block_on(async { shop(&app, "refund-first", 10).await.tier });
    let seen = runtime.block_on(deliver(
        &app,
        "refund-first",
        &tier,
        &[
            Event::Refund("re_all", 100, RefundStatus::Pending),
            Event::ChargeRefunded(100),
            Event::Paid,
            Event::Refund("re_all", 100, RefundStatus::Succeeded),
        ],
    ));
    assert_eq!(seen.state, OrderState::Refunded);
    assert_eq!(seen.amount_refunded, TOTAL);
    assert_eq!(seen.tickets, [TicketStatus::Revoked, TicketStatus::Revoked]);
}

#[test]
fn invariant_8_stripe_events_in_any_order_end_in_one_state_on_sqlite() {
    invariant_8_stripe_events_in_any_order_end_in_one_state(Backend::Sqlite);
}

#[test]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
fn invariant_8_stripe_events_in_any_order_end_in_one_state_on_postgres() {
    invariant_8_stripe_events_in_any_order_end_in_one_state(Backend::Postgres);
}
