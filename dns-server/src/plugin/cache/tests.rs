//! The cache in front of a scripted plugin, on a hand-moved clock.

use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record};

use super::store::ManualClock;
use super::*;
use crate::server::dispatch::serve_chain;

/// Answers whatever it was last told to, counting calls; optionally as a pending future.
struct Scripted {
    calls: AtomicUsize,
    reply: Mutex<PluginResult>,
    pending: bool,
}

impl Scripted {
    fn set(&self, result: PluginResult) {
        *self.reply.lock().unwrap() = result;
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Plugin for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    fn serve<'a>(&'a self, _query: &'a Query, _next: Next<'a>) -> PluginFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let result = self.reply.lock().unwrap().clone();
        if self.pending {
            PluginFuture::boxed(async move {
                tokio::task::yield_now().await;
                result
            })
        } else {
            PluginFuture::ready(result)
        }
    }
}

fn config() -> Config {
    Config {
        zones: vec![".".into()],
        success: KindConfig {
            capacity: 100,
            max_ttl: 3600,
            min_ttl: 5,
        },
        denial: KindConfig {
            capacity: 100,
            max_ttl: 1800,
            min_ttl: 5,
        },
        prefetch: None,
        serve_stale: None,
        servfail: Duration::from_secs(5),
        disable_success: vec![],
        disable_denial: vec![],
        keepttl: false,
    }
}

struct Harness {
    chain: Vec<Arc<dyn Plugin>>,
    cache: Arc<Cache>,
    upstream: Arc<Scripted>,
    clock: ManualClock,
}

impl Harness {
    fn new(config: Config) -> Self {
        Harness::with(config, false)
    }

    fn with(config: Config, pending: bool) -> Self {
        let (clock, hand) = Clock::manual();
        let cache = Arc::new(Cache::with_clock(config, clock, 1));
        let upstream = Arc::new(Scripted {
            calls: AtomicUsize::new(0),
            reply: Mutex::new(Err(PluginError::NoNextPlugin)),
            pending,
        });
        Harness {
            chain: vec![cache.clone(), upstream.clone()],
            cache,
            upstream,
            clock: hand,
        }
    }

    async fn ask(&self, q: &Query) -> PluginResult {
        serve_chain(&self.chain, q).await
    }

    fn stat(&self, f: impl Fn(&CacheStats) -> &AtomicU64) -> u64 {
        f(&self.cache.stats()).load(Ordering::SeqCst)
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn q(s: &str) -> Query {
    Query::new(name(s), RecordType::A)
}

fn answer(owner: &str, last: u8, ttl: u32) -> PluginResult {
    let mut reply = Reply::new(ResponseCode::NoError, "scripted");
    reply.authoritative = true;
    reply.answers.push(Record::from_rdata(
        name(owner),
        ttl,
        RData::A(A(Ipv4Addr::new(10, 0, 0, last))),
    ));
    Ok(reply)
}

fn negative(rcode: ResponseCode, soa_ttl: u32, minimum: u32) -> PluginResult {
    let mut reply = Reply::new(rcode, "scripted");
    reply.authoritative = true;
    reply.authority.push(Record::from_rdata(
        name("example."),
        soa_ttl,
        RData::SOA(SOA::new(
            name("ns.example."),
            name("hostmaster.example."),
            1,
            7200,
            1800,
            86400,
            minimum,
        )),
    ));
    Ok(reply)
}

fn ttls(result: &PluginResult) -> Vec<u32> {
    let reply = result.as_ref().unwrap();
    reply
        .answers
        .iter()
        .chain(&reply.authority)
        .chain(&reply.additionals)
        .map(|r| r.ttl)
        .collect()
}

fn last_octet(result: &PluginResult) -> u8 {
    match &result.as_ref().unwrap().answers[0].data {
        RData::A(a) => a.0.octets()[3],
        other => panic!("not an A record: {other:?}"),
    }
}

#[tokio::test]
async fn a_positive_answer_is_served_with_its_ttl_counting_down_until_it_expires() {
    let h = Harness::new(config());
    let web = q("web.example.");
    h.upstream.set(answer("web.example.", 1, 30));
    let first = h.ask(&web).await.unwrap();
    assert_eq!(first.plugin, "scripted");
    assert!(first.authoritative, "a miss passes the chain's reply on");
    h.upstream.set(answer("web.example.", 2, 30));
    h.advance(10);
    let hit = h.ask(&web).await;
    assert_eq!(h.upstream.calls(), 1, "served from the cache");
    assert_eq!(last_octet(&hit), 1);
    assert_eq!(ttls(&hit), vec![20]);
    let hit = hit.unwrap();
    assert_eq!(hit.plugin, "cache");
    assert!(!hit.authoritative, "a cached answer is not authoritative");
    h.advance(19);
    assert_eq!(ttls(&h.ask(&web).await), vec![1]);
    h.advance(1);
    let fresh = h.ask(&web).await;
    assert_eq!(h.upstream.calls(), 2, "expired at 30 s");
    assert_eq!(last_octet(&fresh), 2);
    assert_eq!(ttls(&fresh), vec![30]);
    assert_eq!(h.stat(|s| &s.success_hits), 2);
    assert_eq!(h.stat(|s| &s.success_misses), 2);
    assert_eq!(h.stat(|s| &s.success_entries), 1);
    assert_eq!(h.stat(|s| &s.requests), 4);
}

#[tokio::test]
async fn ttls_are_kept_between_the_floor_and_the_cap_and_all_records_count_down() {
    let mut c = config();
    c.success.max_ttl = 10;
    let h = Harness::new(c);
    let web = q("web.example.");
    let mut reply = answer("web.example.", 1, 300).unwrap();
    reply.additionals.push(Record::from_rdata(
        name("web.example."),
        600,
        RData::A(A(Ipv4Addr::new(10, 0, 0, 9))),
    ));
    h.upstream.set(Ok(reply));
    assert_eq!(ttls(&h.ask(&web).await), vec![10, 10], "cut to the cap");
    h.advance(4);
    assert_eq!(ttls(&h.ask(&web).await), vec![6, 6]);

    let low = q("low.example.");
    h.upstream.set(answer("low.example.", 1, 2));
    assert_eq!(ttls(&h.ask(&low).await), vec![5], "raised to the floor");
    h.advance(4);
    assert_eq!(ttls(&h.ask(&low).await), vec![1]);
    assert_eq!(h.upstream.calls(), 2);
}

#[tokio::test]
async fn keepttl_serves_the_ttls_as_the_chain_gave_them() {
    let mut c = config();
    c.keepttl = true;
    let h = Harness::new(c);
    let web = q("web.example.");
    h.upstream.set(answer("web.example.", 1, 30));
    h.ask(&web).await.unwrap();
    h.advance(10);
    assert_eq!(ttls(&h.ask(&web).await), vec![30]);
    assert_eq!(h.upstream.calls(), 1);
}

#[tokio::test]
async fn denials_live_for_the_soa_negative_ttl_within_the_denial_bounds() {
    let mut c = config();
    c.denial.max_ttl = 60;
    let h = Harness::new(c);
    // RFC 2308: the smaller of the SOA's TTL and its MINIMUM.
    let nx = q("nope.example.");
    h.upstream.set(negative(ResponseCode::NXDomain, 300, 20));
    let first = h.ask(&nx).await;
    assert_eq!(ttls(&first), vec![20]);
    h.advance(15);
    let hit = h.ask(&nx).await.unwrap();
    assert_eq!(hit.rcode, ResponseCode::NXDomain);
    assert_eq!(hit.authority.len(), 1);
    assert_eq!(hit.authority[0].ttl, 5, "the SOA counts down too");
    assert_eq!(h.upstream.calls(), 1);
    h.advance(5);
    h.ask(&nx).await.unwrap();
    assert_eq!(h.upstream.calls(), 2, "expired at 20 s");

    // NODATA, capped by the denial TTL.
    let nodata = Query::new(name("web.example."), RecordType::AAAA);
    h.upstream.set(negative(ResponseCode::NoError, 3600, 3600));
    assert_eq!(ttls(&h.ask(&nodata).await), vec![60]);
    h.advance(59);
    assert_eq!(h.ask(&nodata).await.unwrap().rcode, ResponseCode::NoError);
    assert_eq!(h.upstream.calls(), 3);
    assert_eq!(h.stat(|s| &s.denial_hits), 2);
    assert_eq!(h.stat(|s| &s.denial_entries), 2);

    // Without an SOA a denial has no negative TTL: not cached.
    let bare = q("bare.example.");
    h.upstream
        .set(Ok(Reply::new(ResponseCode::NXDomain, "scripted")));
    h.ask(&bare).await.unwrap();
    h.ask(&bare).await.unwrap();
    assert_eq!(h.upstream.calls(), 5);
}

#[tokio::test]
async fn uncacheable_replies_always_go_to_the_chain() {
    let h = Harness::new(config());
    let cases: Vec<(&str, PluginResult)> = vec![
        ("zero.example.", answer("zero.example.", 1, 0)),
        ("tc.example.", {
            let mut r = answer("tc.example.", 1, 30).unwrap();
            r.truncated = true;
            Ok(r)
        }),
        (
            "refused.example.",
            Ok(Reply::new(ResponseCode::Refused, "scripted")),
        ),
        ("nonext.example.", Err(PluginError::NoNextPlugin)),
        ("zero-soa.example.", negative(ResponseCode::NXDomain, 0, 30)),
    ];
    for (n, result) in cases {
        h.upstream.set(result);
        let before = h.upstream.calls();
        h.ask(&q(n)).await.ok();
        h.ask(&q(n)).await.ok();
        assert_eq!(h.upstream.calls(), before + 2, "{n} was cached");
    }
    assert_eq!(h.stat(|s| &s.uncacheable_misses), 10);
    assert_eq!(h.cache.shared.store.len(Kind::Success), 0);
    assert_eq!(h.cache.shared.store.len(Kind::Denial), 0);
}

#[tokio::test]
async fn servfail_is_cached_for_the_servfail_duration_only() {
    let h = Harness::new(config());
    let sf = q("broken.example.");
    h.upstream
        .set(Ok(Reply::new(ResponseCode::ServFail, "scripted")));
    h.ask(&sf).await.unwrap();
    h.advance(4);
    assert_eq!(h.ask(&sf).await.unwrap().rcode, ResponseCode::ServFail);
    assert_eq!(h.upstream.calls(), 1);
    h.advance(1);
    h.ask(&sf).await.unwrap();
    assert_eq!(h.upstream.calls(), 2, "5 s by default");

    // A failure of the chain is a SERVFAIL too, and comes back as the same error.
    let err = q("timeout.example.");
    h.upstream
        .set(Err(crate::plugin::testing::upstream_failure("timed out")));
    h.ask(&err).await.unwrap_err();
    assert_eq!(
        h.ask(&err).await,
        Err(crate::plugin::testing::upstream_failure("timed out"))
    );
    assert_eq!(h.upstream.calls(), 3);

    let mut c = config();
    c.servfail = Duration::ZERO;
    let off = Harness::new(c);
    off.upstream
        .set(Ok(Reply::new(ResponseCode::ServFail, "scripted")));
    off.ask(&sf).await.unwrap();
    off.ask(&sf).await.unwrap();
    assert_eq!(off.upstream.calls(), 2, "servfail 0 disables it");
}

#[tokio::test]
async fn entries_are_kept_apart_by_type_and_do_bit_but_not_by_case() {
    let h = Harness::new(config());
    h.upstream.set(answer("web.example.", 1, 30));
    h.ask(&q("web.example.")).await.unwrap();
    let mixed = h.ask(&q("WEB.Example.")).await.unwrap();
    assert_eq!(h.upstream.calls(), 1);
    assert_eq!(
        mixed.answers[0].name.to_string(),
        "WEB.Example.",
        "owner names follow the asker's spelling"
    );
    h.ask(&Query::new(name("web.example."), RecordType::AAAA))
        .await
        .unwrap();
    assert_eq!(h.upstream.calls(), 2);
    let mut dnssec = q("web.example.");
    dnssec.dnssec_ok = true;
    h.ask(&dnssec).await.unwrap();
    h.ask(&dnssec).await.unwrap();
    assert_eq!(h.upstream.calls(), 3);
}

#[tokio::test]
async fn disable_rules_out_a_kind_per_zone_and_both_skip_the_cache_entirely() {
    let mut c = config();
    c.disable_success = vec!["cluster.local.".into()];
    c.disable_denial = vec!["cluster.local.".into(), "nx.example.".into()];
    let h = Harness::new(c);
    let cluster = q("web.apps.svc.cluster.local.");
    h.upstream.set(answer("web.apps.svc.cluster.local.", 1, 30));
    h.ask(&cluster).await.unwrap();
    h.upstream.set(answer("web.apps.svc.cluster.local.", 2, 30));
    assert_eq!(last_octet(&h.ask(&cluster).await), 2, "live, not cached");
    h.upstream.set(negative(ResponseCode::NXDomain, 30, 30));
    h.ask(&cluster).await.unwrap();
    h.ask(&cluster).await.unwrap();
    assert_eq!(h.upstream.calls(), 4);
    assert_eq!(
        h.stat(|s| &s.requests),
        0,
        "both kinds disabled: no lookup at all"
    );

    // Only denials disabled: successes are cached, denials are not.
    let nx = q("a.nx.example.");
    h.upstream.set(answer("a.nx.example.", 1, 30));
    h.ask(&nx).await.unwrap();
    h.ask(&nx).await.unwrap();
    assert_eq!(h.upstream.calls(), 5);
    let missing = q("b.nx.example.");
    h.upstream.set(negative(ResponseCode::NXDomain, 30, 30));
    h.ask(&missing).await.unwrap();
    h.ask(&missing).await.unwrap();
    assert_eq!(h.upstream.calls(), 7);
}

#[tokio::test]
async fn names_outside_the_cache_zones_are_not_cached() {
    let mut c = config();
    c.zones = vec!["example.".into()];
    let h = Harness::new(c);
    h.upstream.set(answer("web.other.", 1, 30));
    h.ask(&q("web.other.")).await.unwrap();
    h.ask(&q("web.other.")).await.unwrap();
    assert_eq!(h.upstream.calls(), 2);
    h.ask(&q("web.example.")).await.unwrap();
    h.ask(&q("web.example.")).await.unwrap();
    assert_eq!(h.upstream.calls(), 3);
}

#[tokio::test]
async fn a_full_cache_evicts_and_counts_it() {
    let mut c = config();
    c.success.capacity = 2;
    let h = Harness::new(c);
    for i in 0..5u8 {
        let n = format!("n{i}.example.");
        h.upstream.set(answer(&n, i, 30));
        h.ask(&q(&n)).await.unwrap();
    }
    assert_eq!(h.stat(|s| &s.success_entries), 2);
    assert_eq!(h.stat(|s| &s.success_evictions), 3);
    assert_eq!(h.cache.shared.store.len(Kind::Success), 2);
    // The last one is always cached.
    h.ask(&q("n4.example.")).await.unwrap();
    assert_eq!(h.upstream.calls(), 5);
}

#[tokio::test]
async fn a_hit_is_a_ready_future_even_when_the_chain_would_wait() {
    let h = Harness::with(config(), true);
    let web = q("web.example.");
    h.upstream.set(answer("web.example.", 1, 30));
    let next = Next::new(&h.chain[1..]);
    let miss = h.cache.serve(&web, next);
    assert!(matches!(miss, PluginFuture::Pending(_)));
    miss.await.unwrap();
    let hit = h.cache.serve(&web, next);
    assert!(
        matches!(hit, PluginFuture::Ready(Some(Ok(_)))),
        "no boxing, no task"
    );
    assert_eq!(h.upstream.calls(), 1);
}

async fn wait_for_calls(upstream: &Scripted, n: usize) {
    for _ in 0..1000 {
        if upstream.calls() >= n {
            // Let the refresh task store what it got.
            tokio::time::sleep(Duration::from_millis(5)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the chain was not called {n} times");
}

#[tokio::test]
async fn prefetch_refreshes_a_popular_entry_near_its_end_while_serving_it() {
    let mut c = config();
    c.prefetch = Some(Prefetch {
        amount: 2,
        window: Duration::from_secs(60),
        percentage: 50,
    });
    let h = Harness::new(c);
    let web = q("web.example.");
    h.upstream.set(answer("web.example.", 1, 10));
    h.ask(&web).await.unwrap();
    h.upstream.set(answer("web.example.", 2, 10));
    h.advance(6);
    // One hit: popular enough? No (AMOUNT 2).
    assert_eq!(last_octet(&h.ask(&web).await), 1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(h.upstream.calls(), 1);
    assert_eq!(h.stat(|s| &s.prefetches), 0);
    // Second hit, 4 s of 10 left (≤ 50 %): served from the cache, refreshed behind it.
    let hit = h.ask(&web).await;
    assert_eq!(last_octet(&hit), 1);
    assert_eq!(ttls(&hit), vec![4]);
    wait_for_calls(&h.upstream, 2).await;
    assert_eq!(h.stat(|s| &s.prefetches), 1);
    let refreshed = h.ask(&web).await;
    assert_eq!(last_octet(&refreshed), 2);
    assert_eq!(ttls(&refreshed), vec![10]);
    assert_eq!(h.upstream.calls(), 2);
    assert_eq!(h.stat(|s| &s.success_misses), 1, "a prefetch is not a miss");
}

#[tokio::test]
async fn prefetch_waits_for_the_percentage() {
    let mut c = config();
    c.prefetch = Some(Prefetch {
        amount: 1,
        window: Duration::from_secs(60),
        percentage: 10,
    });
    let h = Harness::new(c);
    let web = q("web.example.");
    h.upstream.set(answer("web.example.", 1, 100));
    h.ask(&web).await.unwrap();
    for _ in 0..8 {
        h.advance(10);
        h.ask(&web).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(h.upstream.calls(), 1, "20 s of 100 left: above 10 %");
    h.advance(10);
    h.ask(&web).await.unwrap();
    wait_for_calls(&h.upstream, 2).await;
    assert_eq!(h.stat(|s| &s.prefetches), 1);
}

#[tokio::test]
async fn serve_stale_immediate_answers_expired_entries_with_ttl_0_and_refreshes() {
    let mut c = config();
    c.serve_stale = Some(ServeStale {
        window: Duration::from_secs(60),
        verify: false,
    });
    let h = Harness::new(c);
    let web = q("web.example.");
    h.upstream.set(answer("web.example.", 1, 10));
    h.ask(&web).await.unwrap();
    h.upstream.set(answer("web.example.", 2, 10));
    h.advance(11);
    let stale = h.ask(&web).await;
    assert_eq!(last_octet(&stale), 1);
    assert_eq!(ttls(&stale), vec![0]);
    assert_eq!(h.stat(|s| &s.served_stale), 1);
    wait_for_calls(&h.upstream, 2).await;
    let fresh = h.ask(&web).await;
    assert_eq!(last_octet(&fresh), 2);
    assert_eq!(ttls(&fresh), vec![10]);

    // A failing refresh keeps the stale entry; past the window it is a plain miss.
    h.upstream
        .set(Ok(Reply::new(ResponseCode::ServFail, "scripted")));
    h.advance(11);
    assert_eq!(last_octet(&h.ask(&web).await), 2);
    wait_for_calls(&h.upstream, 3).await;
    assert_eq!(last_octet(&h.ask(&web).await), 2, "still the stale one");
    h.advance(60);
    let after = h.ask(&web).await.unwrap();
    assert_eq!(after.rcode, ResponseCode::ServFail);
}

#[tokio::test]
async fn serve_stale_verify_answers_stale_only_when_the_chain_fails() {
    let mut c = config();
    c.serve_stale = Some(ServeStale {
        window: Duration::from_secs(60),
        verify: true,
    });
    let h = Harness::new(c);
    let web = q("web.example.");
    h.upstream.set(answer("web.example.", 1, 10));
    h.ask(&web).await.unwrap();
    h.advance(11);
    h.upstream
        .set(Err(crate::plugin::testing::upstream_failure("unreachable")));
    let stale = h.ask(&web).await;
    assert_eq!(h.upstream.calls(), 2, "verify asks first");
    assert_eq!(last_octet(&stale), 1);
    assert_eq!(ttls(&stale), vec![0]);
    assert_eq!(h.stat(|s| &s.served_stale), 1);
    h.upstream.set(answer("web.example.", 2, 10));
    let fresh = h.ask(&web).await;
    assert_eq!(last_octet(&fresh), 2);
    assert_eq!(ttls(&fresh), vec![10]);
    h.ask(&web).await.unwrap();
    assert_eq!(h.upstream.calls(), 3, "and caches the new answer");
}

#[tokio::test]
async fn concurrent_misses_for_one_key_ask_the_chain_once() {
    let h = Harness::with(config(), true);
    h.upstream.set(answer("web.example.", 1, 30));
    let (a, b, c) = (q("web.example."), q("WEB.example."), q("web.example."));
    let (ra, rb, rc) = tokio::join!(h.ask(&a), h.ask(&b), h.ask(&c));
    for r in [&ra, &rb, &rc] {
        assert_eq!(r.as_ref().unwrap().answers.len(), 1, "{r:?}");
    }
    assert_eq!(h.upstream.calls(), 1, "one query went down the chain");
    assert_eq!(h.stat(|s| &s.coalesced), 2);
    assert!(h.cache.shared.in_flight.lock().unwrap().is_empty());
    // The waiter answers in its own spelling.
    assert_eq!(rb.unwrap().answers[0].name.to_string(), "WEB.example.");
}

#[tokio::test]
async fn a_cancelled_leader_lets_its_waiters_ask_the_chain() {
    let h = Harness::with(config(), true);
    h.upstream.set(answer("web.example.", 1, 30));
    let web = q("web.example.");
    let next = Next::new(&h.chain[1..]);
    let mut leader = h.cache.serve(&web, next);
    // Started, then dropped before its reply (a client that went away).
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(std::pin::Pin::new(&mut leader).poll(&mut cx).is_pending());
    let waiter = h.cache.serve(&web, next);
    drop(leader);
    assert!(waiter.await.is_ok());
    assert_eq!(h.upstream.calls(), 2, "the waiter asked for itself");
    assert!(h.cache.shared.in_flight.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_reply_from_live_data_is_never_cached() {
    let h = Harness::new(config());
    let web = q("web.example.");
    h.upstream
        .set(answer("web.example.", 1, 7200).map(Reply::from_memory));
    let first = h.ask(&web).await;
    assert_eq!(last_octet(&first), 1);
    assert_eq!(ttls(&first), vec![3600], "capped as a cached copy would be");
    h.upstream
        .set(negative(ResponseCode::NXDomain, 30, 30).map(Reply::from_memory));
    let gone = h.ask(&web).await.unwrap();
    assert_eq!(
        gone.rcode,
        ResponseCode::NXDomain,
        "the change shows at once"
    );
    assert_eq!(h.ask(&web).await.unwrap().plugin, "scripted");
    assert_eq!(h.upstream.calls(), 3, "every ask reaches the live data");
    assert_eq!(h.stat(|s| &s.success_entries), 0);
    assert_eq!(h.stat(|s| &s.denial_entries), 0);
    assert_eq!(h.stat(|s| &s.uncacheable_misses), 3);
}

/// A change count moved by hand.
#[derive(Default)]
struct Counter(AtomicU64);

impl crate::contract::ChangeCount for Counter {
    fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_watched_reply_is_served_until_its_source_changes() {
    let h = Harness::new(config());
    let counter = Arc::new(Counter::default());
    let watched = |result: PluginResult| {
        let watch = Watch::new(counter.clone());
        result.map(|r| r.watched(watch))
    };
    let name = q("5.1.244.10.in-addr.arpa.");
    h.upstream
        .set(watched(negative(ResponseCode::NXDomain, 30, 30)));
    assert_eq!(h.ask(&name).await.unwrap().rcode, ResponseCode::NXDomain);
    let hit = h.ask(&name).await.unwrap();
    assert_eq!(hit.plugin, "cache", "cached while the source is unchanged");
    assert_eq!(h.upstream.calls(), 1);

    counter.0.fetch_add(1, Ordering::SeqCst);
    h.upstream
        .set(answer("5.1.244.10.in-addr.arpa.", 5, 30).map(Reply::from_memory));
    let now = h.ask(&name).await.unwrap();
    assert_eq!(now.plugin, "scripted", "the source changed: asked again");
    assert_eq!(h.upstream.calls(), 2);
    assert_eq!(last_octet(&Ok(now)), 5);
}

#[tokio::test]
/// Hit after hit for one forwarded-style name: the loop bench/RESULTS.md counts instructions of.
#[ignore = "measurement (bench/RESULTS.md)"]
async fn hit_loop() {
    let n: usize = std::env::var("HITS").map_or(1000, |v| v.parse().unwrap());
    let h = Harness::new(config());
    let web = q("www.example.org.");
    h.upstream.set(answer("www.example.org.", 1, 300));
    h.ask(&web).await.unwrap();
    for _ in 0..n {
        std::hint::black_box(h.ask(&web).await.unwrap());
    }
}
