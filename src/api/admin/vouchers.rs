//! Organizer endpoints for vouchers.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi, param::Path, payload::Json, types::MaybeUndefined,
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
    domain::vouchers::{self, DiscountKind, Voucher, VoucherInput, VoucherPatch},
    error::ApiResult,
    state::AppState,
};

/// A new voucher.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct VoucherCreate {
    /// 3-32 letters, digits, `-` and `_`; matched case-insensitively and
    /// stored upper-case. It cannot change later.
    pub code: String,
    pub discount_kind: DiscountKind,
    /// Percent (1-100) or minor units, per `discount_kind`; 0 for `none`.
    #[oai(default)]
    #[serde(default)]
    pub discount_value: i64,
    /// Tiers the discount applies to; empty or omitted for every tier.
    #[oai(default)]
    #[serde(default)]
    pub applies_to: Vec<Uuid>,
    /// Hidden tiers the voucher makes buyable.
    #[oai(default)]
    #[serde(default)]
    pub unlocks: Vec<Uuid>,
    /// Tickets it may be used for, held and paid ones counting; unlimited
    /// when omitted.
    #[oai(nullable)]
    pub usage_limit: Option<i64>,
    #[oai(nullable)]
    pub valid_from: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub valid_until: Option<DateTime<Utc>>,
}

/// Changes to a voucher: fields left out stay; `null` clears.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct VoucherUpdate {
    #[oai(nullable)]
    pub discount_kind: Option<DiscountKind>,
    #[oai(nullable)]
    pub discount_value: Option<i64>,
    #[oai(nullable)]
    pub applies_to: Option<Vec<Uuid>>,
    #[oai(nullable)]
    pub unlocks: Option<Vec<Uuid>>,
    #[serde(default)]
    #[oai(nullable)]
    pub usage_limit: MaybeUndefined<i64>,
    #[serde(default)]
    #[oai(nullable)]
    pub valid_from: MaybeUndefined<DateTime<Utc>>,
    #[serde(default)]
    #[oai(nullable)]
    pub valid_until: MaybeUndefined<DateTime<Utc>>,
}

/// A voucher as organizers see it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct VoucherBody {
    pub id: Uuid,
    pub code: String,
    pub discount_kind: DiscountKind,
    pub discount_value: i64,
    pub applies_to: Vec<Uuid>,
    pub unlocks: Vec<Uuid>,
    #[oai(nullable)]
    pub usage_limit: Option<i32>,
    /// Tickets using it now: held and paid.
    pub used: u64,
    #[oai(nullable)]
    pub valid_from: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub valid_until: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn voucher_body((voucher, used): (Voucher, u64)) -> VoucherBody {
    let (discount_kind, discount_value) = voucher.discount.parts();
    VoucherBody {
        id: voucher.id,
        code: voucher.code,
        discount_kind,
        discount_value,
        applies_to: voucher.applies_to,
        unlocks: voucher.unlocks,
        usage_limit: voucher.usage_limit,
        used,
        valid_from: voucher.valid_from,
        valid_until: voucher.valid_until,
        archived_at: voucher.archived_at,
        created_at: voucher.created_at,
        updated_at: voucher.updated_at,
    }
}

#[derive(ApiResponse)]
pub enum VoucherCreated {
    /// The voucher was created.
    #[oai(status = 201)]
    Created(Json<VoucherBody>),
}

pub struct VouchersApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminVouchers")]
impl VouchersApi {
    /// Create a voucher
    #[oai(
        path = "/events/:slug/vouchers",
        method = "post",
        operation_id = "create_voucher"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        body: JsonBody<VoucherCreate>,
    ) -> ApiResult<VoucherCreated> {
        let b = body.0;
        let input = VoucherInput {
            code: b.code,
            discount_kind: b.discount_kind,
            discount_value: b.discount_value,
            applies_to: b.applies_to,
            unlocks: b.unlocks,
            usage_limit: b.usage_limit,
            valid_from: b.valid_from,
            valid_until: b.valid_until,
        };
        let created = vouchers::create(&state.db, &auth.0, &slug, input).await?;
        Ok(VoucherCreated::Created(Json(voucher_body(created))))
    }

    /// List vouchers
    ///
    /// Every voucher of the event, archived ones included, with its uses.
    #[oai(
        path = "/events/:slug/vouchers",
        method = "get",
        operation_id = "list_vouchers"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Found<Vec<VoucherBody>>> {
        let listed = vouchers::list(&state.db, &auth.0, &slug).await?;
        Ok(Found(listed.into_iter().map(voucher_body).collect()))
    }

    /// Get a voucher
    #[oai(
        path = "/events/:slug/vouchers/:id",
        method = "get",
        operation_id = "get_voucher"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        id: Path<Uuid>,
    ) -> ApiResult<Found<VoucherBody>> {
        Ok(Found(voucher_body(
            vouchers::get(&state.db, &auth.0, &slug, id.0).await?,
        )))
    }

    /// Update a voucher
    #[oai(
        path = "/events/:slug/vouchers/:id",
        method = "patch",
        operation_id = "update_voucher"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        id: Path<Uuid>,
        body: JsonBody<VoucherUpdate>,
    ) -> ApiResult<Found<VoucherBody>> {
        let b = body.0;
        let patch = VoucherPatch {
            discount_kind: b.discount_kind,
            discount_value: b.discount_value,
            applies_to: b.applies_to,
            unlocks: b.unlocks,
            usage_limit: patch_field(b.usage_limit),
            valid_from: patch_field(b.valid_from),
            valid_until: patch_field(b.valid_until),
        };
        Ok(Found(voucher_body(
            vouchers::update(&state.db, &auth.0, &slug, id.0, patch).await?,
        )))
    }

    /// Archive a voucher
    ///
    /// It can no longer be redeemed; tickets bought with it keep their price.
    #[oai(
        path = "/events/:slug/vouchers/:id/archive",
        method = "post",
        operation_id = "archive_voucher"
    )]
    async fn archive(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        id: Path<Uuid>,
    ) -> ApiResult<Found<VoucherBody>> {
        Ok(Found(voucher_body(
            vouchers::archive(&state.db, &auth.0, &slug, id.0).await?,
        )))
    }

    /// Delete a voucher
    ///
    /// Only a voucher no ticket ever used; others answer 409
    /// `voucher_was_used` and are archived instead.
    #[oai(
        path = "/events/:slug/vouchers/:id",
        method = "delete",
        operation_id = "delete_voucher"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        id: Path<Uuid>,
    ) -> ApiResult<Deleted> {
        vouchers::delete(&state.db, &auth.0, &slug, id.0).await?;
        Ok(Deleted::NoContent)
    }
}
