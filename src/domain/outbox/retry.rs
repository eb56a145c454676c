//! When a failed delivery is tried again, never after a permanent refusal:
//! a mail with exponential backoff and jitter for [`RETRY_FOR`] from the
//! first attempt; a webhook on the Standard Webhooks schedule
//! ([`WEBHOOK_PAUSES`], about a day), with jitter.

use chrono::{DateTime, Duration, Utc};

/// How long a message keeps being retried, from its first attempt.
pub const RETRY_FOR: Duration = Duration::hours(48);
/// The pause after the first failed attempt; it doubles with each one.
const FIRST_PAUSE_SECONDS: i64 = 30;
/// The longest pause between two attempts.
const LONGEST_PAUSE_SECONDS: i64 = 3_600;

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// May pass: the server is down, busy or timed out (4xx, no answer).
    Transient(String),
    /// Will not pass: the server refused the message or the recipient (5xx),
    /// or the message cannot be made.
    Permanent(String),
}

impl Failure {
    pub fn reason(&self) -> &str {
        match self {
            Failure::Transient(why) | Failure::Permanent(why) => why,
        }
    }
}

/// When to try again after attempt number `attempts` (1 for the first)
/// failed at `at`, or `None` to give up. `jitter` in [0, 1) spreads
/// retries of many messages failed at once over ±20% of the pause.
pub fn next_attempt(
    attempts: i32,
    first_attempt: DateTime<Utc>,
    at: DateTime<Utc>,
    failure: &Failure,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    if matches!(failure, Failure::Permanent(_)) || at - first_attempt >= RETRY_FOR {
        return None;
    }
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let pause = FIRST_PAUSE_SECONDS
        .saturating_mul(1_i64 << doublings)
        .min(LONGEST_PAUSE_SECONDS);
    Some(at + spread(pause, jitter))
}

/// The pauses after a webhook's first, second, … failed attempt, as the
/// Standard Webhooks specification suggests (5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h, 10 h): eight attempts over about 28 hours, then given up.
pub const WEBHOOK_PAUSES: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// When to try a webhook again after attempt number `attempts` (1 for the
/// first) failed at `at`, or `None` to give up.
pub fn next_webhook_attempt(
    attempts: i32,
    at: DateTime<Utc>,
    failure: &Failure,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    if matches!(failure, Failure::Permanent(_)) {
        return None;
    }
    let index = usize::try_from(attempts.saturating_sub(1)).ok()?;
    let pause = *WEBHOOK_PAUSES.get(index)?;
    Some(at + spread(pause, jitter))
}

/// `pause` seconds, spread over ±20% by `jitter` in [0, 1) so that
/// messages failed at once are not all retried at once.
fn spread(pause: i64, jitter: f64) -> Duration {
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    // At most ten hours in milliseconds: exact in f64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let millis = (pause as f64 * 1_000.0 * factor).round() as i64;
    Duration::milliseconds(millis)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn a_permanent_refusal_is_never_retried() {
        let failure = Failure::Permanent("550 no such user".into());
        assert_eq!(next_attempt(1, t0(), t0(), &failure, 0.5), None);
    }

    #[test]
    fn pauses_double_from_thirty_seconds_up_to_an_hour() {
        let failure = Failure::Transient("connection refused".into());
        let pauses: Vec<i64> = (1..=9)
            .map(|n| {
                (next_attempt(n, t0(), t0(), &failure, 0.5).unwrap_or_default() - t0())
                    .num_seconds()
            })
            .collect();
        assert_eq!(pauses, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn webhooks_follow_the_specifications_schedule_then_give_up() {
        let failure = Failure::Transient("503".into());
        let pauses: Vec<Option<i64>> = (1..=9)
            .map(|n| next_webhook_attempt(n, t0(), &failure, 0.5).map(|t| (t - t0()).num_seconds()))
            .collect();
        assert_eq!(
            pauses,
            [
                Some(5),
                Some(300),
                Some(1_800),
                Some(7_200),
                Some(18_000),
                Some(36_000),
                Some(36_000),
                None,
                None
            ]
        );
        let gone = Failure::Permanent("410 Gone".into());
        assert_eq!(next_webhook_attempt(1, t0(), &gone, 0.5), None);
    }

    proptest! {
        /// Every webhook pause is within ±20% of the schedule's.
        #[test]
        fn webhook_pauses_are_jittered_within_a_fifth(attempts in 1i32..8, jitter in 0.0f64..1.0) {
            let failure = Failure::Transient("timeout".into());
            let next = next_webhook_attempt(attempts, t0(), &failure, jitter);
            let base = WEBHOOK_PAUSES[(attempts - 1) as usize] as f64;
            let pause = next.map(|t| (t - t0()).num_milliseconds() as f64 / 1_000.0);
            prop_assert!(pause.is_some_and(|p| p >= base * 0.8 - 0.001 && p <= base * 1.2 + 0.001));
        }

        /// Against a reference: retried until 48 hours after the first
        /// attempt and never after, with a pause of 30 s doubling per
        /// attempt, capped at an hour, within ±20%.
        #[test]
        fn retries_follow_the_schedule(
            attempts in 1i32..400,
            elapsed_minutes in 0i64..(60 * 72),
            jitter in 0.0f64..1.0,
            permanent in any::<bool>(),
        ) {
            let at = t0() + Duration::minutes(elapsed_minutes);
            let failure = if permanent {
                Failure::Permanent("550".into())
            } else {
                Failure::Transient("421".into())
            };
            let next = next_attempt(attempts, t0(), at, &failure, jitter);
            let retried = !permanent && elapsed_minutes < 48 * 60;
            prop_assert_eq!(next.is_some(), retried);
            if let Some(next) = next {
                let base = (30.0 * 2f64.powi(attempts - 1)).min(3_600.0);
                let pause = (next - at).num_milliseconds() as f64 / 1_000.0;
                prop_assert!(pause >= base * 0.8 - 0.001 && pause <= base * 1.2 + 0.001, "{pause} vs {base}");
            }
        }
    }
}
