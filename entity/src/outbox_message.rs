//! A message to deliver: an email or an outbound webhook. Written in
//! the transaction of the change that causes it; delivered by the service's
//! outbox worker on any instance (`domain::outbox`).

use sea_orm::entity::prelude::*;

use crate::state::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox_message")]
pub struct Model {
    /// Also the message's stable `Message-ID` (and, for webhooks, its id).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub channel: MessageChannel,
    pub kind: MessageKind,
    pub event_id: Uuid,
    pub order_id: Option<Uuid>,
    pub ticket_id: Option<Uuid>,
    /// The address mailed (an email), or the endpoint's id (a webhook).
    pub recipient: String,
    /// The facts of the change that are not in the rows it points at (an
    /// amount refunded), as JSON.
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    pub state: MessageState,
    /// Delivery attempts started so far.
    pub attempts: i32,
    /// When the message is due; while an attempt runs, when its lease ends.
    pub next_attempt_at: DateTimeUtc,
    /// When the first attempt started: the retry period counts from here.
    pub first_attempt_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    /// The subject as sent.
    pub subject: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    /// A webhook's body as signed and sent, fixed at its first attempt so
    /// every retry sends the same bytes.
    pub body: Option<String>,
    /// A webhook's last attempt: the receiver's HTTP status (none: no
    /// answer), how long it took, and the start of its answer.
    pub status_code: Option<i32>,
    pub latency_ms: Option<i32>,
    pub response: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
