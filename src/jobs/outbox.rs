//! The mail worker: every instance runs one. It claims due mails from the
//! outbox, gathers what each says as things are now, renders, composes and
//! sends it, and records the outcome. Without a mail server it only marks
//! queued mails `not_sent`.

use std::{sync::Arc, time::Duration};

use entity::{outbox_message, state::MessageChannel};
use futures_util::StreamExt;
use lettre::message::Mailbox;
use sea_orm::DatabaseConnection;

use crate::{
    domain::{
        self, DomainError,
        checkin::tokens::TokenSettings,
        clock::Clock,
        keys::KeyRing,
        mail::{self, Gathered, LinkBase},
        outbox::{self, Failure},
    },
    mail::{Mailer, compose},
};

/// Mails claimed in one go.
const BATCH: u64 = 32;
/// How long a claimed mail is left to its worker before another may take
/// it (the worker died): longer than any one attempt can take.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// Everything the mail worker needs.
#[derive(Clone)]
pub struct MailOut {
    pub db: DatabaseConnection,
    pub keys: KeyRing,
    pub tokens: TokenSettings,
    pub links: LinkBase,
    pub from: Option<Mailbox>,
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Mails sent at once (each on its own connection).
    pub in_flight: usize,
    pub metrics: Arc<crate::telemetry::Metrics>,
}

/// Runs the mail worker every `every` until the task is dropped.
pub fn spawn_mail_worker(
    out: MailOut,
    every: Duration,
    clock: Clock,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(clock.scope(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            // A full batch means more may be due: go on at once.
            while out.deliver_due().await >= BATCH {}
        }
    }))
}

impl MailOut {
    /// One pass over the due mails; answers how many it claimed.
    pub async fn deliver_due(&self) -> u64 {
        let (Some(mailer), Some(from)) = (&self.mailer, &self.from) else {
            if let Err(err) =
                outbox::mark_not_sent(&self.db, MessageChannel::Email, domain::now()).await
            {
                tracing::warn!(error = %err, "could not mark mails not sent");
            }
            return 0;
        };
        let claimed =
            match outbox::claim(&self.db, MessageChannel::Email, BATCH, LEASE, domain::now()).await
            {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!(error = %err, "could not claim mails");
                    return 0;
                }
            };
        let count = u64::try_from(claimed.len()).unwrap_or(u64::MAX);
        futures_util::stream::iter(claimed)
            .for_each_concurrent(self.in_flight.max(1), |message| async move {
                self.deliver(mailer.as_ref(), from, message).await;
            })
            .await;
        count
    }

    async fn deliver(&self, mailer: &dyn Mailer, from: &Mailbox, message: outbox_message::Model) {
        let outcome = self.attempt(mailer, from, &message).await;
        let at = domain::now();
        let recorded = match &outcome {
            Attempt::Sent(subject) => outbox::record_sent(&self.db, &message, subject, None, at)
                .await
                .map(|()| "sent"),
            Attempt::Skipped(why) => outbox::record_skipped(&self.db, &message, why, at)
                .await
                .map(|()| "skipped"),
            Attempt::Failed(failure) => {
                outbox::record_failure(&self.db, &message, failure, None, at)
                    .await
                    .map(|state| state.as_str())
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
                attempt = message.attempts,
                state,
                error = match &outcome { Attempt::Failed(f) => f.reason(), _ => "" },
                "mail attempt"
                );
            }
            // The lease runs out and the mail is tried again.
            Err(err) => {
                tracing::warn!(message = %message.id, error = %err, "could not record a mail attempt")
            }
        }
    }

    async fn attempt(
        &self,
        mailer: &dyn Mailer,
        from: &Mailbox,
        message: &outbox_message::Model,
    ) -> Attempt {
        let facts =
            match mail::gather(&self.db, &self.keys, &self.tokens, &self.links, message).await {
                Ok(Gathered::Ready(facts)) => facts,
                Ok(Gathered::Skip(why)) => return Attempt::Skipped(why),
                Err(DomainError::NotFound(what)) => {
                    return Attempt::Failed(Failure::Permanent(format!("its {what} is gone")));
                }
                Err(err) => return Attempt::Failed(Failure::Transient(err.to_string())),
            };
        let rendered = match mail::render(facts.kind, &facts.context, facts.custom.as_ref()) {
            Ok(rendered) => rendered,
            Err(err) => return Attempt::Failed(Failure::Permanent(err.to_string())),
        };
        let composed = match compose(
            message.id,
            from,
            (&facts.recipient, facts.recipient_name.as_deref()),
            facts.reply_to.as_deref(),
            rendered,
            facts.qr,
            facts.unsubscribe.as_deref(),
        ) {
            Ok(composed) => composed,
            Err(failure) => return Attempt::Failed(failure),
        };
        match mailer.send(composed.message).await {
            Ok(()) => Attempt::Sent(composed.subject),
            Err(failure) => Attempt::Failed(failure),
        }
    }
}

enum Attempt {
    Sent(String),
    Skipped(&'static str),
    Failed(Failure),
}
