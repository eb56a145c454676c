//! A crash in the middle of a rush: the real binary, killed with SIGKILL
//! while buyers are placing orders (paid ones holding seats, free ones
//! valid at once), then started again. Checked with SQL afterwards: nothing
//! is over capacity, no order lacks its tickets or ticket its order, every
//! order answered 201 exists, and the inventory counters agree with the
//! tickets.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use entity::{state::TicketStatus, ticket};
use reqwest::StatusCode;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, Statement,
};
use serde_json::{Value, json};
use tessera::domain::inventory;

use crate::{
    cli::{Served, kill, serve_with, token_in},
    helpers::{Backend, TestDatabase, event_body},
};

fn base_of(served: &Served) -> String {
    served
        .stdout
        .iter()
        .find_map(|l| {
            l.split_once("tessera is listening on ")
                .map(|(_, b)| b.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no address in {:?}", served.stdout))
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let answer = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    answer.json().await.unwrap()
}

async fn one(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn a_crash_mid_rush_loses_nothing_and_oversells_nothing(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let stripe = wiremock::MockServer::start().await;
    crate::stripe_stub::mount_default(&stripe).await;
    let env = [
        ("STRIPE_SECRET_KEY", "sk_test_crash"),
        ("STRIPE_WEBHOOK_SECRET", crate::stripe_stub::WEBHOOK_SECRET),
        ("STRIPE_API_BASE", &stripe.uri()),
        ("TESSERA_MAX_HELD_PER_CLIENT", "100000"),
    ];
    let served = serve_with(&database.url, &env);
    let token = token_in(&served.stdout).expect("first start prints the admin token");
    let base = base_of(&served);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    let mut event = event_body("crash");
    event["capacity"] = json!(150);
    event["swag_sizes"] = json!([{"size": "M", "stock": 60}, {"size": "L"}]);
    post(
        &client,
        format!("{base}/api/v1/admin/events"),
        &token,
        event,
    )
    .await;
    let mut tiers = Vec::new();
    for (name, price, capacity) in [("Paid", 4900, 100), ("Free", 0, 80)] {
        let tier = post(
            &client,
            format!("{base}/api/v1/admin/events/crash/tiers"),
            &token,
            json!({"name": name, "price": price, "capacity": capacity, "includes_swag": true}),
        )
        .await;
        tiers.push(tier["id"].as_str().unwrap().to_owned());
    }
    post(
        &client,
        format!("{base}/api/v1/admin/events/crash/publish"),
        &token,
        json!({}),
    )
    .await;

    // 400 buyers, 32 at a time; the process dies once 60 have been answered.
    let answered = Arc::new(AtomicUsize::new(0));
    let mut buyers = tokio::task::JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    for i in 0..400 {
        let (client, base, tier, answered, gate) = (
            client.clone(),
            base.clone(),
            tiers[i % 2].clone(),
            answered.clone(),
            gate.clone(),
        );
        buyers.spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let size = if i % 3 == 0 { "L" } else { "M" };
            let body = json!({
                "email": format!("buyer{i}@example.org"),
                "tickets": [
                    {"tier_id": tier, "attendee_name": "A", "attendee_email": format!("a{i}@example.org"), "swag_size": size},
                    {"tier_id": tier, "attendee_name": "B", "attendee_email": format!("b{i}@example.org"), "swag_size": "M"},
                ],
            });
            let sent = client
                .post(format!("{base}/api/v1/events/crash/orders"))
                .json(&body)
                .send()
                .await;
            answered.fetch_add(1, Ordering::SeqCst);
            // The order's code if it was placed; `Err` if the request died
            // with the process.
            match sent {
                Ok(r) if r.status() == StatusCode::CREATED => {
                    let body: Value = r.json().await.unwrap_or_default();
                    Ok(body["code"].as_str().map(str::to_owned))
                }
                Ok(_) => Ok(None),
                Err(_) => Err(()),
            }
        });
    }
    while answered.load(Ordering::SeqCst) < 60 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kill(served, "-KILL");
    let (mut created, mut lost) = (Vec::new(), 0);
    while let Some(answer) = buyers.join_next().await {
        match answer.unwrap() {
            Ok(code) => created.extend(code),
            Err(()) => lost += 1,
        }
    }
    assert!(
        !created.is_empty(),
        "some orders were placed before the crash"
    );
    assert!(lost > 0, "the crash came in the middle of the rush");

    // Start again on the same database; it serves.
    let again = serve_with(&database.url, &env);
    let base = base_of(&again);
    let after = client
        .post(format!("{base}/api/v1/events/crash/orders"))
        .json(&json!({"email": "late@example.org", "tickets": [{"tier_id": tiers[1], "attendee_name": "Late", "attendee_email": "late@example.org", "swag_size": "L"}]}))
        .send()
        .await
        .unwrap();
    assert!(
        after.status() == StatusCode::CREATED || after.status() == StatusCode::CONFLICT,
        "{}",
        after.status()
    );
    kill(again, "-TERM");

    let db = Database::connect(&database.url).await.unwrap();
    let claimed = || {
        ticket::Entity::find()
            .filter(ticket::Column::Status.is_in([TicketStatus::Held, TicketStatus::Valid]))
    };
    let taken = claimed().count(&db).await.unwrap();
    assert!(taken > 0 && taken <= 150, "event: {taken} of 150");
    for (tier, capacity) in [(&tiers[0], 100), (&tiers[1], 80)] {
        let id: uuid::Uuid = tier.parse().unwrap();
        let taken = claimed()
            .filter(ticket::Column::TierId.eq(id))
            .count(&db)
            .await
            .unwrap();
        assert!(taken <= capacity, "tier {tier}: {taken} > {capacity}");
    }
    let shirts = claimed()
        .filter(ticket::Column::SwagSize.eq("M"))
        .count(&db)
        .await
        .unwrap();
    assert!(shirts <= 60, "size M: {shirts} > 60");
    assert_eq!(
        one(&db, "SELECT COUNT(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM ticket t WHERE t.order_id = o.id)").await,
        0,
        "an order without tickets"
    );
    assert_eq!(
        one(&db, "SELECT COUNT(*) FROM ticket t WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = t.order_id)").await,
        0,
        "a ticket without its order"
    );
    assert_eq!(
        one(&db, "SELECT COUNT(*) FROM orders o WHERE o.ticket_count <> (SELECT COUNT(*) FROM ticket t WHERE t.order_id = o.id)").await,
        0,
        "an order with a ticket missing"
    );
    for code in &created {
        assert_eq!(
            one(
                &db,
                &format!("SELECT COUNT(*) FROM orders WHERE code = '{code}'")
            )
            .await,
            1,
            "order {code} was answered 201 but is not in the database"
        );
    }
    let event_id = entity::event::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let drift = inventory::check_counts(&db, event_id).await.unwrap();
    assert_eq!(
        drift,
        inventory::Drift::default(),
        "the counters survived the crash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_mid_rush_loses_nothing_and_oversells_nothing_on_sqlite() {
    a_crash_mid_rush_loses_nothing_and_oversells_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn a_crash_mid_rush_loses_nothing_and_oversells_nothing_on_postgres() {
    a_crash_mid_rush_loses_nothing_and_oversells_nothing(Backend::Postgres).await;
}
