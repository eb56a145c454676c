//! Health, readiness and metrics, for operators and load balancers.

use poem::web::Data;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, payload::Json, payload::PlainText};

use super::{Tag, types::Found};
use crate::{db, state::AppState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum HealthStatus {
    /// The process serves requests (liveness).
    Ok,
    /// The database answers: send traffic.
    Ready,
    /// The database does not answer: send traffic elsewhere.
    Unavailable,
}

#[derive(Debug, Clone, Object)]
pub struct Health {
    pub status: HealthStatus,
}

#[derive(ApiResponse)]
pub enum Readiness {
    /// The service can reach its database and take traffic.
    #[oai(status = 200)]
    Ready(Json<Health>),
    /// The database cannot be reached; send traffic elsewhere.
    #[oai(status = 503)]
    Unavailable(Json<Health>),
}

#[derive(ApiResponse)]
pub enum MetricsText {
    /// Metrics in the Prometheus/OpenMetrics text format.
    #[oai(
        status = 200,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    )]
    Ok(PlainText<String>),
}

pub struct OpsApi;

#[OpenApi(tag = "Tag::Operations")]
impl OpsApi {
    /// Liveness
    ///
    /// Answers 200 while the process serves requests; no dependency is
    /// checked.
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> Found<Health> {
        Found(Health {
            status: HealthStatus::Ok,
        })
    }

    /// Readiness
    ///
    /// Answers 200 when the database answers, 503 otherwise.
    #[oai(path = "/readyz", method = "get")]
    async fn readyz(&self, state: Data<&AppState>) -> Readiness {
        if db::ping(&state.db).await {
            Readiness::Ready(Json(Health {
                status: HealthStatus::Ready,
            }))
        } else {
            Readiness::Unavailable(Json(Health {
                status: HealthStatus::Unavailable,
            }))
        }
    }

    /// Prometheus metrics
    ///
    /// Requests by route pattern and status, latency histograms by route, and
    /// database pool use.
    #[oai(path = "/metrics", method = "get")]
    async fn metrics(&self, state: Data<&AppState>) -> MetricsText {
        MetricsText::Ok(PlainText(state.metrics.render(db::pool_usage(&state.db))))
    }
}
