//! Record constructors. Every synthesized record goes through these so TTL and class handling
//! stay in one place.

use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record};

pub fn address(owner: &Name, ttl: u32, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner.clone(), ttl, data)
}

pub fn srv(owner: &Name, ttl: u32, priority: u16, weight: u16, port: u16, target: Name) -> Record {
    Record::from_rdata(
        owner.clone(),
        ttl,
        RData::SRV(SRV::new(priority, weight, port, target)),
    )
}

pub fn cname(owner: &Name, ttl: u32, target: Name) -> Record {
    Record::from_rdata(owner.clone(), ttl, RData::CNAME(CNAME(target)))
}

pub fn ptr(owner: &Name, ttl: u32, target: Name) -> Record {
    Record::from_rdata(owner.clone(), ttl, RData::PTR(PTR(target)))
}

pub fn ns(owner: &Name, ttl: u32, target: Name) -> Record {
    Record::from_rdata(owner.clone(), ttl, RData::NS(NS(target)))
}

pub fn txt(owner: &Name, ttl: u32, text: &str) -> Record {
    Record::from_rdata(
        owner.clone(),
        ttl,
        RData::TXT(TXT::new(vec![text.to_string()])),
    )
}

/// True when `ip` is the family `qtype` asks for (A ↔ IPv4, AAAA ↔ IPv6).
pub fn family_matches(ip: &IpAddr, want_v6: bool) -> bool {
    ip.is_ipv6() == want_v6
}
