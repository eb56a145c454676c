//! Reports and exports against a known mix of orders, on both databases.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tessera::domain::staff::Role;

use crate::helpers::TestApp;

/// An organizer records a bank transfer for a pending order.
async fn mark_paid(app: &TestApp, code: &str) {
    let admin = app.token(Role::Admin, &[]).await;
    let answer = app
        .post(
            &format!("/api/v1/admin/events/figures/orders/{code}/mark-paid"),
            &admin,
            json!({"reference": "bank transfer"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
}

/// An organizer refunds a paid order in full (by hand: no card involved).
async fn refund_in_full(app: &TestApp, code: &str) {
    let admin = app.token(Role::Admin, &[]).await;
    let answer = app
        .post(
            &format!("/api/v1/admin/events/figures/orders/{code}/refunds"),
            &admin,
            json!({"reason": "cannot come"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    assert_eq!(answer.body["status"], "succeeded");
}

/// An organizer refunds part of a paid order's money, naming no ticket.
async fn refund_amount(app: &TestApp, code: &str, amount: i64) {
    let admin = app.token(Role::Admin, &[]).await;
    let answer = app
        .post(
            &format!("/api/v1/admin/events/figures/orders/{code}/refunds"),
            &admin,
            json!({"reason": "goodwill", "amount": amount}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
}

fn person(
    tier: &str,
    name: &str,
    size: &str,
    cut: &str,
    dietary: Option<&str>,
    notes: Option<&str>,
) -> Value {
    let mut t = json!({"tier_id": tier, "attendee_name": name, "swag_size": size, "swag_cut": cut});
    if let Some(d) = dietary {
        t["dietary"] = json!(d);
    }
    if let Some(n) = notes {
        t["notes"] = json!(n);
    }
    t
}

const HOSTILE: &str = "=HYPERLINK(\"http://evil.example\",\"click\")";
const QUOTED: &str = "Zoë, \"Z\" Smith";
const NOTES: &str = "Peanut allergy,\n\"severe\" (=carry an EpiPen)";
const KANJI: &str = "東京 太郎";

/// The known mix: see the figures asserted below.
async fn mix(app: &TestApp) -> (String, String, String, String) {
    let starts = chrono::Utc::now() + chrono::Duration::hours(1);
    let event = json!({
        "timezone": "UTC",
        "starts_at": starts.to_rfc3339(),
        "ends_at": (starts + chrono::Duration::days(1)).to_rfc3339(),
        "capacity": 100,
        "swag_sizes": [
            {"size": "M", "cut": "straight", "stock": 10},
            {"size": "M", "cut": "fitted"},
            {"size": "L", "cut": "straight"}
        ],
        "dietary_options": ["none", "vegetarian", "vegan"]
    });
    let tiers = app
        .shop(
            "figures",
            event,
            &[
                json!({"name": "Regular", "price": 1000, "capacity": 50, "includes_swag": true, "sort_order": 1}),
                json!({"name": "Free", "price": 0, "capacity": 50, "includes_swag": true, "sort_order": 2}),
            ],
        )
        .await;
    let (a, b) = (tiers[0].as_str(), tiers[1].as_str());
    let place = |email: &str, tickets: Vec<Value>| {
        let body = json!({"email": email, "tickets": tickets});
        async move {
            let answer = app.order("figures", body).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
            answer.body["code"].as_str().unwrap().to_owned()
        }
    };
    place(
        "ann@example.org",
        vec![
            person(b, "Ann", "M", "straight", Some("vegan"), Some(NOTES)),
            person(b, "Bob", "L", "straight", None, None),
        ],
    )
    .await;
    place(
        "h@example.org",
        vec![person(b, HOSTILE, "M", "fitted", Some("vegetarian"), None)],
    )
    .await;
    place(
        "z@example.org",
        vec![person(b, QUOTED, "M", "straight", Some("vegan"), None)],
    )
    .await;
    place(
        "k@example.org",
        vec![person(b, KANJI, "L", "straight", Some("none"), None)],
    )
    .await;
    let paid = place(
        "cy@example.org",
        vec![
            person(a, "Cy", "M", "straight", Some("vegetarian"), None),
            person(a, "Di", "M", "straight", None, None),
        ],
    )
    .await;
    mark_paid(app, &paid).await;
    // A partial refund leaves the order paid: its money still counts as
    // refunded, split over the order's tickets by price.
    refund_amount(app, &paid, 500).await;
    let refunded = place(
        "ed@example.org",
        vec![person(a, "Ed", "L", "straight", None, None)],
    )
    .await;
    mark_paid(app, &refunded).await;
    refund_in_full(app, &refunded).await;
    // Gus's hold ends; Fay's, placed after, still holds.
    place(
        "gus@example.org",
        vec![person(a, "Gus", "L", "straight", None, None)],
    )
    .await;
    app.let_holds_end();
    place(
        "fay@example.org",
        vec![person(a, "Fay", "M", "fitted", None, None)],
    )
    .await;
    let comp = app
        .post(
            "/api/v1/admin/events/figures/comps",
            &app.admin,
            json!({"email": "hal@example.org", "reason": "Speaker", "tickets": [person(a, "Hal", "M", "fitted", None, None)]}),
        )
        .await;
    assert_eq!(comp.status, StatusCode::CREATED, "{}", comp.body);
    let cancelled = place(
        "ivy@example.org",
        vec![person(b, "Ivy", "M", "straight", None, None)],
    )
    .await;
    app.post(
        &format!("/api/v1/admin/events/figures/orders/{cancelled}/cancel"),
        &app.admin,
        json!({"reason": "Duplicate"}),
    )
    .await;

    // Check-ins: Ann and Cy at the door, Ann at the swag desk.
    let entry = app
        .post(
            "/api/v1/admin/events/figures/checkin-lists",
            &app.admin,
            json!({"name": "Door", "kind": "entry"}),
        )
        .await;
    let desk = app
        .post(
            "/api/v1/admin/events/figures/checkin-lists",
            &app.admin,
            json!({"name": "Swag", "kind": "swag"}),
        )
        .await;
    let entry = entry.body["id"].as_str().unwrap().to_owned();
    let desk = desk.body["id"].as_str().unwrap().to_owned();
    let attendees = app
        .get(
            "/api/v1/admin/events/figures/attendees?limit=200",
            Some(&app.admin),
        )
        .await;
    for (name, lists) in [("Ann", vec![&entry, &desk]), ("Cy", vec![&entry])] {
        let ticket = attendees.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap();
        let code = ticket["order_code"].as_str().unwrap();
        let order = entity::order::Entity::find()
            .filter(entity::order::Column::Code.eq(code))
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        let model = entity::ticket::Entity::find_by_id(
            uuid::Uuid::parse_str(ticket["ticket_id"].as_str().unwrap()).unwrap(),
        )
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
        let (token, _) = tessera::domain::checkin::tokens::issue(
            &tessera::domain::keys::KeyRing::new(app.db.clone()),
            &tessera::domain::checkin::tokens::TokenSettings::default(),
            "figures",
            starts + chrono::Duration::days(1),
            &model,
        )
        .await
        .unwrap();
        let _ = order;
        for list in lists {
            let scan = app
                .post(
                    "/api/v1/checkin/scan",
                    &app.admin,
                    json!({"list_id": list, "token": token, "device": "d"}),
                )
                .await;
            assert_eq!(scan.body["result"], "admitted", "{}", scan.body);
        }
    }
    (a.to_owned(), b.to_owned(), entry, desk)
}

fn names(answer: &Value) -> Vec<String> {
    let mut names: Vec<String> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

db_test! {
    async fn every_report_matches_the_orders(app) {
        let (a, b, entry, desk) = mix(&app).await;
        let get = |path: String| {
            let app = &app;
            async move {
                let answer = app.get(&format!("/api/v1/admin/events/figures{path}"), Some(&app.admin)).await;
                assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
                answer.body
            }
        };

        // Attendees: paid, valid tickets only.
        let all = get("/attendees?limit=200".into()).await;
        let mut expected = vec!["Ann", "Bob", "Cy", "Di", "Hal", HOSTILE, QUOTED, KANJI];
        expected.sort();
        assert_eq!(names(&all), expected);
        assert_eq!(names(&get("/attendees?checked_in=true".into()).await), ["Ann", "Cy"]);
        assert_eq!(names(&get(format!("/attendees?tier={a}")).await), ["Cy", "Di", "Hal"]);
        let mut fitted = vec!["Hal".to_owned(), HOSTILE.to_owned()];
        fitted.sort();
        assert_eq!(names(&get("/attendees?swag_size=m&swag_cut=FITTED".into()).await), fitted);
        let mut no_diet = vec!["Bob".to_owned(), "Di".to_owned(), "Hal".to_owned(), KANJI.to_owned()];
        no_diet.sort();
        assert_eq!(names(&get("/attendees?dietary=none".into()).await), no_diet);
        assert_eq!(names(&get("/attendees?q=zo%C3%AB".into()).await), [QUOTED]);
        let page = get("/attendees?limit=3".into()).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 3);
        assert!(page["next_cursor"].is_string());

        // Swag, padded 10% per size, rounded up.
        let swag = get("/reports/swag?padding=10".into()).await;
        let line = |size: &str, cut: &str| swag["sizes"].as_array().unwrap().iter().find(|l| l["size"] == size && l["cut"] == cut).unwrap().clone();
        let m = line("M", "straight");
        assert_eq!((m["total"].clone(), m["stock"].clone(), m["collected"].clone(), m["to_order"].clone()), (json!(4), json!(10), json!(1), json!(5)));
        let by_tier: Vec<(String, u64)> = m["by_tier"].as_array().unwrap().iter().map(|t| (t["tier_id"].as_str().unwrap().to_owned(), t["count"].as_u64().unwrap())).collect();
        assert!(by_tier.contains(&(a.clone(), 2)) && by_tier.contains(&(b.clone(), 2)), "{by_tier:?}");
        assert_eq!((line("M", "fitted")["total"].clone(), line("M", "fitted")["to_order"].clone()), (json!(2), json!(3)));
        assert_eq!((line("L", "straight")["total"].clone(), line("L", "straight")["to_order"].clone()), (json!(2), json!(3)));
        assert_eq!((swag["total"].clone(), swag["to_order"].clone()), (json!(8), json!(11)));

        // Catering.
        let dietary = get("/reports/dietary".into()).await;
        let counts: Vec<(String, u64)> = dietary["counts"].as_array().unwrap().iter().map(|c| (c["option"].as_str().unwrap().to_owned(), c["count"].as_u64().unwrap())).collect();
        assert_eq!(counts, [("none".to_owned(), 4), ("vegetarian".to_owned(), 2), ("vegan".to_owned(), 2)]);
        assert_eq!(dietary["days"].as_array().unwrap().len(), 2);
        assert_eq!(dietary["days"][1]["counts"], dietary["counts"]);
        assert_eq!(dietary["notes"].as_array().unwrap().len(), 1);
        assert_eq!((dietary["notes"][0]["name"].clone(), dietary["notes"][0]["notes"].clone()), (json!("Ann"), json!(NOTES)));

        // Sales.
        let sales = get("/reports/sales".into()).await;
        let tier = |name: &str| sales["tiers"].as_array().unwrap().iter().find(|t| t["tier"] == name).unwrap().clone();
        let regular = tier("Regular");
        assert_eq!(
            [&regular["sold"], &regular["held"], &regular["available"], &regular["revenue_gross"], &regular["refunded"], &regular["revenue_net"]],
            [&json!(3), &json!(1), &json!(46), &json!(3000), &json!(1500), &json!(1500)]
        );
        let free = tier("Free");
        assert_eq!([&free["sold"], &free["held"], &free["available"], &free["revenue_gross"]], [&json!(5), &json!(0), &json!(45), &json!(0)]);
        assert_eq!((sales["currency"].clone(), sales["revenue_net"].clone()), (json!("EUR"), json!(1500)));
        // The refunds in the report are the refund rows, to the cent.
        let rows: i64 = entity::refund::Entity::find().all(&app.db).await.unwrap().iter().map(|r| r.amount).sum();
        let by_tier: i64 = sales["tiers"].as_array().unwrap().iter().map(|t| t["refunded"].as_i64().unwrap()).sum();
        assert_eq!((rows, by_tier, sales["refunded"].as_i64().unwrap()), (1500, 1500, 1500));
        let states: Vec<(String, u64)> = sales["orders_by_state"].as_array().unwrap().iter().map(|s| (s["state"].as_str().unwrap().to_owned(), s["orders"].as_u64().unwrap())).collect();
        assert_eq!(states, [("pending".into(), 1), ("paid".into(), 6), ("expired".into(), 1), ("cancelled".into(), 1), ("refunded".into(), 1)]);
        let sold_by_day: u64 = sales["sold_by_day"].as_array().unwrap().iter().map(|d| d["tickets"].as_u64().unwrap()).sum();
        assert_eq!(sold_by_day, 8);

        // Arrivals.
        let checkins = get("/reports/checkins".into()).await;
        let list = |id: &str| checkins["lists"].as_array().unwrap().iter().find(|l| l["list_id"] == id).unwrap().clone();
        assert_eq!((list(&entry)["admitted"].clone(), list(&entry)["expected"].clone()), (json!(2), json!(8)));
        assert_eq!((list(&desk)["admitted"].clone(), list(&desk)["kind"].clone()), (json!(1), json!("swag")));
        let arrivals: u64 = checkins["arrivals_by_hour"].as_array().unwrap().iter().map(|h| h["admitted"].as_u64().unwrap()).sum();
        assert_eq!(arrivals, 2);
    }
}

db_test! {
    async fn the_csv_export_matches_the_json_list_and_neutralises_formulas(app) {
        mix(&app).await;
        let response = app
            .client
            .get(app.url("/api/v1/admin/events/figures/attendees.csv"))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
        assert!(response.headers()["content-disposition"].to_str().unwrap().contains("figures-attendees.csv"));
        let text = response.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(header[..4], ["order_code", "ticket_id", "attendee_name", "attendee_email"]);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let json = app.get("/api/v1/admin/events/figures/attendees?limit=200", Some(&app.admin)).await;
        let items = json.body["items"].as_array().unwrap();
        assert_eq!(rows.len(), items.len());
        for (row, item) in rows.iter().zip(items) {
            assert_eq!(row.get(1), item["ticket_id"].as_str());
            assert_eq!(row.get(0), item["order_code"].as_str());
            let name = item["name"].as_str().unwrap();
            let expected = if name.starts_with('=') { format!("'{name}") } else { name.to_owned() };
            assert_eq!(row.get(2), Some(expected.as_str()));
            assert_eq!(row.get(4), item["tier"].as_str());
            assert_eq!(row.get(5), item["swag_size"].as_str());
            assert_eq!(row.get(9).map(|c| !c.is_empty()), Some(item["checked_in_at"].is_string()));
        }
        // The hostile cells survive as text: quotes, commas, a newline, kanji.
        assert!(rows.iter().any(|r| r.get(2) == Some(QUOTED)));
        assert!(rows.iter().any(|r| r.get(8) == Some(NOTES)));
        assert!(rows.iter().any(|r| r.get(2) == Some(KANJI)));
        assert!(rows.iter().any(|r| r.get(2) == Some(format!("'{HOSTILE}").as_str())));
        assert!(!text.lines().any(|l| l.starts_with('=')));

        let filtered = app
            .client
            .get(app.url("/api/v1/admin/events/figures/attendees.csv?checked_in=true"))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(csv::Reader::from_reader(filtered.as_bytes()).records().count(), 2);
    }
}

db_test! {
    async fn reports_are_for_the_events_organizers_only(app) {
        mix(&app).await;
        app.create_event("other-figures", json!({})).await;
        let outsider = app.token(Role::Organizer, &["other-figures"]).await;
        let volunteer = app.token(Role::Volunteer, &["figures"]).await;
        for path in ["attendees", "attendees.csv", "reports/swag", "reports/dietary", "reports/sales", "reports/checkins"] {
            let url = format!("/api/v1/admin/events/figures/{path}");
            app.get(&url, Some(&outsider)).await.assert_problem(403, "forbidden");
            app.get(&url, Some(&volunteer)).await.assert_problem(403, "forbidden");
            app.get(&url, None).await.assert_problem(401, "unauthorized");
        }
        let insider = app.token(Role::Organizer, &["figures"]).await;
        assert_eq!(app.get("/api/v1/admin/events/figures/reports/sales", Some(&insider)).await.status, StatusCode::OK);
        app.get("/api/v1/admin/events/figures/reports/swag?padding=101", Some(&insider))
            .await
            .assert_problem(422, "validation_failed");
    }
}

/// An export whose database goes away mid-way must look broken to every
/// client, never like a complete (truncated) file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn a_csv_export_that_fails_midway_aborts_the_download() {
    use futures_util::StreamExt;
    use sea_orm::ConnectionTrait;
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await else {
        return;
    };
    let tiers = app
        .shop(
            "huge",
            json!({}),
            &[json!({"name": "Free", "price": 0, "capacity": 100})],
        )
        .await;
    let placed = app.order("huge", json!({"email": "a@example.org", "tickets": [crate::helpers::ticket(&tiers[0], "Ada")]})).await;
    let first = placed.body["tickets"][0]["id"].as_str().unwrap().to_owned();
    // 60,000 more attendees (copies of Ada), straight into the table.
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO ticket (id, order_id, event_id, tier_id, status, hold_expires_at, attendee_name, \
             attendee_email, swag_size, swag_cut, dietary, notes, unit_price, discount, price, voucher_id, \
             token_version, created_at, updated_at) SELECT gen_random_uuid(), order_id, event_id, tier_id, status, hold_expires_at, \
             attendee_name || g, attendee_email, swag_size, swag_cut, dietary, notes, unit_price, discount, price, \
             voucher_id, token_version, created_at, updated_at \
             FROM ticket, generate_series(1, 60000) AS g WHERE id = '{first}'"
        ))
        .await
        .unwrap();

    let response = app
        .client
        .get(app.url("/api/v1/admin/events/huge/attendees.csv"))
        .bearer_auth(&app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let mut received = body.next().await.unwrap().unwrap().len();

    let outside = crate::outage::Outside::connect(&app).await;
    outside.cut_off().await;

    let mut broken = false;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => received += bytes.len(),
            Err(_) => {
                broken = true;
                break;
            }
        }
    }
    outside.restore().await;
    assert!(
        broken,
        "the download ended cleanly after {received} bytes although the export failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn a_csv_export_that_cannot_start_is_an_error_not_an_empty_file() {
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await else {
        return;
    };
    app.shop(
        "early",
        json!({}),
        &[json!({"name": "Free", "price": 0, "capacity": 100})],
    )
    .await;
    let outside = crate::outage::Outside::connect(&app).await;
    outside.cut_off().await;
    let answer = app
        .get("/api/v1/admin/events/early/attendees.csv", Some(&app.admin))
        .await;
    outside.restore().await;
    answer.assert_problem(503, "database_unavailable");
}

db_test! {
    async fn tickets_sold_are_counted_on_the_local_day_they_were_paid(app) {
        // Kolkata is 5:30 ahead of UTC: its days do not start on a UTC hour.
        let tiers = app
            .shop("days", json!({"timezone": "Asia/Kolkata"}), &[json!({"name": "Free", "price": 0, "capacity": 10})])
            .await;
        let tz: chrono_tz::Tz = "Asia/Kolkata".parse().unwrap();
        let mut expected: std::collections::BTreeMap<String, u64> = Default::default();
        // Sales 0, 3, 24 and 29 hours from now: the hours that pass before each.
        for (i, (pass, tickets)) in [(0, 1), (3, 2), (21, 1), (5, 3)].into_iter().enumerate() {
            app.let_time_pass(chrono::Duration::hours(pass));
            let at = app.on_its_clock(async { tessera::domain::now() }).await;
            let names: Vec<Value> = (0..tickets).map(|_| crate::helpers::ticket(&tiers[0], "Ada")).collect();
            let answer = app.order("days", json!({"email": format!("d{i}@example.org"), "tickets": names})).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
            *expected.entry(at.with_timezone(&tz).date_naive().to_string()).or_default() += tickets;
        }
        let sales = app.get("/api/v1/admin/events/days/reports/sales", Some(&app.admin)).await;
        let got: std::collections::BTreeMap<String, u64> = sales.body["sold_by_day"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["day"].as_str().unwrap().to_owned(), d["tickets"].as_u64().unwrap()))
            .collect();
        assert_eq!(got, expected, "{}", sales.body);
        assert!(got.len() >= 2, "the sales span local days: {got:?}");
    }
}
