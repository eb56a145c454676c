//! Every scan, admitted or refused, with its device and time.

use sea_orm::entity::prelude::*;

use crate::state::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "checkin_scan")]
pub struct Model {
    /// Client-generated for offline scans, so a re-upload changes nothing.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub list_id: Uuid,
    pub event_id: Uuid,
    pub ticket_id: Option<Uuid>,
    pub device: String,
    pub result: ScanResult,
    /// When the scan happened (the device's clock for offline scans).
    pub scanned_at: DateTimeUtc,
    /// When the server learned of it.
    pub recorded_at: DateTimeUtc,
    pub staff_id: Option<Uuid>,
    pub offline: bool,
    /// What the device was told: another device admitted the ticket too.
    pub conflict: bool,
    /// What the device was told: the other admission (the first one for
    /// `already_checked_in`, the displaced or winning one in a conflict).
    /// Kept for offline scans, whose re-uploads answer it again.
    pub first_scanned_at: Option<DateTimeUtc>,
    pub first_device: Option<String>,
    /// Admitted by hand by a volunteer (the attendee had no QR code).
    pub manual: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
