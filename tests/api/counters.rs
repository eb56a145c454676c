//! The inventory counters: after any mix of placements, payments (in time
//! and late), expiries (swept or not), cancels, refunds, comps and swag
//! changes, what the counters say is taken equals a recount of the tickets
//! by the one counting rule, and the periodic check finds no drift.

use std::collections::HashMap;

use entity::{event, ticket};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tessera::domain::{
    counting,
    inventory::{self, Drift, Taken},
    staff::Role,
};
use uuid::Uuid;

use crate::{
    helpers::TestApp,
    payments::{Placed, deliver_signed, order_row, succeeded},
};

/// SplitMix64: a small seeded generator, so a failing mix can be replayed
/// with `TESSERA_MIX_SEED`.
struct Mix(u64);

impl Mix {
    fn seeded() -> Self {
        let seed = std::env::var("TESSERA_MIX_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(7, |d| d.as_nanos() as u64)
            });
        eprintln!("TESSERA_MIX_SEED={seed}");
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }
}

/// What the tickets say is taken at `at`, each one judged by the counting
/// rule: the truth the counters must agree with.
async fn recount(app: &TestApp, event_id: Uuid, at: chrono::DateTime<chrono::Utc>) -> Taken {
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::EventId.eq(event_id))
        .all(&app.db)
        .await
        .unwrap();
    let mut taken = Taken::default();
    for t in tickets
        .iter()
        .filter(|t| counting::takes_a_seat(t.status, t.hold_expires_at, at))
    {
        taken.total += 1;
        *taken.by_tier.entry(t.tier_id).or_default() += 1;
        if let Some(size) = &t.swag_size {
            let key = (
                size.to_lowercase(),
                t.swag_cut.as_ref().map(|c| c.to_lowercase()),
            );
            *taken.by_swag.entry(key).or_default() += 1;
        }
        if let Some(v) = t.voucher_id {
            *taken.by_voucher.entry(v).or_default() += 1;
        }
    }
    taken
}

fn nonzero<K: std::hash::Hash + Eq + Clone + Ord>(map: &HashMap<K, i64>) -> Vec<(K, i64)> {
    let mut out: Vec<(K, i64)> = map
        .iter()
        .filter(|(_, n)| **n != 0)
        .map(|(k, n)| (k.clone(), *n))
        .collect();
    out.sort();
    out
}

async fn assert_counters_true(app: &TestApp, event_id: Uuid, step: &str) {
    let at = app.on_its_clock(async { tessera::domain::now() }).await;
    let counted = inventory::taken(&app.db, event_id, at).await.unwrap();
    let truth = recount(app, event_id, at).await;
    assert_eq!(counted.total, truth.total, "total after {step}");
    assert_eq!(
        nonzero(&counted.by_tier),
        nonzero(&truth.by_tier),
        "tiers after {step}"
    );
    assert_eq!(
        nonzero(&counted.by_swag),
        nonzero(&truth.by_swag),
        "swag after {step}"
    );
    assert_eq!(
        nonzero(&counted.by_voucher),
        nonzero(&truth.by_voucher),
        "vouchers after {step}"
    );
    let vouchers: Vec<Uuid> = truth.by_voucher.keys().copied().collect();
    let uses = inventory::voucher_uses(&app.db, event_id, &vouchers, at)
        .await
        .unwrap();
    assert_eq!(
        nonzero(&uses),
        nonzero(&truth.by_voucher),
        "voucher uses after {step}"
    );
}

const SIZES: [(&str, Option<&str>); 3] = [("S", None), ("M", Some("fitted")), ("L", None)];

fn attendee(rng: &mut Mix, tier: &str, n: usize) -> Value {
    let (size, cut) = SIZES[rng.below(SIZES.len())];
    json!({
        "tier_id": tier,
        "attendee_name": format!("Attendee {n}"),
        "attendee_email": format!("a{n}@example.org"),
        "swag_size": size,
        "swag_cut": cut,
    })
}

async fn placed(app: &TestApp, answer: &crate::helpers::Answer) -> Placed {
    let code = answer.body["code"].as_str().unwrap().to_owned();
    Placed {
        token: answer.body["order_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        intent: answer.body["payment"]["payment_intent"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        id: order_row(app, &code).await.id.to_string(),
        code,
        body: answer.body.clone(),
    }
}

db_test! {
    async fn the_counters_agree_with_the_tickets_after_any_mix_of_changes(app) {
        let mut rng = Mix::seeded();
        let slug = "mix";
        let sizes: Vec<Value> = SIZES
            .iter()
            .map(|(size, cut)| json!({"size": size, "cut": cut, "stock": 12}))
            .collect();
        let tiers = app
            .shop(
                slug,
                json!({"capacity": 40, "swag_sizes": sizes}),
                &[
                    json!({"name": "Paid", "price": 4900, "capacity": 25, "includes_swag": true}),
                    json!({"name": "Free", "price": 0, "capacity": 15, "includes_swag": true}),
                    json!({"name": "Speaker", "price": 0, "capacity": 6, "hidden": true, "includes_swag": true}),
                ],
            )
            .await;
        let voucher = app
            .post(
                &format!("/api/v1/admin/events/{slug}/vouchers"),
                &app.admin,
                json!({"code": "HALF", "discount_kind": "percent", "discount_value": 50, "usage_limit": 8}),
            )
            .await;
        assert_eq!(voucher.status, StatusCode::CREATED, "{}", voucher.body);
        let organizer = app.token(Role::Organizer, &[slug]).await;
        let event_id = event::Entity::find()
            .filter(event::Column::Slug.eq(slug))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .id;

        let mut pending: Vec<Placed> = Vec::new();
        let mut paid: Vec<Placed> = Vec::new();
        let mut lapsed: Vec<Placed> = Vec::new();
        let mut n = 0;
        for step in 0..80 {
            n += 1;
            let what = rng.below(10);
            let label = format!("step {step} (kind {what})");
            match what {
                // A paid order, perhaps with the voucher: held until paid.
                0 | 1 => {
                    let k = 1 + rng.below(3);
                    let tickets: Vec<Value> = (0..k).map(|i| attendee(&mut rng, &tiers[0], n * 10 + i)).collect();
                    let mut body = json!({"email": format!("b{n}@example.org"), "tickets": tickets});
                    if rng.below(2) == 0 {
                        body["voucher"] = json!("HALF");
                    }
                    let answer = app.order(slug, body).await;
                    if answer.status == StatusCode::CREATED {
                        pending.push(placed(&app, &answer).await);
                    } else {
                        assert_eq!(answer.status, StatusCode::CONFLICT, "{label}: {}", answer.body);
                    }
                }
                // A free order: valid at once.
                2 => {
                    let tickets = vec![attendee(&mut rng, &tiers[1], n * 10)];
                    let answer = app.order(slug, json!({"email": format!("f{n}@example.org"), "tickets": tickets})).await;
                    if answer.status == StatusCode::CREATED {
                        paid.push(placed(&app, &answer).await);
                    } else {
                        assert_eq!(answer.status, StatusCode::CONFLICT, "{label}: {}", answer.body);
                    }
                }
                // Payment of a pending order.
                3 => {
                    if !pending.is_empty() {
                        let order = pending.remove(rng.below(pending.len()));
                        let total = order.body["total"].as_i64().unwrap();
                        let answer = deliver_signed(&app, &succeeded(&format!("evt_pay_{n}"), &order, total)).await;
                        assert_eq!(answer.status, StatusCode::OK, "{label}: {}", answer.body);
                        paid.push(order);
                    }
                }
                // Every hold so far ends; the sweeper may or may not run.
                4 => {
                    app.let_holds_end();
                    lapsed.append(&mut pending);
                    if rng.below(2) == 0 {
                        app.on_its_clock(tessera::domain::orders::expire_due(&app.db, 500)).await.unwrap();
                    }
                }
                // A payment arriving after its hold ended: seats back if free.
                5 => {
                    if !lapsed.is_empty() {
                        let order = lapsed.remove(rng.below(lapsed.len()));
                        let total = order.body["total"].as_i64().unwrap();
                        let answer = deliver_signed(&app, &succeeded(&format!("evt_late_{n}"), &order, total)).await;
                        assert_eq!(answer.status, StatusCode::OK, "{label}: {}", answer.body);
                        if answer.body["effect"] != "late_payment_refunded" {
                            paid.push(order);
                        }
                    }
                }
                // The buyer cancels an unpaid order.
                6 => {
                    if !pending.is_empty() {
                        let order = pending.remove(rng.below(pending.len()));
                        let answer = app
                            .with_order_token(Method::POST, &format!("/api/v1/orders/{}/cancel", order.code), &order.token, None)
                            .await;
                        assert_eq!(answer.status, StatusCode::OK, "{label}: {}", answer.body);
                    }
                }
                // An organizer cancels a paid order (refunding or not), or
                // refunds one of its tickets.
                7 => {
                    if let Some(order) = rng.pick(&paid) {
                        let code = order.code.clone();
                        let answer = if rng.below(2) == 0 {
                            app.post(
                                &format!("/api/v1/admin/events/{slug}/orders/{code}/cancel"),
                                &organizer,
                                json!({"reason": "mix", "refund": rng.below(2) == 0}),
                            )
                            .await
                        } else {
                            let ticket = order.body["tickets"][0]["id"].clone();
                            app.post(
                                &format!("/api/v1/admin/events/{slug}/orders/{code}/refunds"),
                                &organizer,
                                json!({"tickets": [ticket], "reason": "mix"}),
                            )
                            .await
                        };
                        // Already cancelled or refunded earlier in the mix.
                        assert!(
                            answer.status.is_success() || answer.status == StatusCode::CONFLICT || answer.status == StatusCode::UNPROCESSABLE_ENTITY,
                            "{label}: {} {}",
                            answer.status,
                            answer.body
                        );
                    }
                }
                // A comp for a speaker.
                8 => {
                    let tickets = vec![attendee(&mut rng, &tiers[2], n * 10)];
                    let answer = app
                        .post(
                            &format!("/api/v1/admin/events/{slug}/comps"),
                            &organizer,
                            json!({"email": format!("s{n}@example.org"), "reason": "speaker", "tickets": tickets}),
                        )
                        .await;
                    if answer.status == StatusCode::CREATED {
                        paid.push(placed(&app, &answer).await);
                    } else {
                        assert_eq!(answer.status, StatusCode::CONFLICT, "{label}: {}", answer.body);
                    }
                }
                // An organizer changes a ticket's shirt.
                _ => {
                    if let Some(order) = rng.pick(&paid) {
                        let (size, cut) = SIZES[rng.below(SIZES.len())];
                        let ticket = order.body["tickets"][0]["id"].as_str().unwrap().to_owned();
                        let answer = app
                            .patch(
                                &format!("/api/v1/admin/events/{slug}/orders/{}/tickets/{ticket}", order.code),
                                &organizer,
                                json!({"swag_size": size, "swag_cut": cut, "reason": "swap"}),
                            )
                            .await;
                        assert!(
                            answer.status == StatusCode::OK || answer.status == StatusCode::CONFLICT,
                            "{label}: {} {}",
                            answer.status,
                            answer.body
                        );
                    }
                }
            }
            assert_counters_true(&app, event_id, &label).await;
        }
        let drift = inventory::check_counts(&app.db, event_id).await.unwrap();
        assert_eq!(drift, Drift::default());
    }
}

db_test! {
    async fn the_check_finds_and_repairs_a_counter_that_drifted(app) {
        let tiers = app
            .shop("drift", json!({}), &[json!({"name": "Free", "price": 0, "capacity": 10})])
            .await;
        for i in 0..3 {
            let answer = app
                .order("drift", json!({"email": format!("d{i}@example.org"), "tickets": [crate::helpers::ticket(&tiers[0], "Ada")]}))
                .await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        }
        let event_id = event::Entity::find()
            .filter(event::Column::Slug.eq("drift"))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap()
            .id;
        // Damage the tier's counter as a bug would.
        use sea_orm::sea_query::Expr;
        entity::inventory_count::Entity::update_many()
            .col_expr(entity::inventory_count::Column::Claimed, Expr::value(1i64))
            .filter(entity::inventory_count::Column::EventId.eq(event_id))
            .filter(entity::inventory_count::Column::Scope.eq("tier"))
            .exec(&app.db)
            .await
            .unwrap();
        let listed = app.get("/api/v1/events/drift/tiers", None).await;
        assert_eq!(listed.body[0]["remaining"], 9, "the damage shows: {}", listed.body);

        tessera::jobs::check_counters(&app.db, &app.metrics).await;
        let metrics = app.metrics().await;
        assert!(metrics.contains("tessera_inventory_counter_drift_total 1\n"), "{metrics}");
        let listed = app.get("/api/v1/events/drift/tiers", None).await;
        assert_eq!(listed.body[0]["remaining"], 7, "repaired: {}", listed.body);
        let drift = inventory::check_counts(&app.db, event_id).await.unwrap();
        assert_eq!(drift, Drift::default(), "nothing left to repair");
    }
}
