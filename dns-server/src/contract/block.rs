//! What a server block's directives tell the server, as typed entries of the setup's
//! [`Extensions`](super::Extensions) maps. The server (setup, dispatcher, `main`) is the consumer
//! of these types and names no plugin: a directive that only configures the block (`bind`,
//! `bufsize`, `nsid`, `chaos`, `prometheus`, `health`, `reload`) writes one of them.
//!
//! Per block ([`SetupContext::block`](super::SetupContext)): [`Bind`], [`WireOptions`],
//! [`CountQueries`]. Per configuration ([`SetupContext::server`](super::SetupContext)):
//! [`Lameduck`], [`StartupWait`], [`ReloadConfig`].

use std::net::IpAddr;
use std::time::Duration;

/// EDNS UDP payload size a block advertises and sends at most over UDP, unless `bufsize` says
/// otherwise: 1232 (RFC 9715, DNS flag day 2020).
pub const EDNS_PAYLOAD: u16 = 1232;

/// `bind`: the addresses a block listens on (every IPv4 address when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bind(pub Vec<IpAddr>);

/// How the dispatcher treats a block's queries before and after the chain runs, read from the
/// route it already picked, so honouring them costs no allocation per query (but for the NSID
/// a client asks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireOptions {
    /// The EDNS UDP payload size the block advertises and the most it sends over UDP
    /// (`bufsize`; default [`EDNS_PAYLOAD`]).
    pub payload: u16,
    /// CH-class queries enter the chain (`chaos`); otherwise every class but IN is refused.
    pub chaos: bool,
    /// The name server identifier answered to queries that ask for it (`nsid`, RFC 5001).
    pub nsid: Option<Vec<u8>>,
}

impl Default for WireOptions {
    fn default() -> Self {
        WireOptions {
            payload: EDNS_PAYLOAD,
            chaos: false,
            nsid: None,
        }
    }
}

/// `prometheus`: the block's queries are counted (`coredns_dns_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountQueries;

/// How long shutdown keeps serving after a signal (`health { lameduck D }`; the longest wins).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lameduck(pub Duration);

/// The longest time this configuration's sources may take to sync (`startup_timeout`): a reload
/// waits this long at most before swapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartupWait(pub Duration);

/// `reload`: how often the Corefile is checked (process-wide; the first block's wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadConfig {
    pub interval: Duration,
    /// At most `interval / 2`.
    pub jitter: Duration,
}

impl ReloadConfig {
    /// The wait before the next check: INTERVAL ± JITTER, `unit` uniform in `[0, 1)` (taken as an
    /// argument so tests can pin it).
    pub fn delay(&self, unit: f64) -> Duration {
        let unit = unit.clamp(0.0, 1.0);
        let low = self.interval.saturating_sub(self.jitter);
        low + (self.jitter * 2).mul_f64(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_stays_within_interval_plus_minus_jitter() {
        let c = ReloadConfig {
            interval: Duration::from_secs(30),
            jitter: Duration::from_secs(15),
        };
        assert_eq!(c.delay(0.0), Duration::from_secs(15));
        assert_eq!(c.delay(0.5), Duration::from_secs(30));
        assert!(c.delay(0.999_999) < Duration::from_secs(45));
        assert_eq!(c.delay(7.0), Duration::from_secs(45));
        let no_jitter = ReloadConfig {
            interval: Duration::from_secs(2),
            jitter: Duration::ZERO,
        };
        assert_eq!(no_jitter.delay(0.3), Duration::from_secs(2));
    }
}
