//! Organizer endpoints for events.

use chrono::{DateTime, Utc};
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
        types::{Found, SwagSizeBody, patch_field},
    },
    domain::events::{self, Event, EventFilter, EventInput, EventPatch, EventStatus, Transition},
    error::ApiResult,
    state::AppState,
};

/// A new event. It starts as a draft, invisible to attendees until published.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct EventCreate {
    /// The event's identifier in URLs: 3-64 of `a-z`, `0-9` and single
    /// hyphens, unique. It cannot change later.
    pub slug: String,
    /// 1-200 characters.
    pub name: String,
    /// Up to 20,000 characters; line breaks allowed.
    #[oai(nullable)]
    pub description: Option<String>,
    /// IANA time zone of the venue, e.g. `Europe/Berlin`.
    pub timezone: String,
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`, at most 62 days later.
    pub ends_at: DateTime<Utc>,
    /// Venue name and address, up to 500 characters.
    #[oai(nullable)]
    pub venue: Option<String>,
    /// ISO 4217 code of every price of this event, e.g. `EUR`.
    pub currency: String,
    /// Total tickets the venue holds, across tiers (1-1,000,000); omit for
    /// no overall limit.
    #[oai(nullable)]
    pub capacity: Option<i64>,
    /// The T-shirt size chart: unique size and cut pairs, at most 64.
    #[oai(default)]
    #[serde(default)]
    pub swag_sizes: Vec<SwagSizeBody>,
    /// Dietary preferences attendees choose from, e.g. `["none",
    /// "vegetarian", "vegan"]`: unique, at most 32.
    #[oai(default)]
    #[serde(default)]
    pub dietary_options: Vec<String>,
    /// Until when attendees may edit their tickets; the event's start when
    /// omitted. Not after `ends_at`.
    #[oai(nullable)]
    pub attendee_edit_deadline: Option<DateTime<Utc>>,
    /// Where attendees' replies to the event's mails go (the organizers'
    /// address); the mails come from the service's sender address.
    #[oai(nullable)]
    pub reply_to: Option<String>,
}

/// Changes to an event: fields left out stay as they are; `null` clears an
/// optional field. The result must pass the same rules as a new event.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct EventUpdate {
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub description: Option<String>,
    #[oai(nullable)]
    pub timezone: Option<String>,
    #[oai(nullable)]
    pub starts_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    #[oai(nullable)]
    pub venue: MaybeUndefined<String>,
    /// Only until the event is first published.
    #[oai(nullable)]
    pub currency: Option<String>,
    #[serde(default)]
    #[oai(nullable)]
    pub capacity: MaybeUndefined<i64>,
    #[oai(nullable)]
    pub swag_sizes: Option<Vec<SwagSizeBody>>,
    #[oai(nullable)]
    pub dietary_options: Option<Vec<String>>,
    #[serde(default)]
    #[oai(nullable)]
    pub attendee_edit_deadline: MaybeUndefined<DateTime<Utc>>,
    #[serde(default)]
    #[oai(nullable)]
    pub reply_to: MaybeUndefined<String>,
}

/// An event as organizers see it.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct AdminEvent {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub timezone: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[oai(nullable)]
    pub venue: Option<String>,
    pub currency: String,
    #[oai(nullable)]
    pub capacity: Option<i32>,
    pub swag_sizes: Vec<SwagSizeBody>,
    pub dietary_options: Vec<String>,
    #[oai(nullable)]
    pub attendee_edit_deadline: Option<DateTime<Utc>>,
    /// Where replies to the event's mails go.
    #[oai(nullable)]
    pub reply_to: Option<String>,
    pub status: EventStatus,
    /// When the event was first published (kept if it is unpublished).
    #[oai(nullable)]
    pub published_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Event> for AdminEvent {
    fn from(event: Event) -> Self {
        Self {
            id: event.id,
            slug: event.slug,
            name: event.name,
            description: event.description,
            timezone: event.timezone,
            starts_at: event.starts_at,
            ends_at: event.ends_at,
            venue: event.venue,
            currency: event.currency,
            capacity: event.capacity,
            swag_sizes: event.swag_sizes.into_iter().map(Into::into).collect(),
            dietary_options: event.dietary_options,
            attendee_edit_deadline: event.attendee_edit_deadline,
            reply_to: event.reply_to,
            status: event.status,
            published_at: event.published_at,
            archived_at: event.archived_at,
            created_at: event.created_at,
            updated_at: event.updated_at,
        }
    }
}

/// A page of events, in start order.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct AdminEventPage {
    pub items: Vec<AdminEvent>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse)]
pub enum EventCreated {
    /// The event was created, as a draft.
    #[oai(status = 201)]
    Created(Json<AdminEvent>),
}

pub struct EventsApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminEvents")]
impl EventsApi {
    /// Create an event
    #[oai(path = "/events", method = "post", operation_id = "create_event")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        body: JsonBody<EventCreate>,
    ) -> ApiResult<EventCreated> {
        let body = body.0;
        let input = EventInput {
            slug: body.slug,
            name: body.name,
            description: body.description,
            timezone: body.timezone,
            starts_at: body.starts_at,
            ends_at: body.ends_at,
            venue: body.venue,
            currency: body.currency,
            capacity: body.capacity,
            swag_sizes: body.swag_sizes.into_iter().map(Into::into).collect(),
            dietary_options: body.dietary_options,
            attendee_edit_deadline: body.attendee_edit_deadline,
            reply_to: body.reply_to,
        };
        let event = events::create(&state.db, &auth.0, input).await?;
        Ok(EventCreated::Created(Json(event.into())))
    }

    /// List events
    ///
    /// The events the token may manage, in order of their start.
    #[oai(path = "/events", method = "get", operation_id = "list_events")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        /// Only events in this state.
        status: Query<Option<EventStatus>>,
        /// Page size, 1-200 (default 50).
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Found<AdminEventPage>> {
        let filter = EventFilter { status: status.0 };
        let page = events::list(&state.db, &auth.0, filter, cursor.0.as_deref(), limit.0).await?;
        Ok(Found(AdminEventPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Get an event
    #[oai(path = "/events/:slug", method = "get", operation_id = "get_event")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Found<AdminEvent>> {
        Ok(Found(events::get(&state.db, &auth.0, &slug).await?.into()))
    }

    /// Update an event
    ///
    /// Archived events cannot change; the currency cannot change once the
    /// event has been published.
    #[oai(
        path = "/events/:slug",
        method = "patch",
        operation_id = "update_event"
    )]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        body: JsonBody<EventUpdate>,
    ) -> ApiResult<Found<AdminEvent>> {
        let body = body.0;
        let patch = EventPatch {
            name: body.name,
            description: body.description,
            timezone: body.timezone,
            starts_at: body.starts_at,
            ends_at: body.ends_at,
            venue: patch_field(body.venue),
            currency: body.currency,
            capacity: patch_field(body.capacity),
            swag_sizes: body
                .swag_sizes
                .map(|sizes| sizes.into_iter().map(Into::into).collect()),
            dietary_options: body.dietary_options,
            attendee_edit_deadline: patch_field(body.attendee_edit_deadline),
            reply_to: patch_field(body.reply_to),
        };
        Ok(Found(
            events::update(&state.db, &auth.0, &slug, patch)
                .await?
                .into(),
        ))
    }

    /// Publish an event
    ///
    /// Puts a draft in the public catalogue. Publishing a published event
    /// changes nothing.
    #[oai(
        path = "/events/:slug/publish",
        method = "post",
        operation_id = "publish_event"
    )]
    async fn publish(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Found<AdminEvent>> {
        Ok(Found(
            events::transition(&state.db, &auth.0, &slug, Transition::Publish)
                .await?
                .into(),
        ))
    }

    /// Unpublish an event
    ///
    /// Takes the event out of the public catalogue (back to draft); what was
    /// sold stays sold.
    #[oai(
        path = "/events/:slug/unpublish",
        method = "post",
        operation_id = "unpublish_event"
    )]
    async fn unpublish(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Found<AdminEvent>> {
        Ok(Found(
            events::transition(&state.db, &auth.0, &slug, Transition::Unpublish)
                .await?
                .into(),
        ))
    }

    /// Archive an event
    ///
    /// Makes the event read-only and invisible to attendees, keeping
    /// everything sold. This cannot be undone.
    #[oai(
        path = "/events/:slug/archive",
        method = "post",
        operation_id = "archive_event"
    )]
    async fn archive(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Found<AdminEvent>> {
        Ok(Found(
            events::transition(&state.db, &auth.0, &slug, Transition::Archive)
                .await?
                .into(),
        ))
    }

    /// Delete an event
    ///
    /// Only an event that never had an order can be deleted (with its tiers
    /// and vouchers); one with orders answers 409 `event_has_orders` and is
    /// archived instead.
    #[oai(
        path = "/events/:slug",
        method = "delete",
        operation_id = "delete_event"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Deleted> {
        events::delete(&state.db, &auth.0, &slug).await?;
        // The event's scope rows went with it.
        state.staff.invalidate();
        Ok(Deleted::NoContent)
    }
}
