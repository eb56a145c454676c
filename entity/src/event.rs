//! One conference edition or meetup.

use sea_orm::entity::prelude::*;

use crate::state::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    pub description: String,
    /// IANA time zone name, e.g. `Europe/Berlin`.
    pub timezone: String,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub venue: Option<String>,
    /// ISO 4217 code.
    pub currency: String,
    pub capacity: Option<i32>,
    /// `[{"size": "M", "cut": "fitted", "stock": 40}, ...]`
    #[sea_orm(column_type = "JsonBinary")]
    pub swag_sizes: Json,
    /// `["none", "vegetarian", ...]`
    #[sea_orm(column_type = "JsonBinary")]
    pub dietary_options: Json,
    pub attendee_edit_deadline: Option<DateTimeUtc>,
    /// Where replies to the event's mails go (the organizers' address).
    pub reply_to: Option<String>,
    /// `draft`, `published` or `archived`.
    pub status: EventStatus,
    /// When the event was first published; kept when it is unpublished.
    pub published_at: Option<DateTimeUtc>,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::tier::Entity")]
    Tier,
    #[sea_orm(has_many = "super::staff_token_event::Entity")]
    StaffTokenEvent,
}

impl Related<super::tier::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tier.def()
    }
}

impl Related<super::staff_token_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StaffTokenEvent.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
