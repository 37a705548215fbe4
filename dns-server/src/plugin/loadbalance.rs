//! # loadbalance
//!
//! Shuffles the A, AAAA and MX records in the answer section of every reply, so clients that
//! take the first address spread over all of them (CoreDNS's `round_robin` policy). The
//! address records (A and AAAA together) are shuffled among the positions they hold, and MX
//! records among theirs; CNAMEs and every other record keep their place, so a CNAME chain
//! still comes first and in order. No allocation: the records are swapped in place, with
//! the thread's RNG.
//!
//! ## Syntax
//! ```text
//! loadbalance [round_robin]
//! ```
//! `round_robin` is the only policy (and the default). The `weighted` policy and the `prefer`
//! option are not supported yet: a Corefile with them is refused.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     loadbalance
//!     kubernetes cluster.local
//! }
//! ```

use std::sync::Arc;

use corefile::Directive;
use hickory_proto::rr::{Record, RecordType};
use rand::Rng;

use crate::contract::{
    Args, Next, Outcome, Plugin, PluginFuture, PluginResult, Query, SetupContext, SetupResult,
};

pub struct LoadBalance;

fn is_address(r: &Record) -> bool {
    matches!(r.record_type(), RecordType::A | RecordType::AAAA)
}

fn is_mx(r: &Record) -> bool {
    r.record_type() == RecordType::MX
}

/// Fisher–Yates over the records `member` selects, leaving the others where they are.
pub fn shuffle_group(records: &mut [Record], member: fn(&Record) -> bool, rng: &mut impl Rng) {
    let count = records.iter().filter(|r| member(r)).count();
    if count < 2 {
        return;
    }
    let (Some(first), Some(last)) = (
        records.iter().position(member),
        records.iter().rposition(member),
    ) else {
        return;
    };
    if last - first + 1 == count {
        // The usual case: one run of records (only A, or a CNAME chain and then the As).
        let run = &mut records[first..=last];
        for i in (1..run.len()).rev() {
            run.swap(i, rng.random_range(0..=i));
        }
        return;
    }
    // Scattered: find the n-th member by scanning (answers are short).
    let nth = |records: &[Record], n: usize| {
        records
            .iter()
            .enumerate()
            .filter(|(_, r)| member(r))
            .nth(n)
            .map(|(i, _)| i)
    };
    for i in (1..count).rev() {
        let j = rng.random_range(0..=i);
        if let (Some(a), Some(b)) = (nth(records, i), nth(records, j)) {
            records.swap(a, b);
        }
    }
}

pub fn shuffle(records: &mut [Record]) {
    if records.len() < 2 {
        return;
    }
    let mut rng = rand::rng();
    shuffle_group(records, is_address, &mut rng);
    shuffle_group(records, is_mx, &mut rng);
}

fn balance(mut result: PluginResult) -> PluginResult {
    if let Ok(reply) = &mut result {
        shuffle(&mut reply.answers);
    }
    result
}

impl Plugin for LoadBalance {
    fn name(&self) -> &'static str {
        "loadbalance"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        next.serve(query).map(balance)
    }
}

pub fn setup(_ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    if let Some(policy) = args.next() {
        match policy.text.as_str() {
            "round_robin" => {}
            "weighted" => {
                return Err(args.error(
                    policy,
                    "policy \"weighted\" is not supported yet (use round_robin)",
                ));
            }
            other => {
                return Err(args.error(
                    policy,
                    format!("unknown policy {other:?}: expected round_robin"),
                ));
            }
        }
    }
    args.end()?;
    if let Some(prop) = args.block().next() {
        return Err(match prop.name() {
            "prefer" => prop.error_at_name("option \"prefer\" is not supported yet"),
            _ => prop.unknown_property(),
        });
    }
    Ok(Outcome::Link(Arc::new(LoadBalance), "round_robin".into()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::net::Ipv4Addr;

    use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, TXT};
    use hickory_proto::rr::{Name, RData};

    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn a(i: u8) -> Record {
        Record::from_rdata(
            name("web.example."),
            5,
            RData::A(A(Ipv4Addr::new(10, 0, 0, i))),
        )
    }

    fn cname(from: &str, to: &str) -> Record {
        Record::from_rdata(name(from), 5, RData::CNAME(CNAME(name(to))))
    }

    fn texts(records: &[Record]) -> Vec<String> {
        records.iter().map(|r| r.data.to_string()).collect()
    }

    #[test]
    fn addresses_change_order_but_not_membership_and_cnames_stay_first() {
        let mut records = vec![
            cname("www.example.", "alias.example."),
            cname("alias.example.", "web.example."),
        ];
        records.extend((1..=6).map(a));
        let before = texts(&records);
        let set: BTreeSet<String> = before.iter().cloned().collect();
        let mut orders = BTreeSet::new();
        for _ in 0..50 {
            let mut r = records.clone();
            shuffle(&mut r);
            let got = texts(&r);
            assert_eq!(got[..2], before[..2], "CNAMEs first, in order");
            assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), set);
            orders.insert(got);
        }
        // 720 orders: 50 draws landing on one is odds of 720^-49.
        assert!(orders.len() > 1);
    }

    #[test]
    fn scattered_groups_keep_other_records_in_place() {
        let txt = Record::from_rdata(
            name("web.example."),
            5,
            RData::TXT(TXT::new(vec!["x".into()])),
        );
        let mx = |p: u16| {
            Record::from_rdata(
                name("example."),
                5,
                RData::MX(MX::new(p, name("mail.example."))),
            )
        };
        let aaaa = Record::from_rdata(
            name("web.example."),
            5,
            RData::AAAA(AAAA("fd00::1".parse().unwrap())),
        );
        let records = vec![a(1), txt.clone(), mx(10), aaaa, a(2), mx(20), a(3)];
        let mut seen_first = BTreeSet::new();
        for _ in 0..100 {
            let mut r = records.clone();
            shuffle(&mut r);
            assert_eq!(r[1], txt, "the TXT stays put");
            assert!(is_mx(&r[2]) && is_mx(&r[5]), "MX stay in MX slots");
            for i in [0, 3, 4, 6] {
                assert!(is_address(&r[i]), "addresses stay in address slots");
            }
            let mut all = texts(&r);
            all.sort();
            let mut want = texts(&records);
            want.sort();
            assert_eq!(all, want);
            seen_first.insert(r[0].data.to_string());
        }
        assert!(seen_first.len() > 1);
    }

    #[test]
    fn single_records_and_empty_answers_are_untouched() {
        let mut one = vec![a(1)];
        shuffle(&mut one);
        assert_eq!(one, vec![a(1)]);
        let mut none: Vec<Record> = vec![];
        shuffle(&mut none);
        assert!(none.is_empty());
    }
}
