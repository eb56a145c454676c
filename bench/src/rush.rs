//! The ticket rush: N buyers race for one tier of capacity C, on a fresh
//! event or one that already holds `preload` tickets, through one instance
//! of the service or two on the same database.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use tessera::{
    config::Settings,
    domain::{
        counting::seat_takers,
        events::{self, EventInput, Transition},
        staff::Staff,
        tiers::{self, TierInput},
    },
    startup::prepare_database,
};

use crate::{
    Args, Figures, Report, machine,
    service::{self, Meter, Service},
};

pub(crate) struct Outcome {
    pub status: u16,
    pub latency: Duration,
    pub buyer: usize,
    /// When the answer arrived.
    pub answered: Instant,
}

pub(crate) fn err(e: tessera::domain::DomainError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The environment a benchmarked service runs with.
/// With `--mail`, a mail server on loopback is started (once) and configured.
pub(crate) fn service_env(args: &Args, stripe: &str) -> Vec<(&'static str, String)> {
    let mut env = args.pool_env();
    if args.mail {
        static SINK: std::sync::OnceLock<Option<crate::sink::Sink>> = std::sync::OnceLock::new();
        if let Some(sink) = SINK.get_or_init(|| crate::sink::Sink::start().ok()) {
            env.extend(sink.env(args.smtp_connections));
        }
    }
    env.extend([
        ("STRIPE_SECRET_KEY", "sk_test_bench".into()),
        ("STRIPE_WEBHOOK_SECRET", "whsec_bench".into()),
        ("STRIPE_API_BASE", stripe.to_owned()),
    ]);
    env
}

pub async fn run(
    args: &Args,
    binary: &Path,
    url: String,
    preload: i64,
    instances: usize,
) -> anyhow::Result<Report> {
    let settings = Settings::for_database(url.clone())?;
    let db = prepare_database(&settings).await?;
    let database = machine::database_version(&db).await;
    let admin = tessera::domain::staff::bootstrap_admin(&db)
        .await
        .map_err(err)?
        .context("a fresh database mints an admin token")?;

    let system = Staff::system();
    let starts_at = tessera::domain::now() + chrono::Duration::days(30);
    let input = EventInput {
        slug: "rush".into(),
        name: "Rush".into(),
        timezone: "UTC".into(),
        starts_at,
        ends_at: starts_at + chrono::Duration::days(1),
        currency: "EUR".into(),
        ..Default::default()
    };
    events::create(&db, &system, input).await.map_err(err)?;
    let tier = TierInput {
        name: "Early bird".into(),
        price: 9_900,
        capacity: args.capacity + preload,
        max_per_order: Some(10),
        ..Default::default()
    };
    let (_, tier) = tiers::create(&db, &system, "rush", tier)
        .await
        .map_err(err)?;
    events::transition(&db, &system, "rush", Transition::Publish)
        .await
        .map_err(err)?;

    let hook = if args.webhook {
        let hook = crate::hook::Hook::start().await?;
        let endpoint = tessera::domain::webhooks::NewEndpoint {
            url: hook.url.clone(),
            types: vec![entity::state::WebhookType::OrderPlaced],
            event_slugs: Some(vec!["rush".into()]),
            description: Some("bench".into()),
        };
        let reach = tessera::domain::webhooks::Reach {
            http: true,
            private: true,
        };
        tessera::domain::webhooks::create(&db, &system, reach, endpoint)
            .await
            .map_err(err)?;
        Some(hook)
    } else {
        None
    };

    let stripe = service::fake_stripe().await?;
    let mut env = service_env(args, &stripe);
    if hook.is_some() {
        env.extend(crate::hook::Hook::env());
    }
    let services = (0..instances)
        .map(|_| Service::start(binary, &url, &env))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let endpoints: Vec<String> = services
        .iter()
        .map(|s| format!("{}/api/v1/events/rush/orders", s.base))
        .collect();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;

    // The event already holds `preload` tickets, sold in orders of ten by
    // buyers of their own, before the clock starts.
    let preload_orders = usize::try_from(preload / 10)?;
    let loaded = run_buyers(
        &client,
        &endpoints,
        tier.id,
        args.concurrency,
        0..preload_orders,
        10,
    )
    .await?;
    anyhow::ensure!(
        loaded.iter().all(|o| o.status == 201),
        "the preload was refused"
    );
    if preload_orders > 0 && db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // An event that grew to this size over weeks has been vacuumed and
        // its statistics gathered by autovacuum; a table filled in seconds
        // has neither, and the measured rush would pay for it (the planner
        // scanning for the few rows it needs, vacuum running meanwhile).
        db.execute_unprepared("VACUUM ANALYZE").await?;
    }
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // Every rush starts right after a checkpoint, so none pays for
        // another's dirty pages or full-page writes more than the others.
        db.execute_unprepared("CHECKPOINT").await?;
    }

    let running: Vec<&Service> = services.iter().collect();
    let meter = Meter::start(&running, &db).await;
    let started = Instant::now();
    let outcomes = run_buyers(
        &client,
        &endpoints,
        tier.id,
        args.concurrency,
        preload_orders..preload_orders + args.buyers,
        1,
    )
    .await?;
    let elapsed = started.elapsed();
    let cpu = meter.finish(&db).await;
    // Each placed order's `order.placed`, from its answer to its delivery.
    let hooked = match &hook {
        Some(hook) => {
            let placed: HashMap<String, Instant> = outcomes
                .iter()
                .filter(|o| o.status == 201)
                .map(|o| (format!("buyer{}@example.org", o.buyer), o.answered))
                .collect();
            let arrived = hook.wait_for(placed.len(), Duration::from_secs(300)).await;
            let mut delays: Vec<Duration> = placed
                .iter()
                .filter_map(|(email, at)| {
                    arrived.get(email).map(|a| a.saturating_duration_since(*at))
                })
                .collect();
            delays.sort_unstable();
            Some((placed.len(), delays))
        }
        None => None,
    };

    // What organizers and buyers read at that size: the public tier
    // listing and the sales report, one request at a time.
    let base = &services[0].base;
    let listing = timed(
        &client,
        &format!("{base}/api/v1/events/rush/tiers"),
        None,
        200,
    )
    .await?;
    let report = timed(
        &client,
        &format!("{base}/api/v1/admin/events/rush/reports/sales"),
        Some(&admin),
        20,
    )
    .await?;
    let rss_kib = services
        .iter()
        .map(Service::peak_rss_kib)
        .max()
        .unwrap_or(0);
    for s in services {
        s.stop();
    }
    let database_bytes = service::database_size(&db, &url).await;

    let sold = entity::ticket::Entity::find()
        .filter(entity::ticket::Column::TierId.eq(tier.id))
        .filter(seat_takers(tessera::domain::now()))
        .count(&db)
        .await?;
    let sold = i64::try_from(sold)?;
    let placed = outcomes.iter().filter(|o| o.status == 201).count();
    let sold_out = outcomes.iter().filter(|o| o.status == 409).count();
    let other = outcomes.len() - placed - sold_out;
    let mut latencies: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    latencies.sort_unstable();
    let oversold = (sold - args.capacity - preload).max(0);
    let expected = i64::try_from(args.buyers)?.min(args.capacity);
    let seconds = elapsed.as_secs_f64();
    let failed = oversold > 0
        || other > 0
        || i64::try_from(placed)? != expected
        || hooked
            .as_ref()
            .is_some_and(|(n, delays)| delays.len() != *n);
    let webhook_line = match &hooked {
        Some((n, delays)) => format!(
            "| webhook endpoint on `order.placed`: deliveries / orders placed | {} / {n} |\n\
             | delay from an order's answer to its webhook, p50 / p99 / max | {:.0} / {:.0} / {:.0} ms |\n",
            delays.len(),
            machine::percentile(delays, 0.50),
            machine::percentile(delays, 0.99),
            machine::percentile(delays, 1.0),
        ),
        None => String::new(),
    };

    let (section, title, flag) = match (preload, instances) {
        (0, 1) => ("bench", "Ticket rush", "rush".to_owned()),
        (_, 1) => (
            "large",
            "Ticket rush on a large event",
            format!("large --preload {preload}"),
        ),
        _ => (
            "instances",
            "Ticket rush on two instances",
            "instances".to_owned(),
        ),
    };
    let markdown = format!(
        "## {title}: latest run ({kind})\n\n\
         Generated by `cargo run --release -p bench -- --scenario {flag} --buyers {buyers} --capacity {capacity} \
         --concurrency {concurrency}{pool}{mail_flag}{webhook_flag}` on {date}.\n\n\
         {machine}\
         ### Results\n\n\
         | measure | value |\n| --- | --- |\n\
         | buyers / tier capacity / concurrency / instances | {buyers} / {capacity} / {concurrency} / {instances} |\n\
         | mail server configured (each order's mail sent during the rush) | {mail} |\n\
         {webhook_line}\
         | tickets already sold when the rush starts | {preload} |\n\
         | orders placed | {placed} (expected {expected}) |\n\
         | refused `sold_out` | {sold_out} |\n\
         | other answers (errors) | {other} |\n\
         | tickets counted in the database | {sold} |\n\
         | **oversold** | **{oversold}** |\n\
         | wall time | {seconds:.2} s |\n\
         | requests per second | {rps:.0} |\n\
         | orders placed per second | {ops:.0} |\n\
         | latency p50 / p99 / max | {p50:.1} / {p99:.1} / {max:.1} ms |\n\
         | server CPU per request: service / its PostgreSQL backends | {svc:.2} / {dbc:.2} ms |\n\
         | where the machine's two cores went during the rush | {breakdown} |\n\
         | service peak RSS | {rss:.1} MiB |\n\
         | tier listing afterwards, p50 / p99 (200 requests, one at a time) | {l50:.1} / {l99:.1} ms |\n\
         | sales report afterwards, p50 / max (20 requests) | {r50:.1} / {rmax:.1} ms |\n",
        kind = machine::backend_kind(&database),
        buyers = args.buyers,
        capacity = args.capacity,
        concurrency = args.concurrency,
        pool = args.pool_flag(),
        mail_flag = if args.mail { " --mail" } else { "" },
        webhook_flag = if args.webhook { " --webhook" } else { "" },
        mail = if args.mail {
            "yes"
        } else {
            "no (mails wait as not_sent)"
        },
        date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine = machine::describe(&database),
        rps = outcomes.len() as f64 / seconds,
        ops = placed as f64 / seconds,
        p50 = machine::percentile(&latencies, 0.50),
        p99 = machine::percentile(&latencies, 0.99),
        max = machine::percentile(&latencies, 1.0),
        svc = cpu.service.as_secs_f64() * 1000.0 / outcomes.len().max(1) as f64,
        dbc = cpu.database.as_secs_f64() * 1000.0 / outcomes.len().max(1) as f64,
        rss = rss_kib as f64 / 1024.0,
        breakdown = cpu.breakdown(),
        l50 = machine::percentile(&listing, 0.50),
        l99 = machine::percentile(&listing, 0.99),
        r50 = machine::percentile(&report, 0.50),
        rmax = machine::percentile(&report, 1.0),
    );
    Ok(Report {
        section,
        markdown,
        failed,
        figures: Figures {
            scenario: match (preload, instances) {
                (0, 1) => "ticket rush, fresh event".into(),
                (_, 1) => format!("ticket rush, event already holding {preload} tickets"),
                _ => "ticket rush, two instances on one database".into(),
            },
            requests: outcomes.len(),
            seconds,
            latencies,
            cpu,
            rss_kib,
            database_bytes,
        },
    })
}

/// Buyers `range` place one order of `tickets` tickets each, `concurrency`
/// at a time, each from an address of their own, buyer `i` through
/// `endpoints[i % n]`; their outcomes.
async fn run_buyers(
    client: &reqwest::Client,
    endpoints: &[String],
    tier_id: uuid::Uuid,
    concurrency: usize,
    range: std::ops::Range<usize>,
    tickets: usize,
) -> anyhow::Result<Vec<Outcome>> {
    let next = Arc::new(AtomicUsize::new(range.start));
    let endpoints = Arc::new(endpoints.to_vec());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, endpoints, next) = (client.clone(), endpoints.clone(), next.clone());
        let end = range.end;
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let attendees: Vec<serde_json::Value> = (0..tickets)
                    .map(|k| json!({"tier_id": tier_id, "attendee_name": format!("Buyer {i}.{k}")}))
                    .collect();
                let body = json!({"email": format!("buyer{i}@example.org"), "tickets": attendees});
                let request = client
                    .post(&endpoints[i % endpoints.len()])
                    .header("x-forwarded-for", format!("2001:db8::{i:x}"))
                    .json(&body);
                let sent = Instant::now();
                let status = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                outcomes.push(Outcome {
                    status,
                    latency: sent.elapsed(),
                    buyer: i,
                    answered: Instant::now(),
                });
            }
            outcomes
        });
    }
    let mut outcomes = Vec::with_capacity(range.len());
    while let Some(done) = workers.join_next().await {
        outcomes.extend(done?);
    }
    Ok(outcomes)
}

/// `n` GETs of `url`, one after the other; their latencies, sorted.
pub(crate) async fn timed(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let mut request = client.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let sent = Instant::now();
        let response = request.send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "GET {url}: {}",
            response.status()
        );
        let _ = response.bytes().await?;
        latencies.push(sent.elapsed());
    }
    latencies.sort_unstable();
    Ok(latencies)
}
