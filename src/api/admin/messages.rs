//! What tessera told an order's buyer and attendees, and whether it arrived.

use chrono::{DateTime, Utc};
use entity::{
    outbox_message,
    state::{MessageChannel, MessageKind, MessageState},
};
use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use uuid::Uuid;

use serde::Deserialize;

use crate::{
    api::{Tag, auth::StaffAuth, body::JsonBody, types::Found},
    domain::{
        broadcasts::{self, BroadcastInput},
        desk,
    },
    error::ApiResult,
    state::AppState,
};

/// A message about an order, and where it is on its way out.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case")]
pub struct MessageBody {
    /// Also the mail's `Message-ID` (`<id@sender's domain>`, without dashes).
    pub id: Uuid,
    pub channel: MessageChannel,
    pub kind: MessageKind,
    /// The address mailed.
    pub recipient: String,
    /// The ticket a ticket mail is about.
    #[oai(nullable)]
    pub ticket_id: Option<Uuid>,
    pub state: MessageState,
    /// Delivery attempts so far.
    pub attempts: i32,
    /// Why the last attempt failed (or why the message was skipped).
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// When it is tried next (queued or retrying).
    #[oai(nullable)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The subject as sent.
    #[oai(nullable)]
    pub subject: Option<String>,
    #[oai(nullable)]
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<outbox_message::Model> for MessageBody {
    fn from(m: outbox_message::Model) -> Self {
        let waiting = matches!(m.state, MessageState::Queued | MessageState::Retrying);
        Self {
            id: m.id,
            channel: m.channel,
            kind: m.kind,
            recipient: m.recipient,
            ticket_id: m.ticket_id,
            state: m.state,
            attempts: m.attempts,
            last_error: m.last_error,
            next_attempt_at: waiting.then_some(m.next_attempt_at),
            subject: m.subject,
            sent_at: m.sent_at,
            created_at: m.created_at,
        }
    }
}

/// An order's messages, oldest first.
#[derive(Debug, Clone, Object)]
pub struct MessageList {
    pub items: Vec<MessageBody>,
}

#[derive(ApiResponse)]
pub enum Resent {
    /// Queued: the messages written, on their way out.
    #[oai(status = 202)]
    Accepted(Json<MessageList>),
}

/// The organizers' words to the attendees.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub struct BroadcastCreate {
    /// One line, 1-200 characters (line breaks are refused).
    pub subject: String,
    /// Plain text, 1-10,000 characters; blank lines part paragraphs.
    pub text: String,
    /// Only attendees with a ticket of these tiers; leave out for everyone.
    #[oai(nullable)]
    pub tiers: Option<Vec<Uuid>>,
}

/// A broadcast on its way.
#[derive(Debug, Clone, Object)]
pub struct BroadcastQueued {
    /// Addresses it goes to: one mail each, however many tickets they hold.
    pub recipients: u64,
}

#[derive(ApiResponse)]
pub enum Broadcast {
    /// Queued in the outbox, one mail per address.
    #[oai(status = 202)]
    Accepted(Json<BroadcastQueued>),
}

pub struct MessagesApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminOrders")]
impl MessagesApi {
    /// List an order's messages
    ///
    /// Every mail tessera wrote about the order (to the buyer and to each
    /// attendee), with its delivery state: `queued`, `sent`, `retrying`,
    /// `failed` (refused for good, or failing for 48 hours), `not_sent` (no
    /// mail server configured yet) or `skipped` (no longer applied when its
    /// turn came, e.g. a ticket revoked first).
    #[oai(
        path = "/events/:slug/orders/:code/messages",
        method = "get",
        operation_id = "list_order_messages"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        code: Path<String>,
    ) -> ApiResult<Found<MessageList>> {
        let items = desk::messages(&state.db, &auth.0, &slug, &code).await?;
        Ok(Found(MessageList {
            items: items.into_iter().map(Into::into).collect(),
        }))
    }

    /// Send a message to the attendees
    ///
    /// "Doors open at 8:30, bring an ID": one mail to every address that
    /// holds a valid ticket (of `tiers`, if given), through the outbox like
    /// every mail, each with a one-click unsubscribe link
    /// (`List-Unsubscribe`); addresses that unsubscribed from the event's
    /// news are left out. Audited as `broadcast.sent`.
    #[oai(
        path = "/events/:slug/messages",
        method = "post",
        operation_id = "broadcast"
    )]
    async fn broadcast(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        body: JsonBody<BroadcastCreate>,
    ) -> ApiResult<Broadcast> {
        let body = body.0;
        let input = BroadcastInput {
            subject: body.subject,
            text: body.text,
            tiers: body.tiers,
        };
        let recipients = broadcasts::send(&state.db, &auth.0, &slug, input).await?;
        Ok(Broadcast::Accepted(Json(BroadcastQueued {
            recipients: u64::try_from(recipients).unwrap_or(u64::MAX),
        })))
    }

    /// Send an order's mails again
    ///
    /// For a paid order, the confirmation to the buyer and every valid
    /// ticket to its attendee (with fresh links and QR codes); for a pending
    /// one, the payment reminder. Audited as `order.mail_resent`. Answers
    /// the messages queued; follow them in the order's messages. 409
    /// `nothing_to_resend` for expired, cancelled and refunded orders.
    #[oai(
        path = "/events/:slug/orders/:code/resend",
        method = "post",
        operation_id = "resend_order_messages"
    )]
    async fn resend(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        code: Path<String>,
    ) -> ApiResult<Resent> {
        let items = desk::resend(&state.db, &auth.0, &slug, &code).await?;
        Ok(Resent::Accepted(Json(MessageList {
            items: items.into_iter().map(Into::into).collect(),
        })))
    }
}
