//! The webhook worker: every instance runs one. Each endpoint with due
//! webhooks gets a lane on the instance that finds them: a task that keeps
//! up to [`PER_ENDPOINT`] requests in flight to that endpoint, claiming
//! more from the outbox as they finish (half a lane at a time), and ends
//! when its queue is empty. A slow or dead receiver so holds only its own
//! lane, never another endpoint's nor an order being placed.
//!
//! A claim reads its endpoint once and renders its messages' bodies
//! together (their orders in one read); each message is signed afresh at
//! every attempt and sent, and the lane records its outcome on its row
//! (and, when the endpoint's health changes, on the endpoint). The lanes
//! take turns at the database ([`DB_TURNS`] at once), so deliveries never
//! hold the connections that orders being placed need.
//!
//! While the instance is deciding placements (a ticket rush), each lane
//! paces itself: at most [`PACED`] requests in flight and a short pause
//! before each claim. Deliveries go on during the rush, slower, and catch
//! up at full speed once it is over; the cores and the database go to the
//! orders first. (Each instance paces by its own placements.)

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use entity::{outbox_message, state::MessageState, webhook_endpoint};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use tokio::{sync::Semaphore, task::JoinSet};

use crate::{
    domain::{
        self, DomainError,
        clock::Clock,
        inventory::Placing,
        outbox::{self, Exchange, Failure},
        webhooks::{self as hooks, signing},
    },
    webhooks::{Request, Sender, payload},
};

/// The most requests in flight to one endpoint from one instance.
pub const PER_ENDPOINT: usize = 16;
/// A lane claims again once this many of its requests have finished.
const REFILL: usize = PER_ENDPOINT / 2;
/// Database connections the webhook worker uses at once, at most.
const DB_TURNS: usize = 2;
/// Requests in flight to one endpoint from one instance while it is
/// deciding placements (a ticket rush): deliveries go on, at a pace that
/// leaves the cores and the database to the orders.
pub const PACED: usize = 4;
/// How long a lane waits before each claim while placements are decided.
const PACE: Duration = Duration::from_millis(100);
/// How long a lane with requests in flight and room for more waits before
/// it looks for new messages again, outside a rush.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// Requests a lane keeps in flight at most.
fn width(paced: bool) -> usize {
    if paced { PACED } else { PER_ENDPOINT }
}

/// Whether a lane with `in_flight` requests claims more: when it has none,
/// or room for at least one while paced, or half its width otherwise (so
/// claims come in batches).
fn may_claim(paced: bool, in_flight: usize) -> bool {
    let room = width(paced).saturating_sub(in_flight);
    in_flight == 0 || room >= if paced { 1 } else { REFILL }
}

/// Endpoints a look for due webhooks opens lanes for.
const ENDPOINTS_PER_LOOK: u64 = 64;
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
    /// Endpoints this instance runs a lane for.
    lanes: Arc<Mutex<HashSet<String>>>,
    /// Turns at the database, all lanes together.
    turns: Arc<Semaphore>,
    /// Placements being decided on this instance: while there are any, the
    /// lanes pace themselves ([`PACED`]).
    placing: Placing,
    metrics: Arc<crate::telemetry::Metrics>,
}

/// Looks for endpoints with due webhooks every `every` and opens a lane
/// for each, until the task is dropped (which ends its lanes too).
pub fn spawn_webhook_worker(
    out: HooksOut,
    every: Duration,
    clock: Clock,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(clock.scope(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lanes = JoinSet::new();
        loop {
            tokio::select! {
                _ = ticker.tick() => out.open_lanes(&mut lanes).await,
                Some(_) = lanes.join_next(), if !lanes.is_empty() => {}
            }
        }
    }))
}

/// Marks an endpoint's lane open on this instance while it lives (also
/// when its task is aborted).
struct Lane {
    lanes: Arc<Mutex<HashSet<String>>>,
    endpoint: String,
}

impl Drop for Lane {
    fn drop(&mut self) {
        if let Ok(mut lanes) = self.lanes.lock() {
            lanes.remove(&self.endpoint);
        }
    }
}

/// A request that finished: its message, endpoint, what was exchanged and
/// how it ended.
type Finished = (
    outbox_message::Model,
    Arc<webhook_endpoint::Model>,
    Exchange,
    Result<(), Failure>,
);

/// What a claimed message's attempt needs, or why it has none.
enum Ready {
    Send(Arc<webhook_endpoint::Model>, String),
    Skip(&'static str),
    Fail(Failure),
}

impl HooksOut {
    pub fn new(
        db: DatabaseConnection,
        sender: Sender,
        in_flight: usize,
        placing: Placing,
        metrics: Arc<crate::telemetry::Metrics>,
    ) -> Self {
        Self {
            db,
            sender,
            slots: Arc::new(Semaphore::new(in_flight.max(1))),
            lanes: Arc::default(),
            turns: Arc::new(Semaphore::new(DB_TURNS)),
            placing,
            metrics,
        }
    }

    /// Opens a lane in `lanes` for every endpoint with due webhooks that
    /// has none here yet.
    async fn open_lanes(&self, lanes: &mut JoinSet<()>) {
        let open: Vec<String> = match self.lanes.lock() {
            Ok(open) => open.iter().cloned().collect(),
            Err(_) => return,
        };
        let endpoints = match due_endpoints(&self.db, &open).await {
            Ok(endpoints) => endpoints,
            Err(err) => {
                tracing::warn!(error = %err, "could not look for due webhooks");
                return;
            }
        };
        for endpoint in endpoints {
            let Ok(mut open) = self.lanes.lock() else {
                return;
            };
            if !open.insert(endpoint.clone()) {
                continue;
            }
            let lane = Lane {
                lanes: self.lanes.clone(),
                endpoint,
            };
            lanes.spawn(domain::clock::current().scope(self.clone().run(lane)));
        }
    }

    /// An endpoint's lane: claims and sends until its queue is empty. The
    /// requests run concurrently; the lane itself does the database work
    /// (claims, and records each outcome as its request finishes), so a
    /// lane holds at most one of the pool's connections, and all lanes
    /// together at most [`DB_TURNS`]: orders being placed keep the rest.
    async fn run(self, lane: Lane) {
        let mut flight = JoinSet::new();
        loop {
            let paced = self.placing.busy();
            if may_claim(paced, flight.len()) {
                let room = width(paced).saturating_sub(flight.len());
                if paced {
                    tokio::time::sleep(PACE).await;
                }
                let limit = room.min(self.slots.available_permits());
                let claimed = if limit == 0 {
                    Vec::new()
                } else {
                    self.claim(&lane.endpoint, limit).await
                };
                if claimed.is_empty() && flight.is_empty() {
                    return;
                }
                for (message, ready) in claimed {
                    let (endpoint, body) = match ready {
                        Ready::Send(endpoint, body) => (endpoint, body),
                        Ready::Skip(why) => {
                            self.record_skipped(&message, why).await;
                            continue;
                        }
                        Ready::Fail(failure) => {
                            self.record_unsent(&message, &failure).await;
                            continue;
                        }
                    };
                    let Ok(slot) = self.slots.clone().acquire_owned().await else {
                        return;
                    };
                    let worker = self.clone();
                    flight.spawn(domain::clock::current().scope(async move {
                        let (exchange, outcome) = worker.send(&message, &endpoint, body).await;
                        drop(slot);
                        (message, endpoint, exchange, outcome)
                    }));
                }
            }
            // Every request finished by now is recorded in one go. A lane
            // paced by a rush widens as soon as the rush is over, and a lane
            // with room to claim looks for new messages again after a pause
            // rather than only once a request ends: requests to a slow
            // receiver would otherwise hold back the messages queued behind
            // them for as long as they hang.
            let again = if paced { PACE } else { LOOK_AGAIN };
            let first = tokio::select! {
                first = flight.join_next() => first,
                () = self.placing.quiet(), if paced => continue,
                () = tokio::time::sleep(again), if may_claim(paced, flight.len()) => continue,
            };
            if let Some(first) = first {
                let mut finished: Vec<Finished> = first.into_iter().collect();
                while let Some(next) = flight.try_join_next() {
                    finished.extend(next);
                }
                self.record_all(finished).await;
            }
        }
    }

    /// Claims up to `limit` of the endpoint's due webhooks and gets what
    /// their attempts need: the endpoint (read once) and their bodies.
    async fn claim(&self, endpoint: &str, limit: usize) -> Vec<(outbox_message::Model, Ready)> {
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        let _turn = self.turns.acquire().await;
        let claimed =
            match outbox::claim_webhooks(&self.db, endpoint, limit, LEASE, domain::now()).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(error = %err, "could not claim webhooks");
                    return Vec::new();
                }
            };
        let Some(first) = claimed.first() else {
            return Vec::new();
        };
        let target = match hooks::endpoint_of(&self.db, first).await {
            Ok(Some(model)) if model.enabled => Arc::new(model),
            Ok(_) => {
                let why = "its endpoint is gone or disabled";
                return claimed.into_iter().map(|m| (m, Ready::Skip(why))).collect();
            }
            Err(err) => return all_failed(claimed, &err.to_string()),
        };
        let bodies = match payload::render_all(&self.db, &claimed).await {
            Ok(bodies) => bodies,
            Err(err) => return all_failed(claimed, &err.to_string()),
        };
        claimed
            .into_iter()
            .zip(bodies)
            .map(|(message, body)| {
                let ready = match body {
                    Ok(body) => Ready::Send(target.clone(), body),
                    Err(DomainError::NotFound(what)) => {
                        Ready::Fail(Failure::Permanent(format!("its {what} is gone")))
                    }
                    Err(err) => Ready::Fail(Failure::Transient(err.to_string())),
                };
                (message, ready)
            })
            .collect()
    }

    /// Records that `message` no longer applies.
    async fn record_skipped(&self, message: &outbox_message::Model, why: &str) {
        let _turn = self.turns.acquire().await;
        let recorded = outbox::record_skipped(&self.db, message, why, domain::now())
            .await
            .map(|()| MessageState::Skipped);
        self.note(message, &Exchange::default(), recorded.as_ref().copied());
    }

    /// Records an attempt that failed before anything was sent.
    async fn record_unsent(&self, message: &outbox_message::Model, failure: &Failure) {
        let _turn = self.turns.acquire().await;
        let recorded =
            outbox::record_failure(&self.db, message, failure, None, domain::now()).await;
        self.note(message, &Exchange::default(), recorded.as_ref().copied());
    }

    /// Records what the finished requests gave: the delivered together
    /// (one statement), each failure on its own (its retry is its own).
    async fn record_all(&self, finished: Vec<Finished>) {
        let (sent, failed): (Vec<Finished>, Vec<Finished>) =
            finished.into_iter().partition(|f| f.3.is_ok());
        for (message, endpoint, exchange, outcome) in failed {
            if let Err(failure) = outcome {
                self.record_failure(&message, &endpoint, &exchange, failure)
                    .await;
            }
        }
        if sent.is_empty() {
            return;
        }
        let _turn = self.turns.acquire().await;
        let delivered: Vec<outbox::Delivered<'_>> = sent
            .iter()
            .map(|(message, _, exchange, _)| outbox::Delivered {
                claimed: message,
                subject: exchange
                    .status
                    .map_or_else(String::new, |s| format!("HTTP {s}")),
                exchange,
            })
            .collect();
        let mut recorded = outbox::record_sent_all(&self.db, &delivered, domain::now()).await;
        // Only a failing endpoint has health to restore (a lane's requests
        // all go to one endpoint).
        if let (Ok(()), Some(endpoint)) = (
            &recorded,
            sent.iter()
                .map(|f| &f.1)
                .find(|e| e.failing_since.is_some()),
        ) {
            recorded = hooks::record_success(&self.db, endpoint.id).await;
        }
        for (message, _, exchange, _) in &sent {
            self.note(
                message,
                exchange,
                recorded.as_ref().map(|_| MessageState::Sent),
            );
        }
    }

    /// Records a failed attempt, and the trouble on its endpoint.
    async fn record_failure(
        &self,
        message: &outbox_message::Model,
        endpoint: &webhook_endpoint::Model,
        exchange: &Exchange,
        failure: Failure,
    ) {
        let _turn = self.turns.acquire().await;
        let at = domain::now();
        let recorded = match outbox::record_failure(&self.db, message, &failure, Some(exchange), at)
            .await
        {
            Ok(state) => {
                let gone = exchange.status == Some(410);
                match hooks::record_trouble(&self.db, endpoint, gone, at).await {
                    Ok(Some(why)) => {
                        tracing::warn!(endpoint = %endpoint.id, why, "webhook endpoint disabled");
                        Ok(state)
                    }
                    Ok(None) => Ok(state),
                    Err(err) => Err(err),
                }
            }
            Err(err) => Err(err),
        };
        self.note(message, exchange, recorded.as_ref().copied());
    }

    /// Signs and sends `body` to `endpoint`.
    async fn send(
        &self,
        message: &outbox_message::Model,
        endpoint: &webhook_endpoint::Model,
        body: String,
    ) -> (Exchange, Result<(), Failure>) {
        let at = domain::now();
        let id = message.id.to_string();
        let secrets = hooks::signing_secrets(endpoint, at);
        let mut exchange = Exchange::default();
        let signature = match signing::signature(&secrets, &id, at.timestamp(), body.as_bytes()) {
            Ok(signature) => signature,
            Err(err) => return (exchange, Err(Failure::Permanent(err.to_string()))),
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
        let outcome = answer.outcome();
        (exchange, outcome)
    }

    /// Counts and logs an attempt's recorded outcome.
    fn note(
        &self,
        message: &outbox_message::Model,
        exchange: &Exchange,
        recorded: Result<MessageState, &DbErr>,
    ) {
        match recorded {
            Ok(state) => {
                self.metrics.message_attempt(
                    message.channel.as_str(),
                    message.kind.as_str(),
                    state.as_str(),
                );
                tracing::info!(
                    message = %message.id,
                    kind = %message.kind,
                    endpoint = %message.recipient,
                    attempt = message.attempts,
                    status = exchange.status,
                    latency_ms = exchange.latency_ms,
                    state = state.as_str(),
                    "webhook attempt"
                );
            }
            // The lease runs out and the message is tried again.
            Err(err) => {
                tracing::warn!(message = %message.id, error = %err, "could not record a webhook attempt")
            }
        }
    }
}

/// Every claimed message fails this attempt for one transient reason.
fn all_failed(
    claimed: Vec<outbox_message::Model>,
    why: &str,
) -> Vec<(outbox_message::Model, Ready)> {
    claimed
        .into_iter()
        .map(|m| (m, Ready::Fail(Failure::Transient(why.to_owned()))))
        .collect()
}

/// Endpoints with due webhooks, none of `open`.
async fn due_endpoints(db: &DatabaseConnection, open: &[String]) -> Result<Vec<String>, DbErr> {
    outbox_message::Entity::find()
        .select_only()
        .column(outbox_message::Column::Recipient)
        .distinct()
        .filter(sea_orm::sea_query::Expr::cust(outbox::WEBHOOK_WAITING))
        .filter(outbox_message::Column::NextAttemptAt.lte(domain::now()))
        .filter(outbox_message::Column::Recipient.is_not_in(open.iter().cloned()))
        .limit(ENDPOINTS_PER_LOOK)
        .into_tuple()
        .all(db)
        .await
}
