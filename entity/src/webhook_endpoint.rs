//! Where an organizer's systems want to hear about changes: a URL, the
//! types of messages it takes, the events it reaches, and the secret that
//! signs what is sent to it (Standard Webhooks).

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoint")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// The message types it receives, as a JSON array of their names.
    #[sea_orm(column_type = "JsonBinary")]
    pub types: Json,
    /// Every event, present and future; otherwise the events listed in
    /// `webhook_endpoint_event`.
    pub all_events: bool,
    pub enabled: bool,
    /// `whsec_` + base64 of the key. It must sign, so it is kept as is;
    /// never logged.
    pub secret: String,
    /// The secret before the last rotation, still signing until
    /// `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTimeUtc>,
    /// Since when every delivery attempt failed (none: the last succeeded).
    pub failing_since: Option<DateTimeUtc>,
    pub disabled_at: Option<DateTimeUtc>,
    /// Why it was disabled (by its owner, a 410, or failing for days).
    pub disabled_reason: Option<String>,
    /// The staff token that registered it.
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("webhook_endpoint::Model")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("types", &self.types)
            .field("all_events", &self.all_events)
            .field("enabled", &self.enabled)
            .field("secret", &"**redacted**")
            .field("previous_secret_until", &self.previous_secret_until)
            .field("failing_since", &self.failing_since)
            .field("disabled_reason", &self.disabled_reason)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
