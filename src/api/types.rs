//! Wire types shared by several resources, and conversions from domain values.

use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse, Enum, Object,
    payload::{Json, Payload},
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{MaybeUndefined, ToJSON},
};
use serde::Deserialize;

use crate::domain::{
    catalog::SaleState,
    events::{EventStatus, SwagSize, SwagSizeInput},
    staff::Role,
};

/// One entry of an event's swag size chart.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct SwagSizeBody {
    /// The size label, e.g. `M` or `2XL` (1-16 characters).
    pub size: String,
    /// The cut, e.g. `straight` or `fitted` (1-32 characters); omit when the
    /// shirts come in one cut.
    #[oai(nullable)]
    pub cut: Option<String>,
    /// Shirts in stock in this size and cut; omit when not tracked.
    #[oai(nullable)]
    pub stock: Option<i64>,
}

impl From<SwagSizeBody> for SwagSizeInput {
    fn from(body: SwagSizeBody) -> Self {
        Self {
            size: body.size,
            cut: body.cut,
            stock: body.stock,
        }
    }
}

impl From<SwagSize> for SwagSizeBody {
    fn from(size: SwagSize) -> Self {
        Self {
            size: size.size,
            cut: size.cut,
            stock: size.stock.map(i64::from),
        }
    }
}

/// A size and cut an attendee can choose.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct SwagChoice {
    pub size: String,
    #[oai(nullable)]
    pub cut: Option<String>,
}

impl From<SwagSize> for SwagChoice {
    fn from(size: SwagSize) -> Self {
        Self {
            size: size.size,
            cut: size.cut,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum EventStatusBody {
    /// Being set up; invisible to attendees.
    Draft,
    /// In the public catalogue.
    Published,
    /// Over or withdrawn; read-only and invisible to attendees.
    Archived,
}

impl From<EventStatus> for EventStatusBody {
    fn from(status: EventStatus) -> Self {
        match status {
            EventStatus::Draft => Self::Draft,
            EventStatus::Published => Self::Published,
            EventStatus::Archived => Self::Archived,
        }
    }
}

impl From<EventStatusBody> for EventStatus {
    fn from(status: EventStatusBody) -> Self {
        match status {
            EventStatusBody::Draft => Self::Draft,
            EventStatusBody::Published => Self::Published,
            EventStatusBody::Archived => Self::Archived,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SaleStateBody {
    /// Sales open later (`sales_start`).
    Upcoming,
    /// On sale now.
    OnSale,
    /// Sales are closed, or the event is over.
    Ended,
    /// Nothing left in the tier, or the venue is full.
    SoldOut,
}

impl From<SaleState> for SaleStateBody {
    fn from(state: SaleState) -> Self {
        match state {
            SaleState::Upcoming => Self::Upcoming,
            SaleState::OnSale => Self::OnSale,
            SaleState::Ended => Self::Ended,
            SaleState::SoldOut => Self::SoldOut,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum RoleBody {
    /// Everything, including staff tokens.
    Admin,
    /// Events, tiers, orders and reports of the events in scope.
    Organizer,
    /// Check-in only, for the events in scope.
    Volunteer,
}

impl From<Role> for RoleBody {
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => Self::Admin,
            Role::Organizer => Self::Organizer,
            Role::Volunteer => Self::Volunteer,
        }
    }
}

impl From<RoleBody> for Role {
    fn from(role: RoleBody) -> Self {
        match role {
            RoleBody::Admin => Self::Admin,
            RoleBody::Organizer => Self::Organizer,
            RoleBody::Volunteer => Self::Volunteer,
        }
    }
}

/// A 200 answer with a JSON body, described in the OpenAPI document.
pub struct Found<T>(pub T);

impl<T: ToJSON> ApiResponse for Found<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "Success.",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: <Json<T> as Payload>::CONTENT_TYPE,
                    schema: T::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ToJSON> IntoResponse for Found<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// A nullable field of a partial update: left out (`None`), cleared with
/// `null` (`Some(None)`), or set (`Some(Some(value))`).
pub fn patch_field<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
