//! Credentials of organizers and volunteers. Only a hash of the secret is kept.

use sea_orm::entity::prelude::*;

use crate::state::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// `admin`, `organizer` or `volunteer`.
    pub role: Role,
    /// SHA-256 of the secret, hex encoded.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// The first characters of the secret, so a person can tell tokens apart.
    pub hint: String,
    /// Whether the token reaches every event. Otherwise it reaches exactly
    /// the events of its `staff_token_event` rows: none left means nothing.
    pub all_events: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::staff_token_event::Entity")]
    StaffTokenEvent,
}

impl Related<super::staff_token_event::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StaffTokenEvent.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
