//! Integration tests over real HTTP. Every test runs against SQLite, and
//! against PostgreSQL when `TEST_DATABASE_URL` is set, each on a fresh
//! database of its own so the suite runs in parallel.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod helpers;
mod receiver;
mod smtp;
mod stripe_stub;

mod auth;
mod catalogue;
mod checkin;
mod checkout;
mod cli;
mod counters;
mod crash;
mod desk;
mod errors;
mod events;
mod instances;
mod inventory;
mod limits;
mod localstripe;
mod mail;
mod openapi;
mod ops;
mod orders;
mod outage;
mod payments;
mod refunds;
mod reports;
mod scanner;
mod scope;
mod states;
mod stripe_order;
mod tiers;
mod vouchers;
mod webhooks;
