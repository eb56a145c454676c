//! What every handler can reach.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    domain::{
        checkin::{scan::Scanning, tokens::TokenSettings},
        clock::Clock,
        inventory::Inventory,
        keys::KeyRing,
        payments::Payments,
        staff::StaffCache,
    },
    telemetry::Metrics,
};

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub metrics: Arc<Metrics>,
    pub inventory: Inventory,
    /// Header with the client's address behind a proxy, lower-cased.
    pub client_ip_header: Option<String>,
    pub keys: KeyRing,
    pub tokens: TokenSettings,
    pub scanning: Scanning,
    pub staff: StaffCache,
    pub payments: Payments,
    /// Where every request and background job reads the time.
    pub clock: Clock,
    /// Each client's budget of voucher code lookups.
    pub voucher_lookups: crate::api::guessing::GuessBudget,
    /// Lost-link recoveries per client address, and per email address.
    pub recoveries_by_client: crate::api::guessing::GuessBudget,
    pub recoveries_by_email: crate::api::guessing::GuessBudget,
    /// What webhook endpoints may target (`TESSERA_WEBHOOK_ALLOW_*`).
    pub webhook_reach: crate::domain::webhooks::Reach,
    /// Where this service is reached (`TESSERA_BASE_URL`, or the bound
    /// address), without a trailing slash: sign-in links point here.
    pub service_url: String,
}
