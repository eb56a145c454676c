//! Organizer endpoints for ticket tiers.

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
    domain::tiers::{self, TierInput, TierPatch},
    error::ApiResult,
    state::AppState,
};

/// A new ticket tier.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TierCreate {
    /// 1-200 characters, e.g. `Early bird`.
    pub name: String,
    /// Up to 5,000 characters; line breaks allowed.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Price of one ticket in minor units of the event's currency (e.g.
    /// cents): 0 for free tickets, at most 1,000,000,000.
    pub price: i64,
    /// Tickets in this tier (0-1,000,000). The event's capacity applies too.
    pub capacity: i64,
    /// When sales open; open at once when omitted.
    #[oai(nullable)]
    pub sales_start: Option<DateTime<Utc>>,
    /// When sales close; at the end of the event when omitted.
    #[oai(nullable)]
    pub sales_end: Option<DateTime<Utc>>,
    /// Fewest tickets of this tier in one order (default 1).
    #[oai(nullable)]
    pub min_per_order: Option<i64>,
    /// Most tickets of this tier in one order (default 10, at most 100).
    #[oai(nullable)]
    pub max_per_order: Option<i64>,
    /// Most tickets of this tier one buyer email may have across all their
    /// live orders, pending or paid, free or not (1-10,000; none when
    /// omitted). Past it: 409 `buyer_limit_reached`.
    #[oai(nullable)]
    pub max_per_buyer: Option<i64>,
    /// Hidden tiers are not listed publicly; a voucher unlocks them.
    #[oai(nullable)]
    pub hidden: Option<bool>,
    /// Whether each ticket comes with a T-shirt; needs the event's size chart.
    #[oai(nullable)]
    pub includes_swag: Option<bool>,
    /// Tiers are listed by ascending sort order, then by creation.
    #[oai(nullable)]
    pub sort_order: Option<i64>,
}

/// Changes to a tier: fields left out stay as they are; `null` clears an
/// optional field.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct TierUpdate {
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub description: Option<String>,
    #[oai(nullable)]
    pub price: Option<i64>,
    #[oai(nullable)]
    pub capacity: Option<i64>,
    #[serde(default)]
    #[oai(nullable)]
    pub sales_start: MaybeUndefined<DateTime<Utc>>,
    #[serde(default)]
    #[oai(nullable)]
    pub sales_end: MaybeUndefined<DateTime<Utc>>,
    #[oai(nullable)]
    pub min_per_order: Option<i64>,
    #[oai(nullable)]
    pub max_per_order: Option<i64>,
    /// `null` removes the limit.
    #[serde(default)]
    #[oai(nullable)]
    pub max_per_buyer: MaybeUndefined<i64>,
    #[oai(nullable)]
    pub hidden: Option<bool>,
    #[oai(nullable)]
    pub includes_swag: Option<bool>,
    #[oai(nullable)]
    pub sort_order: Option<i64>,
}

/// A ticket tier as organizers see it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct AdminTier {
    pub id: Uuid,
    /// Slug of the event the tier belongs to.
    pub event: String,
    pub name: String,
    pub description: String,
    /// In minor units of `currency`.
    pub price: i64,
    pub currency: String,
    pub capacity: i32,
    #[oai(nullable)]
    pub sales_start: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub sales_end: Option<DateTime<Utc>>,
    pub min_per_order: i32,
    pub max_per_order: i32,
    #[oai(nullable)]
    pub max_per_buyer: Option<i32>,
    pub hidden: bool,
    pub includes_swag: bool,
    pub sort_order: i32,
    /// Set once the tier is archived: it no longer sells.
    #[oai(nullable)]
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn admin_tier(event: &entity::event::Model, tier: entity::tier::Model) -> AdminTier {
    AdminTier {
        id: tier.id,
        event: event.slug.clone(),
        name: tier.name,
        description: tier.description,
        price: tier.price,
        currency: event.currency.clone(),
        capacity: tier.capacity,
        sales_start: tier.sales_start,
        sales_end: tier.sales_end,
        min_per_order: tier.min_per_order,
        max_per_order: tier.max_per_order,
        max_per_buyer: tier.max_per_buyer,
        hidden: tier.hidden,
        includes_swag: tier.includes_swag,
        sort_order: tier.sort_order,
        archived_at: tier.archived_at,
        created_at: tier.created_at,
        updated_at: tier.updated_at,
    }
}

#[derive(ApiResponse)]
pub enum TierCreated {
    /// The tier was created.
    #[oai(status = 201)]
    Created(Json<AdminTier>),
}

pub struct TiersApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminTiers")]
impl TiersApi {
    /// Create a tier
    #[oai(
        path = "/events/:slug/tiers",
        method = "post",
        operation_id = "create_tier"
    )]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        body: JsonBody<TierCreate>,
    ) -> ApiResult<TierCreated> {
        let body = body.0;
        let input = TierInput {
            name: body.name,
            description: body.description,
            price: body.price,
            capacity: body.capacity,
            sales_start: body.sales_start,
            sales_end: body.sales_end,
            min_per_order: body.min_per_order,
            max_per_order: body.max_per_order,
            max_per_buyer: body.max_per_buyer,
            hidden: body.hidden,
            includes_swag: body.includes_swag,
            sort_order: body.sort_order,
        };
        let (event, tier) = tiers::create(&state.db, &auth.0, &slug, input).await?;
        Ok(TierCreated::Created(Json(admin_tier(&event, tier))))
    }

    /// List tiers
    ///
    /// Every tier of the event (at most 100), hidden and archived ones
    /// included, in display order.
    #[oai(
        path = "/events/:slug/tiers",
        method = "get",
        operation_id = "list_tiers"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Found<Vec<AdminTier>>> {
        let (event, tiers) = tiers::list(&state.db, &auth.0, &slug).await?;
        Ok(Found(
            tiers
                .into_iter()
                .map(|tier| admin_tier(&event, tier))
                .collect(),
        ))
    }

    /// Get a tier
    #[oai(
        path = "/events/:slug/tiers/:tier_id",
        method = "get",
        operation_id = "get_tier"
    )]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        tier_id: Path<Uuid>,
    ) -> ApiResult<Found<AdminTier>> {
        let (event, tier) = tiers::get(&state.db, &auth.0, &slug, tier_id.0).await?;
        Ok(Found(admin_tier(&event, tier)))
    }

    /// Update a tier
    #[oai(
        path = "/events/:slug/tiers/:tier_id",
        method = "patch",
        operation_id = "update_tier"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        tier_id: Path<Uuid>,
        body: JsonBody<TierUpdate>,
    ) -> ApiResult<Found<AdminTier>> {
        let body = body.0;
        let patch = TierPatch {
            name: body.name,
            description: body.description,
            price: body.price,
            capacity: body.capacity,
            sales_start: patch_field(body.sales_start),
            sales_end: patch_field(body.sales_end),
            min_per_order: body.min_per_order,
            max_per_order: body.max_per_order,
            max_per_buyer: patch_field(body.max_per_buyer),
            hidden: body.hidden,
            includes_swag: body.includes_swag,
            sort_order: body.sort_order,
        };
        let (event, tier) = tiers::update(&state.db, &auth.0, &slug, tier_id.0, patch).await?;
        Ok(Found(admin_tier(&event, tier)))
    }

    /// Archive a tier
    ///
    /// The tier stops selling and leaves the catalogue; what it sold stays.
    #[oai(
        path = "/events/:slug/tiers/:tier_id/archive",
        method = "post",
        operation_id = "archive_tier"
    )]
    async fn archive(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        tier_id: Path<Uuid>,
    ) -> ApiResult<Found<AdminTier>> {
        let (event, tier) = tiers::archive(&state.db, &auth.0, &slug, tier_id.0).await?;
        Ok(Found(admin_tier(&event, tier)))
    }

    /// Delete a tier
    ///
    /// Only a tier that never had a ticket can be deleted; others answer 409
    /// `tier_has_tickets` and are archived instead.
    #[oai(
        path = "/events/:slug/tiers/:tier_id",
        method = "delete",
        operation_id = "delete_tier"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        tier_id: Path<Uuid>,
    ) -> ApiResult<Deleted> {
        tiers::delete(&state.db, &auth.0, &slug, tier_id.0).await?;
        Ok(Deleted::NoContent)
    }
}
