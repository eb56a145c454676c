//! SeaORM entities: one module per table, generated-style and free of
//! business rules (those live in the service's `domain` module).

pub mod app_meta;
pub mod event;
pub mod staff_token;
pub mod staff_token_event;
pub mod tier;
