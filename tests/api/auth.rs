use reqwest::{Method, StatusCode};
use serde_json::json;
use tessera::domain::staff::Role;

use crate::helpers::TestApp;

const ADMIN_PATHS: &[(&str, &str)] = &[
    ("GET", "/api/v1/admin/events"),
    ("POST", "/api/v1/admin/events"),
    ("GET", "/api/v1/admin/events/any-event"),
    ("GET", "/api/v1/admin/events/any-event/tiers"),
    ("GET", "/api/v1/admin/tokens"),
];

async fn each_admin_path(app: &TestApp, token: Option<&str>, expected: u16, code: &str) {
    for (method, path) in ADMIN_PATHS {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (method == Method::POST).then(|| json!({}));
        let answer = app.call(method.clone(), path, token, body).await;
        assert_eq!(
            answer.status.as_u16(),
            expected,
            "{method} {path}: {}",
            answer.body
        );
        answer.assert_problem(expected, code);
    }
}

db_test! {
    async fn requests_without_a_token_are_rejected_with_401(app) {
        each_admin_path(&app, None, 401, "unauthorized").await;
    }
}

db_test! {
    async fn unknown_and_malformed_tokens_are_rejected_with_401(app) {
        let unknown = format!("tsr_{}", "A".repeat(43));
        each_admin_path(&app, Some(&unknown), 401, "unauthorized").await;
        each_admin_path(&app, Some("not-a-token"), 401, "unauthorized").await;
        let answer = app.get("/api/v1/admin/events", Some("")).await;
        answer.assert_problem(401, "unauthorized");
    }
}

db_test! {
    async fn a_revoked_token_stops_working_at_once(app) {
        let created = app
            .post("/api/v1/admin/tokens", &app.admin, json!({"name": "Ana", "role": "organizer", "all_events": true}))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let secret = created.body["token"].as_str().unwrap().to_owned();
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(app.get("/api/v1/admin/events", Some(&secret)).await.status, StatusCode::OK);

        let revoked = app.delete(&format!("/api/v1/admin/tokens/{id}"), &app.admin).await;
        assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
        assert!(revoked.body["revoked_at"].is_string());

        app.get("/api/v1/admin/events", Some(&secret)).await.assert_problem(401, "unauthorized");
    }
}

db_test! {
    async fn volunteers_cannot_reach_admin_endpoints(app) {
        app.create_event("volunteer-conf", json!({})).await;
        let volunteer = app.token(Role::Volunteer, &["volunteer-conf"]).await;
        for (method, path) in [
            ("GET", "/api/v1/admin/events"),
            ("POST", "/api/v1/admin/events"),
            ("GET", "/api/v1/admin/events/volunteer-conf"),
            ("GET", "/api/v1/admin/events/volunteer-conf/tiers"),
            ("POST", "/api/v1/admin/events/volunteer-conf/publish"),
            ("GET", "/api/v1/admin/tokens"),
        ] {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let body = (method == Method::POST).then(|| crate::helpers::event_body("volunteer-made"));
            let answer = app.call(method.clone(), path, Some(&volunteer), body).await;
            answer.assert_problem(403, "forbidden");
        }
    }
}

db_test! {
    async fn organizers_only_see_and_change_the_events_in_their_scope(app) {
        app.create_event("ours", json!({})).await;
        app.create_event("theirs", json!({})).await;
        let organizer = app.token(Role::Organizer, &["ours"]).await;

        let listed = app.get("/api/v1/admin/events", Some(&organizer)).await;
        let slugs: Vec<&str> = listed.body["items"].as_array().unwrap().iter().map(|e| e["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, ["ours"]);

        assert_eq!(app.get("/api/v1/admin/events/ours", Some(&organizer)).await.status, StatusCode::OK);
        app.get("/api/v1/admin/events/theirs", Some(&organizer)).await.assert_problem(403, "forbidden");
        app.patch("/api/v1/admin/events/theirs", &organizer, json!({"name": "Mine now"}))
            .await
            .assert_problem(403, "forbidden");
        app.post("/api/v1/admin/events/theirs/tiers", &organizer, json!({"name": "x", "price": 0, "capacity": 1}))
            .await
            .assert_problem(403, "forbidden");
        // A scoped organizer cannot create events it would not see.
        app.post("/api/v1/admin/events", &organizer, crate::helpers::event_body("new-one"))
            .await
            .assert_problem(403, "forbidden");
        // Nor manage staff beyond its own volunteers (see
        // `scope::organizers_staff_their_own_events`): it sees no admin or
        // organizer token and mints none.
        let tokens = app.get("/api/v1/admin/tokens", Some(&organizer)).await;
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
        assert_eq!(tokens.body["items"], json!([]));
        app.post("/api/v1/admin/tokens", &organizer, json!({"name": "Me too", "role": "organizer", "events": ["ours"]}))
            .await
            .assert_problem(403, "forbidden");

        let unscoped = app.all_events_token(Role::Organizer).await;
        let created = app.post("/api/v1/admin/events", &unscoped, crate::helpers::event_body("new-one")).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
}

db_test! {
    async fn token_lists_never_show_secrets(app) {
        let created = app
            .post("/api/v1/admin/tokens", &app.admin, json!({"name": "Door 1", "role": "volunteer", "all_events": true}))
            .await;
        let secret = created.body["token"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("tsr_"));
        assert_eq!(created.body["hint"], secret[..8]);

        let listed = app.get("/api/v1/admin/tokens", Some(&app.admin)).await;
        assert_eq!(listed.status, StatusCode::OK);
        let text = listed.body.to_string();
        assert!(!text.contains(&secret), "a secret leaked into the token list");
        assert!(!text.contains(&app.admin), "the admin secret leaked into the token list");
        let items = listed.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|item| item.get("token").is_none()));
    }
}

db_test! {
    async fn token_requests_are_validated_field_by_field(app) {
        app.create_event("scoped", json!({})).await;
        let bad = app
            .post(
                "/api/v1/admin/tokens",
                &app.admin,
                json!({"name": "", "role": "admin", "events": ["scoped"]}),
            )
            .await;
        bad.assert_problem(422, "validation_failed");
        assert_eq!(bad.error_fields(), ["name", "events"]);

        let unknown = app
            .post(
                "/api/v1/admin/tokens",
                &app.admin,
                json!({"name": "x", "role": "volunteer", "events": ["scoped", "nope"]}),
            )
            .await;
        unknown.assert_problem(422, "validation_failed");
        assert_eq!(unknown.error_fields(), ["events[1]"]);

        let role = app.post("/api/v1/admin/tokens", &app.admin, json!({"name": "x", "role": "root"})).await;
        role.assert_problem(422, "validation_failed");
        assert_eq!(role.error_fields(), ["role"]);
    }
}

async fn instances_starting_together_mint_one_admin_token(backend: crate::helpers::Backend) {
    let Some(database) = crate::helpers::TestDatabase::create(backend).await else {
        return;
    };
    let settings =
        tessera::config::Settings::for_database(database.url.clone()).expect("default settings");
    let db = tessera::startup::prepare_database(&settings).await.unwrap();
    // Spawned all at once (collected), then awaited: they really race.
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { tessera::domain::staff::bootstrap_admin(&db).await })
        })
        .collect();
    let mut minted = 0;
    for attempt in attempts {
        if attempt.await.unwrap().unwrap().is_some() {
            minted += 1;
        }
    }
    assert_eq!(minted, 1);
    let tokens =
        tessera::domain::staff::list(&db, &tessera::domain::staff::Staff::system(), None, None)
            .await
            .unwrap();
    assert_eq!(tokens.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_mint_one_admin_token_on_sqlite() {
    instances_starting_together_mint_one_admin_token(crate::helpers::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(tessera_postgres),
    ignore = "set TEST_DATABASE_URL to run it on PostgreSQL"
)]
async fn instances_starting_together_mint_one_admin_token_on_postgres() {
    instances_starting_together_mint_one_admin_token(crate::helpers::Backend::Postgres).await;
}
