//! A mixed load, as on the morning of the event: buyers reading the
//! catalogue and placing late orders, attendees fixing their tickets,
//! volunteers scanning at the door, organizers watching the sales report.

use std::{
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use serde_json::json;
use tessera::{
    config::Settings,
    domain::{
        checkin::{
            lists::{self, ListInput, ListKind},
            tokens,
        },
        events::{self, EventInput, Transition},
        keys::KeyRing,
        orders::place::{CompRequest, TicketRequest, comp},
        staff::{self, NewTokenInput, Role, Staff},
        tiers::{self, TierInput},
    },
    startup::prepare_database,
};

use crate::{
    Args, Figures, Report, machine,
    rush::err,
    service::{self, Meter, Service},
};

/// The share of each kind of request, out of 20.
const MIX: [(&str, usize); 5] = [
    ("catalogue read", 10),
    ("order", 3),
    ("ticket edit", 2),
    ("scan", 4),
    ("sales report", 1),
];

/// An order placed during the run: its code, token and ticket.
type Placed = (String, String, String);

pub async fn run(args: &Args, binary: &Path, url: String) -> anyhow::Result<Report> {
    let settings = Settings::for_database(url.clone())?;
    let db = prepare_database(&settings).await?;
    let database = machine::database_version(&db).await;
    let inventory = tessera::domain::inventory::Inventory::new(db.clone(), settings.hold_limits());
    let system = Staff::system();
    let starts_at = tessera::domain::now() + chrono::Duration::hours(2);
    let input = EventInput {
        slug: "mixed".into(),
        name: "Mixed".into(),
        timezone: "Europe/Berlin".into(),
        starts_at,
        ends_at: starts_at + chrono::Duration::days(2),
        currency: "EUR".into(),
        ..Default::default()
    };
    events::create(&db, &system, input).await.map_err(err)?;
    let (_, tier) = tiers::create(
        &db,
        &system,
        "mixed",
        TierInput {
            name: "Community".into(),
            price: 0,
            capacity: 100_000,
            ..Default::default()
        },
    )
    .await
    .map_err(err)?;
    events::transition(&db, &system, "mixed", Transition::Publish)
        .await
        .map_err(err)?;
    let list = lists::create(
        &db,
        &system,
        "mixed",
        ListInput {
            name: "Entrance".into(),
            kind: ListKind::Entry,
            tiers: vec![],
            opens_at: None,
            closes_at: None,
        },
    )
    .await
    .map_err(err)?;
    // Attendees already registered, whose tokens the door scans.
    let registered = 3_000usize;
    for group in 0..registered / 10 {
        let request = CompRequest {
            email: format!("group{group}@example.org"),
            reason: "benchmark".into(),
            tickets: (0..10)
                .map(|i| TicketRequest {
                    tier_id: tier.id,
                    attendee_name: format!("Attendee {group}.{i}"),
                    ..Default::default()
                })
                .collect(),
        };
        comp(&db, &inventory, &system, "mixed", request)
            .await
            .map_err(err)?;
    }
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        sea_orm::ConnectionTrait::execute_unprepared(&db, "ANALYZE").await?;
    }
    // The key the service signs with, made now as its first start would.
    tessera::domain::keys::ensure(&db, None)
        .await
        .map_err(err)?;
    let keys = KeyRing::new(db.clone());
    let token_settings = settings.token_settings();
    let event = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::event::Entity::find()
            .filter(entity::event::Column::Slug.eq("mixed"))
            .one(&db)
            .await?
            .context("the event")?
    };
    let tickets = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::ticket::Entity::find()
            .filter(entity::ticket::Column::EventId.eq(event.id))
            .all(&db)
            .await?
    };
    let mut scan_tokens = Vec::with_capacity(tickets.len());
    for ticket in &tickets {
        let (token, _) = tokens::issue(&keys, &token_settings, "mixed", event.ends_at, ticket)
            .await
            .map_err(err)?;
        scan_tokens.push(token);
    }
    let organizer = staff::create(
        &db,
        NewTokenInput {
            name: "bench organizer".into(),
            role: Role::Organizer,
            events: vec!["mixed".into()],
            all_events: false,
        },
        &system,
    )
    .await
    .map_err(err)?
    .secret;

    let service = Service::start(binary, &url, &args.pool_env())?;
    let base = Arc::new(service.base.clone());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let placed: Arc<Mutex<Vec<Placed>>> = Arc::new(Mutex::new(Vec::new()));
    let scan_tokens = Arc::new(scan_tokens);
    let organizer = Arc::new(organizer);
    let next = Arc::new(AtomicUsize::new(0));
    let total = args.mixed_requests;
    let meter = Meter::start(&[&service], &db).await;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..args.concurrency {
        let (client, base, placed, scan_tokens, organizer, next) = (
            client.clone(),
            base.clone(),
            placed.clone(),
            scan_tokens.clone(),
            organizer.clone(),
            next.clone(),
        );
        let (tier_id, list_id) = (tier.id, list.id);
        workers.spawn(async move {
            let mut outcomes: Vec<(usize, bool, Duration)> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let kind = kind_of(i);
                let sent = Instant::now();
                let ok = match kind {
                    0 => get_ok(client.get(format!("{base}/api/v1/events/mixed/tiers"))).await,
                    1 => {
                        let body = json!({
                            "email": format!("late{i}@example.org"),
                            "tickets": [{"tier_id": tier_id, "attendee_name": format!("Late {i}")}],
                        });
                        let sent = client
                            .post(format!("{base}/api/v1/events/mixed/orders"))
                            .header("x-forwarded-for", format!("2001:db8::{i:x}"))
                            .json(&body)
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status().as_u16() == 201 => {
                                let body: serde_json::Value = r.json().await.unwrap_or_default();
                                if let (Some(code), Some(token), Some(ticket)) = (
                                    body["code"].as_str(),
                                    body["order_token"].as_str(),
                                    body["tickets"][0]["id"].as_str(),
                                ) && let Ok(mut placed) = placed.lock()
                                {
                                    placed.push((code.to_owned(), token.to_owned(), ticket.to_owned()));
                                }
                                true
                            }
                            _ => false,
                        }
                    }
                    2 => {
                        let mine = placed
                            .lock()
                            .ok()
                            .and_then(|p| p.get(i % p.len().max(1)).cloned());
                        match mine {
                            // Nothing placed yet: read the catalogue instead.
                            None => get_ok(client.get(format!("{base}/api/v1/events/mixed"))).await,
                            Some((code, token, ticket)) => {
                                get_ok(
                                    client
                                        .patch(format!("{base}/api/v1/orders/{code}/tickets/{ticket}"))
                                        .header("x-order-token", token)
                                        .json(&json!({"notes": format!("edit {i}")})),
                                )
                                .await
                            }
                        }
                    }
                    3 => {
                        let token = &scan_tokens[(i * 7919) % scan_tokens.len()];
                        let body = json!({"list_id": list_id, "token": token, "device": format!("door-{worker}")});
                        match client
                            .post(format!("{base}/api/v1/checkin/scan"))
                            .bearer_auth(organizer.as_str())
                            .json(&body)
                            .send()
                            .await
                        {
                            Ok(r) => r
                                .json::<serde_json::Value>()
                                .await
                                .is_ok_and(|b| matches!(b["result"].as_str(), Some("admitted" | "already_checked_in"))),
                            Err(_) => false,
                        }
                    }
                    _ => {
                        get_ok(
                            client
                                .get(format!("{base}/api/v1/admin/events/mixed/reports/sales"))
                                .bearer_auth(organizer.as_str()),
                        )
                        .await
                    }
                };
                outcomes.push((kind, ok, sent.elapsed()));
            }
            outcomes
        });
    }
    let mut outcomes = Vec::with_capacity(total);
    while let Some(done) = workers.join_next().await {
        outcomes.extend(done?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = meter.finish(&db).await;
    let rss_kib = service.peak_rss_kib();
    service.stop();
    let database_bytes = service::database_size(&db, &url).await;

    let failures = outcomes.iter().filter(|(_, ok, _)| !ok).count();
    let mut rows = String::new();
    for (kind, (name, _)) in MIX.iter().enumerate() {
        let mut l: Vec<Duration> = outcomes
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, _, l)| *l)
            .collect();
        l.sort_unstable();
        rows.push_str(&format!(
            "| {name} | {} | {:.1} / {:.1} ms |\n",
            l.len(),
            machine::percentile(&l, 0.50),
            machine::percentile(&l, 0.99),
        ));
    }
    let mut latencies: Vec<Duration> = outcomes.iter().map(|(_, _, l)| *l).collect();
    latencies.sort_unstable();
    let markdown = format!(
        "## Mixed load: latest run ({kind})\n\n\
         Generated by `cargo run --release -p bench -- --scenario mixed --mixed-requests {total} \
         --concurrency {concurrency}{pool}` on {date}.\n\n\
         {machine}\
         ### Results\n\n\
         {registered} attendees registered before the run; {concurrency} clients at once; \
         {failures} requests failed.\n\n\
         | request | count | p50 / p99 |\n| --- | --- | --- |\n\
         {rows}\
         | **all** | {total} | {p50:.1} / {p99:.1} ms |\n\n\
         Server CPU per request: service {svc:.2} ms, its database backends {dbc:.2} ms (PostgreSQL; SQLite runs inside the service); \
         service peak RSS {rss:.1} MiB. The machine's cores: {breakdown}.\n",
        kind = machine::backend_kind(&database),
        concurrency = args.concurrency,
        pool = args.pool_flag(),
        date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine = machine::describe(&database),
        p50 = machine::percentile(&latencies, 0.50),
        p99 = machine::percentile(&latencies, 0.99),
        svc = cpu.service.as_secs_f64() * 1000.0 / total.max(1) as f64,
        dbc = cpu.database.as_secs_f64() * 1000.0 / total.max(1) as f64,
        rss = rss_kib as f64 / 1024.0,
        breakdown = cpu.breakdown(),
    );
    Ok(Report {
        section: "mixed",
        markdown,
        failed: failures > 0,
        figures: Figures {
            scenario: "mixed load (reads, orders, edits, scans, reports)".into(),
            requests: outcomes.len(),
            seconds,
            latencies,
            cpu,
            rss_kib,
            database_bytes,
        },
    })
}

/// Which kind of request the `i`-th is, by [`MIX`].
fn kind_of(i: usize) -> usize {
    let mut slot = i % 20;
    for (kind, (_, share)) in MIX.iter().enumerate() {
        if slot < *share {
            return kind;
        }
        slot -= share;
    }
    0
}

async fn get_ok(request: reqwest::RequestBuilder) -> bool {
    match request.send().await {
        Ok(response) => {
            let ok = response.status().is_success();
            let _ = response.bytes().await;
            ok
        }
        Err(_) => false,
    }
}
