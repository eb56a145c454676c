//! Wire types shared by several resources, and conversions from domain values.

use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse, Object,
    payload::{Json, Payload},
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{MaybeUndefined, ToJSON},
};
use serde::Deserialize;

use crate::domain::events::{SwagSize, SwagSizeInput};

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
