//! The public catalogue, for the attendee front end.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, param::Path, param::Query};
use uuid::Uuid;

use super::{Tag, types::Found};
use crate::{
    domain::{
        self,
        catalog::{Availability, SaleState},
        events::Event,
        vouchers::DiscountKind,
    },
    error::PublicError,
    state::AppState,
};

/// A published event.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct PublicEvent {
    /// The event's identifier in URLs, e.g. `rustfest-2027`.
    pub slug: String,
    pub name: String,
    pub description: String,
    /// IANA time zone of the venue, for showing local times.
    pub timezone: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[oai(nullable)]
    pub venue: Option<String>,
    /// ISO 4217 code of every price of this event.
    pub currency: String,
    /// The T-shirt sizes and cuts an attendee may choose (for tiers that
    /// include swag), with whether each is still available.
    pub swag_sizes: Vec<PublicSwagSize>,
    /// The dietary preferences an attendee may choose; free-text allergies
    /// are always possible besides.
    pub dietary_options: Vec<String>,
    /// Until when attendees may edit their tickets' details.
    pub attendee_edits_until: DateTime<Utc>,
}

/// A size and cut of the event's chart.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct PublicSwagSize {
    pub size: String,
    #[oai(nullable)]
    pub cut: Option<String>,
    /// Whether it can still be chosen (its stock is not all held or sold).
    /// `null` in event listings: read the event itself.
    #[oai(nullable)]
    pub available: Option<bool>,
}

impl PublicEvent {
    /// The event, with its swag sizes' availability when known.
    pub(super) fn of(event: Event, available: Option<Vec<bool>>) -> Self {
        let attendee_edits_until = event.edits_close_at();
        let swag_sizes = event
            .swag_sizes
            .into_iter()
            .enumerate()
            .map(|(i, s)| PublicSwagSize {
                size: s.size,
                cut: s.cut,
                available: available.as_ref().and_then(|a| a.get(i).copied()),
            })
            .collect();
        Self {
            slug: event.slug,
            name: event.name,
            description: event.description,
            timezone: event.timezone,
            starts_at: event.starts_at,
            ends_at: event.ends_at,
            venue: event.venue,
            currency: event.currency,
            swag_sizes,
            dietary_options: event.dietary_options,
            attendee_edits_until,
        }
    }
}

/// A page of published events, in start order.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct PublicEventPage {
    pub items: Vec<PublicEvent>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A ticket tier an attendee can buy.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct PublicTier {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// Price of one ticket in minor units of `currency` (e.g. cents).
    pub price: i64,
    pub currency: String,
    pub sale_state: SaleState,
    /// Tickets left right now, the venue's capacity included.
    pub remaining: i64,
    #[oai(nullable)]
    pub sales_start: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub sales_end: Option<DateTime<Utc>>,
    pub min_per_order: i32,
    pub max_per_order: i32,
    /// Most tickets of this tier one person (buyer email) may have across
    /// their orders; `null`: no such limit.
    #[oai(nullable)]
    pub max_per_buyer: Option<i32>,
    /// Whether each ticket comes with a T-shirt (then a size is chosen per
    /// ticket).
    pub includes_swag: bool,
}

fn public_tier(
    tier: entity::tier::Model,
    availability: Availability,
    currency: &str,
) -> PublicTier {
    PublicTier {
        id: tier.id,
        name: tier.name,
        description: tier.description,
        price: tier.price,
        currency: currency.to_owned(),
        sale_state: availability.state,
        remaining: availability.remaining,
        sales_start: tier.sales_start,
        sales_end: tier.sales_end,
        min_per_order: tier.min_per_order,
        max_per_order: tier.max_per_order,
        max_per_buyer: tier.max_per_buyer,
        includes_swag: tier.includes_swag,
    }
}

/// What a voucher does, as a buyer's front end may show it. How often it
/// was used, and by whom, is never told.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct PublicVoucher {
    /// The code as stored (upper case).
    pub code: String,
    pub discount_kind: DiscountKind,
    /// Percent (1-100) or minor units of `currency`; 0 with `none`.
    pub discount_value: i64,
    pub currency: String,
    /// Tiers the discount applies to; empty: every tier.
    pub applies_to: Vec<Uuid>,
    /// The hidden tiers it unlocks, as the tier listing shows tiers.
    pub unlocks: Vec<PublicTier>,
    #[oai(nullable)]
    pub valid_from: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub valid_until: Option<DateTime<Utc>>,
    /// Whether an order can use it now (false until `valid_from`).
    pub available: bool,
}

pub struct CatalogueApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Catalogue")]
impl CatalogueApi {
    /// List published events
    ///
    /// Published events in order of their start, drafts and archived events
    /// excluded.
    #[oai(path = "/events", method = "get", operation_id = "list_public_events")]
    async fn list_events(
        &self,
        state: Data<&AppState>,
        /// Page size, 1-200 (default 50).
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Found<PublicEventPage>, PublicError> {
        let page = domain::catalog::list_events(&state.db, cursor.0.as_deref(), limit.0).await?;
        Ok(Found(PublicEventPage {
            items: page
                .items
                .into_iter()
                .map(|e| PublicEvent::of(e, None))
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Get a published event
    #[oai(
        path = "/events/:slug",
        method = "get",
        operation_id = "get_public_event"
    )]
    async fn get_event(
        &self,
        state: Data<&AppState>,
        slug: Path<String>,
    ) -> Result<Found<PublicEvent>, PublicError> {
        let event = domain::catalog::get_event(&state.db, &slug).await?;
        let available =
            domain::catalog::swag_availability(&state.db, &event, domain::now()).await?;
        Ok(Found(PublicEvent::of(event, Some(available))))
    }

    /// List the tiers on offer
    ///
    /// The visible tiers of a published event in display order, each with its
    /// price, sale state and how many tickets are left right now. Hidden tiers
    /// are listed only with `voucher`, a code that unlocks them and can be
    /// used now (an unusable code lists what is listed without one);
    /// archived tiers never. A request with `voucher` spends the client's
    /// lookup budget like the voucher endpoint (429 `too_many_requests`).
    #[oai(
        path = "/events/:slug/tiers",
        method = "get",
        operation_id = "list_public_tiers"
    )]
    async fn list_tiers(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        slug: Path<String>,
        /// A voucher code, e.g. `SPEAKER-2027`: also lists the hidden tiers it
        /// unlocks.
        voucher: Query<Option<String>>,
    ) -> Result<Found<Vec<PublicTier>>, PublicError> {
        if voucher.0.is_some() {
            state
                .voucher_lookups
                .spend(&super::orders::client_key(&state, req))?;
        }
        let (event, tiers) =
            domain::catalog::list_tiers(&state.db, &slug, voucher.0.as_deref(), domain::now())
                .await?;
        Ok(Found(
            tiers
                .into_iter()
                .map(|(tier, availability)| public_tier(tier, availability, &event.currency))
                .collect(),
        ))
    }

    /// Look up a voucher code
    ///
    /// What the code does (its discount and the tiers it applies to), the
    /// hidden tiers it unlocks with their public fields, and when it is
    /// valid, so a front end can show them without hard-coding tier ids.
    /// Unknown, archived, expired and used-up codes all answer 404
    /// `invalid_voucher`, alike and in about the same time; a code that is
    /// not valid yet answers with `available: false`. Each client address
    /// has a budget of lookups per minute (`TESSERA_VOUCHER_LOOKUPS_PER_MINUTE`,
    /// 30), then 429 `too_many_requests` with `Retry-After`.
    #[oai(
        path = "/events/:slug/vouchers/:code",
        method = "get",
        operation_id = "get_public_voucher"
    )]
    async fn get_voucher(
        &self,
        state: Data<&AppState>,
        req: &poem::Request,
        slug: Path<String>,
        code: Path<String>,
    ) -> Result<Found<PublicVoucher>, PublicError> {
        state
            .voucher_lookups
            .spend(&super::orders::client_key(&state, req))?;
        let Some((event, offer)) =
            domain::catalog::voucher_offer(&state.db, &slug, &code, domain::now()).await?
        else {
            return Err(crate::error::ApiError::new(
                poem::http::StatusCode::NOT_FOUND,
                "invalid_voucher",
                "no voucher with this code can be used for this event",
            )
            .into());
        };
        let voucher = offer.voucher;
        let (discount_kind, discount_value) = voucher.discount.parts();
        Ok(Found(PublicVoucher {
            code: voucher.code,
            discount_kind,
            discount_value,
            currency: event.currency.clone(),
            applies_to: voucher.applies_to,
            unlocks: offer
                .unlocks
                .into_iter()
                .map(|(tier, availability)| public_tier(tier, availability, &event.currency))
                .collect(),
            valid_from: voucher.valid_from,
            valid_until: voucher.valid_until,
            available: offer.available,
        }))
    }
}
