//! The per-query view, built once by the dispatcher so no plugin re-derives it.

use std::net::SocketAddr;

use hickory_proto::rr::{DNSClass, Name, RecordType};

pub use crate::dns::Transport;

#[derive(Debug, Clone)]
pub struct Query {
    /// The question name as the client spelled it (answers echo it).
    pub name: Name,
    /// Lower-cased, fully qualified, with the trailing dot: what every match uses.
    pub lower: String,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub id: u16,
    pub src: SocketAddr,
    pub transport: Transport,
    pub dnssec_ok: bool,
    /// The client's RD and CD bits (`forward` passes them upstream as asked).
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    /// The size the answer may take on this transport (EDNS payload or 512 for UDP).
    pub max_size: u16,
}

impl Query {
    /// A query for tests and for internal sub-lookups (CNAME chasing).
    pub fn new(name: Name, qtype: RecordType) -> Self {
        let lower = fqdn_lower(&name);
        Query {
            name,
            lower,
            qtype,
            qclass: DNSClass::IN,
            id: 0,
            src: SocketAddr::from(([127, 0, 0, 1], 0)),
            transport: Transport::Udp,
            dnssec_ok: false,
            recursion_desired: true,
            checking_disabled: false,
            max_size: 1232,
        }
    }

    /// The same query for another name (keeps source, transport and sizes).
    pub fn with_name(&self, name: Name) -> Self {
        Query {
            lower: fqdn_lower(&name),
            name,
            ..self.clone()
        }
    }
}

/// Lower-cased presentation text with a trailing dot (`web.apps.svc.cluster.local.`).
pub fn fqdn_lower(name: &Name) -> String {
    let mut text = name.to_lowercase().to_ascii();
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

/// True when `name` (lower-case, trailing dot) is `zone` or below it.
pub fn in_zone(name: &str, zone: &str) -> bool {
    if zone == "." {
        return true;
    }
    name.len() >= zone.len()
        && name.ends_with(zone)
        && (name.len() == zone.len() || name.as_bytes()[name.len() - zone.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_membership_is_label_aligned() {
        assert!(in_zone("a.cluster.local.", "cluster.local."));
        assert!(in_zone("cluster.local.", "cluster.local."));
        assert!(!in_zone("acluster.local.", "cluster.local."));
        assert!(in_zone("anything.", "."));
        assert!(!in_zone("local.", "cluster.local."));
    }
}
