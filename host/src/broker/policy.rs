//! When to refresh, how to back off, how long leases last.

use std::time::{Duration, SystemTime};

use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;

/// The token lifecycle's timing rules.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// Refresh when less than this much lifetime remains (default 5 minutes)…
    pub min_window: Duration,
    /// …or less than this fraction of the lifetime (default 0.1), whichever is larger…
    pub window_fraction: f64,
    /// …but never earlier than this fraction of the lifetime before expiry (default 0.5),
    /// so a short-lived token is not refreshed on every use.
    pub max_window_fraction: f64,
    /// A token is treated as expired this long before its stated expiry (clock skew and
    /// time in flight; default 10 s).
    pub expiry_skew: Duration,
    /// First retry delay after a failed refresh (default 2 s); doubles per consecutive
    /// failure, with ±25 % jitter.
    pub retry_base: Duration,
    /// Longest retry delay (default 5 minutes).
    pub retry_max: Duration,
    /// Attempts made within one call when the current token has already expired and the
    /// failure is temporary (default 3).
    pub inline_attempts: u32,
    /// Delay before the second inline attempt (default 200 ms; doubles, with jitter).
    pub inline_retry_base: Duration,
    /// Lifetime of a refresh lease (default 30 s); the holder renews it every third of that
    /// while it works, so only a crashed holder's lease runs out.
    pub lease_ttl: Duration,
    /// How often a process waiting for another's lease looks again (default 50 ms).
    pub lease_poll: Duration,
    /// How long a process waits for another's refresh before giving up (default 90 s).
    pub lease_wait: Duration,
    /// How long the in-memory cache trusts an entry before re-reading the store, so a
    /// change made by another process (disable, remove, refresh) is seen (default 30 s).
    pub cache_max_age: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            min_window: Duration::from_secs(300),
            window_fraction: 0.1,
            max_window_fraction: 0.5,
            expiry_skew: Duration::from_secs(10),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            inline_attempts: 3,
            inline_retry_base: Duration::from_millis(200),
            lease_ttl: Duration::from_secs(30),
            lease_poll: Duration::from_millis(50),
            lease_wait: Duration::from_secs(90),
            cache_max_age: Duration::from_secs(30),
        }
    }
}

impl RefreshPolicy {
    /// The refresh window for a token of this lifetime.
    pub fn window(&self, lifetime: Duration) -> Duration {
        let by_fraction = lifetime.mul_f64(self.window_fraction.clamp(0.0, 1.0));
        let cap = lifetime.mul_f64(self.max_window_fraction.clamp(0.0, 1.0));
        self.min_window.max(by_fraction).min(cap)
    }

    /// When a token issued at `issued_at`, expiring at `expires_at`, should be refreshed.
    /// `None` when it does not expire.
    pub fn refresh_at(
        &self,
        issued_at: SystemTime,
        expires_at: Option<SystemTime>,
    ) -> Option<SystemTime> {
        let expires_at = expires_at?;
        let lifetime = expires_at.duration_since(issued_at).unwrap_or_default();
        Some(expires_at - self.window(lifetime))
    }

    /// Delay before the next background attempt after `failures` consecutive failures.
    pub fn retry_delay(&self, failures: u32) -> Duration {
        jitter(backoff(self.retry_base, self.retry_max, failures))
    }

    /// Delay before inline attempt number `attempt + 1` (`attempt` ≥ 1).
    pub fn inline_delay(&self, attempt: u32) -> Duration {
        jitter(backoff(self.inline_retry_base, self.retry_max, attempt))
    }
}

fn backoff(base: Duration, max: Duration, n: u32) -> Duration {
    let factor = 1u32 << n.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(max)
}

/// ±25 % uniform jitter.
fn jitter(d: Duration) -> Duration {
    let r = f64::from(OsRng.next_u32()) / f64::from(u32::MAX);
    d.mul_f64(0.75 + 0.5 * r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_follows_the_rule() {
        let p = RefreshPolicy::default();
        let h = Duration::from_secs(3600);
        assert_eq!(p.window(h), Duration::from_secs(360)); // 10 % of an hour > 5 min
        assert_eq!(
            p.window(Duration::from_secs(1200)),
            Duration::from_secs(300)
        ); // 5 min
        assert_eq!(p.window(Duration::from_secs(120)), Duration::from_secs(60)); // capped at half
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            p.refresh_at(t0, Some(t0 + h)),
            Some(t0 + h - Duration::from_secs(360))
        );
        assert_eq!(p.refresh_at(t0, None), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RefreshPolicy::default();
        let d1 = p.retry_delay(1);
        assert!(
            d1 >= Duration::from_millis(1500) && d1 <= Duration::from_millis(2500),
            "{d1:?}"
        );
        let d3 = p.retry_delay(3);
        assert!(
            d3 >= Duration::from_secs(6) && d3 <= Duration::from_secs(10),
            "{d3:?}"
        );
        assert!(p.retry_delay(40) <= Duration::from_secs(375));
    }
}
