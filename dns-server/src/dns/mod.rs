//! DNS helpers shared by the plugins that synthesize answers (kubernetes, eureka): record
//! constructors, the SOA of a zone, dashed-IP and reverse-name conversions, and the negative
//! answers (NXDOMAIN, NODATA) with their SOA.

pub mod names;
pub mod records;
pub mod zone;
