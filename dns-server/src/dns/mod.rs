//! DNS helpers shared by the plugins that synthesize answers (kubernetes, eureka): record
//! constructors, the SOA of a zone, dashed-IP and reverse-name conversions, and the negative
//! answers (NXDOMAIN, NODATA) with their SOA.

pub mod names;
pub mod records;
pub mod resolv_conf;
pub mod zone;

use hickory_proto::op::ResponseCode;

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
