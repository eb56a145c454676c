//! Logs, metrics and request ids, in one place.
//!
//! Every request gets an `X-Request-Id` (the client's, when it sent a sane
//! one), a tracing span carrying it, a log line when it ends, and a count and
//! latency observation under its route pattern (never the raw path, so ids
//! in URLs do not explode the number of series). Errors leave here as
//! problem+json whatever produced them.

use std::{sync::Arc, time::Instant};

use poem::{
    Endpoint, IntoResponse, Middleware, PathPattern, Request, Response,
    http::{HeaderName, HeaderValue},
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use tracing::Instrument;
use tracing_subscriber::{EnvFilter, fmt};

use crate::{config::LogFormat, error::ApiError};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Installs the global tracing subscriber, writing to stderr (stdout is kept
/// for command output such as `tessera openapi`). Safe to call twice.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // Already installed (tests build several apps in one process).
    let _ = result;
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    channel: String,
    kind: String,
    /// The state the attempt left the message in.
    state: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The service's Prometheus metrics. One registry per application, so tests
/// running several apps in one process do not share counters.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    db_connections: Gauge,
    db_idle: Gauge,
    connections_refused: Counter,
    counter_checks: Counter,
    counter_drift: Counter,
    messages: Family<MessageLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let db_connections = Gauge::default();
        let db_idle = Gauge::default();
        let connections_refused = Counter::default();
        let counter_checks = Counter::default();
        let counter_drift = Counter::default();
        let messages = Family::<MessageLabels, Counter>::default();
        registry.register(
            "outbox_attempts",
            "Delivery attempts of outbox messages, by channel, kind and the state they left it in (sent, retrying, failed, skipped)",
            messages.clone(),
        );
        registry.register(
            "inventory_counter_checks",
            "Recounts of an event's inventory counters from its tickets",
            counter_checks.clone(),
        );
        registry.register(
            "inventory_counter_drift",
            "Inventory counters a recount found wrong (and repaired); should stay 0",
            counter_drift.clone(),
        );
        registry.register(
            "http_connections_refused",
            "Connections turned away at the connection limit (total or per client)",
            connections_refused.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route pattern",
            latency.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database connections currently open in the pool",
            db_connections.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Open database connections not in use",
            db_idle.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            db_connections,
            db_idle,
            connections_refused,
            counter_checks,
            counter_drift,
            messages,
        }
    }

    /// One delivery attempt of an outbox message and where it left it.
    pub fn message_attempt(&self, channel: &str, kind: &str, state: &str) {
        self.messages
            .get_or_create(&MessageLabels {
                channel: channel.to_owned(),
                kind: kind.to_owned(),
                state: state.to_owned(),
            })
            .inc();
    }

    /// One recount of an event's counters, and how many it found wrong.
    pub fn counters_checked(&self, wrong: u64) {
        self.counter_checks.inc();
        self.counter_drift.inc_by(wrong);
    }

    pub fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    fn observe(&self, method: &poem::http::Method, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        let route = route.to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.clone(),
                status: status.to_string(),
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route,
            })
            .observe(seconds);
    }

    /// The metrics in the text exposition format, with the pool gauges taken
    /// now.
    pub fn render(&self, pool: Option<(u32, u32)>) -> String {
        if let Some((open, idle)) = pool {
            self.db_connections.set(i64::from(open));
            self.db_idle.set(i64::from(idle));
        }
        let mut out = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %err, "could not encode metrics");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The method as a metrics label: the standard methods by name, anything a
/// client invented as `other`, so no request can add a series.
fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// A request id from the client is kept when it is short and printable, so a
/// front end can correlate its logs with ours; otherwise we make one.
fn request_id(req: &Request) -> String {
    req.header(REQUEST_ID)
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// Wraps the whole application: request id, span, access log, metrics, and
/// problem+json for every error.
pub struct Observe(pub Arc<Metrics>);

impl<E: Endpoint> Middleware<E> for Observe {
    type Output = Observed<E>;

    fn transform(&self, inner: E) -> Self::Output {
        Observed {
            inner,
            metrics: self.0.clone(),
        }
    }
}

pub struct Observed<E> {
    inner: E,
    metrics: Arc<Metrics>,
}

impl<E: Endpoint> Endpoint for Observed<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let id = request_id(&req);
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let span = tracing::info_span!("request", request_id = %id, method = %method_label(&method), %path);
        let started = Instant::now();

        let (mut response, route) = match self.inner.call(req).instrument(span.clone()).await {
            Ok(output) => {
                let response = output.into_response();
                let route = response.data::<PathPattern>().map(|p| p.0.to_string());
                (response, route)
            }
            Err(err) => {
                let route = err.data::<PathPattern>().map(|p| p.0.to_string());
                let api = span.in_scope(|| ApiError::from_poem(err));
                (poem::error::ResponseError::as_response(&api), route)
            }
        };
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        let route = route
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "<unmatched>".to_owned());
        self.metrics
            .observe(&method, &route, status, elapsed.as_secs_f64());
        span.in_scope(|| {
            tracing::info!(
                status,
                route = %route,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "request finished"
            );
        });
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        Ok(response)
    }
}
