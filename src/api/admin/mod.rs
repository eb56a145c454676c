//! Organizer and admin endpoints under `/api/v1/admin`.

pub mod checkin;
pub mod events;
pub mod keys;
pub mod messages;
pub mod orders;
pub mod payments;
mod report_bodies;
pub mod reports;
pub mod templates;
pub mod tiers;
pub mod tokens;
pub mod vouchers;
pub mod webhooks;

use poem_openapi::ApiResponse;

/// The answer to a successful delete.
#[derive(ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}
