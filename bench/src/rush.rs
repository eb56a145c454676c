//! The ticket rush: N buyers race for one tier of capacity C.

use futures_util::future::BoxFuture;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

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
    payments::{
        CheckoutRequest, CheckoutSession, GatewayError, GatewayResult, Intent, IntentRequest,
        PaymentGateway, RefundRequest, RefundResult,
    },
    startup::{Application, prepare_database},
};

use anyhow::Context;

use crate::{Args, Report, machine};

struct Outcome {
    status: u16,
    latency: Duration,
}

/// A payment provider that creates every PaymentIntent instantly.
struct InstantGateway;

impl PaymentGateway for InstantGateway {
    fn create_intent(&self, request: IntentRequest) -> BoxFuture<'_, GatewayResult<Intent>> {
        Box::pin(async move {
            Ok(Intent {
                id: format!("pi_{}", request.order_id.simple()),
                client_secret: Some(format!("pi_{}_secret", request.order_id.simple())),
                status: "requires_payment_method".into(),
            })
        })
    }
    fn retrieve_intent(&self, id: String) -> BoxFuture<'_, GatewayResult<Intent>> {
        Box::pin(async move {
            Ok(Intent {
                client_secret: Some(format!("{id}_secret")),
                id,
                status: "requires_payment_method".into(),
            })
        })
    }
    fn cancel_intent(&self, _: String, _: String) -> BoxFuture<'_, GatewayResult<()>> {
        Box::pin(async { Ok(()) })
    }
    fn create_checkout(&self, _: CheckoutRequest) -> BoxFuture<'_, GatewayResult<CheckoutSession>> {
        Box::pin(async { Err(GatewayError::Unavailable("not in the benchmark".into())) })
    }
    fn retrieve_checkout(&self, _: String) -> BoxFuture<'_, GatewayResult<CheckoutSession>> {
        Box::pin(async { Err(GatewayError::Unavailable("not in the benchmark".into())) })
    }
    fn expire_checkout(&self, _: String, _: String) -> BoxFuture<'_, GatewayResult<()>> {
        Box::pin(async { Ok(()) })
    }
    fn refund(&self, _: RefundRequest) -> BoxFuture<'_, GatewayResult<RefundResult>> {
        Box::pin(async { Err(GatewayError::Unavailable("not in the benchmark".into())) })
    }
}

fn err(e: tessera::domain::DomainError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

pub async fn run(args: &Args, url: String) -> anyhow::Result<Report> {
    let mut settings = Settings::for_database(url)?;
    settings.db_max_connections = args.pool;
    // Buyers arrive through a load balancer, each from an address of their
    // own (IPv6 documentation addresses: a header value, never contacted).
    settings.client_ip_header = Some("x-forwarded-for".into());
    let db = prepare_database(&settings).await?;
    let database = machine::database_version(&db).await;

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
        capacity: args.capacity + args.preload,
        max_per_order: Some(10),
        ..Default::default()
    };
    let (_, tier) = tiers::create(&db, &system, "rush", tier)
        .await
        .map_err(err)?;
    events::transition(&db, &system, "rush", Transition::Publish)
        .await
        .map_err(err)?;

    // The payment provider answers at once, in process: the figures measure
    // tessera's inventory, not Stripe's latency.
    let gateway: std::sync::Arc<dyn PaymentGateway> = std::sync::Arc::new(InstantGateway);
    let app = Application::bind_with_gateway(&settings, db.clone(), Some(gateway)).await?;
    let endpoint = format!("http://{}/api/v1/events/rush/orders", app.addr());
    let server_settings = settings.clone();
    let server = tokio::spawn(async move {
        app.run_until(&server_settings, std::future::pending())
            .await
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;

    // The event already holds `preload` tickets, sold in orders of ten by
    // buyers of their own, before the clock starts.
    let preload_orders = usize::try_from(args.preload / 10)?;
    run_buyers(
        &client,
        &endpoint,
        tier.id,
        args.concurrency,
        0..preload_orders,
        10,
    )
    .await?;
    if preload_orders > 0 && db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // An event that grew to this size over weeks has had its statistics
        // gathered by autovacuum; a table filled in seconds has not, and the
        // planner would scan it for the few rows it needs.
        db.execute_unprepared("ANALYZE").await?;
    }
    let first = preload_orders;
    let started = Instant::now();
    let outcomes = run_buyers(
        &client,
        &endpoint,
        tier.id,
        args.concurrency,
        first..first + args.buyers,
        1,
    )
    .await?;
    let elapsed = started.elapsed();

    // What organizers and buyers read at that size: the public tier
    // listing and the sales report, one request at a time.
    let base = endpoint
        .trim_end_matches("/api/v1/events/rush/orders")
        .to_owned();
    let admin = tessera::domain::staff::bootstrap_admin(&db)
        .await
        .map_err(err)?
        .context("a fresh database mints an admin token")?;
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
    server.abort();

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
    let oversold = (sold - args.capacity - args.preload).max(0);
    let expected = i64::try_from(args.buyers)?.min(args.capacity);
    let seconds = elapsed.as_secs_f64();
    let failed = oversold > 0 || other > 0 || i64::try_from(placed)? != expected;

    let markdown = format!(
        "## Ticket rush: latest run ({kind})\n\n\
         Generated by `cargo run --release -p bench -- --scenario rush --buyers {buyers} --capacity {capacity} \
         --preload {preload} --concurrency {concurrency} --pool {pool}` on {date}.\n\n\
         {machine}\
         ### Results\n\n\
         | measure | value |\n| --- | --- |\n\
         | buyers / tier capacity / concurrency | {buyers} / {capacity} / {concurrency} |\n\
         | tickets already sold when the rush starts | {preload} |\n\
         | orders placed | {placed} (expected {expected}) |\n\
         | refused `sold_out` | {sold_out} |\n\
         | other answers (errors) | {other} |\n\
         | tickets counted in the database | {sold} |\n\
         | **oversold** | **{oversold}** |\n\
         | wall time | {seconds:.2} s |\n\
         | requests per second | {rps:.0} |\n\
         | orders placed per second | {ops:.0} |\n\
         | latency p50 | {p50:.1} ms |\n\
         | latency p99 | {p99:.1} ms |\n\
         | latency max | {max:.1} ms |\n\
         | tier listing afterwards, p50 / p99 (200 requests, one at a time) | {l50:.1} / {l99:.1} ms |\n\
         | sales report afterwards, p50 / max (20 requests) | {r50:.1} / {rmax:.1} ms |\n",
        kind = machine::backend_kind(&database),
        buyers = args.buyers,
        capacity = args.capacity,
        preload = args.preload,
        concurrency = args.concurrency,
        pool = args.pool,
        date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine = machine::describe(&database),
        rps = outcomes.len() as f64 / seconds,
        ops = placed as f64 / seconds,
        p50 = machine::percentile(&latencies, 0.50),
        p99 = machine::percentile(&latencies, 0.99),
        max = machine::percentile(&latencies, 1.0),
        l50 = machine::percentile(&listing, 0.50),
        l99 = machine::percentile(&listing, 0.99),
        r50 = machine::percentile(&report, 0.50),
        rmax = machine::percentile(&report, 1.0),
    );
    Ok(Report {
        section: "bench",
        markdown,
        failed,
    })
}

/// Buyers `range` place one order of `tickets` tickets each, `concurrency`
/// at a time, each from an address of their own; their outcomes.
async fn run_buyers(
    client: &reqwest::Client,
    endpoint: &str,
    tier_id: uuid::Uuid,
    concurrency: usize,
    range: std::ops::Range<usize>,
    tickets: usize,
) -> anyhow::Result<Vec<Outcome>> {
    let next = Arc::new(AtomicUsize::new(range.start));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let endpoint = endpoint.to_owned();
        let next = next.clone();
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
                    .post(&endpoint)
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
async fn timed(
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
