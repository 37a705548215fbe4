//! Server block keys: `[dns://]ZONE[:PORT]`, where ZONE may be a CIDR that stands for the
//! reverse zones covering it (`10.96.0.0/12` → `96.10.in-addr.arpa.` … `111.10.in-addr.arpa.`).

use crate::contract::names::{ZoneError, normalize_zone, reverse_zones};

/// A server block key that is not `[dns://]ZONE[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("transport {0}:// is not supported by rollcall yet (only dns://)")]
    Transport(String),
    #[error("invalid port {0:?}")]
    Port(String),
    #[error("invalid port {0:?} in server block key")]
    KeyPort(String),
    #[error(transparent)]
    Zone(#[from] ZoneError),
}

/// One zone a server block serves, and the port it listens on for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockKey {
    pub zones: Vec<String>,
    pub port: u16,
}

pub fn parse_key(key: &str, default_port: u16) -> Result<BlockKey, KeyError> {
    let rest = match key.split_once("://") {
        Some(("dns", rest)) => rest,
        Some((scheme, _)) => {
            return Err(KeyError::Transport(scheme.to_string()));
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

fn split_port(s: &str) -> Result<(&str, Option<u16>), KeyError> {
    // A CIDR like fd00::/64 has colons of its own; only a trailing `:digits` after the zone is a port.
    if s.contains('/') && s.contains(':') && !s.contains("]:") {
        // IPv6 CIDR, possibly followed by :port after the prefix length.
        if let Some((head, tail)) = s.rsplit_once(':')
            && head.contains('/')
        {
            let port = tail
                .parse::<u16>()
                .map_err(|_| KeyError::Port(tail.to_string()))?;
            return Ok((head, Some(port)));
        }
        return Ok((s, None));
    }
    match s.rsplit_once(':') {
        Some((zone, port)) if !zone.contains(':') => {
            let port = port
                .parse::<u16>()
                .map_err(|_| KeyError::KeyPort(port.to_string()))?;
            Ok((if zone.is_empty() { "." } else { zone }, Some(port)))
        }
        _ => Ok((if s.is_empty() { "." } else { s }, None)),
    }
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
    fn cidr_keys() {
        let k = parse_key("10.96.0.0/12:1053", 53).unwrap();
        assert_eq!((k.zones.len(), k.port), (16, 1053));
    }
}
