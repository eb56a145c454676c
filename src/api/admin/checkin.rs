//! Organizer endpoints for check-in lists, progress, the scan log and token
//! reissue.

use chrono::{DateTime, FixedOffset, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::MaybeUndefined,
};
use serde::Deserialize;
use uuid::Uuid;

use super::Deleted;
use crate::{
    api::{
        Tag,
        auth::StaffAuth,
        body::JsonBody,
        types::{Found, patch_field},
    },
    domain::checkin::{
        lists::{self, CheckinList, ListInput, ListKind, ListPatch},
        manual,
        report::{self, ScanFilter},
        scan::ScanResult,
    },
    error::ApiResult,
    state::AppState,
};

/// A new check-in list.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct ListCreate {
    /// e.g. `Day 1 entrance`, `Workshop room`, `Swag desk`.
    pub name: String,
    pub kind: ListKind,
    /// Tiers admitted; empty or omitted for every tier.
    #[oai(default)]
    #[serde(default)]
    pub tiers: Vec<Uuid>,
    /// When scanning opens; always open when omitted.
    #[oai(nullable)]
    pub opens_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub closes_at: Option<DateTime<Utc>>,
}

/// Changes to a list; the kind cannot change.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct ListUpdate {
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub tiers: Option<Vec<Uuid>>,
    #[serde(default)]
    #[oai(nullable)]
    pub opens_at: MaybeUndefined<DateTime<Utc>>,
    #[serde(default)]
    #[oai(nullable)]
    pub closes_at: MaybeUndefined<DateTime<Utc>>,
}

/// A check-in list.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ListBody {
    pub id: Uuid,
    pub name: String,
    pub kind: ListKind,
    pub tiers: Vec<Uuid>,
    #[oai(nullable)]
    pub opens_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub closes_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CheckinList> for ListBody {
    fn from(list: CheckinList) -> Self {
        Self {
            id: list.id,
            name: list.name,
            kind: match list.kind {
                ListKind::Entry => ListKind::Entry,
                ListKind::Swag => ListKind::Swag,
            },
            tiers: list.tiers,
            opens_at: list.opens_at,
            closes_at: list.closes_at,
            archived_at: list.archived_at,
            created_at: list.created_at,
            updated_at: list.updated_at,
        }
    }
}

/// Admissions in one hour.
#[derive(Debug, Clone, Object)]
pub struct HourCount {
    /// Start of the hour at the venue, with the event's UTC offset then
    /// (`2027-05-14T08:00:00+02:00` is 08:00 in Berlin).
    pub hour: DateTime<FixedOffset>,
    pub admitted: u64,
}

/// How a list is doing.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ProgressBody {
    pub list: ListBody,
    pub admitted: u64,
    /// Valid tickets of the tiers the list admits; at a swag desk, only
    /// those whose tier includes swag.
    pub expected: u64,
    pub by_hour: Vec<HourCount>,
    /// At a swag desk: shirts per size and cut, to hand over and handed
    /// over. Empty for entry lists.
    pub sizes: Vec<SizeCount>,
}

/// Shirts of one size and cut at a swag desk.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct SizeCount {
    pub size: String,
    #[oai(nullable)]
    pub cut: Option<String>,
    /// Valid tickets with this size and cut.
    pub expected: u64,
    pub handed_over: u64,
}

/// One recorded scan.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ScanLogEntry {
    pub scan_id: Uuid,
    #[oai(nullable)]
    pub ticket_id: Option<Uuid>,
    pub device: String,
    pub result: ScanResult,
    /// When the device scanned, with the event's UTC offset (as every time
    /// of the log).
    pub scanned_at: DateTime<FixedOffset>,
    pub recorded_at: DateTime<FixedOffset>,
    /// Uploaded later from an offline device.
    pub offline: bool,
    /// Admitted by hand by a volunteer (no QR code).
    pub manual: bool,
    /// The attendee, when the scan identified a ticket.
    #[oai(nullable)]
    pub attendee_name: Option<String>,
    /// Offline: the device was told another device admitted this ticket too.
    pub conflict: bool,
    /// This admission was later taken over by an earlier offline scan; the
    /// result stays what the device was told.
    #[oai(nullable)]
    pub displaced_by: Option<DisplacedBy>,
    /// This admission was undone by an organizer.
    #[oai(nullable)]
    pub undone: Option<UndoneBody>,
}

/// The earlier offline scan that took an admission over.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct DisplacedBy {
    pub scan_id: Uuid,
    pub device: String,
    pub scanned_at: DateTime<FixedOffset>,
    /// When the server learned of it.
    pub at: DateTime<FixedOffset>,
}

/// An organizer's undoing of an admission.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct UndoneBody {
    pub at: DateTime<FixedOffset>,
    /// The staff token that undid it.
    #[oai(nullable)]
    pub staff_id: Option<Uuid>,
    #[oai(nullable)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct ScanLogPage {
    pub items: Vec<ScanLogEntry>,
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Why an admission is undone.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct UndoRequest {
    /// Kept in the scan log and the audit log (1-500 characters).
    pub reason: String,
}

/// An admission undone: the ticket may be admitted on the list again.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct UndoneAdmission {
    pub scan_id: Uuid,
    pub ticket_id: Uuid,
    pub undone_at: DateTime<Utc>,
}

/// The new token version of a reissued ticket.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct Reissued {
    pub ticket_id: Uuid,
    /// Tokens with an older version are now refused as `superseded`.
    pub token_version: i32,
    /// The new check-in token, to hand over (e.g. as a QR code); the
    /// attendee can also fetch it again. `null` when the ticket cannot be
    /// admitted (cancelled, or its order not paid).
    #[oai(nullable)]
    pub token: Option<String>,
}

#[derive(ApiResponse)]
pub enum ListCreated {
    /// The list was created.
    #[oai(status = 201)]
    Created(Json<ListBody>),
}

pub struct CheckinAdminApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminCheckin")]
impl CheckinAdminApi {
    /// Create a check-in list
    #[oai(
        path = "/events/:slug/checkin-lists",
        method = "post",
        operation_id = "create_checkin_list"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        body: JsonBody<ListCreate>,
    ) -> ApiResult<ListCreated> {
        let b = body.0;
        let input = ListInput {
            name: b.name,
            kind: match b.kind {
                ListKind::Entry => ListKind::Entry,
                ListKind::Swag => ListKind::Swag,
            },
            tiers: b.tiers,
            opens_at: b.opens_at,
            closes_at: b.closes_at,
        };
        let list = lists::create(&state.db, &auth.0, &slug, input).await?;
        Ok(ListCreated::Created(Json(list.into())))
    }

    /// List check-in lists
    #[oai(
        path = "/events/:slug/checkin-lists",
        method = "get",
        operation_id = "list_checkin_lists"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Found<Vec<ListBody>>> {
        let lists = lists::list(&state.db, &auth.0, &slug).await?;
        Ok(Found(lists.into_iter().map(Into::into).collect()))
    }

    /// Get a check-in list
    #[oai(
        path = "/events/:slug/checkin-lists/:id",
        method = "get",
        operation_id = "get_checkin_list"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        id: Path<Uuid>,
    ) -> ApiResult<Found<ListBody>> {
        Ok(Found(
            lists::get(&state.db, &auth.0, &slug, id.0).await?.into(),
        ))
    }

    /// Update a check-in list
    #[oai(
        path = "/events/:slug/checkin-lists/:id",
        method = "patch",
        operation_id = "update_checkin_list"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        id: Path<Uuid>,
        body: JsonBody<ListUpdate>,
    ) -> ApiResult<Found<ListBody>> {
        let b = body.0;
        let patch = ListPatch {
            name: b.name,
            tiers: b.tiers,
            opens_at: patch_field(b.opens_at),
            closes_at: patch_field(b.closes_at),
        };
        Ok(Found(
            lists::update(&state.db, &auth.0, &slug, id.0, patch)
                .await?
                .into(),
        ))
    }

    /// Archive a check-in list
    #[oai(
        path = "/events/:slug/checkin-lists/:id/archive",
        method = "post",
        operation_id = "archive_checkin_list"
    )]
    async fn archive(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        id: Path<Uuid>,
    ) -> ApiResult<Found<ListBody>> {
        Ok(Found(
            lists::archive(&state.db, &auth.0, &slug, id.0)
                .await?
                .into(),
        ))
    }

    /// Delete a check-in list
    ///
    /// Only a list nobody scanned on; others answer 409 `list_has_scans`.
    #[oai(
        path = "/events/:slug/checkin-lists/:id",
        method = "delete",
        operation_id = "delete_checkin_list"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        id: Path<Uuid>,
    ) -> ApiResult<Deleted> {
        lists::delete(&state.db, &auth.0, &slug, id.0).await?;
        Ok(Deleted::NoContent)
    }

    /// Check-in progress
    ///
    /// Admitted versus expected, and admissions per hour.
    #[oai(
        path = "/events/:slug/checkin-lists/:id/progress",
        method = "get",
        operation_id = "checkin_progress"
    )]
    async fn progress(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        id: Path<Uuid>,
    ) -> ApiResult<Found<ProgressBody>> {
        let p = report::progress(&state.db, &auth.0, &slug, id.0).await?;
        Ok(Found(ProgressBody {
            list: p.list.into(),
            admitted: p.admitted,
            expected: p.expected,
            by_hour: p
                .by_hour
                .into_iter()
                .map(|(hour, admitted)| HourCount { hour, admitted })
                .collect(),
            sizes: p
                .sizes
                .into_iter()
                .map(|s| SizeCount {
                    size: s.size,
                    cut: s.cut,
                    expected: s.expected,
                    handed_over: s.handed_over,
                })
                .collect(),
        }))
    }

    /// The scan log
    ///
    /// Every scan of the list, refused ones too, newest first.
    #[oai(
        path = "/events/:slug/checkin-lists/:id/scans",
        method = "get",
        operation_id = "checkin_scans"
    )]
    // poem-openapi reads each query parameter as its own argument (a struct
    // of them cannot be documented in the spec), so a filtered list has many.
    #[allow(clippy::too_many_arguments)]
    async fn scans(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        id: Path<Uuid>,
        /// Only scans with this result.
        result: Query<Option<ScanResult>>,
        /// Only scans from this device.
        device: Query<Option<String>>,
        /// Only scans of this ticket.
        ticket: Query<Option<Uuid>>,
        /// Page size, 1-200 (default 50).
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Found<ScanLogPage>> {
        let filter = ScanFilter {
            result: result.0,
            device: device.0,
            ticket: ticket.0,
        };
        let (page, zone) = report::scans(
            &state.db,
            &auth.0,
            &slug,
            id.0,
            filter,
            cursor.0.as_deref(),
            limit.0,
        )
        .await?;
        Ok(Found(ScanLogPage {
            items: page
                .items
                .into_iter()
                .map(|logged| {
                    let s = logged.scan;
                    ScanLogEntry {
                        scan_id: s.id,
                        ticket_id: s.ticket_id,
                        device: s.device,
                        result: s.result,
                        scanned_at: zone.at(s.scanned_at),
                        recorded_at: zone.at(s.recorded_at),
                        offline: s.offline,
                        manual: s.manual,
                        attendee_name: logged.attendee_name,
                        conflict: s.conflict,
                        displaced_by: logged.displaced_by.map(|d| DisplacedBy {
                            scan_id: d.scan_id,
                            device: d.device,
                            scanned_at: zone.at(d.scanned_at),
                            at: zone.at(d.at),
                        }),
                        undone: logged.undone.map(|u| UndoneBody {
                            at: zone.at(u.at),
                            staff_id: u.staff_id,
                            reason: u.reason,
                        }),
                    }
                })
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Undo an admission
    ///
    /// For an admission made by mistake: the ticket may be admitted on the
    /// list again. The scan keeps its result; the log shows it `undone`.
    /// Audited. 409 `not_admitted` when the scan's admission does not stand.
    #[oai(
        path = "/events/:slug/checkin-lists/:id/checkins/:scan_id/undo",
        method = "post",
        operation_id = "undo_checkin"
    )]
    async fn undo(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        id: Path<Uuid>,
        scan_id: Path<Uuid>,
        body: JsonBody<UndoRequest>,
    ) -> ApiResult<Found<UndoneAdmission>> {
        let undone =
            manual::undo(&state.db, &auth.0, &slug, id.0, scan_id.0, &body.0.reason).await?;
        Ok(Found(UndoneAdmission {
            scan_id: undone.scan_id,
            ticket_id: undone.ticket_id,
            undone_at: undone.at,
        }))
    }

    /// Reissue a ticket's check-in token
    ///
    /// The ticket's old token stops working at once (`superseded`); the
    /// attendee fetches the new one. Audited.
    #[oai(
        path = "/events/:slug/orders/:code/tickets/:ticket_id/reissue",
        method = "post",
        operation_id = "reissue_ticket_token"
    )]
    async fn reissue(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        code: Path<String>,
        ticket_id: Path<Uuid>,
    ) -> ApiResult<Found<Reissued>> {
        let reissued = report::reissue(
            &state.db,
            &state.keys,
            &state.tokens,
            &auth.0,
            &slug,
            &code,
            ticket_id.0,
        )
        .await?;
        Ok(Found(Reissued {
            ticket_id: ticket_id.0,
            token_version: reissued.version,
            token: reissued.token,
        }))
    }
}
