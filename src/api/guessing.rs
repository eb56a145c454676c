//! A budget against guessing secrets that are short enough to be guessed
//! (voucher codes): so many lookups per client address per minute, then 429
//! with `Retry-After`. Kept in memory per instance (each instance gives the
//! full budget, which bounds a guesser all the same).

use std::{num::NonZeroU32, sync::Arc};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    state::keyed::HashMapStateStore,
};
use poem::http::StatusCode;

use crate::error::ApiError;

/// Addresses remembered before the ones idle long enough to be full again
/// are forgotten.
const TRIM_AT: usize = 10_000;

#[derive(Clone)]
pub struct GuessBudget {
    limiter: Arc<RateLimiter<String, HashMapStateStore<String>, DefaultClock>>,
    clock: DefaultClock,
    /// What is counted, for the refusal: "voucher lookups".
    what: &'static str,
}

impl GuessBudget {
    /// `per_minute` voucher lookups a minute per client, all of them at once
    /// if it likes (the burst is the whole minute's budget).
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self::new(Quota::per_minute(n), "voucher lookups")
    }

    /// `per_hour` requests an hour per key (a client address, an email),
    /// the whole hour's budget at once if it likes.
    pub fn per_hour(per_hour: u32, what: &'static str) -> Self {
        let n = NonZeroU32::new(per_hour).unwrap_or(NonZeroU32::MIN);
        Self::new(Quota::per_hour(n), what)
    }

    fn new(quota: Quota, what: &'static str) -> Self {
        Self {
            limiter: Arc::new(RateLimiter::hashmap(quota)),
            clock: DefaultClock::default(),
            what,
        }
    }

    /// Spends one of `client`'s budget, or answers 429.
    pub fn spend(&self, client: &str) -> Result<(), ApiError> {
        let spent = self.limiter.check_key(&client.to_owned());
        if self.limiter.len() > TRIM_AT {
            self.limiter.retain_recent();
        }
        spent.map_err(|not_until| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                format!("too many {} from here; try again later", self.what),
            )
            .with_retry_after(not_until.wait_time_from(self.clock.now()))
        })
    }
}
