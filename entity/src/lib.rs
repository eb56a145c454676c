//! SeaORM entities: one module per table, generated-style and free of
//! business rules (those live in the service's `domain` module).

pub mod access_link;
pub mod app_meta;
pub mod audit_log;
pub mod checkin;
pub mod checkin_change;
pub mod checkin_list;
pub mod checkin_scan;
pub mod event;
pub mod idempotency_key;
pub mod inventory_count;
pub mod mail_opt_out;
pub mod message_template;
pub mod order;
pub mod outbox_message;
pub mod refund;
pub mod signing_key;
pub mod staff_token;
pub mod staff_token_event;
pub mod state;
pub mod stripe_event;
pub mod ticket;
pub mod tier;
pub mod voucher;
pub mod webhook_endpoint;
pub mod webhook_endpoint_event;
