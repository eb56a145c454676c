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

/// One step of a payment's life: a Stripe event, a second payment through
/// another intent, or the hold running out (time passes, the sweeper runs).
#[derive(Debug, Clone, Copy)]
enum Step {
    Stripe(Event),
    OtherPayment,
    Lapse,
}

fn step() -> impl Strategy<Value = Step> {
    use RefundStatus::*;
    prop_oneof![
        3 => Just(Step::Stripe(Event::Paid)),
        1 => Just(Step::Stripe(Event::Declined)),
        1 => Just(Step::OtherPayment),
        1 => Just(Step::Lapse),
        2 => (prop_oneof![Just("re_a"), Just("re_b")], prop_oneof![Just(30i64), Just(100)], prop_oneof![Just(Pending), Just(Succeeded), Just(Failed)])
            .prop_map(|(id, pct, status)| Step::Stripe(Event::Refund(id, pct, status))),
        1 => prop_oneof![Just(30i64), Just(100)].prop_map(|pct| Step::Stripe(Event::ChargeRefunded(pct))),
        1 => Just(Step::Stripe(Event::DisputeOpened)),
        1 => prop_oneof![Just(DisputeStatus::Won), Just(DisputeStatus::Lost)].prop_map(|s| Step::Stripe(Event::DisputeClosed(s))),
    ]
}

/// Whether `to` can be reached from `from` by allowed moves (or is `from`).
fn reachable<T: Copy + PartialEq + 'static>(
    from: T,
    to: T,
    sources: impl Fn(T) -> &'static [T],
    all: &[T],
) -> bool {
    let mut seen = vec![from];
    let mut frontier = vec![from];
    while let Some(at) = frontier.pop() {
        for &next in all {
            if !seen.contains(&next) && sources(next).contains(&at) {
                seen.push(next);
                frontier.push(next);
            }
        }
    }
    seen.contains(&to)
}

async fn snapshot(app: &TestApp, placed: &Placed) -> (OrderState, i64, Vec<TicketStatus>) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let order = order_row(app, &placed.code).await;
    let tickets = entity::ticket::Entity::find()
        .filter(entity::ticket::Column::OrderId.eq(order.id))
        .order_by_asc(entity::ticket::Column::Id)
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.status)
        .collect();
    (order.state, order.amount_paid, tickets)
}

/// Plays `steps` on a fresh order and checks after each one that the order
/// and its tickets only moved forward and the order was never paid twice.
async fn play(app: &TestApp, tier: &str, steps: &[Step]) -> Result<(), String> {
    use tessera::domain::transitions::{order_sources, ticket_sources};
    let payments = Payments::default();
    // Each case starts with nothing held: the orders earlier cases left
    // pending would otherwise reach the per-buyer hold cap after a few.
    app.let_holds_end();
    app.on_its_clock(tessera::jobs::sweep(&app.db, &payments))
        .await;
    let placed = place(app, "machine", tier, &["Ada", "Grace"]).await;
    let mut before = snapshot(app, &placed).await;
    for (n, step) in steps.iter().enumerate() {
        match *step {
            Step::Stripe(event) => {
                app.on_its_clock(payments::apply(&app.db, &payments, bind(event, n, &placed)))
                    .await
                    .map_err(|e| format!("{step:?}: {e}"))?;
            }
            Step::OtherPayment => {
                let mut other = bind(Event::Paid, n, &placed);
                if let Notice::Paid { refs, .. } = &mut other.notice {
                    refs.payment_intent = Some(format!("pi_other_{n}"));
                    refs.order_id = placed.id.parse().ok();
                }
                app.on_its_clock(payments::apply(&app.db, &payments, other))
                    .await
                    .map_err(|e| format!("{step:?}: {e}"))?;
            }
            Step::Lapse => {
                app.let_holds_end();
                app.on_its_clock(tessera::jobs::sweep(&app.db, &payments))
                    .await;
            }
        }
        let after = snapshot(app, &placed).await;
        if !reachable(before.0, after.0, order_sources, OrderState::ALL) {
            return Err(format!(
                "after {:?}: the order went from {} back to {}",
                &steps[..=n],
                before.0,
                after.0
            ));
        }
        for (b, a) in before.2.iter().zip(&after.2) {
            if !reachable(*b, *a, ticket_sources, TicketStatus::ALL) {
                return Err(format!(
                    "after {:?}: a ticket went from {b} back to {a}",
                    &steps[..=n]
                ));
            }
        }
        if after.1 < before.1 || after.1 > TOTAL {
            return Err(format!(
                "after {:?}: paid {} then {} of {TOTAL}",
                &steps[..=n],
                before.1,
                after.1
            ));
        }
        before = after;
    }
    Ok(())
}

fn no_sequence_moves_an_order_backwards_or_pays_it_twice(backend: Backend) {
    use tessera::domain::transitions::{order_sources, ticket_sources};
    // The checker itself tells forward from backward.
    assert!(reachable(
        OrderState::Pending,
        OrderState::Refunded,
        order_sources,
        OrderState::ALL
    ));
    assert!(!reachable(
        OrderState::Paid,
        OrderState::Pending,
        order_sources,
        OrderState::ALL
    ));
    assert!(!reachable(
        OrderState::Refunded,
        OrderState::Paid,
        order_sources,
        OrderState::ALL
    ));
    assert!(!reachable(
        TicketStatus::Revoked,
        TicketStatus::Valid,
        ticket_sources,
        TicketStatus::ALL
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(app) = runtime.block_on(spawn_app(backend)) else {
        return;
    };
    // Far enough away that the time let pass never ends the sales.
    let starts = chrono::Utc::now() + chrono::Duration::days(20);
    let event = serde_json::json!({"starts_at": starts.to_rfc3339(), "ends_at": (starts + chrono::Duration::days(1)).to_rfc3339()});
    let tier = runtime.block_on(app.shop(
        "machine",
        event,
        &[serde_json::json!({"name": "Regular", "price": 4900, "capacity": 100_000})],
    ))[0]
        .clone();
    let cases = if backend == Backend::Sqlite { 40 } else { 20 };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(step(), 1..8), |steps| {
            runtime
                .block_on(play(&app, &tier, &steps))
                .map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn no_sequence_moves_an_order_backwards_or_pays_it_twice_on_sqlite() {
    no_sequence_moves_an_order_backwards_or_pays_it_twice(Backend::Sqlite);
}

#[test]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
fn no_sequence_moves_an_order_backwards_or_pays_it_twice_on_postgres() {
    no_sequence_moves_an_order_backwards_or_pays_it_twice(Backend::Postgres);
}
