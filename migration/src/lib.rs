//! Database migrations. The service runs pending ones on start; `tessera
//! migrate` runs them alone. Migrations never import the `entity` crate: they
//! describe the schema as it was at the time they were written.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_staff_tokens;
mod m20261121_000002_create_events_and_tiers;
mod m20261121_000003_create_orders;
mod m20261121_000004_create_checkin;
mod m20261121_000005_create_payments;
mod m20261201_000001_add_staff_token_all_events;
mod m20261201_000002_add_idempotency_leases;
mod m20261201_000003_add_payment_facts;
mod m20261201_000004_add_checkin_facts;
mod m20261201_000005_add_ticket_search_text;
mod m20261201_000006_add_tier_max_per_buyer;
mod m20261202_000001_create_inventory_counts;
mod m20261203_000001_create_outbox;
mod m20261203_000002_create_message_templates;
mod m20261203_000003_create_mail_opt_outs;
mod m20261204_000001_create_webhooks;
mod m20261204_000002_index_webhook_queue;
mod m20261204_000003_held_tickets_have_an_end;

pub use m20261204_000002_index_webhook_queue::WEBHOOK_WAITING;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_staff_tokens::Migration),
            Box::new(m20261121_000002_create_events_and_tiers::Migration),
            Box::new(m20261121_000003_create_orders::Migration),
            Box::new(m20261121_000004_create_checkin::Migration),
            Box::new(m20261121_000005_create_payments::Migration),
            Box::new(m20261201_000001_add_staff_token_all_events::Migration),
            Box::new(m20261201_000002_add_idempotency_leases::Migration),
            Box::new(m20261201_000003_add_payment_facts::Migration),
            Box::new(m20261201_000004_add_checkin_facts::Migration),
            Box::new(m20261201_000005_add_ticket_search_text::Migration),
            Box::new(m20261201_000006_add_tier_max_per_buyer::Migration),
            Box::new(m20261202_000001_create_inventory_counts::Migration),
            Box::new(m20261203_000001_create_outbox::Migration),
            Box::new(m20261203_000002_create_message_templates::Migration),
            Box::new(m20261203_000003_create_mail_opt_outs::Migration),
            Box::new(m20261204_000001_create_webhooks::Migration),
            Box::new(m20261204_000002_index_webhook_queue::Migration),
            Box::new(m20261204_000003_held_tickets_have_an_end::Migration),
        ]
    }
}
