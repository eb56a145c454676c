//! Placing, reading, cancelling and editing orders as a buyer.

use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, ticket};

async fn order_count(app: &TestApp) -> u64 {
    entity::order::Entity::find().count(&app.db).await.unwrap()
}

db_test! {
    async fn a_free_order_is_paid_at_once_with_valid_tickets(app) {
        let tiers = app.shop("meetup", json!({}), &[json!({"name": "Free", "price": 0, "capacity": 50, "includes_swag": true})]).await;
        let mut t = ticket(&tiers[0], "Ada Lovelace");
        t["swag_size"] = json!("m");
        t["swag_cut"] = json!("Straight");
        t["dietary"] = json!("VEGAN");
        t["notes"] = json!("Peanut allergy");
        let placed = app.order("meetup", json!({"email": "Ada@Example.org", "tickets": [t]})).await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
        let body = &placed.body;
        assert_eq!((body["state"].clone(), body["total"].clone()), (json!("paid"), json!(0)));
        assert!(body["paid_at"].is_string() && body["expires_at"].is_null());
        assert_eq!(body["payment"]["required"], false);
        assert_eq!(body["email"], "ada@example.org");
        let ticket = &body["tickets"][0];
        assert_eq!(ticket["status"], "valid");
        // Choices are stored as the event spells them.
        assert_eq!((ticket["swag_size"].clone(), ticket["swag_cut"].clone(), ticket["dietary"].clone()), (json!("M"), json!("straight"), json!("vegan")));
        assert_eq!(ticket["attendee_email"], "ada@example.org");
        assert_eq!(ticket["notes"], "Peanut allergy");
        let code = body["code"].as_str().unwrap();
        assert_eq!(code.len(), 8);
        assert!(body["order_token"].as_str().unwrap().starts_with("tso_"));
    }
}

db_test! {
    async fn a_paid_order_holds_its_tickets_until_payment(app) {
        let tiers = app.shop("paid", json!({}), &[json!({"name": "Regular", "price": 24900, "capacity": 10})]).await;
        let placed = app
            .order("paid", json!({"email": "bo@example.org", "tickets": [ticket(&tiers[0], "Bo"), ticket(&tiers[0], "Cy")]}))
            .await;
        assert_eq!(placed.status, StatusCode::CREATED);
        let body = &placed.body;
        assert_eq!(body["state"], "pending");
        assert_eq!((body["subtotal"].clone(), body["total"].clone()), (json!(49800), json!(49800)));
        let payment = &body["payment"];
        assert_eq!(
            (&payment["required"], &payment["amount"], &payment["currency"], &payment["hold_expires_at"], &payment["method"]),
            (&json!(true), &json!(49800), &json!("EUR"), &body["expires_at"], &json!("payment_intent"))
        );
        assert!(payment["client_secret"].is_string() && payment["payment_intent"].is_string());
        let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
        let minutes = (expires.to_utc() - chrono::Utc::now()).num_minutes();
        assert!((14..=15).contains(&minutes), "hold of {minutes} minutes");
        assert!(body["tickets"].as_array().unwrap().iter().all(|t| t["status"] == "held"));
        let listed = app.get("/api/v1/events/paid/tiers", None).await;
        assert_eq!(listed.body[0]["remaining"], 8);
    }
}

db_test! {
    async fn totals_apply_percent_and_fixed_vouchers_per_ticket(app) {
        let tiers = app
            .shop(
                "discounts",
                json!({}),
                &[json!({"name": "Odd", "price": 999, "capacity": 10}), json!({"name": "Cheap", "price": 300, "capacity": 10})],
            )
            .await;
        app.post(
            "/api/v1/admin/events/discounts/vouchers",
            &app.admin,
            json!({"code": "FIFTEEN", "discount_kind": "percent", "discount_value": 15, "applies_to": [tiers[0]]}),
        )
        .await;
        app.post(
            "/api/v1/admin/events/discounts/vouchers",
            &app.admin,
            json!({"code": "FIVER", "discount_kind": "fixed", "discount_value": 500}),
        )
        .await;
        // 15% of 999 is 149.85: 150 off each ticket (half up); Cheap is not covered.
        let percent = app
            .order(
                "discounts",
                json!({"email": "a@example.org", "voucher": "fifteen", "tickets": [ticket(&tiers[0], "A"), ticket(&tiers[0], "B"), ticket(&tiers[1], "C")]}),
            )
            .await;
        assert_eq!(percent.status, StatusCode::CREATED, "{}", percent.body);
        let b = &percent.body;
        assert_eq!((b["subtotal"].clone(), b["discount"].clone(), b["total"].clone()), (json!(2298), json!(300), json!(1998)));
        assert_eq!((b["tickets"][0]["discount"].clone(), b["tickets"][0]["price"].clone()), (json!(150), json!(849)));
        assert_eq!(b["tickets"][2]["discount"], 0);
        // A fixed discount above the price makes the ticket free, never negative.
        let fixed = app
            .order("discounts", json!({"email": "b@example.org", "voucher": "FIVER", "tickets": [ticket(&tiers[1], "D"), ticket(&tiers[0], "E")]}))
            .await;
        let b = &fixed.body;
        assert_eq!((b["tickets"][0]["price"].clone(), b["tickets"][1]["price"].clone()), (json!(0), json!(499)));
        assert_eq!((b["discount"].clone(), b["total"].clone()), (json!(800), json!(499)));
        // A voucher that takes everything off makes a paid order.
        app.post(
            "/api/v1/admin/events/discounts/vouchers",
            &app.admin,
            json!({"code": "FREE", "discount_kind": "percent", "discount_value": 100}),
        )
        .await;
        let free = app.order("discounts", json!({"email": "c@example.org", "voucher": "free", "tickets": [ticket(&tiers[0], "F")]})).await;
        assert_eq!((free.body["state"].clone(), free.body["total"].clone()), (json!("paid"), json!(0)));
    }
}

db_test! {
    async fn an_invalid_order_names_every_bad_field_and_holds_nothing(app) {
        let tiers = app
            .shop(
                "strict-shop",
                json!({}),
                &[
                    json!({"name": "Shirt", "price": 100, "capacity": 10, "includes_swag": true}),
                    json!({"name": "Secret", "price": 100, "capacity": 10, "hidden": true}),
                ],
            )
            .await;
        app.create_event("other-shop", json!({})).await;
        let foreign = app.create_tier("other-shop", json!({"name": "Theirs", "price": 1, "capacity": 1})).await;
        let mut bad_size = ticket(&tiers[0], "A");
        bad_size["swag_size"] = json!("XXXL");
        let mut bad_diet = ticket(&tiers[0], "B");
        bad_diet["swag_size"] = json!("S");
        bad_diet["swag_cut"] = json!("straight");
        bad_diet["dietary"] = json!("carnivore");
        bad_diet["attendee_email"] = json!("not-an-email");
        let answer = app
            .order(
                "strict-shop",
                json!({"email": "nope", "tickets": [
                    bad_size,
                    bad_diet,
                    ticket(&tiers[0], ""),
                    ticket(&tiers[1], "Hidden"),
                    ticket(foreign["id"].as_str().unwrap(), "Foreign"),
                    {"tier_id": tiers[0], "attendee_name": "N", "swag_size": "S", "swag_cut": "straight", "notes": "x".repeat(1001)}
                ]}),
            )
            .await;
        answer.assert_problem(422, "validation_failed");
        let mut fields = answer.error_fields();
        fields.sort();
        assert_eq!(
            fields,
            [
                "email",
                "tickets[0].swag_size",
                "tickets[1].attendee_email",
                "tickets[1].dietary",
                "tickets[2].attendee_name",
                "tickets[2].swag_size",
                "tickets[3].tier_id",
                "tickets[4].tier_id",
                "tickets[5].notes",
            ]
        );
        assert_eq!(order_count(&app).await, 0);

        let too_many: Vec<_> = (0..51).map(|i| ticket(&tiers[1], &format!("T{i}"))).collect();
        let answer = app.order("strict-shop", json!({"email": "a@example.org", "tickets": too_many})).await;
        assert!(answer.error_fields().contains(&"tickets".to_owned()));
        let none = app.order("strict-shop", json!({"email": "a@example.org", "tickets": []})).await;
        assert_eq!(none.error_fields(), ["tickets"]);
    }
}

db_test! {
    async fn tiers_off_sale_and_quantities_outside_the_limits_are_refused_with_their_code(app) {
        let later = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        let tiers = app
            .shop(
                "rules",
                json!({}),
                &[
                    json!({"name": "Later", "price": 100, "capacity": 10, "sales_start": later}),
                    json!({"name": "Pairs", "price": 100, "capacity": 10, "min_per_order": 2, "max_per_order": 2}),
                ],
            )
            .await;
        let early = app.order("rules", json!({"email": "a@example.org", "tickets": [ticket(&tiers[0], "A")]})).await;
        early.assert_problem(422, "not_on_sale");
        assert_eq!(early.error_fields(), ["tickets[0].tier_id"]);
        let single = app.order("rules", json!({"email": "a@example.org", "tickets": [ticket(&tiers[1], "A")]})).await;
        single.assert_problem(422, "quantity_out_of_range");
        let pair = app
            .order("rules", json!({"email": "a@example.org", "tickets": [ticket(&tiers[1], "A"), ticket(&tiers[1], "B")]}))
            .await;
        assert_eq!(pair.status, StatusCode::CREATED);
        // Drafts sell nothing.
        app.create_event("drafted", json!({})).await;
        let draft_tier = app.create_tier("drafted", json!({"name": "X", "price": 1, "capacity": 1})).await;
        app.order("drafted", json!({"email": "a@example.org", "tickets": [ticket(draft_tier["id"].as_str().unwrap(), "A")]}))
            .await
            .assert_problem(404, "not_found");
    }
}

db_test! {
    async fn a_voucher_unlocks_its_hidden_tier(app) {
        let tiers = app
            .shop("speakers", json!({}), &[json!({"name": "Speaker", "price": 0, "capacity": 5, "hidden": true})])
            .await;
        assert_eq!(app.get("/api/v1/events/speakers/tiers", None).await.body, json!([]));
        let locked = app.order("speakers", json!({"email": "s@example.org", "tickets": [ticket(&tiers[0], "S")]})).await;
        locked.assert_problem(422, "unknown_tier");
        app.post(
            "/api/v1/admin/events/speakers/vouchers",
            &app.admin,
            json!({"code": "SPEAK", "discount_kind": "none", "unlocks": [tiers[0]]}),
        )
        .await;
        let unlocked = app
            .order("speakers", json!({"email": "s@example.org", "voucher": "speak", "tickets": [ticket(&tiers[0], "S")]}))
            .await;
        assert_eq!(unlocked.status, StatusCode::CREATED, "{}", unlocked.body);
        let bogus = app
            .order("speakers", json!({"email": "s@example.org", "voucher": "NOPE", "tickets": [ticket(&tiers[0], "S")]}))
            .await;
        assert!(bogus.error_fields().contains(&"voucher".to_owned()));
    }
}

db_test! {
    async fn the_order_token_is_needed_and_wrong_tokens_answer_404(app) {
        let tiers = app.shop("private", json!({}), &[json!({"name": "R", "price": 100, "capacity": 10})]).await;
        let mine = app.order("private", json!({"email": "me@example.org", "tickets": [ticket(&tiers[0], "Me")]})).await;
        let theirs = app.order("private", json!({"email": "you@example.org", "tickets": [ticket(&tiers[0], "You")]})).await;
        let code = mine.body["code"].as_str().unwrap();
        let path = format!("/api/v1/orders/{code}");
        app.get(&path, None).await.assert_problem(404, "not_found");
        let other_token = theirs.body["order_token"].as_str().unwrap();
        app.with_order_token(Method::GET, &path, other_token, None).await.assert_problem(404, "not_found");
        app.with_order_token(Method::GET, &path, "tso_forged", None).await.assert_problem(404, "not_found");
        app.with_order_token(Method::GET, "/api/v1/orders/ZZZZZZZZ", other_token, None).await.assert_problem(404, "not_found");

        let token = mine.body["order_token"].as_str().unwrap();
        let by_header = app.with_order_token(Method::GET, &path, token, None).await;
        assert_eq!(by_header.body["code"], code);
        // Codes are case-insensitive in URLs.
        let by_bearer = app.get(&path.to_lowercase(), Some(token)).await;
        assert_eq!(by_bearer.body["code"], code);
        assert!(by_bearer.body.get("order_token").is_none(), "the token is shown only once");
        // Cancel and edit need the token too.
        app.call(Method::POST, &format!("{path}/cancel"), None, None).await.assert_problem(404, "not_found");
        let ticket_id = mine.body["tickets"][0]["id"].as_str().unwrap();
        app.call(Method::PATCH, &format!("{path}/tickets/{ticket_id}"), Some(other_token), Some(json!({"attendee_name": "X"})))
            .await
            .assert_problem(404, "not_found");
    }
}

db_test! {
    async fn a_paid_order_cannot_be_cancelled_by_the_buyer(app) {
        let tiers = app.shop("kept-free", json!({}), &[json!({"name": "Free", "price": 0, "capacity": 10})]).await;
        let placed = app.order("kept-free", json!({"email": "k@example.org", "tickets": [ticket(&tiers[0], "K")]})).await;
        let code = placed.body["code"].as_str().unwrap();
        let token = placed.body["order_token"].as_str().unwrap();
        app.with_order_token(Method::POST, &format!("/api/v1/orders/{code}/cancel"), token, None)
            .await
            .assert_problem(409, "order_not_cancellable");
    }
}

db_test! {
    async fn attendees_fix_their_details_until_the_deadline(app) {
        let tiers = app
            .shop("editable", json!({}), &[json!({"name": "Shirt", "price": 0, "capacity": 10, "includes_swag": true})])
            .await;
        let mut t = ticket(&tiers[0], "Jon Smiht");
        t["swag_size"] = json!("S");
        t["swag_cut"] = json!("straight");
        let placed = app.order("editable", json!({"email": "jon@example.org", "tickets": [t]})).await;
        let code = placed.body["code"].as_str().unwrap().to_owned();
        let token = placed.body["order_token"].as_str().unwrap().to_owned();
        let ticket_id = placed.body["tickets"][0]["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/orders/{code}/tickets/{ticket_id}");

        let fixed = app
            .with_order_token(
                Method::PATCH,
                &path,
                &token,
                Some(json!({"attendee_name": "Jon Smith", "swag_size": "M", "swag_cut": "fitted", "dietary": "vegetarian", "notes": "No nuts"})),
            )
            .await;
        assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.body);
        let t = &fixed.body["tickets"][0];
        assert_eq!((t["attendee_name"].clone(), t["swag_size"].clone(), t["swag_cut"].clone()), (json!("Jon Smith"), json!("M"), json!("fitted")));
        assert_eq!((t["dietary"].clone(), t["notes"].clone()), (json!("vegetarian"), json!("No nuts")));
        // The name changed, so the check-in token version moved on.
        let row = entity::ticket::Entity::find_by_id(uuid::Uuid::parse_str(&ticket_id).unwrap()).one(&app.db).await.unwrap().unwrap();
        assert_eq!(row.token_version, 2);

        let bad = app.with_order_token(Method::PATCH, &path, &token, Some(json!({"swag_size": "XXL", "dietary": "paleo"}))).await;
        bad.assert_problem(422, "validation_failed");
        assert_eq!(bad.error_fields(), ["swag_size", "dietary"]);

        let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
        let moved = app.patch("/api/v1/admin/events/editable", &app.admin, json!({"attendee_edit_deadline": past})).await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
        app.with_order_token(Method::PATCH, &path, &token, Some(json!({"attendee_name": "Late"})))
            .await
            .assert_problem(409, "edit_deadline_passed");
    }
}

db_test! {
    async fn a_size_change_respects_the_stock(app) {
        let tiers = app
            .shop(
                "tight",
                json!({"swag_sizes": [{"size": "S"}, {"size": "M", "stock": 1}]}),
                &[json!({"name": "Shirt", "price": 0, "capacity": 10, "includes_swag": true})],
            )
            .await;
        let shirt = |name: &str, size: &str| {
            let mut t = ticket(&tiers[0], name);
            t["swag_size"] = json!(size);
            t
        };
        app.order("tight", json!({"email": "m@example.org", "tickets": [shirt("M", "M")]})).await;
        let small = app.order("tight", json!({"email": "s@example.org", "tickets": [shirt("S", "S")]})).await;
        let path = format!(
            "/api/v1/orders/{}/tickets/{}",
            small.body["code"].as_str().unwrap(),
            small.body["tickets"][0]["id"].as_str().unwrap()
        );
        let token = small.body["order_token"].as_str().unwrap();
        let answer = app.with_order_token(Method::PATCH, &path, token, Some(json!({"swag_size": "M"}))).await;
        // The same status and code as when placing an order.
        answer.assert_problem(409, "swag_size_unavailable");
        assert_eq!(answer.error_fields(), ["swag_size"]);
    }
}

db_test! {
    async fn invariant_6_a_repeated_idempotency_key_returns_the_first_answer(app) {
        let tiers = app.shop("retry", json!({}), &[json!({"name": "R", "price": 100, "capacity": 10})]).await;
        let body = json!({"email": "r@example.org", "tickets": [ticket(&tiers[0], "R")]});
        let send = |body: serde_json::Value, key: &'static str| {
            let request = app.client.post(app.url("/api/v1/events/retry/orders")).header("idempotency-key", key).json(&body);
            async move { request.send().await.unwrap() }
        };
        let first = send(body.clone(), "key-1").await;
        assert!(first.headers().get("idempotent-replayed").is_none());
        let first = crate::helpers::answer(first).await;
        let again = send(body.clone(), "key-1").await;
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        let again = crate::helpers::answer(again).await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.body, first.body);
        assert_eq!(order_count(&app).await, 1);

        let mut other = body.clone();
        other["tickets"][0]["attendee_name"] = json!("Someone else");
        crate::helpers::answer(send(other, "key-1").await).await.assert_problem(422, "idempotency_key_reused");
        assert_eq!(order_count(&app).await, 1);

        // Refusals are answers too: the retry hears the same one.
        let bad = json!({"email": "r@example.org", "tickets": [ticket(&tiers[0], "")]});
        let refused = crate::helpers::answer(send(bad.clone(), "key-2").await).await;
        refused.assert_problem(422, "validation_failed");
        let replayed = crate::helpers::answer(send(bad, "key-2").await).await;
        assert_eq!(replayed.body, refused.body);
        assert_eq!(replayed.content_type, "application/problem+json");
    }
}

db_test! {
    async fn invariant_6_concurrent_requests_with_one_key_place_one_order(app) {
        let tiers = app.shop("double-click", json!({}), &[json!({"name": "R", "price": 100, "capacity": 50})]).await;
        let body = json!({"email": "dc@example.org", "tickets": [ticket(&tiers[0], "DC")]});
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let request = app
                .client
                .post(app.url("/api/v1/events/double-click/orders"))
                .header("idempotency-key", "same-click")
                .json(&body);
            set.spawn(async move { crate::helpers::answer(request.send().await.unwrap()).await });
        }
        let mut codes = Vec::new();
        while let Some(answer) = set.join_next().await {
            let answer = answer.unwrap();
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
            codes.push(answer.body["code"].as_str().unwrap().to_owned());
        }
        codes.dedup();
        assert_eq!(codes.len(), 1, "{codes:?}");
        assert_eq!(order_count(&app).await, 1);
        let held = entity::ticket::Entity::find()
            .filter(entity::ticket::Column::Status.eq("held"))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(held, 1);
    }
}

db_test! {
    async fn a_retry_after_a_crash_finds_the_order_instead_of_placing_a_second(app) {
        let tiers = app.shop("crash", json!({}), &[json!({"name": "R", "price": 100, "capacity": 10})]).await;
        let body = json!({"email": "c@example.org", "tickets": [ticket(&tiers[0], "C")]});
        let send = |key: &'static str| {
            let request = app.client.post(app.url("/api/v1/events/crash/orders")).header("idempotency-key", key).json(&body);
            async move { crate::helpers::answer(request.send().await.unwrap()).await }
        };
        let first = send("crash-key").await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
        app.as_if_the_process_died().await;

        let retry = send("crash-key").await;
        assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
        assert_eq!(retry.body["code"], first.body["code"]);
        assert_eq!(retry.body["payment"]["payment_intent"], first.body["payment"]["payment_intent"]);
        assert!(retry.body["payment"]["client_secret"].is_string(), "{}", retry.body);
        assert_eq!(order_count(&app).await, 1);
        // The buyer holds the order with the token of the answer it finally got.
        let code = retry.body["code"].as_str().unwrap();
        let token = retry.body["order_token"].as_str().unwrap();
        let read = app.with_order_token(Method::GET, &format!("/api/v1/orders/{code}"), token, None).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        // And that answer is now the one replayed.
        let replayed = send("crash-key").await;
        assert_eq!(replayed.body, retry.body);
    }
}

db_test! {
    async fn a_retry_after_a_crash_before_placing_places_the_order_once(app) {
        let tiers = app.shop("early-crash", json!({}), &[json!({"name": "R", "price": 0, "capacity": 10})]).await;
        let body = json!({"email": "e@example.org", "tickets": [ticket(&tiers[0], "E")]});
        let request = app.client.post(app.url("/api/v1/events/early-crash/orders")).header("idempotency-key", "k").json(&body);
        let first = crate::helpers::answer(request.send().await.unwrap()).await;
        assert_eq!(first.status, StatusCode::CREATED);
        // Forget the order too: as if the process died before placing it.
        entity::order::Entity::delete_many().exec(&app.db).await.unwrap();
        app.as_if_the_process_died().await;
        let request = app.client.post(app.url("/api/v1/events/early-crash/orders")).header("idempotency-key", "k").json(&body);
        let retry = crate::helpers::answer(request.send().await.unwrap()).await;
        assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
        assert_eq!(order_count(&app).await, 1);
    }
}

db_test! {
    async fn a_hold_whose_buyer_never_heard_back_lapses_like_any_other(app) {
        let tiers = app.shop("lost-answer", json!({}), &[json!({"name": "Only", "price": 500, "capacity": 1})]).await;
        let body = json!({"email": "l@example.org", "tickets": [ticket(&tiers[0], "L")]});
        let send = || {
            let request = app.client.post(app.url("/api/v1/events/lost-answer/orders")).header("idempotency-key", "lost").json(&body);
            async move { crate::helpers::answer(request.send().await.unwrap()).await }
        };
        let placed = send().await;
        assert_eq!(placed.body["state"], "pending", "{}", placed.body);
        app.as_if_the_process_died().await;
        assert_eq!(app.get("/api/v1/events/lost-answer/tiers", None).await.body[0]["remaining"], 0);

        // Its hold ends like any other: the seat is for sale again at once,
        // and the sweeper marks the order.
        app.let_holds_end();
        assert_eq!(app.get("/api/v1/events/lost-answer/tiers", None).await.body[0]["remaining"], 1);
        app.on_its_clock(tessera::domain::orders::expire_due(&app.db, 100)).await.unwrap();

        // The retry finds that order, expired, and places nothing new.
        let retry = send().await;
        assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
        assert_eq!(retry.body["code"], placed.body["code"]);
        assert_eq!(retry.body["state"], "expired");
        assert_eq!(order_count(&app).await, 1);
    }
}

db_test! {
    async fn every_ticket_field_fault_answers_alike_when_placing_and_when_editing(app) {
        let tiers = app
            .shop(
                "alike",
                json!({"swag_sizes": [{"size": "S", "cut": "straight"}, {"size": "M", "cut": "straight", "stock": 1}], "dietary_options": ["vegan"]}),
                &[
                    json!({"name": "Shirt", "price": 0, "capacity": 10, "includes_swag": true}),
                    json!({"name": "Plain", "price": 0, "capacity": 10}),
                ],
            )
            .await;
        let line = |tier: &str, extra: Value| {
            let mut t = ticket(tier, "Ann");
            for (k, v) in extra.as_object().unwrap() {
                t[k] = v.clone();
            }
            t
        };
        let shirt = json!({"swag_size": "S", "swag_cut": "straight"});
        // Someone takes the only M first.
        let m = app.order("alike", json!({"email": "m@example.org", "tickets": [line(&tiers[0], json!({"swag_size": "M", "swag_cut": "straight"}))]})).await;
        assert_eq!(m.status, StatusCode::CREATED, "{}", m.body);
        let placed_shirt = app.order("alike", json!({"email": "s@example.org", "tickets": [line(&tiers[0], shirt.clone())]})).await;
        let placed_plain = app.order("alike", json!({"email": "p@example.org", "tickets": [line(&tiers[1], json!({}))]})).await;
        let edit_path = |placed: &crate::helpers::Answer| {
            (
                format!("/api/v1/orders/{}/tickets/{}", placed.body["code"].as_str().unwrap(), placed.body["tickets"][0]["id"].as_str().unwrap()),
                placed.body["order_token"].as_str().unwrap().to_owned(),
            )
        };
        // (tier, fields sent, status, field, code)
        let cases = [
            (0, json!({"attendee_name": " "}), 422, "attendee_name", "required"),
            (0, json!({"attendee_name": "x".repeat(201)}), 422, "attendee_name", "too_long"),
            (0, json!({"attendee_email": "not-an-address"}), 422, "attendee_email", "invalid_email"),
            (0, json!({"swag_size": "XXL"}), 422, "swag_size", "unknown_swag_size"),
            (1, json!({"swag_size": "S", "swag_cut": "straight"}), 422, "swag_size", "not_allowed"),
            (0, json!({"dietary": "paleo"}), 422, "dietary", "unknown_dietary_option"),
            (0, json!({"notes": "n".repeat(1_001)}), 422, "notes", "too_long"),
            (0, json!({"swag_size": "M", "swag_cut": "straight"}), 409, "swag_size", "swag_size_unavailable"),
        ];
        for (tier, fields, status, field, code) in cases {
            let mut sent = if tier == 0 { shirt.clone() } else { json!({}) };
            for (k, v) in fields.as_object().unwrap() {
                sent[k] = v.clone();
            }
            let placing = app.order("alike", json!({"email": "a@example.org", "tickets": [line(&tiers[tier], sent)]})).await;
            let (path, token) = edit_path(if tier == 0 { &placed_shirt } else { &placed_plain });
            let editing = app.with_order_token(Method::PATCH, &path, &token, Some(fields.clone())).await;
            for (how, answer, prefix) in [("placing", &placing, "tickets[0]."), ("editing", &editing, "")] {
                assert_eq!(answer.status.as_u16(), status, "{how} {fields}: {}", answer.body);
                let errors = answer.body["errors"].as_array().cloned().unwrap_or_default();
                assert!(
                    errors.iter().any(|e| e["field"] == format!("{prefix}{field}") && e["code"] == code),
                    "{how} {fields}: {}",
                    answer.body
                );
            }
        }
    }
}
