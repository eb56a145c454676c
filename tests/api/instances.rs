//! Two instances of the service on one database, as behind a load
//! balancer: each has its own placement workers, caches and sweeper, so
//! nothing but the database keeps them from overselling, admitting twice,
//! expiring a hold twice or applying a Stripe event twice.

use std::collections::HashSet;

use entity::state::OrderState;
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use tessera::domain::inventory;

use crate::{
    helpers::{Answer, TestApp, ticket},
    payments::{Placed, deliver_signed, order_row, shop, succeeded},
};

async fn event_id(app: &TestApp, slug: &str) -> uuid::Uuid {
    entity::event::Entity::find()
        .filter(entity::event::Column::Slug.eq(slug))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id
}

async fn no_drift(app: &TestApp, slug: &str) {
    let drift = inventory::check_counts(&app.db, event_id(app, slug).await)
        .await
        .unwrap();
    assert_eq!(drift, inventory::Drift::default());
}

db_test! {
    async fn a_rush_split_across_two_instances_sells_each_seat_once(app) {
        let other = app.another_instance().await;
        let tiers = app
            .shop("split", json!({"capacity": 30, "swag_sizes": [{"size": "M", "stock": 12}, {"size": "L"}]}), &[
                json!({"name": "A", "price": 0, "capacity": 20, "includes_swag": true}),
                json!({"name": "B", "price": 4900, "capacity": 20, "includes_swag": true}),
            ])
            .await;
        let instances = [&app, &other];
        let rush = (0..120).map(|i| {
            let to = instances[i % 2];
            let mut t = ticket(&tiers[(i / 2) % 2], "Buyer");
            t["swag_size"] = json!(if i % 3 == 0 { "M" } else { "L" });
            let body = json!({"email": format!("r{i}@example.org"), "tickets": [t]});
            async move { (to.order("split", body).await, i) }
        });
        let answers: Vec<(Answer, usize)> = futures_util::future::join_all(rush).await;
        let placed = answers.iter().filter(|(a, _)| a.status == StatusCode::CREATED).count();
        for (refused, _) in answers.iter().filter(|(a, _)| a.status != StatusCode::CREATED) {
            assert!(matches!(refused.code(), "sold_out" | "swag_size_unavailable"), "{}", refused.body);
        }
        assert_eq!(placed, 30, "the event's capacity, across both instances");
        // Both instances answered: one instance's batch may have taken
        // every seat while the other waited on the event's lock.
        let by: HashSet<usize> = answers.iter().map(|(_, i)| i % 2).collect();
        assert_eq!(by.len(), 2);
        let shirts = entity::ticket::Entity::find()
            .filter(entity::ticket::Column::SwagSize.eq("M"))
            .count(&app.db)
            .await
            .unwrap();
        assert!(shirts <= 12, "{shirts} shirts of a stock of 12");
        for instance in instances {
            let listed = instance.get("/api/v1/events/split/tiers", None).await;
            let left: i64 = listed.body.as_array().unwrap().iter().map(|t| t["remaining"].as_i64().unwrap()).sum();
            assert_eq!(left, 0, "{}", listed.body);
        }
        no_drift(&app, "split").await;
    }
}

db_test! {
    async fn one_ticket_scanned_at_two_instances_at_once_is_admitted_once(app) {
        let other = app.another_instance().await;
        let s = shop(&app, "two-doors", 10).await;
        let answer = app.order("two-doors", json!({"email": "ada@example.org", "tickets": [ticket(&s.tier, "Ada")]})).await;
        let placed = crate::payments::Placed {
            code: answer.body["code"].as_str().unwrap().to_owned(),
            token: answer.body["order_token"].as_str().unwrap().to_owned(),
            id: order_row(&app, answer.body["code"].as_str().unwrap()).await.id.to_string(),
            intent: answer.body["payment"]["payment_intent"].as_str().unwrap().to_owned(),
            body: answer.body.clone(),
        };
        let paid = deliver_signed(&app, &succeeded("evt_two_doors", &placed, 4900)).await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
        let token = crate::payments::token_of(&app, &placed, 0).await;
        let scans = (0..16).map(|i| {
            let at = if i % 2 == 0 { &app } else { &other };
            let body = json!({"list_id": s.list, "token": token, "device": format!("door-{i}")});
            async move { at.post("/api/v1/checkin/scan", &at.admin, body).await }
        });
        let answers = futures_util::future::join_all(scans).await;
        let results: Vec<String> = answers.iter().map(|a| a.body["result"].as_str().unwrap_or_default().to_owned()).collect();
        assert_eq!(results.iter().filter(|r| *r == "admitted").count(), 1, "{results:?}");
        assert!(results.iter().all(|r| r == "admitted" || r == "already_checked_in"), "{results:?}");
        let admissions = entity::checkin::Entity::find().count(&app.db).await.unwrap();
        assert_eq!(admissions, 1);
    }
}

db_test! {
    async fn two_sweepers_expire_each_hold_once(app) {
        let other = app.another_instance().await;
        let s = shop(&app, "two-sweeps", 100).await;
        let mut codes = Vec::new();
        // 20 held tickets: as many as one client address may hold.
        for i in 0..20 {
            let at = if i % 2 == 0 { &app } else { &other };
            let answer = at.order("two-sweeps", json!({"email": format!("h{i}@example.org"), "tickets": [ticket(&s.tier, "Ada")]})).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
            codes.push(answer.body["code"].as_str().unwrap().to_owned());
        }
        app.let_holds_end();
        let (a, b) = tokio::join!(
            app.on_its_clock(tessera::domain::orders::expire_due(&app.db, 500)),
            other.on_its_clock(tessera::domain::orders::expire_due(&other.db, 500)),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut all: Vec<uuid::Uuid> = a.iter().chain(&b).copied().collect();
        assert_eq!(all.len(), 20, "each hold expired by one sweeper: {} + {}", a.len(), b.len());
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 20, "no hold expired twice");
        let expired = entity::order::Entity::find()
            .filter(entity::order::Column::State.eq(OrderState::Expired))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(expired, 20);
        let listed = other.get("/api/v1/events/two-sweeps/tiers", None).await;
        assert_eq!(listed.body[0]["remaining"], 100, "{}", listed.body);
        no_drift(&app, "two-sweeps").await;
    }
}

db_test! {
    async fn a_stripe_event_delivered_to_both_instances_at_once_applies_once(app) {
        let other = app.another_instance().await;
        let s = shop(&app, "two-hooks", 10).await;
        let answer = app.order("two-hooks", json!({"email": "ada@example.org", "tickets": [ticket(&s.tier, "Ada"), ticket(&s.tier, "Grace")]})).await;
        let code = answer.body["code"].as_str().unwrap().to_owned();
        let placed = Placed {
            token: answer.body["order_token"].as_str().unwrap().to_owned(),
            id: order_row(&app, &code).await.id.to_string(),
            intent: answer.body["payment"]["payment_intent"].as_str().unwrap().to_owned(),
            code,
            body: answer.body.clone(),
        };
        let payload = succeeded("evt_both", &placed, 9800);
        let deliveries = (0..12).map(|i| {
            let to = if i % 2 == 0 { &app } else { &other };
            let payload = payload.clone();
            async move { deliver_signed(to, &payload).await }
        });
        let answers = futures_util::future::join_all(deliveries).await;
        for answer in &answers {
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        }
        let applied = entity::stripe_event::Entity::find().count(&app.db).await.unwrap();
        assert_eq!(applied, 1, "the event is recorded once");
        let got = app
            .with_order_token(Method::GET, &format!("/api/v1/orders/{}", placed.code), &placed.token, None)
            .await;
        assert_eq!(got.body["state"], "paid", "{}", got.body);
        assert_eq!(got.body["payment"]["amount_paid"], 9800, "paid once: {}", got.body);
        let sales = other.get("/api/v1/admin/events/two-hooks/reports/sales", Some(&other.admin)).await;
        assert_eq!(sales.body["tiers"][0]["sold"], 2, "{}", sales.body);
        no_drift(&app, "two-hooks").await;
    }
}
