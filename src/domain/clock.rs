//! The one clock domain code reads.
//!
//! Every rule that depends on the time (holds ending, sales windows, the
//! door's window, idempotency leases) asks [`now`]. In production that is the
//! system clock. A test holds a [`Clock::settable`] instead and moves it
//! forward (`advance`) to let a hold lapse, rather than editing rows.
//!
//! The clock is per application, not per process: several test apps run in
//! one process, each with its own. Each request runs inside its app's clock
//! ([`Clock::scope`], applied by a middleware), and background work carries
//! the clock it was started under ([`spawn`]). Outside any scope (the CLI,
//! a test calling the domain directly) [`now`] is the system clock.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use chrono::{DateTime, Duration, SubsecRound, Utc};

tokio::task_local! {
    static CURRENT: Clock;
}

/// A source of the current time.
#[derive(Debug, Clone)]
pub struct Clock {
    /// Microseconds added to the system clock; only a settable clock has it.
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { offset: None }
    }

    /// A clock that runs with the system clock and can be moved forward.
    pub fn settable() -> Self {
        Self {
            offset: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    /// The current time, at the precision both databases keep
    /// (microseconds), so a value read back equals the value written.
    pub fn now(&self) -> DateTime<Utc> {
        let system = Utc::now();
        let at = match &self.offset {
            None => system,
            Some(offset) => system + Duration::microseconds(offset.load(Ordering::Relaxed)),
        };
        at.trunc_subsecs(6)
    }

    /// Moves a settable clock forward (or back, with a negative duration);
    /// answers false, changing nothing, for the system clock.
    pub fn advance(&self, by: Duration) -> bool {
        match (&self.offset, by.num_microseconds()) {
            (Some(offset), Some(us)) => {
                offset.fetch_add(us, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// Runs `future` with this clock as the current one.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> + use<F> {
        CURRENT.scope(self.clone(), future)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

/// The current clock: the one in scope, else the system clock.
pub fn current() -> Clock {
    CURRENT.try_with(Clock::clone).unwrap_or_default()
}

/// The current time by the current clock.
pub fn now() -> DateTime<Utc> {
    CURRENT
        .try_with(Clock::now)
        .unwrap_or_else(|_| Clock::system().now())
}

/// Spawns background work that keeps the clock it was started under.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(current().scope(future))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_settable_clock_moves_only_its_own_scope() {
        let held = Clock::settable();
        assert!(held.advance(Duration::hours(2)));
        let inside = held.scope(async { now() }).await;
        let outside = now();
        assert!(
            inside - outside > Duration::minutes(119),
            "{inside} vs {outside}"
        );
        assert!(!Clock::system().advance(Duration::hours(1)));
    }

    #[tokio::test]
    async fn spawned_work_keeps_its_clock() {
        let held = Clock::settable();
        held.advance(Duration::days(1));
        let seen = held
            .scope(async { spawn(async { now() }).await })
            .await
            .ok();
        assert!(seen.is_some_and(|at| at - Utc::now() > Duration::hours(23)));
    }
}
