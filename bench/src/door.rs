//! The door rush: K scanners scan every ticket of an event once, with
//! duplicate scans mixed in, as at a conference's doors at 8:45.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
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
        staff::Staff,
        tiers::{self, TierInput},
    },
    startup::prepare_database,
};

use crate::{
    Args, Figures, Report, machine,
    service::{self, Meter, Service},
};

fn err(e: tessera::domain::DomainError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

struct Outcome {
    result: String,
    latency: Duration,
}

pub async fn run(args: &Args, binary: &Path, url: String) -> anyhow::Result<Report> {
    let settings = Settings::for_database(url.clone())?;
    let db = prepare_database(&settings).await?;
    let database = machine::database_version(&db).await;
    let inventory = tessera::domain::inventory::Inventory::new(db.clone(), settings.hold_limits());

    // An event starting now, one tier, every ticket comped in orders of 10.
    let system = Staff::system();
    let starts_at = tessera::domain::now();
    let input = EventInput {
        slug: "doors".into(),
        name: "Doors".into(),
        timezone: "UTC".into(),
        starts_at,
        ends_at: starts_at + chrono::Duration::days(1),
        currency: "EUR".into(),
        ..Default::default()
    };
    events::create(&db, &system, input).await.map_err(err)?;
    let tier = TierInput {
        name: "Attendee".into(),
        price: 0,
        capacity: i64::try_from(args.tickets)?,
        ..Default::default()
    };
    let (_, tier) = tiers::create(&db, &system, "doors", tier)
        .await
        .map_err(err)?;
    events::transition(&db, &system, "doors", Transition::Publish)
        .await
        .map_err(err)?;
    let list = lists::create(
        &db,
        &system,
        "doors",
        ListInput {
            name: "Main entrance".into(),
            kind: ListKind::Entry,
            tiers: vec![],
            opens_at: None,
            closes_at: None,
        },
    )
    .await
    .map_err(err)?;
    let mut made = 0;
    while made < args.tickets {
        let n = (args.tickets - made).min(10);
        let request = CompRequest {
            email: format!("group{made}@example.org"),
            reason: "benchmark".into(),
            tickets: (0..n)
                .map(|i| TicketRequest {
                    tier_id: tier.id,
                    attendee_name: person(made + i),
                    ..Default::default()
                })
                .collect(),
        };
        comp(&db, &inventory, &system, "doors", request)
            .await
            .map_err(err)?;
        made += n;
    }

    // Planner statistics as autovacuum leaves them within a minute of the
    // sales (a fresh bulk load has none, and plans as if the event were empty).
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        sea_orm::ConnectionTrait::execute_unprepared(&db, "ANALYZE").await?;
    }

    // Every ticket's token, signed as the attendee's phone would show it.
    // The key the service signs with, made now as its first start would.
    tessera::domain::keys::ensure(&db, None)
        .await
        .map_err(err)?;
    let keys = KeyRing::new(db.clone());
    let token_settings = settings.token_settings();
    let event = entity::event::Entity::find()
        .filter(entity::event::Column::Slug.eq("doors"))
        .one(&db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no event"))?;
    let tickets = entity::ticket::Entity::find()
        .filter(entity::ticket::Column::EventId.eq(event.id))
        .all(&db)
        .await?;
    let mut tokens_list = Vec::with_capacity(tickets.len());
    for ticket in &tickets {
        let (token, _) = tokens::issue(&keys, &token_settings, "doors", event.ends_at, ticket)
            .await
            .map_err(err)?;
        tokens_list.push(token);
    }

    // Raw verification on one core: the real verification path, one thread.
    let verify_sample: Vec<String> = tokens_list.iter().take(2_000).cloned().collect();
    let (verified, verify_seconds) = {
        let keys = keys.clone();
        let token_settings = token_settings.clone();
        tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                // Warm the key cache.
                let _ = tokens::verify(&keys, &token_settings, &verify_sample[0], "doors").await;
                let started = Instant::now();
                let mut ok = 0usize;
                for _ in 0..5 {
                    for token in &verify_sample {
                        if matches!(
                            tokens::verify(&keys, &token_settings, token, "doors").await,
                            Ok(Ok(_))
                        ) {
                            ok += 1;
                        }
                    }
                }
                Ok::<_, anyhow::Error>((ok, started.elapsed().as_secs_f64()))
            })
        })
        .await??
    };

    // Raw verification with the JWT library alone (the published key, no
    // key cache), one thread: what any scanner app pays per token.
    let x = tessera::domain::keys::published(&db)
        .await
        .map_err(err)?
        .first()
        .map(|k| k.x.clone())
        .ok_or_else(|| anyhow::anyhow!("no published key"))?;
    let (raw_verified, raw_seconds) = {
        let sample: Vec<String> = tokens_list.iter().take(2_000).cloned().collect();
        tokio::task::spawn_blocking(move || {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(x)?;
            let key = jsonwebtoken::DecodingKey::from_ed_der(&bytes);
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
            validation.set_audience(&["doors"]);
            validation.set_issuer(&["tessera"]);
            let started = Instant::now();
            let mut ok = 0usize;
            for _ in 0..5 {
                for token in &sample {
                    if jsonwebtoken::decode::<tokens::Claims>(token, &key, &validation).is_ok() {
                        ok += 1;
                    }
                }
            }
            Ok::<_, anyhow::Error>((ok, started.elapsed().as_secs_f64()))
        })
        .await??
    };

    // The scan plan: every ticket once, plus duplicates, shuffled.
    let duplicates = args.tickets * args.duplicates / 100;
    let mut plan: Vec<usize> = (0..args.tickets).collect();
    plan.extend((0..duplicates).map(|i| (i * 7919) % args.tickets));
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..plan.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let j = usize::try_from(seed % (i as u64 + 1)).unwrap_or(0);
        plan.swap(i, j);
    }

    let service = Service::start(binary, &url, &args.pool_env())?;
    let endpoint = format!("{}/api/v1/checkin/scan", service.base);
    let search_endpoint = format!(
        "{}/api/v1/checkin/lists/{}/attendees",
        service.base, list.id
    );
    let admin = tessera::domain::staff::create(
        &db,
        tessera::domain::staff::NewTokenInput {
            name: "bench scanner".into(),
            role: tessera::domain::staff::Role::Volunteer,
            events: vec!["doors".into()],
            all_events: false,
        },
        &Staff::system(),
    )
    .await
    .map_err(err)?
    .secret;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.scanners)
        .build()?;
    let plan = Arc::new(plan);
    let tokens_list = Arc::new(tokens_list);
    let next = Arc::new(AtomicUsize::new(0));
    let meter = Meter::start(&[&service], &db).await;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for scanner in 0..args.scanners {
        let (client, endpoint, plan, tokens_list, next, admin) = (
            client.clone(),
            endpoint.clone(),
            plan.clone(),
            tokens_list.clone(),
            next.clone(),
            admin.clone(),
        );
        let list_id = list.id;
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(ticket) = plan.get(i) else { break };
                let body = json!({"list_id": list_id, "token": tokens_list[*ticket], "device": format!("door-{scanner}")});
                let sent = Instant::now();
                let result = match client.post(&endpoint).bearer_auth(&admin).json(&body).send().await {
                    Ok(response) => match response.json::<serde_json::Value>().await {
                        Ok(body) => body["result"].as_str().unwrap_or("error").to_owned(),
                        Err(_) => "error".into(),
                    },
                    Err(_) => "error".into(),
                };
                outcomes.push(Outcome {
                    result,
                    latency: sent.elapsed(),
                });
            }
            outcomes
        });
    }
    let mut outcomes = Vec::with_capacity(plan.len());
    while let Some(done) = workers.join_next().await {
        outcomes.extend(done?);
    }
    let elapsed = started.elapsed();
    let cpu = meter.finish(&db).await;

    // The help desk: volunteers look attendees up by name (`--searchers`
    // at once): mostly someone's surname, which finds a few people; one in
    // ten a common first name (a page of 50 out of a twentieth of the event).
    let searches = 2_000usize;
    let next_search = Arc::new(AtomicUsize::new(0));
    let mut volunteers = tokio::task::JoinSet::new();
    for _ in 0..args.searchers {
        let (client, search_endpoint, next_search, admin) = (
            client.clone(),
            search_endpoint.clone(),
            next_search.clone(),
            admin.clone(),
        );
        let tickets = args.tickets;
        volunteers.spawn(async move {
            let mut found = Vec::new();
            loop {
                let i = next_search.fetch_add(1, Ordering::Relaxed);
                if i >= searches {
                    break;
                }
                let q = if i % 10 == 0 {
                    FIRST_NAMES[i % FIRST_NAMES.len()].to_lowercase()
                } else {
                    surname((i * 7919) % tickets)
                };
                let sent = Instant::now();
                let ok = match client
                    .get(&search_endpoint)
                    .query(&[("q", q.as_str())])
                    .bearer_auth(&admin)
                    .send()
                    .await
                {
                    Ok(response) => {
                        response.status().is_success()
                            && response
                                .json::<serde_json::Value>()
                                .await
                                .is_ok_and(|b| b["items"].as_array().is_some_and(|a| !a.is_empty()))
                    }
                    Err(_) => false,
                };
                found.push((ok, sent.elapsed()));
            }
            found
        });
    }
    let mut search_outcomes = Vec::with_capacity(searches);
    while let Some(done) = volunteers.join_next().await {
        search_outcomes.extend(done?);
    }
    let rss_kib = service.peak_rss_kib();
    service.stop();
    let database_bytes = service::database_size(&db, &url).await;
    let search_failures = search_outcomes.iter().filter(|(ok, _)| !ok).count();
    let mut search_latencies: Vec<Duration> = search_outcomes.iter().map(|(_, l)| *l).collect();
    search_latencies.sort_unstable();

    let admitted_rows = entity::checkin::Entity::find()
        .filter(entity::checkin::Column::ListId.eq(list.id))
        .count(&db)
        .await?;
    let admitted = outcomes.iter().filter(|o| o.result == "admitted").count();
    let already = outcomes
        .iter()
        .filter(|o| o.result == "already_checked_in")
        .count();
    let other = outcomes.len() - admitted - already;
    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort_unstable();
    let seconds = elapsed.as_secs_f64();
    let failed = admitted != args.tickets
        || usize::try_from(admitted_rows)? != args.tickets
        || other > 0
        || search_failures > 0;

    let markdown = format!(
        "## Door rush: latest run ({kind})\n\n\
         Generated by `cargo run --release -p bench -- --scenario door --tickets {tickets} --duplicates {dup} \
         --scanners {scanners} --searchers {searchers}{pool}` on {date}.\n\n\
         {machine}\
         ### Results\n\n\
         | measure | value |\n| --- | --- |\n\
         | tickets / duplicate scans / scanners | {tickets} / {duplicates} / {scanners} |\n\
         | admitted | {admitted} (expected {tickets}; {admitted_rows} admissions in the database) |\n\
         | `already_checked_in` | {already} |\n\
         | other answers (errors) | {other} |\n\
         | wall time | {seconds:.2} s |\n\
         | scans per second | {sps:.0} |\n\
         | latency p50 | {p50:.1} ms |\n\
         | latency p99 | {p99:.1} ms |\n\
         | latency max | {max:.1} ms |\n\
         | server CPU per scan: service / its PostgreSQL backends | {svc:.2} / {dbc:.2} ms |\n\
         | where the machine's two cores went during the rush | {breakdown} |\n\
         | service peak RSS | {rss:.1} MiB |\n\
         | token verifications per second, one core, the JWT library alone | {raw:.0} ({raw_verified} verified) |\n\
         | token verifications per second, one core, the service's path (key cache, kid lookup) | {vps:.0} ({verified} verified) |\n\
         | attendee searches ({searchers} volunteers at once, after the rush) / failed | {searches} / {search_failures} |\n\
         | attendee search p50 | {sp50:.1} ms |\n\
         | attendee search p99 | {sp99:.1} ms |\n",
        kind = machine::backend_kind(&database),
        tickets = args.tickets,
        dup = args.duplicates,
        scanners = args.scanners,
        pool = args.pool_flag(),
        date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine = machine::describe(&database),
        sps = outcomes.len() as f64 / seconds,
        p50 = machine::percentile(&latencies, 0.50),
        p99 = machine::percentile(&latencies, 0.99),
        max = machine::percentile(&latencies, 1.0),
        vps = verified as f64 / verify_seconds,
        raw = raw_verified as f64 / raw_seconds,
        searchers = args.searchers,
        sp50 = machine::percentile(&search_latencies, 0.50),
        sp99 = machine::percentile(&search_latencies, 0.99),
        svc = cpu.service.as_secs_f64() * 1000.0 / outcomes.len().max(1) as f64,
        dbc = cpu.database.as_secs_f64() * 1000.0 / outcomes.len().max(1) as f64,
        rss = rss_kib as f64 / 1024.0,
        breakdown = cpu.breakdown(),
    );
    Ok(Report {
        section: "door",
        markdown,
        failed,
        figures: Figures {
            scenario: format!("door rush, {} scanners", args.scanners),
            requests: outcomes.len(),
            seconds,
            latencies,
            cpu,
            rss_kib,
            database_bytes,
        },
    })
}

const FIRST_NAMES: [&str; 20] = [
    "Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis",
    "Radia", "Tim", "Sophie", "Linus", "Hedy", "John", "Karen", "Niklaus", "Shafi", "Leslie",
];

const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ren", "to", "sa", "vel", "dor", "in", "bra", "que", "zu", "har", "po",
    "nel", "tis", "gor", "fa", "wen", "ly", "cor", "bi", "mun", "est",
];

/// A surname of three syllables, distinct for the first 13,824 attendees
/// and repeating after, as a real event's would.
fn surname(n: usize) -> String {
    let s = SYLLABLES.len();
    format!(
        "{}{}{}",
        SYLLABLES[n % s],
        SYLLABLES[(n / s) % s],
        SYLLABLES[(n / (s * s)) % s]
    )
}

/// A plausible attendee name: a first name and a surname.
fn person(n: usize) -> String {
    let mut last = surname(n);
    if let Some(first) = last.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    format!("{} {last}", FIRST_NAMES[n % FIRST_NAMES.len()])
}
