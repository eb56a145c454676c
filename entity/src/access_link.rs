//! A token a mail carried to reach an order (the buyer's link) or one ticket
//! (the attendee's own link). Only its SHA-256 is stored.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_link")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub order_id: Uuid,
    /// The ticket this link reaches; none: the whole order (buyer's rights).
    pub ticket_id: Option<Uuid>,
    /// The message that carried it.
    pub message_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// When it stopped working (a recovery, a new attendee address).
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
