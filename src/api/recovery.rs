//! Lost-link recovery for the attendee front end.

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use serde::Deserialize;

use super::{Tag, body::JsonBody, orders::client_key};
use crate::{
    domain::{self, staff::hash_secret},
    error::PublicError,
    state::AppState,
};

/// Who lost their links.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct RecoverBody {
    /// The address the tickets were bought with or issued to.
    pub email: String,
}

/// The request was taken.
#[derive(Debug, Clone, Object)]
pub struct RecoverAccepted {
    /// Always `accepted`: whether the address holds anything is never said.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum Recovered {
    /// Taken: if the address holds orders or tickets of this event, fresh
    /// links are on their way to it, and its old links no longer work.
    #[oai(status = 202)]
    Accepted(Json<RecoverAccepted>),
}

pub struct RecoveryApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Orders")]
impl RecoveryApi {
    /// Recover lost links
    ///
    /// For a buyer or attendee who lost their mails: always 202, whether or
    /// not the address holds anything (nobody can learn who bought
    /// tickets). If it does, it gets one mail with a fresh link to each of
    /// its orders and tickets at this event, and every link it had before
    /// stops working, the order token from checkout included: recovering
    /// also kills a leaked link. At most one such mail per address every
    /// five minutes; past the per-address and per-client budgets, 429
    /// `too_many_requests` with `Retry-After`. A malformed address answers
    /// 422, an unknown event 404.
    #[oai(
        path = "/events/:slug/orders/recover",
        method = "post",
        operation_id = "recover_links"
    )]
    async fn recover(
        &self,
        state: Data<&AppState>,
        req: &Request,
        slug: Path<String>,
        body: JsonBody<RecoverBody>,
    ) -> Result<Recovered, PublicError> {
        state.recoveries_by_client.spend(&client_key(&state, req))?;
        let email = body.0.email.trim().to_lowercase();
        state.recoveries_by_email.spend(&hash_secret(&email))?;
        let outcome = domain::recovery::recover(&state.db, &slug, &email).await?;
        tracing::info!(outcome = ?outcome, "link recovery");
        Ok(Recovered::Accepted(Json(RecoverAccepted {
            status: "accepted".to_owned(),
        })))
    }
}
