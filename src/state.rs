//! What every handler can reach.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::telemetry::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub metrics: Arc<Metrics>,
}
