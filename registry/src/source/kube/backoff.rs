//! Jittered, capped exponential backoff between failed API calls.
//!
//! kube's `default_backoff` grows to minutes; after an outage that means rollcall could wait long
//! after the API server is back. Here the delay doubles from `initial` to at most `max` (100 ms →
//! 2 s by default) and is drawn uniformly from the upper half of that window ("equal jitter"), so
//! many replicas do not retry in lockstep yet none waits much longer than `max` once the API
//! server answers again. Any success resets it.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        let max = max.max(initial);
        Backoff {
            initial,
            max,
            current: initial,
        }
    }

    /// The delay before the next attempt; grows the window for the one after.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let window = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = window / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let extra = if jitter_nanos == 0 {
            0
        } else {
            rand::rng().random_range(0..=jitter_nanos)
        };
        half + Duration::from_nanos(extra)
    }

    pub(crate) fn reset(&mut self) {
        self.current = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        for _ in 0..20 {
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(2), "{d:?} above the cap");
        }
        let capped = b.next_delay();
        assert!(
            capped >= Duration::from_secs(1),
            "{capped:?} below half the cap"
        );
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
