//! The rule of what counts at an instant, written once as a Rust predicate
//! and once as a query condition (`tessera::domain::counting`): both give
//! the same answer for every case, on both databases. And the guarded moves
//! of `tessera::domain::transitions`: the database refuses every move the
//! graph does not allow.

use chrono::{DateTime, Duration, Utc};
use entity::{
    order,
    state::{OrderState, TicketStatus},
    ticket,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use serde_json::json;
use tessera::domain::{counting, transitions};
use uuid::Uuid;

use crate::helpers::TestApp;

/// Hold ends relative to the instant asked about: none, past, exactly now,
/// later.
const OFFSETS: [Option<i64>; 4] = [None, Some(-60), Some(0), Some(60)];

/// The event and tier of a fresh shop.
async fn shop(app: &TestApp, slug: &str) -> (Uuid, Uuid) {
    let tiers = app
        .shop(
            slug,
            json!({}),
            &[json!({"name": "Day", "price": 0, "capacity": 100})],
        )
        .await;
    let tier_id: Uuid = tiers[0].parse().unwrap();
    let event_id = entity::tier::Entity::find_by_id(tier_id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .event_id;
    (event_id, tier_id)
}

async fn insert_ticket(
    app: &TestApp,
    (event_id, tier_id): (Uuid, Uuid),
    order_id: Uuid,
    status: TicketStatus,
    hold: Option<DateTime<Utc>>,
) -> Uuid {
    let id = Uuid::now_v7();
    let at = tessera::domain::now();
    ticket::ActiveModel {
        id: Set(id),
        order_id: Set(order_id),
        event_id: Set(event_id),
        tier_id: Set(tier_id),
        status: Set(status),
        hold_expires_at: Set(hold),
        attendee_name: Set("Case".into()),
        attendee_email: Set("case@example.org".into()),
        swag_size: Set(None),
        swag_cut: Set(None),
        dietary: Set(None),
        notes: Set(String::new()),
        unit_price: Set(0),
        discount: Set(0),
        price: Set(0),
        voucher_id: Set(None),
        token_version: Set(1),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&app.db)
    .await
    .unwrap();
    id
}

async fn insert_order(
    app: &TestApp,
    event_id: Uuid,
    state: OrderState,
    expires_at: Option<DateTime<Utc>>,
    n: usize,
) -> Uuid {
    let id = Uuid::now_v7();
    let at = tessera::domain::now();
    order::ActiveModel {
        id: Set(id),
        event_id: Set(event_id),
        code: Set(format!("C{n:07}")),
        email: Set(format!("case{n}@example.org")),
        token_hash: Set(format!("{n:064}")),
        state: Set(state),
        currency: Set("EUR".into()),
        subtotal: Set(0),
        discount: Set(0),
        total: Set(0),
        ticket_count: Set(1),
        voucher_id: Set(None),
        expires_at: Set(expires_at),
        client_key: Set("case".into()),
        comp_reason: Set(None),
        created_by_staff: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        paid_at: Set(None),
        cancelled_at: Set(None),
        payment_intent_id: Set(None),
        checkout_session_id: Set(None),
        charge_id: Set(None),
        amount_paid: Set(0),
        amount_refunded: Set(0),
        payment_error: Set(None),
        flag: Set(None),
        flag_detail: Set(None),
        disputed_at: Set(None),
        idempotency_ref: Set(None),
        charge_refunded: Set(0),
        dispute_id: Set(None),
        dispute_status: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
    id
}

db_test! {
    async fn the_predicate_and_the_query_agree_on_every_case(app) {
        let (event_id, tier_id) = shop(&app, "counting").await;
        let at = tessera::domain::now();
        let mut n = 0;
        let mut tickets = Vec::new();
        let mut orders = Vec::new();
        for &state in OrderState::ALL {
            for offset in OFFSETS {
                n += 1;
                let expires_at = offset.map(|s| at + Duration::seconds(s));
                orders.push((insert_order(&app, event_id, state, expires_at, n).await, state, expires_at));
            }
        }
        for &status in TicketStatus::ALL {
            for offset in OFFSETS {
                let hold = offset.map(|s| at + Duration::seconds(s));
                if status == TicketStatus::Held && hold.is_none() {
                    // Not a row the database accepts (see the test below).
                    continue;
                }
                n += 1;
                let order_id = insert_order(&app, event_id, OrderState::Pending, hold, n).await;
                let id = insert_ticket(&app, (event_id, tier_id), order_id, status, hold).await;
                tickets.push((id, status, hold));
            }
        }

        let taking: Vec<Uuid> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .filter(ticket::Column::EventId.eq(event_id))
            .filter(counting::seat_takers(at))
            .into_tuple()
            .all(&app.db)
            .await
            .unwrap();
        let mut cases = 0;
        for (id, status, hold) in &tickets {
            assert_eq!(
                taking.contains(id),
                counting::takes_a_seat(*status, *hold, at),
                "{status} with hold {hold:?} at {at}"
            );
            cases += 1;
        }
        // Some cases count and some do not: the table covers both answers.
        assert!(!taking.is_empty() && taking.len() < tickets.len());

        // The counters' half of the rule: lapsed among the claimed.
        let lapsed: Vec<Uuid> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::Id)
            .filter(ticket::Column::EventId.eq(event_id))
            .filter(counting::lapsed_tickets(at))
            .into_tuple()
            .all(&app.db)
            .await
            .unwrap();
        assert!(!lapsed.is_empty(), "the table has lapsed holds");
        for (id, status, hold) in &tickets {
            assert_eq!(
                lapsed.contains(id),
                counting::lapsed(*status, *hold, at),
                "{status} with hold {hold:?} at {at}"
            );
            cases += 1;
        }

        let holding: Vec<Uuid> = order::Entity::find()
            .select_only()
            .column(order::Column::Id)
            .filter(order::Column::EventId.eq(event_id))
            .filter(counting::holding_orders(at))
            .into_tuple()
            .all(&app.db)
            .await
            .unwrap();
        for (id, state, expires_at) in &orders {
            assert_eq!(
                holding.contains(id),
                counting::holds(*state, *expires_at, at),
                "{state} expiring {expires_at:?}"
            );
        }
        for &asked in OrderState::ALL {
            let found: Vec<Uuid> = order::Entity::find()
                .select_only()
                .column(order::Column::Id)
                .filter(order::Column::EventId.eq(event_id))
                .filter(counting::orders_in_state_at(asked, at))
                .into_tuple()
                .all(&app.db)
                .await
                .unwrap();
            for (id, state, expires_at) in &orders {
                assert_eq!(
                    found.contains(id),
                    counting::order_state_at(*state, *expires_at, at) == asked,
                    "{state} expiring {expires_at:?} asked as {asked}"
                );
                cases += 1;
            }
        }
        // Every ticket case but held-without-an-end, every order case.
        assert_eq!(cases, 2 * 15 + 5 * 20);
    }
}

db_test! {
    async fn the_database_refuses_every_move_the_graph_does_not_allow(app) {
        let shop = shop(&app, "moves").await;
        let at = tessera::domain::now();
        let mut n = 0;
        let mut allowed = 0;
        for &from in OrderState::ALL {
            for &to in OrderState::ALL {
                n += 1;
                let id = insert_order(&app, shop.0, from, Some(at), n).await;
                let moved = transitions::move_order(&app.db, id, to, at, |u| u).await.unwrap();
                assert_eq!(moved, transitions::order_may_move(from, to), "order {from} -> {to}");
                let now = order::Entity::find_by_id(id).one(&app.db).await.unwrap().unwrap();
                assert_eq!(now.state, if moved { to } else { from });
                if to == OrderState::Cancelled && moved {
                    assert_eq!(now.cancelled_at, Some(at));
                }
                allowed += usize::from(moved);
            }
        }
        assert_eq!(allowed, 8);
        for &from in TicketStatus::ALL {
            for &to in TicketStatus::ALL {
                n += 1;
                let order_id = insert_order(&app, shop.0, OrderState::Pending, Some(at), n).await;
                let id = insert_ticket(&app, shop, order_id, from, Some(at)).await;
                let moved = transitions::move_tickets(&app.db, order_id, None, to, at).await.unwrap();
                assert_eq!(moved == 1, transitions::ticket_may_move(from, to), "ticket {from} -> {to}");
                let now = ticket::Entity::find_by_id(id).one(&app.db).await.unwrap().unwrap();
                assert_eq!(now.status, if moved == 1 { to } else { from });
                if moved == 1 && from == TicketStatus::Held {
                    assert_eq!(now.hold_expires_at, None, "a ticket that leaves held loses its hold");
                }
            }
        }
    }
}

db_test! {
    async fn a_held_ticket_without_the_end_of_its_hold_is_refused(app) {
        let shop = shop(&app, "held-end").await;
        let at = tessera::domain::now();
        let order_id = insert_order(&app, shop.0, OrderState::Pending, Some(at), 1).await;
        // Inserted held without an end: refused.
        let mut row = ticket::ActiveModel {
            status: Set(TicketStatus::Held),
            hold_expires_at: Set(None),
            ..ticket::ActiveModel::from(
                ticket::Entity::find_by_id(insert_ticket(&app, shop, order_id, TicketStatus::Held, Some(at)).await)
                    .one(&app.db)
                    .await
                    .unwrap()
                    .unwrap(),
            )
        };
        row.id = Set(uuid::Uuid::now_v7());
        assert!(row.clone().insert(&app.db).await.is_err(), "inserted held with no end");
        // Updated to held without an end: refused; a valid ticket needs none.
        let id = insert_ticket(&app, shop, order_id, TicketStatus::Valid, None).await;
        let refused = ticket::Entity::update_many()
            .col_expr(ticket::Column::Status, sea_orm::prelude::Expr::value(TicketStatus::Held))
            .filter(ticket::Column::Id.eq(id))
            .exec(&app.db)
            .await;
        assert!(refused.is_err(), "made held with no end");
        let now = ticket::Entity::find_by_id(id).one(&app.db).await.unwrap().unwrap();
        assert_eq!(now.status, TicketStatus::Valid);
    }
}
