//! A token's reach never widens by itself: "every event" is something a
//! token is given, never what is left when its events are gone.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tessera::domain::staff::Role;

use crate::helpers::{Backend, TestApp, TestDatabase, ticket};

/// An event with a free tier, an entry list and one attendee, so there is
/// something worth stealing.
async fn busy_event(app: &TestApp, slug: &str) -> String {
    let tiers = app
        .shop(
            slug,
            json!({}),
            &[json!({"name": "Free", "price": 0, "capacity": 10})],
        )
        .await;
    let order = app
        .order(
            slug,
            json!({"email": "ada@example.org", "tickets": [ticket(&tiers[0], "Ada")]}),
        )
        .await;
    assert_eq!(order.status, StatusCode::CREATED, "{}", order.body);
    let list = app
        .post(
            &format!("/api/v1/admin/events/{slug}/checkin-lists"),
            &app.admin,
            json!({"name": "Entrance", "kind": "entry"}),
        )
        .await;
    assert_eq!(list.status, StatusCode::CREATED, "{}", list.body);
    list.body["id"].as_str().unwrap().to_owned()
}

fn token_row<'a>(listed: &'a Value, name: &str) -> &'a Value {
    listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap()
}

db_test! {
    async fn an_organizer_that_deletes_its_only_event_reaches_nothing(app) {
        let theirs_list = busy_event(&app, "theirs").await;
        app.create_event("ours", json!({})).await;
        let created = app
            .post("/api/v1/admin/tokens", &app.admin, json!({"name": "Ours", "role": "organizer", "events": ["ours"]}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["all_events"], false);
        let organizer = created.body["token"].as_str().unwrap().to_owned();
        // Warm this instance's token cache with the old scope.
        assert_eq!(app.get("/api/v1/admin/events/ours", Some(&organizer)).await.status, StatusCode::OK);

        let deleted = app.delete("/api/v1/admin/events/ours", &organizer).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);

        let listed = app.get("/api/v1/admin/events", Some(&organizer)).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.body["items"], json!([]));
        for path in [
            "/api/v1/admin/events/theirs",
            "/api/v1/admin/events/theirs/orders",
            "/api/v1/admin/events/theirs/attendees",
            "/api/v1/admin/events/theirs/attendees.csv",
            "/api/v1/admin/events/theirs/reports/sales",
            "/api/v1/admin/events/theirs/checkin-lists",
        ] {
            app.get(path, Some(&organizer)).await.assert_problem(403, "forbidden");
        }
        app.post("/api/v1/admin/events", &organizer, crate::helpers::event_body("grabbed"))
            .await
            .assert_problem(403, "forbidden");
        let scanner = app.get("/api/v1/checkin/lists", Some(&organizer)).await;
        assert_eq!(scanner.status, StatusCode::OK, "{}", scanner.body);
        assert_eq!(scanner.body, json!([]));
        app.get(&format!("/api/v1/checkin/lists/{theirs_list}/manifest"), Some(&organizer))
            .await
            .assert_problem(403, "forbidden");

        let tokens = app.get("/api/v1/admin/tokens", Some(&app.admin)).await;
        let row = token_row(&tokens.body, "Ours");
        assert_eq!(row["all_events"], false);
        assert_eq!(row["events"], json!([]));
    }
}

db_test! {
    async fn a_volunteer_whose_event_an_admin_deletes_reaches_nothing(app) {
        let theirs_list = busy_event(&app, "theirs").await;
        app.create_event("gone", json!({})).await;
        let volunteer = app.token(Role::Volunteer, &["gone"]).await;
        assert_eq!(app.get("/api/v1/checkin/lists", Some(&volunteer)).await.status, StatusCode::OK);

        let deleted = app.delete("/api/v1/admin/events/gone", &app.admin).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);

        let lists = app.get("/api/v1/checkin/lists", Some(&volunteer)).await;
        assert_eq!(lists.body, json!([]));
        app.get(&format!("/api/v1/checkin/lists/{theirs_list}/manifest"), Some(&volunteer))
            .await
            .assert_problem(403, "forbidden");
        app.post("/api/v1/checkin/scan", &volunteer, json!({"list_id": theirs_list, "token": "x.y.z", "device": "door-1"}))
            .await
            .assert_problem(403, "forbidden");
    }
}

db_test! {
    async fn archiving_an_event_changes_no_other_tokens_reach(app) {
        busy_event(&app, "theirs").await;
        app.create_event("ours", json!({})).await;
        let organizer = app.token(Role::Organizer, &["ours"]).await;
        let archived = app.post("/api/v1/admin/events/ours/archive", &organizer, json!({})).await;
        assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
        let listed = app.get("/api/v1/admin/events", Some(&organizer)).await;
        let slugs: Vec<&str> = listed.body["items"].as_array().unwrap().iter().map(|e| e["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, ["ours"]);
        app.get("/api/v1/admin/events/theirs/orders", Some(&organizer)).await.assert_problem(403, "forbidden");
    }
}

db_test! {
    async fn a_token_names_its_scope_explicitly(app) {
        app.create_event("scoped", json!({})).await;
        let neither = app.post("/api/v1/admin/tokens", &app.admin, json!({"name": "x", "role": "organizer"})).await;
        neither.assert_problem(422, "validation_failed");
        assert_eq!(neither.error_fields(), ["events"]);
        assert_eq!(neither.body["errors"][0]["code"], "scope_required");

        let both = app
            .post("/api/v1/admin/tokens", &app.admin, json!({"name": "x", "role": "volunteer", "events": ["scoped"], "all_events": true}))
            .await;
        both.assert_problem(422, "validation_failed");
        assert_eq!(both.error_fields(), ["all_events"]);

        let all = app
            .post("/api/v1/admin/tokens", &app.admin, json!({"name": "Everywhere", "role": "organizer", "all_events": true}))
            .await;
        assert_eq!(all.status, StatusCode::CREATED, "{}", all.body);
        assert_eq!((&all.body["all_events"], &all.body["events"]), (&json!(true), &json!([])));

        let admin = app.post("/api/v1/admin/tokens", &app.admin, json!({"name": "Root", "role": "admin"})).await;
        assert_eq!(admin.status, StatusCode::CREATED, "{}", admin.body);
        assert_eq!(admin.body["all_events"], true);
    }
}

/// Tokens written before "all events" was a column keep their meaning: no
/// scope rows meant every event, rows meant exactly those events.
async fn tokens_in_place_keep_their_meaning(backend: Backend) {
    use migration::{Migrator, MigratorTrait};
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let db = sea_orm::Database::connect(&database.url).await.unwrap();
    // Every migration before the one that made "all events" a column.
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261201_000001_add_staff_token_all_events")
        .unwrap();
    Migrator::up(&db, Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();

    let event = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    let exec = |sql: &str, values: Vec<sea_orm::Value>| {
        let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
        let db = db.clone();
        async move { db.execute_raw(statement).await.unwrap() }
    };
    let placeholders = |n: usize| -> String {
        (1..=n)
            .map(|i| {
                if backend == Backend::Postgres {
                    format!("${i}")
                } else {
                    "?".to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    exec(
        &format!(
            "INSERT INTO event (id, slug, name, description, timezone, starts_at, ends_at, currency, swag_sizes, dietary_options, status, created_at, updated_at) VALUES ({})",
            placeholders(13)
        ),
        vec![
            event.into(), "old".into(), "Old".into(), "".into(), "UTC".into(), now.into(), now.into(), "EUR".into(),
            serde_json::json!([]).into(), serde_json::json!([]).into(), "draft".into(), now.into(), now.into(),
        ],
    )
    .await;
    let mut ids = Vec::new();
    for (name, role) in [
        ("unscoped", "organizer"),
        ("scoped", "volunteer"),
        ("admin", "admin"),
    ] {
        let id = uuid::Uuid::now_v7();
        ids.push(id);
        exec(
            &format!(
                "INSERT INTO staff_token (id, name, role, token_hash, hint, created_at) VALUES ({})",
                placeholders(6)
            ),
            vec![id.into(), name.into(), role.into(), format!("hash-{name}").into(), "tsr_xxxx".into(), now.into()],
        )
        .await;
    }
    exec(
        &format!(
            "INSERT INTO staff_token_event (token_id, event_id) VALUES ({})",
            placeholders(2)
        ),
        vec![ids[1].into(), event.into()],
    )
    .await;

    Migrator::up(&db, None).await.unwrap();
    let tokens =
        tessera::domain::staff::list(&db, &tessera::domain::staff::Staff::system(), None, None)
            .await
            .unwrap();
    let reach: Vec<(String, bool, Vec<String>)> = tokens
        .items
        .into_iter()
        .map(|t| (t.name, t.all_events, t.events))
        .collect();
    assert_eq!(
        reach,
        [
            ("unscoped".to_owned(), true, vec![]),
            ("scoped".to_owned(), false, vec!["old".to_owned()]),
            ("admin".to_owned(), true, vec![]),
        ]
    );
}

#[tokio::test]
async fn tokens_in_place_keep_their_meaning_on_sqlite() {
    tokens_in_place_keep_their_meaning(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn tokens_in_place_keep_their_meaning_on_postgres() {
    tokens_in_place_keep_their_meaning(Backend::Postgres).await;
}

db_test! {
    async fn organizers_staff_their_own_events(app) {
        let ours_list = busy_event(&app, "ours").await;
        busy_event(&app, "theirs").await;
        let organizer = app.token(Role::Organizer, &["ours"]).await;
        let theirs_volunteer = app
            .post("/api/v1/admin/tokens", &app.admin, json!({"name": "Their door", "role": "volunteer", "events": ["theirs"]}))
            .await;
        assert_eq!(theirs_volunteer.status, StatusCode::CREATED, "{}", theirs_volunteer.body);
        let theirs_id = theirs_volunteer.body["id"].as_str().unwrap().to_owned();
        let admin_made = app
            .post("/api/v1/admin/tokens", &app.admin, json!({"name": "Our door (by admin)", "role": "volunteer", "events": ["ours"]}))
            .await;
        let admin_made_id = admin_made.body["id"].as_str().unwrap().to_owned();
        app.post("/api/v1/admin/tokens", &app.admin, json!({"name": "Both doors", "role": "volunteer", "events": ["ours", "theirs"]}))
            .await;
        app.post("/api/v1/admin/tokens", &app.admin, json!({"name": "Co-organizer", "role": "organizer", "events": ["ours"]}))
            .await;

        // It may mint a volunteer for its own event, and that volunteer scans there.
        let created = app
            .post("/api/v1/admin/tokens", &organizer, json!({"name": "Door 1", "role": "volunteer", "events": ["ours"]}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!((&created.body["role"], &created.body["events"]), (&json!("volunteer"), &json!(["ours"])));
        let volunteer = created.body["token"].as_str().unwrap().to_owned();
        let lists = app.get("/api/v1/checkin/lists", Some(&volunteer)).await;
        assert_eq!(lists.status, StatusCode::OK, "{}", lists.body);
        assert_eq!(lists.body[0]["id"], ours_list.as_str());

        // Nothing wider than itself: no organizer or admin, no other event,
        // not every event.
        for body in [
            json!({"name": "x", "role": "organizer", "events": ["ours"]}),
            json!({"name": "x", "role": "admin"}),
            json!({"name": "x", "role": "volunteer", "events": ["theirs"]}),
            json!({"name": "x", "role": "volunteer", "events": ["ours", "theirs"]}),
            json!({"name": "x", "role": "volunteer", "all_events": true}),
        ] {
            app.post("/api/v1/admin/tokens", &organizer, body.clone())
                .await
                .assert_problem(403, "forbidden");
        }

        // It lists the volunteers of its events only, whoever made them.
        let listed = app.get("/api/v1/admin/tokens", Some(&organizer)).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let mut names: Vec<&str> = listed.body["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        names.sort_unstable();
        assert_eq!(names, ["Door 1", "Our door (by admin)"]);

        // It revokes those, and not the others.
        let revoked = app.delete(&format!("/api/v1/admin/tokens/{admin_made_id}"), &organizer).await;
        assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
        assert!(revoked.body["revoked_at"].is_string(), "{}", revoked.body);
        app.delete(&format!("/api/v1/admin/tokens/{theirs_id}"), &organizer)
            .await
            .assert_problem(403, "forbidden");

        // A volunteer manages nothing; the admin still sees every token.
        app.get("/api/v1/admin/tokens", Some(&volunteer)).await.assert_problem(403, "forbidden");
        app.post("/api/v1/admin/tokens", &volunteer, json!({"name": "x", "role": "volunteer", "events": ["ours"]}))
            .await
            .assert_problem(403, "forbidden");
        let everything = app.get("/api/v1/admin/tokens", Some(&app.admin)).await;
        assert!(everything.body["items"].as_array().unwrap().len() >= 6, "{}", everything.body);
    }
}

db_test! {
    async fn an_all_events_organizer_staffs_any_event_but_mints_no_organizer(app) {
        busy_event(&app, "ours").await;
        let organizer = app.all_events_token(Role::Organizer).await;
        let created = app
            .post("/api/v1/admin/tokens", &organizer, json!({"name": "Anywhere", "role": "volunteer", "all_events": true}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        app.post("/api/v1/admin/tokens", &organizer, json!({"name": "x", "role": "organizer", "all_events": true}))
            .await
            .assert_problem(403, "forbidden");
        let listed = app.get("/api/v1/admin/tokens", Some(&organizer)).await;
        let roles: Vec<&str> = listed.body["items"].as_array().unwrap().iter().map(|t| t["role"].as_str().unwrap()).collect();
        assert!(roles.iter().all(|r| *r == "volunteer"), "{}", listed.body);
        assert!(!roles.is_empty());
    }
}
