//! The inventory invariants: no tier, event or swag size is ever held or
//! sold past its capacity, whatever the concurrency; held inventory returns
//! when an order expires or is cancelled.

use entity::state::OrderState;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app_with, ticket};

/// An app whose hold limits do not get in the way of a rush from one address.
async fn rush_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |settings| {
        settings.max_held_per_client = 10_000;
    })
    .await
}

fn buyer(i: usize) -> String {
    format!("buyer{i}@example.org")
}

async fn tickets_counting(app: &TestApp) -> u64 {
    let now = tessera::domain::now();
    entity::ticket::Entity::find()
        .filter(tessera::domain::counting::seat_takers(now))
        .count(&app.db)
        .await
        .unwrap()
}

async fn invariant_1_a_flash_sale_never_oversells_a_tier(backend: Backend) {
    let Some(app) = rush_app(backend).await else {
        return;
    };
    let tiers = app
        .shop(
            "flash",
            json!({}),
            &[json!({"name": "Early bird", "price": 9900, "capacity": 25})],
        )
        .await;
    let answers = app
        .rush(
            "flash",
            100,
            |i| json!({"email": buyer(i), "tickets": [ticket(&tiers[0], "Buyer")]}),
        )
        .await;
    let placed = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    assert_eq!(
        placed,
        25,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        refused.assert_problem(409, "sold_out");
        assert_eq!(refused.error_fields(), ["tickets[0].tier_id"]);
    }
    assert_eq!(tickets_counting(&app).await, 25);
    let listed = app.get("/api/v1/events/flash/tiers", None).await;
    assert_eq!(
        (
            listed.body[0]["remaining"].clone(),
            listed.body[0]["sale_state"].clone()
        ),
        (json!(0), json!("sold_out"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invariant_1_a_flash_sale_never_oversells_a_tier_on_sqlite() {
    invariant_1_a_flash_sale_never_oversells_a_tier(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn invariant_1_a_flash_sale_never_oversells_a_tier_on_postgres() {
    invariant_1_a_flash_sale_never_oversells_a_tier(Backend::Postgres).await;
}

async fn invariant_1_two_tiers_share_the_event_capacity(backend: Backend) {
    let Some(app) = rush_app(backend).await else {
        return;
    };
    let tiers = app
        .shop(
            "shared",
            json!({"capacity": 10}),
            &[
                json!({"name": "A", "price": 100, "capacity": 8}),
                json!({"name": "B", "price": 100, "capacity": 8}),
            ],
        )
        .await;
    let answers = app
        .rush(
            "shared",
            40,
            |i| json!({"email": buyer(i), "tickets": [ticket(&tiers[i % 2], "Buyer")]}),
        )
        .await;
    let placed = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    assert_eq!(placed, 10);
    assert!(
        answers
            .iter()
            .filter(|a| a.status != StatusCode::CREATED)
            .all(|a| a.code() == "sold_out")
    );
    assert_eq!(tickets_counting(&app).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invariant_1_two_tiers_share_the_event_capacity_on_sqlite() {
    invariant_1_two_tiers_share_the_event_capacity(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn invariant_1_two_tiers_share_the_event_capacity_on_postgres() {
    invariant_1_two_tiers_share_the_event_capacity(Backend::Postgres).await;
}

async fn invariant_1_swag_stock_per_size_is_never_oversold(backend: Backend) {
    let Some(app) = rush_app(backend).await else {
        return;
    };
    let tiers = app
        .shop(
            "shirts",
            json!({"swag_sizes": [{"size": "M", "cut": "fitted", "stock": 3}, {"size": "L", "cut": "fitted"}]}),
            &[json!({"name": "With shirt", "price": 100, "capacity": 100, "includes_swag": true})],
        )
        .await;
    let answers = app
        .rush("shirts", 12, |i| {
            let mut t = ticket(&tiers[0], "Buyer");
            t["swag_size"] = json!("M");
            t["swag_cut"] = json!("fitted");
            json!({"email": buyer(i), "tickets": [t]})
        })
        .await;
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.status == StatusCode::CREATED)
            .count(),
        3
    );
    for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
        refused.assert_problem(409, "swag_size_unavailable");
        assert_eq!(refused.error_fields(), ["tickets[0].swag_size"]);
    }
    // Sizes without tracked stock still sell.
    let mut large = ticket(&tiers[0], "Lara");
    large["swag_size"] = json!("L");
    large["swag_cut"] = json!("fitted");
    let answer = app
        .order(
            "shirts",
            json!({"email": "lara@example.org", "tickets": [large]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invariant_1_swag_stock_per_size_is_never_oversold_on_sqlite() {
    invariant_1_swag_stock_per_size_is_never_oversold(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn invariant_1_swag_stock_per_size_is_never_oversold_on_postgres() {
    invariant_1_swag_stock_per_size_is_never_oversold(Backend::Postgres).await;
}

db_test! {
    async fn invariant_2_an_expired_hold_is_available_again_at_once(app) {
        let tiers = app.shop("last-seat", json!({}), &[json!({"name": "Only", "price": 500, "capacity": 1})]).await;
        let first = app.order("last-seat", json!({"email": "first@example.org", "tickets": [ticket(&tiers[0], "First")]})).await;
        assert_eq!(first.status, StatusCode::CREATED);
        assert_eq!(first.body["state"], "pending");
        let second = app.order("last-seat", json!({"email": "second@example.org", "tickets": [ticket(&tiers[0], "Second")]})).await;
        second.assert_problem(409, "sold_out");

        let code = first.body["code"].as_str().unwrap();
        app.let_holds_end();
        // No sweeper has run: the seat is free anyway.
        let listed = app.get("/api/v1/events/last-seat/tiers", None).await;
        assert_eq!(listed.body[0]["remaining"], 1);
        let token = first.body["order_token"].as_str().unwrap();
        let seen = app.with_order_token(reqwest::Method::GET, &format!("/api/v1/orders/{code}"), token, None).await;
        assert_eq!(seen.body["state"], "expired");
        assert_eq!(seen.body["tickets"][0]["status"], "released");

        let third = app.order("last-seat", json!({"email": "third@example.org", "tickets": [ticket(&tiers[0], "Third")]})).await;
        assert_eq!(third.status, StatusCode::CREATED, "{}", third.body);

        // The sweeper marks the stale order, once, whichever instance runs
        // it: two sweeps at the same time change it at most once between them
        // (the app's own background sweeper may even have been first).
        let (a, b) = app.on_its_clock(async {
            tokio::join!(
                tessera::domain::orders::expire_due(&app.db, 100),
                tessera::domain::orders::expire_due(&app.db, 100)
            )
        }).await;
        assert_eq!(a.unwrap().len() + b.unwrap().len(), 1, "the stale order is marked once");
        assert!(app.on_its_clock(tessera::domain::orders::expire_due(&app.db, 100)).await.unwrap().is_empty());
        let row = entity::order::Entity::find()
            .filter(entity::order::Column::Code.eq(code))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.state, OrderState::Expired);
    }
}

db_test! {
    async fn invariant_2_a_cancelled_order_returns_its_seats_and_voucher_use(app) {
        let tiers = app.shop("returns", json!({}), &[json!({"name": "Only", "price": 500, "capacity": 1})]).await;
        let voucher = app
            .post(
                "/api/v1/admin/events/returns/vouchers",
                &app.admin,
                json!({"code": "once", "discount_kind": "percent", "discount_value": 50, "usage_limit": 1}),
            )
            .await;
        assert_eq!(voucher.status, StatusCode::CREATED, "{}", voucher.body);
        let first = app
            .order("returns", json!({"email": "a@example.org", "voucher": "ONCE", "tickets": [ticket(&tiers[0], "A")]}))
            .await;
        assert_eq!((first.status, first.body["total"].clone()), (StatusCode::CREATED, json!(250)));
        let used = app.get(&format!("/api/v1/admin/events/returns/vouchers/{}", voucher.body["id"].as_str().unwrap()), Some(&app.admin)).await;
        assert_eq!(used.body["used"], 1);

        let code = first.body["code"].as_str().unwrap();
        let token = first.body["order_token"].as_str().unwrap();
        let cancelled = app
            .with_order_token(reqwest::Method::POST, &format!("/api/v1/orders/{code}/cancel"), token, None)
            .await;
        assert_eq!(cancelled.body["state"], "cancelled", "{}", cancelled.body);
        assert_eq!(cancelled.body["tickets"][0]["status"], "released");

        let used = app.get(&format!("/api/v1/admin/events/returns/vouchers/{}", voucher.body["id"].as_str().unwrap()), Some(&app.admin)).await;
        assert_eq!(used.body["used"], 0);
        let again = app
            .order("returns", json!({"email": "b@example.org", "voucher": "once", "tickets": [ticket(&tiers[0], "B")]}))
            .await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    }
}

db_test! {
    async fn a_voucher_is_never_used_past_its_limit(app) {
        let tiers = app.shop("limited", json!({}), &[json!({"name": "Regular", "price": 1000, "capacity": 50})]).await;
        app.post(
            "/api/v1/admin/events/limited/vouchers",
            &app.admin,
            json!({"code": "TWO", "discount_kind": "fixed", "discount_value": 100, "usage_limit": 2}),
        )
        .await;
        let answers = app
            .rush("limited", 6, |i| json!({"email": buyer(i), "voucher": "two", "tickets": [ticket(&tiers[0], "X")]}))
            .await;
        assert_eq!(answers.iter().filter(|a| a.status == StatusCode::CREATED).count(), 2);
        for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
            refused.assert_problem(409, "voucher_used_up");
            assert_eq!(refused.error_fields(), ["voucher"]);
        }
    }
}

db_test! {
    async fn one_buyer_cannot_lock_up_a_tier_with_unpaid_holds(app) {
        let tiers = app.shop("greedy", json!({}), &[json!({"name": "Regular", "price": 1000, "capacity": 100, "max_per_order": 10})]).await;
        let ten: Vec<_> = (0..10).map(|i| ticket(&tiers[0], &format!("Bot {i}"))).collect();
        let first = app.order("greedy", json!({"email": "bot@example.org", "tickets": ten})).await;
        assert_eq!(first.status, StatusCode::CREATED);
        let more = app.order("greedy", json!({"email": "bot@example.org", "tickets": [ticket(&tiers[0], "Bot 11")]})).await;
        more.assert_problem(429, "too_many_holds");
        // Another buyer is unaffected.
        let other = app.order("greedy", json!({"email": "person@example.org", "tickets": [ticket(&tiers[0], "Person")]})).await;
        assert_eq!(other.status, StatusCode::CREATED);
    }
}

async fn holds_are_limited_per_client_address_with_retry_after(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| {
        settings.max_held_per_client = 3;
        settings.max_held_per_email = 100;
    })
    .await
    else {
        return;
    };
    let tiers = app
        .shop(
            "per-client",
            json!({}),
            &[json!({"name": "Regular", "price": 1000, "capacity": 100})],
        )
        .await;
    for i in 0..3 {
        let ok = app
            .order(
                "per-client",
                json!({"email": buyer(i), "tickets": [ticket(&tiers[0], "X")]}),
            )
            .await;
        assert_eq!(ok.status, StatusCode::CREATED);
    }
    let response = app
        .client
        .post(app.url("/api/v1/events/per-client/orders"))
        .json(&json!({"email": buyer(9), "tickets": [ticket(&tiers[0], "X")]}))
        .send()
        .await
        .unwrap();
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Room comes back when the first hold ends: about the 15-minute hold.
    assert!((800..=900).contains(&retry_after), "{retry_after}");
    crate::helpers::answer(response)
        .await
        .assert_problem(429, "too_many_holds");
}

#[tokio::test]
async fn holds_are_limited_per_client_address_with_retry_after_on_sqlite() {
    holds_are_limited_per_client_address_with_retry_after(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn holds_are_limited_per_client_address_with_retry_after_on_postgres() {
    holds_are_limited_per_client_address_with_retry_after(Backend::Postgres).await;
}

db_test! {
    async fn an_order_its_tiers_allow_is_never_refused_as_too_many_holds_on_its_own(app) {
        // The per-email cap is 10; the tier allows 50 per order.
        let tiers = app.shop("big-order", json!({}), &[json!({"name": "Team", "price": 1000, "capacity": 100, "max_per_order": 50})]).await;
        let eleven: Vec<_> = (0..11).map(|i| ticket(&tiers[0], &format!("Dev {i}"))).collect();
        let team = app.order("big-order", json!({"email": "lead@example.org", "tickets": eleven})).await;
        assert_eq!(team.status, StatusCode::CREATED, "{}", team.body);
        // The cap still limits what one buyer holds across orders.
        let more = app.order("big-order", json!({"email": "lead@example.org", "tickets": [ticket(&tiers[0], "Dev 12")]})).await;
        more.assert_problem(429, "too_many_holds");
    }
}

db_test! {
    async fn capacity_cannot_drop_below_what_is_taken(app) {
        let tiers = app.shop("shrink", json!({"capacity": 10}), &[json!({"name": "Free", "price": 0, "capacity": 10, "includes_swag": true}), json!({"name": "Paid", "price": 1000, "capacity": 10})]).await;
        let mut tickets: Vec<_> = (0..3).map(|i| ticket(&tiers[0], &format!("Free {i}"))).collect();
        for (i, t) in tickets.iter_mut().enumerate() {
            t["swag_size"] = json!(if i == 0 { "S" } else { "M" });
            t["swag_cut"] = json!("straight");
        }
        let sold = app.order("shrink", json!({"email": "a@example.org", "tickets": tickets})).await;
        assert_eq!(sold.status, StatusCode::CREATED, "{}", sold.body);
        let held = app.order("shrink", json!({"email": "b@example.org", "tickets": [ticket(&tiers[1], "Held"), ticket(&tiers[1], "Held 2")]})).await;
        assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);

        let tier = format!("/api/v1/admin/events/shrink/tiers/{}", tiers[0]);
        let refused = app.patch(&tier, &app.admin, json!({"capacity": 2})).await;
        refused.assert_problem(409, "capacity_below_taken");
        assert_eq!(refused.error_fields(), ["capacity"]);
        assert!(refused.body["errors"][0]["message"].as_str().unwrap().starts_with('3'), "{}", refused.body);
        // Held tickets count too.
        let paid = format!("/api/v1/admin/events/shrink/tiers/{}", tiers[1]);
        app.patch(&paid, &app.admin, json!({"capacity": 1})).await.assert_problem(409, "capacity_below_taken");
        assert_eq!(app.patch(&tier, &app.admin, json!({"capacity": 3})).await.status, StatusCode::OK);

        app.patch("/api/v1/admin/events/shrink", &app.admin, json!({"capacity": 4}))
            .await
            .assert_problem(409, "capacity_below_taken");
        let mut sizes = crate::helpers::event_body("x")["swag_sizes"].clone();
        sizes[0]["stock"] = json!(0);
        let stock = app.patch("/api/v1/admin/events/shrink", &app.admin, json!({"swag_sizes": sizes})).await;
        stock.assert_problem(409, "capacity_below_taken");
        assert_eq!(stock.error_fields(), ["swag_sizes[0].stock"]);
        assert_eq!(app.patch("/api/v1/admin/events/shrink", &app.admin, json!({"capacity": 5})).await.status, StatusCode::OK);

        let report = app.get("/api/v1/admin/events/shrink/reports/sales", Some(&app.admin)).await;
        assert_eq!(report.status, StatusCode::OK);
    }
}

db_test! {
    async fn a_rush_of_free_orders_through_one_front_end_is_never_refused_for_holds(app) {
        // Free orders hold nothing: the hold caps (20 per address by default)
        // must not count them, even 40 at once from one server's address.
        let tiers = app
            .shop("meetup", json!({}), &[
                json!({"name": "RSVP", "price": 0, "capacity": 30}),
                json!({"name": "Supporter", "price": 1000, "capacity": 100, "max_per_order": 10}),
                json!({"name": "Second night", "price": 0, "capacity": 5}),
            ])
            .await;
        let answers = app.rush("meetup", 40, |i| json!({"email": buyer(i), "tickets": [ticket(&tiers[0], "X")]})).await;
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
        statuses.sort_unstable();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 30, "{statuses:?}");
        for refused in answers.iter().filter(|a| a.status != StatusCode::CREATED) {
            refused.assert_problem(409, "sold_out");
        }
        // With the address at its hold cap from unpaid orders, a free order
        // still goes through.
        for i in 0..2 {
            let ten: Vec<_> = (0..10).map(|_| ticket(&tiers[1], "Y")).collect();
            let held = app.order("meetup", json!({"email": format!("held{i}@example.org"), "tickets": ten})).await;
            assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);
        }
        app.order("meetup", json!({"email": "more@example.org", "tickets": [ticket(&tiers[1], "Z")]}))
            .await
            .assert_problem(429, "too_many_holds");
        let free = app.order("meetup", json!({"email": "late@example.org", "tickets": [ticket(&tiers[2], "W")]})).await;
        assert_eq!(free.status, StatusCode::CREATED, "{}", free.body);
    }
}

db_test! {
    async fn one_person_cannot_empty_a_free_meetup_in_small_orders(app) {
        let tiers = app
            .shop("fair", json!({}), &[
                json!({"name": "RSVP", "price": 0, "capacity": 50, "max_per_buyer": 2}),
                json!({"name": "Dinner", "price": 2000, "capacity": 50, "max_per_buyer": 1}),
                json!({"name": "Open", "price": 0, "capacity": 50}),
            ])
            .await;
        let admin_tier = app.get("/api/v1/admin/events/fair/tiers", Some(&app.admin)).await;
        assert_eq!(admin_tier.body[0]["max_per_buyer"], 2, "{}", admin_tier.body);
        let rsvp = |email: &str, n: usize| json!({"email": email, "tickets": (0..n).map(|_| ticket(&tiers[0], "X")).collect::<Vec<_>>()});
        assert_eq!(app.order("fair", rsvp("greedy@example.org", 1)).await.status, StatusCode::CREATED);
        assert_eq!(app.order("fair", rsvp("greedy@example.org", 1)).await.status, StatusCode::CREATED);
        // A third, in another small order, whatever the case of the email.
        let third = app.order("fair", rsvp("Greedy@Example.org", 1)).await;
        third.assert_problem(409, "buyer_limit_reached");
        assert_eq!(third.error_fields(), ["tickets[0].tier_id"]);
        // One order asking for three at once is refused the same way.
        app.order("fair", rsvp("other@example.org", 3)).await.assert_problem(409, "buyer_limit_reached");
        // Pending (held) orders count too; tiers without a limit are free.
        let dinner = json!({"email": "greedy@example.org", "tickets": [ticket(&tiers[1], "X")]});
        assert_eq!(app.order("fair", dinner.clone()).await.status, StatusCode::CREATED);
        app.order("fair", dinner).await.assert_problem(409, "buyer_limit_reached");
        let open: Vec<_> = (0..5).map(|_| ticket(&tiers[2], "X")).collect();
        assert_eq!(app.order("fair", json!({"email": "greedy@example.org", "tickets": open})).await.status, StatusCode::CREATED);
        // A rush from one buyer in many orders gets exactly the limit.
        let answers = app.rush("fair", 10, |_| rsvp("rusher@example.org", 1)).await;
        assert_eq!(answers.iter().filter(|a| a.status == StatusCode::CREATED).count(), 2);
        // Bad limits are refused.
        app.post("/api/v1/admin/events/fair/tiers", &app.admin, json!({"name": "Bad", "price": 0, "capacity": 5, "max_per_buyer": 0}))
            .await
            .assert_problem(422, "validation_failed");
    }
}

db_test! {
    async fn inserts_too_many_for_one_statement_are_all_written_and_a_failing_one_fails(app) {
        // A placement writes its orders, tickets, counters and messages
        // together (on PostgreSQL one statement, each table's rows as JSON
        // recordsets of at most 1,000; on SQLite as many statements as its
        // limit on bound values needs); tickets may come in the same
        // statement as their order. Copies of one real order make a set too large for a
        // single statement on either database.
        use sea_orm::TransactionTrait;
        use tessera::domain::inserts::Inserts;
        let tiers = app.shop("many-rows", json!({}), &[json!({"name": "Free", "price": 0, "capacity": 10})]).await;
        let placed = app.order("many-rows", json!({"email": "one@example.org", "tickets": [ticket(&tiers[0], "One")]})).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        let order = entity::order::Entity::find().one(&app.db).await.unwrap().unwrap();
        let ticket = entity::ticket::Entity::find().one(&app.db).await.unwrap().unwrap();
        let copies = |n: usize| -> (Vec<entity::order::Model>, Vec<entity::ticket::Model>) {
            let orders: Vec<_> = (0..n).map(|i| entity::order::Model {
                id: uuid::Uuid::now_v7(),
                code: format!("C{i}{}", &uuid::Uuid::now_v7().simple().to_string()[20..]),
                ..order.clone()
            }).collect();
            let tickets = orders.iter().flat_map(|o| (0..1_000).map(|_| entity::ticket::Model {
                id: uuid::Uuid::now_v7(),
                order_id: o.id,
                ..ticket.clone()
            })).collect();
            (orders, tickets)
        };
        let write = |orders: Vec<entity::order::Model>, tickets: Vec<entity::ticket::Model>| {
            let mut inserts = Inserts::for_backend(sea_orm::ConnectionTrait::get_database_backend(&app.db));
            inserts.rows(orders.into_iter().map(entity::order::ActiveModel::from).collect());
            inserts.rows(tickets.into_iter().map(entity::ticket::ActiveModel::from).collect());
            inserts
        };

        let (orders, tickets) = copies(3);
        let txn = app.db.begin().await.unwrap();
        write(orders, tickets).exec(&txn).await.unwrap();
        txn.commit().await.unwrap();
        assert_eq!(entity::order::Entity::find().count(&app.db).await.unwrap(), 4);
        assert_eq!(entity::ticket::Entity::find().count(&app.db).await.unwrap(), 3_001);

        // One ticket of an order that is nowhere: the write fails, and the
        // caller's transaction keeps none of it.
        let (orders, mut tickets) = copies(3);
        tickets[2_500].order_id = uuid::Uuid::now_v7();
        let txn = app.db.begin().await.unwrap();
        assert!(write(orders, tickets).exec(&txn).await.is_err());
        drop(txn);
        assert_eq!(entity::order::Entity::find().count(&app.db).await.unwrap(), 4);
        assert_eq!(entity::ticket::Entity::find().count(&app.db).await.unwrap(), 3_001);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn a_new_deployments_first_rush_gets_statistics_and_the_hold_cap_read_stays_small() {
    // The hold-cap read runs under the event's lock for every batch: it
    // must read the orders of the buyers asked about, not every pending
    // order of the event. Without statistics (a new deployment's first
    // rush, before autovacuum's first look) PostgreSQL planned it as a
    // scan of them all; the instance now analyzes new tables itself.
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    let Some(app) = rush_app(Backend::Postgres).await else {
        return;
    };
    // 4,000 buyers holding an order each, from as many addresses.
    let first = held_order(&app, "probed").await;
    assert_eq!(first.state, OrderState::Pending);
    copies(&first, 4_000).exec(&app.db).await.unwrap();

    let mut emails: Vec<String> = (5_000..5_005).map(buyer).collect();
    emails.push(buyer(7));
    let mut clients: Vec<String> = (5_000..5_005).map(|i| format!("client-{i}")).collect();
    clients.push("client-8".to_owned());
    let at = tessera::domain::now();
    let statement = tessera::domain::inventory::held_by_statement(
        DatabaseBackend::Postgres,
        first.event_id,
        [emails, clients],
        at,
    )
    .unwrap();
    /// Rows of `orders` that a plan read and threw away.
    async fn thrown_away(app: &TestApp, statement: &Statement) -> (f64, serde_json::Value) {
        let explain = Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            format!("EXPLAIN (ANALYZE, FORMAT JSON) {}", statement.sql),
            statement.values.clone().map(|v| v.0).unwrap_or_default(),
        );
        let plan: serde_json::Value = app
            .db
            .query_one_raw(explain)
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        fn read(node: &serde_json::Value, removed: &mut f64) {
            if node["Relation Name"] == "orders" {
                *removed += node["Rows Removed by Filter"].as_f64().unwrap_or(0.0)
                    * node["Actual Loops"].as_f64().unwrap_or(1.0);
            }
            for child in node["Plans"].as_array().into_iter().flatten() {
                read(child, removed);
            }
        }
        let mut removed = 0.0;
        read(&plan[0]["Plan"], &mut removed);
        (removed, plan)
    }

    // The instance's own look (every half second) finds the new table;
    // looks done here make the test independent of its timing.
    analyzed_until(&app, "orders", 4_000.0).await;

    // What it answers: the one buyer and the one address with a hold; and
    // how: no order read but theirs.
    let rows = app.db.query_all_raw(statement.clone()).await.unwrap();
    let found: Vec<(i32, String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get_by_index(0).unwrap(),
                r.try_get_by_index(1).unwrap(),
                r.try_get_by_index(2).unwrap(),
            )
        })
        .collect();
    assert_eq!(found, vec![(0, buyer(7), 1), (1, "client-8".to_owned(), 1)]);
    let (removed, plan) = thrown_away(&app, &statement).await;
    assert_eq!(removed, 0.0, "{plan:#}");
}

/// A new event `slug` with one order, placed over HTTP and held.
async fn held_order(app: &TestApp, slug: &str) -> entity::order::Model {
    let tiers = app
        .shop(
            slug,
            json!({}),
            &[json!({"name": "Paid", "price": 5000, "capacity": 10_000})],
        )
        .await;
    let placed = app
        .order(
            slug,
            json!({"email": buyer(0), "tickets": [ticket(&tiers[0], "Buyer")]}),
        )
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    entity::order::Entity::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

/// `first`'s order copied for buyers 1 to `total - 1`, each from an
/// address of its own, as one bulk insert (PostgreSQL).
fn copies(first: &entity::order::Model, total: usize) -> tessera::domain::inserts::Inserts {
    let mut inserts =
        tessera::domain::inserts::Inserts::for_backend(sea_orm::DatabaseBackend::Postgres);
    inserts.rows(
        (1..total)
            .map(|i| {
                entity::order::ActiveModel::from(entity::order::Model {
                    id: uuid::Uuid::now_v7(),
                    code: format!(
                        "P{i:04}{}",
                        &uuid::Uuid::now_v7().simple().to_string()[21..]
                    ),
                    email: buyer(i),
                    client_key: format!("client-{i}"),
                    ..first.clone()
                })
            })
            .collect(),
    );
    inserts
}

/// The rows `table`'s statistics record for the planner (`reltuples`).
async fn analyzed_rows(app: &TestApp, table: &str) -> f32 {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    app.db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT reltuples FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace",
            [table.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

/// Looks for stale statistics (as the instance's job does) until `table`'s
/// record `rows`: PostgreSQL's statistics collector learns of committed
/// rows within a second or two of the commit, so a look right after it may
/// find nothing to do yet.
async fn analyzed_until(app: &TestApp, table: &str, rows: f32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        tessera::domain::statistics::analyze_stale_tables(&app.db)
            .await
            .unwrap();
        let found = analyzed_rows(app, table).await;
        if found == rows {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{table} was analyzed as {found} rows, not {rows}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn statistics_taken_in_the_middle_of_a_large_write_are_taken_again_after_it() {
    // An ANALYZE that runs while a large write is uncommitted (autovacuum's,
    // or the instance's own look in a rush's first tenth of a second)
    // records a table of many pages holding the few committed rows. The
    // planner scales that density by the table's pages, so it believes the
    // table nearly empty until autovacuum looks again, up to a minute later.
    // This failed when the instance analyzed each table only once: the
    // statistics stayed at 1 row.
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some(app) = rush_app(Backend::Postgres).await else {
        return;
    };
    let first = held_order(&app, "imported").await;
    let write = app.db.begin().await.unwrap();
    copies(&first, 3_000).exec(&write).await.unwrap();
    // Statistics taken now see the one committed order.
    app.db.execute_unprepared("ANALYZE orders").await.unwrap();
    assert_eq!(analyzed_rows(&app, "orders").await, 1.0);
    // Nothing committed has changed yet, so a look does nothing.
    let looked = tessera::domain::statistics::analyze_stale_tables(&app.db)
        .await
        .unwrap();
    assert!(!looked.contains(&"orders"), "{looked:?}");
    write.commit().await.unwrap();

    analyzed_until(&app, "orders", 3_000.0).await;
}
