//! A zone an answering plugin is authoritative for: its SOA and the negative answers built on it.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record};

use super::reply::Reply;

/// A zone name that is not a valid DNS name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("zone {zone:?}: {source}")]
pub struct ZoneNameError {
    zone: String,
    #[source]
    source: hickory_proto::ProtoError,
}

#[derive(Debug, Clone)]
pub struct Zone {
    /// Lower-case with trailing dot.
    pub name: String,
    pub origin: Name,
    pub labels: usize,
    mname: Name,
    rname: Name,
}

impl Zone {
    pub fn new(name: &str) -> Result<Self, ZoneNameError> {
        let origin = Name::from_ascii(name).map_err(|source| ZoneNameError {
            zone: name.to_string(),
            source,
        })?;
        let under = |prefix: &str| {
            let text = if name == "." {
                format!("{prefix}.")
            } else {
                format!("{prefix}.{name}")
            };
            Name::from_ascii(&text).map_err(|source| ZoneNameError {
                zone: name.to_string(),
                source,
            })
        };
        Ok(Zone {
            labels: usize::from(origin.num_labels()),
            name: name.to_string(),
            mname: under("ns.dns")?,
            rname: under("hostmaster")?,
            origin,
        })
    }

    pub fn is_reverse(&self) -> bool {
        self.name.ends_with("in-addr.arpa.") || self.name.ends_with("ip6.arpa.")
    }

    /// `<zone> <min(ttl,300)> IN SOA ns.dns.<zone>. hostmaster.<zone>. <serial> 7200 1800 86400 <ttl>`,
    /// as CoreDNS writes it.
    pub fn soa(&self, ttl: u32, serial: u32) -> Record {
        let soa = SOA::new(
            self.mname.clone(),
            self.rname.clone(),
            serial,
            7200,
            1800,
            86400,
            ttl,
        );
        Record::from_rdata(self.origin.clone(), ttl.min(300), RData::SOA(soa))
    }

    pub fn nxdomain(&self, ttl: u32, serial: u32, plugin: &'static str) -> Reply {
        self.negative(ResponseCode::NXDomain, ttl, serial, plugin)
    }

    pub fn nodata(&self, ttl: u32, serial: u32, plugin: &'static str) -> Reply {
        self.negative(ResponseCode::NoError, ttl, serial, plugin)
    }

    fn negative(&self, rcode: ResponseCode, ttl: u32, serial: u32, plugin: &'static str) -> Reply {
        let mut reply = Reply::new(rcode, plugin);
        reply.authoritative = true;
        reply.authority.push(self.soa(ttl, serial));
        reply
    }

    /// SERVFAIL with the zone's SOA in the authority section, as CoreDNS's backend error answers
    /// while its data is not there yet: negative-caching resolvers bound the failure by it.
    pub fn unavailable(&self, ttl: u32, serial: u32, plugin: &'static str) -> Reply {
        self.negative(ResponseCode::ServFail, ttl, serial, plugin)
    }

    pub fn servfail(plugin: &'static str) -> Reply {
        Reply::new(ResponseCode::ServFail, plugin)
    }
}
