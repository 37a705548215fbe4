//! Server block keys: `[dns://]ZONE[:PORT]`, where ZONE may be a CIDR that stands for the
//! reverse zones covering it (`10.96.0.0/12` → `96.10.in-addr.arpa.` … `111.10.in-addr.arpa.`).

use std::net::IpAddr;

/// One zone a server block serves, and the port it listens on for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockKey {
    pub zones: Vec<String>,
    pub port: u16,
}

pub fn parse_key(key: &str, default_port: u16) -> Result<BlockKey, String> {
    let rest = match key.split_once("://") {
        Some(("dns", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "transport {scheme}:// is not supported by rollcall yet (only dns://)"
            ));
        }
        None => key,
    };
    let (zone, port) = split_port(rest)?;
    let port = port.unwrap_or(default_port);
    let zones = if zone.contains('/') {
        reverse_zones(zone)?
    } else {
        vec![normalize_zone(zone)?]
    };
    Ok(BlockKey { zones, port })
}

fn split_port(s: &str) -> Result<(&str, Option<u16>), String> {
    // A CIDR like fd00::/64 has colons of its own; only a trailing `:digits` after the zone is a port.
    if s.contains('/') && s.contains(':') && !s.contains("]:") {
        // IPv6 CIDR, possibly followed by :port after the prefix length.
        if let Some((head, tail)) = s.rsplit_once(':')
            && head.contains('/')
        {
            let port = tail
                .parse::<u16>()
                .map_err(|_| format!("invalid port {tail:?}"))?;
            return Ok((head, Some(port)));
        }
        return Ok((s, None));
    }
    match s.rsplit_once(':') {
        Some((zone, port)) if !zone.contains(':') => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("invalid port {port:?} in server block key"))?;
            Ok((if zone.is_empty() { "." } else { zone }, Some(port)))
        }
        _ => Ok((if s.is_empty() { "." } else { s }, None)),
    }
}

/// Lower-case with a trailing dot; `.` is the root.
pub fn normalize_zone(zone: &str) -> Result<String, String> {
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
        return Err(format!("invalid zone {zone:?}"));
    }
    Ok(format!("{}.", trimmed.to_ascii_lowercase()))
}

/// The reverse zones that exactly cover a CIDR: classful steps (8 bits for IPv4, 4 for IPv6),
/// with a prefix between two steps expanded into every zone of the next step.
pub fn reverse_zones(cidr: &str) -> Result<Vec<String>, String> {
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| format!("invalid CIDR {cidr:?}"))?;
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("invalid CIDR {cidr:?}: {addr:?} is not an IP address"))?;
    let len: u32 = len
        .parse()
        .map_err(|_| format!("invalid CIDR {cidr:?}: bad prefix length"))?;
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
        return Err(format!(
            "invalid CIDR {cidr:?}: prefix longer than {bits} bits"
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
    fn keys() {
        assert_eq!(
            parse_key(".:53", 53).unwrap(),
            BlockKey {
                zones: vec![".".into()],
                port: 53
            }
        );
        assert_eq!(
            parse_key("dns://Cluster.Local:1053", 53).unwrap(),
            BlockKey {
                zones: vec!["cluster.local.".into()],
                port: 1053
            }
        );
        assert_eq!(parse_key("in-addr.arpa", 5353).unwrap().port, 5353);
        assert_eq!(parse_key(":1053", 53).unwrap().zones, vec![".".to_string()]);
        assert!(parse_key("tls://.:853", 53).is_err());
        assert!(parse_key("example.org:99999", 53).is_err());
    }

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
        let k = parse_key("10.96.0.0/12:1053", 53).unwrap();
        assert_eq!((k.zones.len(), k.port), (16, 1053));
        assert!(reverse_zones("10.0.0.0/33").is_err());
    }
}
