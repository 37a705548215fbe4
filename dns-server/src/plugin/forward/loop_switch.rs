//! The block's forwarding-loop switch: `loop` sets it when its probe comes back, `forward`
//! answers SERVFAIL without sending while it is set (and reports that at most once a minute).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::contract::SetupContext;

/// While forwarding is off, the loop's error line is repeated at most this often.
pub const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Whether `loop` found a forwarding loop in one server block: one per block, in the block's
/// [`Extensions`](crate::contract::Extensions) ([`ForwardingLoop::of_block`]). `forward` owns
/// the type (it is the one that obeys it); the block's `loop` sets it, the block's `forward`
/// reads it (one load per forwarded query) and, once set, answers SERVFAIL without sending anything. It
/// lives as long as the configuration: a reload starts with a fresh one.
#[derive(Debug)]
pub struct ForwardingLoop {
    detected: AtomicBool,
    /// CoreDNS's message, for the repeated reports.
    message: OnceLock<String>,
    /// Milliseconds after `epoch` before which no report is due.
    quiet_until: AtomicU64,
    /// Queries refused since the last report.
    refused: AtomicU64,
    epoch: Instant,
}

impl Default for ForwardingLoop {
    fn default() -> Self {
        ForwardingLoop::new()
    }
}

impl ForwardingLoop {
    /// The block's switch, created by whichever of `loop` and `forward` is set up first.
    pub fn of_block(ctx: &mut SetupContext<'_>) -> Arc<ForwardingLoop> {
        Arc::clone(
            ctx.block
                .get_or_insert_with(|| Arc::new(ForwardingLoop::new())),
        )
    }

    pub fn new() -> Self {
        ForwardingLoop {
            detected: AtomicBool::new(false),
            message: OnceLock::new(),
            quiet_until: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// True once a loop was found: forwarding is off for the block.
    pub fn is_detected(&self) -> bool {
        // Acquire pairs with `detect`'s release, so the message is there when the flag is.
        self.detected.load(Ordering::Acquire)
    }

    /// The loop's error line (`plugin/loop: Loop (…) detected …`), once detected.
    pub fn message(&self) -> Option<&str> {
        self.message.get().map(String::as_str)
    }

    /// Record the loop with its error line (already logged by the caller, which counts as the
    /// first report). True the first time.
    pub fn detect(&self, message: String, now: Instant) -> bool {
        let _ = self.message.set(message);
        self.quiet_until
            .store(self.millis(now).saturating_add(report_every_ms()), Relaxed);
        !self.detected.swap(true, Ordering::Release)
    }

    /// `forward` refused a query because of the loop: the line to log now, if a report is due
    /// (at most one per `REPORT_EVERY`), naming how many queries were refused since the last.
    pub fn refused(&self, now: Instant) -> Option<String> {
        self.refused.fetch_add(1, Relaxed);
        let now_ms = self.millis(now);
        let until = self.quiet_until.load(Relaxed);
        if now_ms < until {
            return None;
        }
        // Of the queries racing past the deadline, one reports.
        self.quiet_until
            .compare_exchange(
                until,
                now_ms.saturating_add(report_every_ms()),
                Relaxed,
                Relaxed,
            )
            .ok()?;
        let refused = self.refused.swap(0, Relaxed);
        let message = self
            .message()
            .unwrap_or("plugin/loop: a forwarding loop was detected");
        Some(format!(
            "{message}; forwarding is off for this server block: {refused} queries answered SERVFAIL without forwarding since the last report"
        ))
    }

    fn millis(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }
}

fn report_every_ms() -> u64 {
    u64::try_from(REPORT_EVERY.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_reported_at_most_once_a_minute() {
        let flag = ForwardingLoop::new();
        // Before any detection the first refusal reports (with a stand-in message).
        assert!(flag.refused(Instant::now()).is_some());
        let flag = ForwardingLoop::new();
        let t0 = flag.epoch;
        assert!(flag.detect("plugin/loop: Loop (a -> b)".into(), t0));
        assert!(
            !flag.detect("a second message".into(), t0),
            "only the first counts"
        );
        // Detection was the first report: quiet for a minute.
        assert_eq!(flag.refused(t0), None);
        assert_eq!(flag.refused(t0 + Duration::from_secs(59)), None);
        let line = flag.refused(t0 + REPORT_EVERY).unwrap_or_default();
        assert_eq!(
            line,
            "plugin/loop: Loop (a -> b); forwarding is off for this server block: 3 queries answered SERVFAIL without forwarding since the last report"
        );
        assert_eq!(
            flag.refused(t0 + REPORT_EVERY + Duration::from_secs(1)),
            None
        );
        let line = flag
            .refused(t0 + REPORT_EVERY * 2 + Duration::from_millis(1))
            .unwrap_or_default();
        assert!(line.contains(": 2 queries answered SERVFAIL"), "{line}");
    }
}
