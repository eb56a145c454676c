//! The scanner's endpoints: volunteers, organizers and admins scoped to the
//! event.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Path, Query},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{Tag, auth::StaffAuth, body::JsonBody, tickets::JwkSet, types::Found};
use crate::{
    domain::{
        checkin::{
            lists::CheckinList,
            scan::{self, ScanInput, ScanOutcome, ScanResult},
        },
        validation::FieldErrors,
    },
    error::{ApiError, ApiResult},
    state::AppState,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ScanResultBody {
    /// Let them in (or hand over the shirt).
    Admitted,
    /// This ticket was already admitted on this list: see `first_admission`.
    AlreadyCheckedIn,
    /// The ticket was cancelled or refunded.
    Revoked,
    /// A newer token exists for this ticket: ask for the current one.
    Superseded,
    /// The order is not paid.
    Unpaid,
    /// A token of another event.
    WrongEvent,
    /// The ticket's tier is not admitted by this list.
    NotOnList,
    /// The list is not open at this time.
    OutsideWindow,
    /// Not a token we signed (malformed, tampered, unknown or retired key).
    InvalidToken,
    /// The token's validity ended.
    Expired,
    /// The token is not valid yet.
    NotYetValid,
    /// The payment is disputed with the card issuer: send the attendee to
    /// the help desk.
    Disputed,
}

impl From<ScanResult> for ScanResultBody {
    fn from(result: ScanResult) -> Self {
        match result {
            ScanResult::Admitted => Self::Admitted,
            ScanResult::AlreadyCheckedIn => Self::AlreadyCheckedIn,
            ScanResult::Revoked => Self::Revoked,
            ScanResult::Superseded => Self::Superseded,
            ScanResult::Unpaid => Self::Unpaid,
            ScanResult::WrongEvent => Self::WrongEvent,
            ScanResult::NotOnList => Self::NotOnList,
            ScanResult::OutsideWindow => Self::OutsideWindow,
            ScanResult::InvalidToken => Self::InvalidToken,
            ScanResult::Expired => Self::Expired,
            ScanResult::NotYetValid => Self::NotYetValid,
            ScanResult::Disputed => Self::Disputed,
        }
    }
}

impl From<ScanResultBody> for ScanResult {
    fn from(result: ScanResultBody) -> Self {
        match result {
            ScanResultBody::Admitted => Self::Admitted,
            ScanResultBody::AlreadyCheckedIn => Self::AlreadyCheckedIn,
            ScanResultBody::Revoked => Self::Revoked,
            ScanResultBody::Superseded => Self::Superseded,
            ScanResultBody::Unpaid => Self::Unpaid,
            ScanResultBody::WrongEvent => Self::WrongEvent,
            ScanResultBody::NotOnList => Self::NotOnList,
            ScanResultBody::OutsideWindow => Self::OutsideWindow,
            ScanResultBody::InvalidToken => Self::InvalidToken,
            ScanResultBody::Expired => Self::Expired,
            ScanResultBody::NotYetValid => Self::NotYetValid,
            ScanResultBody::Disputed => Self::Disputed,
        }
    }
}

/// Who the ticket is for, and what to hand over.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ScannedAttendee {
    pub ticket_id: Uuid,
    pub name: String,
    pub tier: String,
    #[oai(nullable)]
    pub swag_size: Option<String>,
    #[oai(nullable)]
    pub swag_cut: Option<String>,
    /// Dietary preference, for a marker on the badge.
    #[oai(nullable)]
    pub dietary: Option<String>,
}

/// An earlier admission of the ticket on this list.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct AdmissionBody {
    pub at: DateTime<Utc>,
    pub device: String,
}

/// What a scan decided.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ScanAnswer {
    pub scan_id: Uuid,
    pub result: ScanResultBody,
    /// `entry` or `swag`: at the swag desk, `admitted` means "hand over this
    /// size" and `already_checked_in` means "already collected".
    pub list_kind: String,
    /// Present whenever the token named a ticket of this event.
    #[oai(nullable)]
    pub attendee: Option<ScannedAttendee>,
    /// For `already_checked_in`: when and where it was admitted first. For an
    /// offline scan in `conflict`: the other device's admission.
    #[oai(nullable)]
    pub first_admission: Option<AdmissionBody>,
    /// Offline only: another device admitted this ticket too; the earliest
    /// scan stands.
    pub conflict: bool,
}

impl From<ScanOutcome> for ScanAnswer {
    fn from(outcome: ScanOutcome) -> Self {
        Self {
            scan_id: outcome.scan_id,
            result: outcome.result.into(),
            list_kind: outcome.kind.as_str().to_owned(),
            attendee: outcome.attendee.map(|a| ScannedAttendee {
                ticket_id: a.ticket_id,
                name: a.name,
                tier: a.tier,
                swag_size: a.swag_size,
                swag_cut: a.swag_cut,
                dietary: a.dietary,
            }),
            first_admission: outcome.admission.map(|a| AdmissionBody {
                at: a.at,
                device: a.device,
            }),
            conflict: outcome.conflict,
        }
    }
}

/// One scan.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    pub list_id: Uuid,
    /// The token read from the QR code.
    pub token: String,
    /// A name for the scanning device, e.g. `door-2` (kept with the scan).
    pub device: String,
}

/// A scan made while offline.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct OfflineScan {
    /// Generated by the device; uploading the same scan again changes
    /// nothing and answers what the first upload decided.
    pub scan_id: Uuid,
    pub token: String,
    /// When the scan happened, by the device's clock.
    pub scanned_at: DateTime<Utc>,
}

/// A batch of offline scans.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    pub list_id: Uuid,
    pub device: String,
    /// At most 1,000 scans per request.
    pub scans: Vec<OfflineScan>,
}

/// What each offline scan decided, in the order they happened.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct SyncAnswer {
    pub results: Vec<ScanAnswer>,
}

/// A list a scanner can use.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ScannerList {
    pub id: Uuid,
    pub event: Uuid,
    pub name: String,
    pub kind: String,
    /// Tier ids admitted; empty means every tier.
    pub tiers: Vec<Uuid>,
    #[oai(nullable)]
    pub opens_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub closes_at: Option<DateTime<Utc>>,
}

impl From<CheckinList> for ScannerList {
    fn from(list: CheckinList) -> Self {
        Self {
            id: list.id,
            event: list.event_id,
            name: list.name,
            kind: list.kind.as_str().to_owned(),
            tiers: list.tiers,
            opens_at: list.opens_at,
            closes_at: list.closes_at,
        }
    }
}

/// A ticket in an offline manifest.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ManifestEntry {
    pub ticket_id: Uuid,
    /// Tokens with another `ver` are superseded.
    pub token_version: i32,
    /// `valid`, `revoked`, `unpaid` or `blocked` (the payment is disputed:
    /// refuse at the door).
    pub state: String,
    pub attendee_name: String,
    pub tier: String,
    #[oai(nullable)]
    pub swag_size: Option<String>,
    #[oai(nullable)]
    pub swag_cut: Option<String>,
    #[oai(nullable)]
    pub dietary: Option<String>,
    /// When it was admitted on this list, if it was.
    #[oai(nullable)]
    pub admitted_at: Option<DateTime<Utc>>,
}

/// What a scanner needs to work offline.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct Manifest {
    pub list: ScannerList,
    /// The keys that verify tokens.
    pub jwks: JwkSet,
    /// The tickets that changed since `since` (all of them without it).
    pub tickets: Vec<ManifestEntry>,
    /// Pass as `since` next time.
    pub cursor: DateTime<Utc>,
}

pub struct CheckinApi;

#[OpenApi(prefix_path = "/api/v1/checkin", tag = "Tag::Checkin")]
impl CheckinApi {
    /// Scan a ticket
    ///
    /// Decides whether to admit the ticket on the list, records the scan
    /// (refused ones too) with the device and time, and says what the
    /// volunteer needs: the attendee's name, tier, swag size and cut. A
    /// ticket is admitted at most once per list, however many devices scan
    /// it at the same instant.
    #[oai(path = "/scan", method = "post", operation_id = "scan")]
    async fn scan(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        body: JsonBody<ScanRequest>,
    ) -> ApiResult<Found<ScanAnswer>> {
        let b = body.0;
        check_device(&b.device)?;
        let input = ScanInput {
            token: b.token,
            device: b.device,
            scan_id: None,
            scanned_at: None,
        };
        let outcome = scan::scan(
            &state.db,
            &state.keys,
            &state.tokens,
            &state.scanning,
            &auth.0,
            b.list_id,
            input,
        )
        .await?;
        Ok(Found(outcome.into()))
    }

    /// Upload offline scans
    ///
    /// Scans are decided in the order they happened: the earliest scan of a
    /// ticket on a list wins, and when two devices admitted one ticket the
    /// later one is reported with `conflict`. Re-uploading a batch changes
    /// nothing.
    #[oai(path = "/sync", method = "post", operation_id = "sync_scans")]
    async fn sync(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        body: JsonBody<SyncRequest>,
    ) -> ApiResult<Found<SyncAnswer>> {
        let b = body.0;
        check_device(&b.device)?;
        if b.scans.len() > 1_000 {
            return Err(FieldErrors::single(
                "scans",
                "too_many",
                "at most 1,000 scans per request",
            )
            .into());
        }
        let inputs = b
            .scans
            .into_iter()
            .map(|s| ScanInput {
                token: s.token,
                device: b.device.clone(),
                scan_id: Some(s.scan_id),
                scanned_at: Some(s.scanned_at),
            })
            .collect();
        let outcomes = scan::sync(
            &state.db,
            &state.keys,
            &state.tokens,
            &state.scanning,
            &auth.0,
            b.list_id,
            inputs,
        )
        .await?;
        Ok(Found(SyncAnswer {
            results: outcomes.into_iter().map(Into::into).collect(),
        }))
    }

    /// List the lists this token can scan on
    #[oai(path = "/lists", method = "get", operation_id = "scanner_lists")]
    async fn lists(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
    ) -> ApiResult<Found<Vec<ScannerList>>> {
        let lists = crate::domain::checkin::lists::for_scanner(&state.db, &auth.0).await?;
        Ok(Found(lists.into_iter().map(Into::into).collect()))
    }

    /// Get an offline manifest
    ///
    /// The public keys and the list's tickets (id, token version, state,
    /// attendee name, tier, swag size), as a delta since the `cursor` of the
    /// previous manifest, so a device can refresh in seconds and keep
    /// scanning when the network drops.
    #[oai(
        path = "/lists/:id/manifest",
        method = "get",
        operation_id = "scanner_manifest"
    )]
    async fn manifest(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        id: Path<Uuid>,
        /// The `cursor` of the previous manifest.
        since: Query<Option<DateTime<Utc>>>,
    ) -> ApiResult<Found<Manifest>> {
        let (open, tickets, cursor) =
            scan::manifest(&state.db, &state.scanning, &auth.0, id.0, since.0).await?;
        Ok(Found(Manifest {
            list: open.list.into(),
            jwks: super::tickets::jwk_set(&state.db).await?,
            tickets: tickets
                .into_iter()
                .map(|t| ManifestEntry {
                    ticket_id: t.ticket_id,
                    token_version: t.token_version,
                    state: t.state.to_owned(),
                    attendee_name: t.attendee_name,
                    tier: t.tier,
                    swag_size: t.swag_size,
                    swag_cut: t.swag_cut,
                    dietary: t.dietary,
                    admitted_at: t.admitted_at,
                })
                .collect(),
            cursor,
        }))
    }
}

fn check_device(device: &str) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    errors.text("device", device, 1, 100, false);
    errors.finish(()).map_err(Into::into)
}
