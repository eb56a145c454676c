//! The webhook worker: every instance runs one. It claims due webhooks from
//! the outbox, endpoint by endpoint (at most [`PER_ENDPOINT`] in flight to
//! one endpoint, none claimed for an endpoint this instance still waits
//! on), so a slow or dead receiver holds only its own messages up, never
//! another endpoint's nor an order being placed. Each message is rendered
//! at its first attempt, signed afresh at every attempt, and sent; the
//! outcome is recorded on the message and on its endpoint.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use entity::{
    outbox_message,
    state::{MessageChannel, MessageState},
};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use tokio::sync::{Notify, Semaphore};

use crate::{
    domain::{
        self, DomainError,
        clock::Clock,
        outbox::{self, Exchange, Failure},
        webhooks::{self as hooks, signing},
    },
    webhooks::{Request, Sender, payload},
};

/// The most messages in flight to one endpoint from one instance.
pub const PER_ENDPOINT: u64 = 16;
/// Endpoints served in one pass.
const ENDPOINTS_PER_PASS: u64 = 64;
/// How long a claimed webhook is left to its worker before another may
/// take it (the worker died): longer than any attempt can take.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// Everything the webhook worker needs.
#[derive(Clone)]
pub struct HooksOut {
    db: DatabaseConnection,
    sender: Sender,
    /// Requests in flight, all endpoints together.
    slots: Arc<Semaphore>,
    /// Endpoints this instance has requests in flight to, and how many.
    busy: Arc<Mutex<HashMap<String, usize>>>,
    /// Rung when a request finishes: its endpoint may be served again.
    done: Arc<Notify>,
    metrics: Arc<crate::telemetry::Metrics>,
}

/// Runs the webhook worker every `every` (and whenever a delivery ends)
/// until the task is dropped.
pub fn spawn_webhook_worker(
    out: HooksOut,
    every: Duration,
    clock: Clock,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(clock.scope(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = out.done.notified() => {}
            }
            while out.deliver_due().await > 0 {}
        }
    }))
}

impl HooksOut {
    pub fn new(
        db: DatabaseConnection,
        sender: Sender,
        in_flight: usize,
        metrics: Arc<crate::telemetry::Metrics>,
    ) -> Self {
        Self {
            db,
            sender,
            slots: Arc::new(Semaphore::new(in_flight.max(1))),
            busy: Arc::default(),
            done: Arc::default(),
            metrics,
        }
    }

    /// One pass: claims due webhooks of every endpoint not busy here and
    /// starts their requests; answers how many it claimed.
    pub async fn deliver_due(&self) -> usize {
        let busy: Vec<String> = match self.busy.lock() {
            Ok(busy) => busy.keys().cloned().collect(),
            Err(_) => return 0,
        };
        let endpoints = match due_endpoints(&self.db, &busy).await {
            Ok(endpoints) => endpoints,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for due webhooks");
                return 0;
            }
        };
        let mut claimed = 0;
        for endpoint in endpoints {
            let limit = PER_ENDPOINT.min(self.slots.available_permits() as u64);
            if limit == 0 {
                break;
            }
            let messages = match outbox::claim_webhooks(
                &self.db,
                &endpoint,
                limit,
                LEASE,
                domain::now(),
            )
            .await
            {
                Ok(messages) => messages,
                Err(err) => {
                    tracing::warn!(error = %err, "could not claim webhooks");
                    continue;
                }
            };
            claimed += messages.len();
            for message in messages {
                let Ok(slot) = self.slots.clone().acquire_owned().await else {
                    return claimed;
                };
                self.enter(&message.recipient);
                let worker = self.clone();
                tokio::spawn(domain::clock::current().scope(async move {
                    worker.deliver(&message).await;
                    worker.leave(&message.recipient);
                    drop(slot);
                    worker.done.notify_one();
                }));
            }
        }
        claimed
    }

    fn enter(&self, endpoint: &str) {
        if let Ok(mut busy) = self.busy.lock() {
            *busy.entry(endpoint.to_owned()).or_default() += 1;
        }
    }

    fn leave(&self, endpoint: &str) {
        if let Ok(mut busy) = self.busy.lock()
            && let Some(count) = busy.get_mut(endpoint)
        {
            *count -= 1;
            if *count == 0 {
                busy.remove(endpoint);
            }
        }
    }

    async fn deliver(&self, message: &outbox_message::Model) {
        let (outcome, exchange) = self.attempt(message).await;
        let at = domain::now();
        let recorded = match &outcome {
            Attempt::Delivered(endpoint) => {
                let status = exchange
                    .status
                    .map_or_else(String::new, |s| format!("HTTP {s}"));
                match outbox::record_sent(&self.db, message, &status, Some(&exchange), at).await {
                    Ok(()) => hooks::record_success(&self.db, *endpoint)
                        .await
                        .map(|()| "sent"),
                    Err(err) => Err(err),
                }
            }
            Attempt::Skipped(why) => outbox::record_skipped(&self.db, message, why, at)
                .await
                .map(|()| "skipped"),
            Attempt::Failed(failure, endpoint) => {
                match outbox::record_failure(&self.db, message, failure, Some(&exchange), at).await
                {
                    Ok(state) => match endpoint {
                        Some(endpoint) => {
                            let gone = exchange.status == Some(410);
                            match hooks::record_trouble(&self.db, endpoint, gone, at).await {
                                Ok(Some(why)) => {
                                    tracing::warn!(endpoint = %endpoint.id, why, "webhook endpoint disabled");
                                    Ok(state.as_str())
                                }
                                Ok(None) => Ok(state.as_str()),
                                Err(err) => Err(err),
                            }
                        }
                        None => Ok(state.as_str()),
                    },
                    Err(err) => Err(err),
                }
            }
        };
        match recorded {
            Ok(state) => {
                self.metrics.message_attempt(
                    message.channel.as_str(),
                    message.kind.as_str(),
                    state,
                );
                tracing::info!(
                    message = %message.id,
                    kind = %message.kind,
                    endpoint = %message.recipient,
                    attempt = message.attempts,
                    status = exchange.status,
                    latency_ms = exchange.latency_ms,
                    state,
                    "webhook attempt"
                );
            }
            // The lease runs out and the message is tried again.
            Err(err) => {
                tracing::warn!(message = %message.id, error = %err, "could not record a webhook attempt")
            }
        }
    }

    async fn attempt(&self, message: &outbox_message::Model) -> (Attempt, Exchange) {
        let mut exchange = Exchange::default();
        let endpoint = match hooks::endpoint_of(&self.db, message).await {
            Ok(Some(endpoint)) if endpoint.enabled => endpoint,
            Ok(_) => {
                return (
                    Attempt::Skipped("its endpoint is gone or disabled"),
                    exchange,
                );
            }
            Err(err) => {
                return (
                    Attempt::Failed(Failure::Transient(err.to_string()), None),
                    exchange,
                );
            }
        };
        let body = match &message.body {
            Some(body) => body.clone(),
            None => match payload::render(&self.db, message).await {
                Ok(body) => body,
                Err(DomainError::NotFound(what)) => {
                    let failure = Failure::Permanent(format!("its {what} is gone"));
                    return (Attempt::Failed(failure, None), exchange);
                }
                Err(err) => {
                    let failure = Failure::Transient(err.to_string());
                    return (Attempt::Failed(failure, None), exchange);
                }
            },
        };
        let at = domain::now();
        let id = message.id.to_string();
        let secrets = hooks::signing_secrets(&endpoint, at);
        let signature = match signing::signature(&secrets, &id, at.timestamp(), body.as_bytes()) {
            Ok(signature) => signature,
            Err(err) => {
                let failure = Failure::Permanent(err.to_string());
                return (Attempt::Failed(failure, None), exchange);
            }
        };
        let answer = self
            .sender
            .send(Request {
                url: &endpoint.url,
                id: &id,
                timestamp: at.timestamp(),
                signature: &signature,
                body: &body,
            })
            .await;
        exchange.body = Some(body);
        exchange.status = answer.status;
        exchange.latency_ms = i64::try_from(answer.latency.as_millis()).unwrap_or(i64::MAX);
        exchange.response = Some(answer.body.clone());
        match answer.outcome() {
            Ok(()) => (Attempt::Delivered(endpoint.id), exchange),
            Err(failure) => (Attempt::Failed(failure, Some(Box::new(endpoint))), exchange),
        }
    }
}

/// Endpoints with due webhooks, none of `busy`.
async fn due_endpoints(db: &DatabaseConnection, busy: &[String]) -> Result<Vec<String>, DbErr> {
    outbox_message::Entity::find()
        .select_only()
        .column(outbox_message::Column::Recipient)
        .distinct()
        .filter(outbox_message::Column::Channel.eq(MessageChannel::Webhook))
        .filter(outbox_message::Column::State.is_in(MessageState::WAITING.iter().copied()))
        .filter(outbox_message::Column::NextAttemptAt.lte(domain::now()))
        .filter(outbox_message::Column::Recipient.is_not_in(busy.iter().cloned()))
        .limit(ENDPOINTS_PER_PASS)
        .into_tuple()
        .all(db)
        .await
}

enum Attempt {
    Delivered(uuid::Uuid),
    Skipped(&'static str),
    Failed(Failure, Option<Box<entity::webhook_endpoint::Model>>),
}
