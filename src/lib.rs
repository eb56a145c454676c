//! tessera: a conference registration and ticketing API.
//!
//! [`startup::Application`] builds the service (database, migrations, HTTP
//! routes); `main.rs` is a thin command line around it.

pub mod api;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod mail;
pub mod payments;
pub mod server;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod webhooks;
