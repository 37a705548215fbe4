//! Zone names as plugins take them: normalized (lower-case, trailing dot), and the reverse zones
//! a CIDR stands for (`10.96.0.0/12` → `96.10.in-addr.arpa.` … `111.10.in-addr.arpa.`).

use std::net::IpAddr;

/// A zone argument that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error("invalid zone {0:?}")]
    Invalid(String),
    #[error("invalid CIDR {0:?}{1}")]
    Cidr(String, CidrProblem),
}

/// What is wrong with a CIDR (shown after it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrProblem {
    #[error("")]
    NoPrefix,
    #[error(": {0:?} is not an IP address")]
    NotAnAddress(String),
    #[error(": bad prefix length")]
    BadLength,
    #[error(": prefix longer than {0} bits")]
    TooLong(u32),
}

/// Lower-case with a trailing dot; `.` is the root.
pub fn normalize_zone(zone: &str) -> Result<String, ZoneError> {
    if zone == "." {
        return Ok(".".into());
    }
    let trimmed = zone.trim_end_matches('.');
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !trimmed.split('.').all(label_ok) {
        return Err(ZoneError::Invalid(zone.to_string()));
    }
    Ok(format!("{}.", trimmed.to_ascii_lowercase()))
}

/// The reverse zones that exactly cover a CIDR: classful steps (8 bits for IPv4, 4 for IPv6),
/// with a prefix between two steps expanded into every zone of the next step.
pub fn reverse_zones(cidr: &str) -> Result<Vec<String>, ZoneError> {
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| ZoneError::Cidr(cidr.to_string(), CidrProblem::NoPrefix))?;
    let ip: IpAddr = addr.parse().map_err(|_| {
        ZoneError::Cidr(
            cidr.to_string(),
            CidrProblem::NotAnAddress(addr.to_string()),
        )
    })?;
    let len: u32 = len
        .parse()
        .map_err(|_| ZoneError::Cidr(cidr.to_string(), CidrProblem::BadLength))?;
    let (bits, step, digits): (u32, u32, Vec<u8>) = match ip {
        IpAddr::V4(v4) => (32, 8, v4.octets().to_vec()),
        IpAddr::V6(v6) => (
            128,
            4,
            v6.octets()
                .iter()
                .flat_map(|b| [b >> 4, b & 0x0f])
                .collect(),
        ),
    };
    if len > bits {
        return Err(ZoneError::Cidr(
            cidr.to_string(),
            CidrProblem::TooLong(bits),
        ));
    }
    let whole = len / step;
    let partial = len % step;
    let mut prefixes: Vec<Vec<u8>> = vec![digits[..whole as usize].to_vec()];
    if partial > 0 {
        let next = digits[whole as usize];
        let free = step - partial;
        let base = (u32::from(next) >> free) << free;
        prefixes = (0..(1u32 << free))
            .map(|i| {
                let mut p = digits[..whole as usize].to_vec();
                p.push(u8::try_from(base + i).unwrap_or(u8::MAX));
                p
            })
            .collect();
    }
    let suffix = if bits == 32 {
        "in-addr.arpa."
    } else {
        "ip6.arpa."
    };
    Ok(prefixes
        .into_iter()
        .map(|p| {
            let mut labels: Vec<String> = p
                .iter()
                .rev()
                .map(|d| {
                    if bits == 32 {
                        d.to_string()
                    } else {
                        format!("{d:x}")
                    }
                })
                .collect();
            labels.push(suffix.to_string());
            labels.join(".")
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_reverse_zones() {
        assert_eq!(
            reverse_zones("10.0.0.0/8").unwrap(),
            vec!["10.in-addr.arpa."]
        );
        assert_eq!(
            reverse_zones("10.96.0.0/16").unwrap(),
            vec!["96.10.in-addr.arpa."]
        );
        let z = reverse_zones("10.96.0.0/12").unwrap();
        assert_eq!(z.len(), 16);
        assert_eq!(z[0], "96.10.in-addr.arpa.");
        assert_eq!(z[15], "111.10.in-addr.arpa.");
        assert_eq!(reverse_zones("fd00::/8").unwrap(), vec!["d.f.ip6.arpa."]);
        assert_eq!(reverse_zones("fd00::/7").unwrap().len(), 2);
        assert!(reverse_zones("10.0.0.0/33").is_err());
        assert_eq!(
            reverse_zones("10.0.0.0/x").map_err(|e| e.to_string()),
            Err(r#"invalid CIDR "10.0.0.0/x": bad prefix length"#.into())
        );
        assert_eq!(
            normalize_zone("Cluster.Local").as_deref(),
            Ok("cluster.local.")
        );
    }
}
