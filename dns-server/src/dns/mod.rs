//! DNS helpers below the plugin contract (they import nothing of this crate): record
//! constructors, dashed-IP and reverse-name conversions, resolv.conf, RCODE names, and the
//! transport a query came over. A zone's SOA and negative answers are in
//! [`crate::contract::zone`], since they build a `Reply`.

pub mod names;
pub mod records;
pub mod resolv_conf;

use hickory_proto::op::ResponseCode;

/// The transport a query came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// The mnemonic dig and CoreDNS's logs use (`NOERROR`, `NXDOMAIN`, ...).
pub fn rcode_name(rcode: ResponseCode) -> &'static str {
    match u16::from(rcode) {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        16 => "BADVERS",
        _ => "RCODE",
    }
}
