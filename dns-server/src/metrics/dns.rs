//! The per-query DNS metrics (`coredns_dns_*`), built for the answer path: every label set is
//! resolved at start-up, one [`ZoneMetrics`] per (listen address, zone) route. Recording a query
//! indexes fixed arrays of `AtomicU64` by qtype, transport, family, rcode and plugin and does
//! a relaxed add: no hashing, no formatting, no allocation, no lock. Counters are split into
//! [`SHARDS`] cache-aligned shards. The first `SHARDS - 1` threads that count a query each own one
//! shard and bump it with a plain relaxed load and store (single writer: no `lock`-prefixed
//! read-modify-write, no cache line shared with another core); any later thread shares the last
//! shard through `fetch_add`. A scrape sums the shards.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use super::expo::Exposition;
use crate::dns::Transport;

/// Counter shards per zone: seven single-writer shards and one shared. More than the cores
/// rollcall usually gets (`--threads`).
pub const SHARDS: usize = 8;

/// The qtypes CoreDNS labels by name (`plugin/metrics/vars/monitor.go`); every other is `other`.
pub const QTYPES: [(u16, &str); 18] = [
    (1, "A"),
    (28, "AAAA"),
    (5, "CNAME"),
    (48, "DNSKEY"),
    (43, "DS"),
    (15, "MX"),
    (50, "NSEC3"),
    (47, "NSEC"),
    (2, "NS"),
    (12, "PTR"),
    (46, "RRSIG"),
    (6, "SOA"),
    (33, "SRV"),
    (16, "TXT"),
    (65, "HTTPS"),
    (251, "IXFR"),
    (252, "AXFR"),
    (255, "ANY"),
];
const NTYPES: usize = QTYPES.len() + 1;

/// The `type` label's index for a qtype: a match on the number (a jump table), never a string.
pub fn qtype_index(qtype: u16) -> usize {
    match qtype {
        1 => 0,
        28 => 1,
        5 => 2,
        48 => 3,
        43 => 4,
        15 => 5,
        50 => 6,
        47 => 7,
        2 => 8,
        12 => 9,
        46 => 10,
        6 => 11,
        33 => 12,
        16 => 13,
        65 => 14,
        251 => 15,
        252 => 16,
        255 => 17,
        _ => QTYPES.len(),
    }
}

pub fn qtype_label(index: usize) -> &'static str {
    QTYPES.get(index).map_or("other", |(_, name)| name)
}

/// RCODE labels as CoreDNS prints them (miekg/dns `RcodeToString`, else `RCODE<n>`).
const RCODES: [&str; 24] = [
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "RCODE11",
    "RCODE12",
    "RCODE13",
    "RCODE14",
    "RCODE15",
    "BADSIG",
    "BADKEY",
    "BADTIME",
    "BADMODE",
    "BADNAME",
    "BADALG",
    "BADTRUNC",
    "BADCOOKIE",
];
const NRCODES: usize = RCODES.len() + 1;

pub fn rcode_index(rcode: u16) -> usize {
    usize::from(rcode).min(RCODES.len())
}

pub fn rcode_label(index: usize) -> &'static str {
    RCODES.get(index).copied().unwrap_or("other")
}

/// `plugin.TimeBuckets`: 0.25 ms doubling to 8.192 s.
const DURATION_BOUNDS_NS: [u64; 16] = [
    250_000,
    500_000,
    1_000_000,
    2_000_000,
    4_000_000,
    8_000_000,
    16_000_000,
    32_000_000,
    64_000_000,
    128_000_000,
    256_000_000,
    512_000_000,
    1_024_000_000,
    2_048_000_000,
    4_096_000_000,
    8_192_000_000,
];
const DURATION_LE: [&str; 16] = [
    "0.00025", "0.0005", "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128",
    "0.256", "0.512", "1.024", "2.048", "4.096", "8.192",
];
const NDURATION: usize = DURATION_BOUNDS_NS.len() + 1;

/// CoreDNS's size buckets for requests and responses.
const SIZE_BOUNDS: [u64; 14] = [
    0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16_000, 32_000, 48_000, 64_000,
];
const SIZE_LE: [&str; 14] = [
    "0", "100", "200", "300", "400", "511", "1023", "2047", "4095", "8291", "16000", "32000",
    "48000", "64000",
];
const NSIZE: usize = SIZE_BOUNDS.len() + 1;

/// The bucket of `value` among ascending upper bounds (`le`), or `bounds.len()` for `+Inf`.
/// Linear: almost every DNS query lands in the first two or three buckets.
fn bucket(bounds: &[u64], value: u64) -> usize {
    bounds
        .iter()
        .position(|b| value <= *b)
        .unwrap_or(bounds.len())
}

const fn zeros<const N: usize>() -> [AtomicU64; N] {
    [const { AtomicU64::new(0) }; N]
}

/// One shard of one zone's counters. Histograms keep one count per bucket (not cumulative; the
/// scrape accumulates), so an observation is one increment plus one for the sum.
#[repr(align(128))]
struct Shard {
    /// [proto][family][type]
    requests: [[[AtomicU64; NTYPES]; 2]; 2],
    do_requests: AtomicU64,
    /// [type][bucket]
    duration: [[AtomicU64; NDURATION]; NTYPES],
    duration_sum_ns: [AtomicU64; NTYPES],
    /// [proto][bucket]
    request_size: [[AtomicU64; NSIZE]; 2],
    request_size_sum: [AtomicU64; 2],
    response_size: [[AtomicU64; NSIZE]; 2],
    response_size_sum: [AtomicU64; 2],
    /// [plugin * NRCODES + rcode]
    responses: Box<[AtomicU64]>,
}

impl Shard {
    fn new(plugins: usize) -> Self {
        Shard {
            requests: [const { [const { zeros() }; 2] }; 2],
            do_requests: AtomicU64::new(0),
            duration: [const { zeros() }; NTYPES],
            duration_sum_ns: zeros(),
            request_size: [const { zeros() }; 2],
            request_size_sum: zeros(),
            response_size: [const { zeros() }; 2],
            response_size_sum: zeros(),
            responses: (0..plugins * NRCODES).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// What the dispatcher knows about one answered query.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    pub transport: Transport,
    pub ipv6: bool,
    pub qtype: u16,
    pub dnssec_ok: bool,
    pub request_len: usize,
    pub response_len: usize,
    pub rcode: u16,
    /// `Reply::plugin`: the plugin that wrote the answer.
    pub plugin: &'static str,
    pub elapsed: Duration,
}

/// The counters of one (server, zone) label set.
pub struct ZoneMetrics {
    pub server: String,
    pub zone: String,
    /// `plugin` label values: index 0 is "" (no plugin: the dispatcher answered), then the
    /// block's chain in order. A reply naming another plugin counts under "".
    plugins: Box<[&'static str]>,
    shards: Box<[Shard]>,
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's number, never reused: below `SHARDS - 1` it owns that shard.
    static THREAD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

fn saturating(v: usize) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl ZoneMetrics {
    pub fn new(server: String, zone: String, chain: &[&'static str]) -> Self {
        let mut plugins = vec![""];
        plugins.extend(chain.iter().copied().filter(|p| !p.is_empty()));
        let n = plugins.len();
        ZoneMetrics {
            server,
            zone,
            plugins: plugins.into(),
            shards: (0..SHARDS).map(|_| Shard::new(n)).collect(),
        }
    }

    fn plugin_index(&self, plugin: &str) -> usize {
        self.plugins.iter().position(|p| *p == plugin).unwrap_or(0)
    }

    /// Count one query: about eight relaxed increments of this thread's shard.
    #[inline]
    pub fn record(&self, o: &Observation) {
        let thread = THREAD.with(|t| *t);
        let last = self.shards.len() - 1;
        let owned = thread < last;
        let shard = &self.shards[thread.min(last)];
        let proto = usize::from(o.transport == Transport::Tcp);
        let qtype = qtype_index(o.qtype);
        let add = |c: &AtomicU64, v: u64| {
            if owned {
                // The only writer of this shard: a load and a store cannot lose an update.
                c.store(c.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
            } else {
                c.fetch_add(v, Ordering::Relaxed);
            }
        };
        add(&shard.requests[proto][usize::from(o.ipv6)][qtype], 1);
        if o.dnssec_ok {
            add(&shard.do_requests, 1);
        }
        let ns = u64::try_from(o.elapsed.as_nanos()).unwrap_or(u64::MAX);
        add(&shard.duration[qtype][bucket(&DURATION_BOUNDS_NS, ns)], 1);
        add(&shard.duration_sum_ns[qtype], ns);
        let req = saturating(o.request_len);
        add(&shard.request_size[proto][bucket(&SIZE_BOUNDS, req)], 1);
        add(&shard.request_size_sum[proto], req);
        let resp = saturating(o.response_len);
        add(&shard.response_size[proto][bucket(&SIZE_BOUNDS, resp)], 1);
        add(&shard.response_size_sum[proto], resp);
        let slot = self.plugin_index(o.plugin) * NRCODES + rcode_index(o.rcode);
        if let Some(c) = shard.responses.get(slot) {
            add(c, 1);
        }
    }

    fn sum(&self, f: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|s| f(s).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    /// Write this zone's `coredns_dns_*` samples. Series that never counted anything are left
    /// out (as a Prometheus client's label vectors do), except the request and response counts,
    /// which are only written once non-zero too: a fresh server shows no invented series.
    pub fn render(&self, e: &mut Exposition) {
        let (server, zone) = (self.server.as_str(), self.zone.as_str());
        for (proto, proto_label) in ["udp", "tcp"].iter().enumerate() {
            for (family, family_label) in ["1", "2"].iter().enumerate() {
                for t in 0..NTYPES {
                    let n = self.sum(|s| &s.requests[proto][family][t]);
                    if n > 0 {
                        e.counter(
                            "coredns_dns_requests_total",
                            "Counter of DNS requests made per zone, protocol and family.",
                            &[
                                ("server", server),
                                ("zone", zone),
                                ("view", ""),
                                ("proto", proto_label),
                                ("family", family_label),
                                ("type", qtype_label(t)),
                            ],
                            n,
                        );
                    }
                }
            }
        }
        let dos = self.sum(|s| &s.do_requests);
        if dos > 0 {
            e.counter(
                "coredns_dns_do_requests_total",
                "Counter of DNS requests with DO bit set per zone.",
                &[("server", server), ("zone", zone), ("view", "")],
                dos,
            );
        }
        for t in 0..NTYPES {
            let counts: [u64; NDURATION] = std::array::from_fn(|b| self.sum(|s| &s.duration[t][b]));
            if counts.iter().all(|c| *c == 0) {
                continue;
            }
            let sum_ns = self.sum(|s| &s.duration_sum_ns[t]);
            e.histogram(
                "coredns_dns_request_duration_seconds",
                "Histogram of the time (in seconds) each request took per zone.",
                &[
                    ("server", server),
                    ("zone", zone),
                    ("view", ""),
                    ("type", qtype_label(t)),
                ],
                &DURATION_LE,
                &counts,
                Duration::from_nanos(sum_ns).as_secs_f64(),
            );
        }
        for (name, help, buckets, sums) in [
            (
                "coredns_dns_request_size_bytes",
                "Size of the request in bytes.",
                (|s: &Shard, p: usize, b: usize| &s.request_size[p][b])
                    as fn(&Shard, usize, usize) -> &AtomicU64,
                (|s: &Shard, p: usize| &s.request_size_sum[p]) as fn(&Shard, usize) -> &AtomicU64,
            ),
            (
                "coredns_dns_response_size_bytes",
                "Size of the returned response in bytes.",
                |s: &Shard, p: usize, b: usize| &s.response_size[p][b],
                |s: &Shard, p: usize| &s.response_size_sum[p],
            ),
        ] {
            for (proto, proto_label) in ["udp", "tcp"].iter().enumerate() {
                let counts: [u64; NSIZE] =
                    std::array::from_fn(|b| self.sum(|s| buckets(s, proto, b)));
                if counts.iter().all(|c| *c == 0) {
                    continue;
                }
                let total = self.sum(|s| sums(s, proto));
                e.histogram(
                    name,
                    help,
                    &[
                        ("server", server),
                        ("zone", zone),
                        ("view", ""),
                        ("proto", proto_label),
                    ],
                    &SIZE_LE,
                    &counts,
                    total as f64,
                );
            }
        }
        for (p, plugin) in self.plugins.iter().enumerate() {
            for r in 0..NRCODES {
                let slot = p * NRCODES + r;
                let n = self.sum(|s| &s.responses[slot]);
                if n > 0 {
                    e.counter(
                        "coredns_dns_responses_total",
                        "Counter of response status codes.",
                        &[
                            ("server", server),
                            ("zone", zone),
                            ("view", ""),
                            ("rcode", rcode_label(r)),
                            ("plugin", plugin),
                        ],
                        n,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(qtype: u16, rcode: u16, plugin: &'static str) -> Observation {
        Observation {
            transport: Transport::Udp,
            ipv6: false,
            qtype,
            dnssec_ok: false,
            request_len: 40,
            response_len: 150,
            rcode,
            plugin,
            elapsed: Duration::from_micros(100),
        }
    }

    #[test]
    fn qtypes_map_to_coredns_labels_and_the_rest_to_other() {
        for (code, name) in QTYPES {
            assert_eq!(qtype_label(qtype_index(code)), name);
        }
        assert_eq!(qtype_label(qtype_index(99)), "other"); // SPF
        assert_eq!(qtype_label(qtype_index(64)), "other"); // SVCB
        assert_eq!(qtype_label(qtype_index(0)), "other");
        assert_eq!(qtype_label(qtype_index(u16::MAX)), "other");
    }

    #[test]
    fn rcodes_map_to_miekg_names() {
        assert_eq!(rcode_label(rcode_index(0)), "NOERROR");
        assert_eq!(rcode_label(rcode_index(3)), "NXDOMAIN");
        assert_eq!(rcode_label(rcode_index(5)), "REFUSED");
        assert_eq!(rcode_label(rcode_index(12)), "RCODE12");
        assert_eq!(rcode_label(rcode_index(16)), "BADSIG");
        assert_eq!(rcode_label(rcode_index(4000)), "other");
    }

    #[test]
    fn bucket_bounds_are_inclusive_upper_bounds() {
        assert_eq!(bucket(&SIZE_BOUNDS, 0), 0);
        assert_eq!(bucket(&SIZE_BOUNDS, 1), 1);
        assert_eq!(bucket(&SIZE_BOUNDS, 100), 1);
        assert_eq!(bucket(&SIZE_BOUNDS, 101), 2);
        assert_eq!(bucket(&SIZE_BOUNDS, 64_000), 13);
        assert_eq!(bucket(&SIZE_BOUNDS, 65_535), 14);
        assert_eq!(bucket(&DURATION_BOUNDS_NS, 250_000), 0);
        assert_eq!(bucket(&DURATION_BOUNDS_NS, 250_001), 1);
        assert_eq!(bucket(&DURATION_BOUNDS_NS, u64::MAX), 16);
        for (ns, le) in DURATION_BOUNDS_NS.iter().zip(DURATION_LE) {
            assert_eq!(format!("{}", *ns as f64 / 1e9), le);
        }
        for (b, le) in SIZE_BOUNDS.iter().zip(SIZE_LE) {
            assert_eq!(b.to_string(), le);
        }
    }

    #[test]
    fn counters_sum_across_threads_and_label_by_plugin() {
        let z = std::sync::Arc::new(ZoneMetrics::new(
            "dns://:53".into(),
            "cluster.local.".into(),
            &["errors", "kubernetes"],
        ));
        // More threads than shards: owned shards and the shared one both count exactly.
        let threads: Vec<_> = (0..(SHARDS * 2))
            .map(|_| {
                let z = std::sync::Arc::clone(&z);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        z.record(&obs(1, 0, "kubernetes"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        z.record(&obs(99, 3, "kubernetes"));
        z.record(&obs(28, 5, "dispatcher"));
        let mut e = Exposition::new();
        z.render(&mut e);
        let text = e.finish();
        let line = |needle: &str| {
            text.lines()
                .find(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        let labels = r#"server="dns://:53",zone="cluster.local.",view="""#;
        assert_eq!(
            line(&format!(
                r#"coredns_dns_requests_total{{{labels},proto="udp",family="1",type="A"}}"#
            )),
            "16000"
        );
        assert_eq!(
            line(&format!(
                r#"coredns_dns_requests_total{{{labels},proto="udp",family="1",type="other"}}"#
            )),
            "1"
        );
        assert_eq!(
            line(&format!(
                r#"coredns_dns_responses_total{{{labels},rcode="NOERROR",plugin="kubernetes"}}"#
            )),
            "16000"
        );
        assert_eq!(
            line(&format!(
                r#"coredns_dns_responses_total{{{labels},rcode="NXDOMAIN",plugin="kubernetes"}}"#
            )),
            "1"
        );
        assert_eq!(
            line(&format!(
                r#"coredns_dns_responses_total{{{labels},rcode="REFUSED",plugin=""}}"#
            )),
            "1"
        );
        assert_eq!(
            line(&format!(
                r#"coredns_dns_request_duration_seconds_bucket{{{labels},type="A",le="0.00025"}}"#
            )),
            "16000"
        );
        assert_eq!(
            line(&format!(
                r#"coredns_dns_request_duration_seconds_sum{{{labels},type="A"}}"#
            )),
            "1.6"
        );
        assert_eq!(
            line(&format!(
                r#"coredns_dns_response_size_bytes_bucket{{{labels},proto="udp",le="100"}}"#
            )),
            "0"
        );
        assert_eq!(
            line(&format!(
                r#"coredns_dns_response_size_bytes_bucket{{{labels},proto="udp",le="200"}}"#
            )),
            "16002"
        );
        assert_eq!(
            line(&format!(
                r#"coredns_dns_request_size_bytes_sum{{{labels},proto="udp"}}"#
            )),
            "640080"
        );
        assert!(!text.contains("proto=\"tcp\""), "{text}");
        assert!(!text.contains("coredns_dns_do_requests_total"), "{text}");
    }
}
