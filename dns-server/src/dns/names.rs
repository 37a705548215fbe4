//! Name ↔ address conversions: dashed pod names (`10-244-1-5`, `fd00-10-244-3--34`) and reverse
//! names under `in-addr.arpa.` and `ip6.arpa.`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `10.244.1.5` → `10-244-1-5`; IPv6 canonical text with `:` → `-`, and a `0` appended when it
/// would end in `-` (a label may not end with a hyphen).
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => {
            let mut s = v6.to_string().replace(':', "-");
            if s.ends_with('-') {
                s.push('0');
            }
            if s.starts_with('-') {
                s.insert(0, '0');
            }
            s
        }
    }
}

/// The inverse of [`dashed`]; also accepts the forms with explicit zeros.
pub fn undash(label: &str) -> Option<IpAddr> {
    let dots = label.replace('-', ".");
    if let Ok(v4) = dots.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    let colons = label.replace('-', ":");
    colons.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// The address a full reverse name stands for (`5.2.244.10.in-addr.arpa.` → `10.244.2.5`);
/// `None` for partial or malformed names. `name` is lower-case with a trailing dot. Allocates
/// nothing: plugins call it for every PTR query they see, answered or passed on.
pub fn reverse_to_ip(name: &str) -> Option<IpAddr> {
    if let Some(head) = name.strip_suffix(".in-addr.arpa.") {
        // Labels from the last: the most significant octet first.
        let mut labels = head.rsplit('.');
        let mut octets = [0u8; 4];
        for octet in &mut octets {
            let label = labels.next()?;
            if label.is_empty()
                || label.len() > 3
                || (label.len() > 1 && label.starts_with('0'))
                || !label.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            *octet = label.parse().ok()?;
        }
        if labels.next().is_some() {
            return None;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    if let Some(head) = name.strip_suffix(".ip6.arpa.") {
        let mut value: u128 = 0;
        let mut nibbles = 0;
        for label in head.rsplit('.') {
            nibbles += 1;
            if nibbles > 32 || label.len() != 1 {
                return None;
            }
            let nibble = u128::from(u8::from_str_radix(label, 16).ok()?);
            value = (value << 4) | nibble;
        }
        if nibbles != 32 {
            return None;
        }
        return Some(IpAddr::V6(Ipv6Addr::from(value)));
    }
    None
}

/// `10.244.2.5` → `5.2.244.10.in-addr.arpa.`
pub fn ip_to_reverse(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(73);
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            s.push_str("ip6.arpa.");
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashed_round_trip() {
        let cases = [
            ("10.244.1.5", "10-244-1-5"),
            ("fd00:10:244:3::34", "fd00-10-244-3--34"),
            ("fd00::", "fd00--0"),
            ("::1", "0--1"),
        ];
        for (ip, want) in cases {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(dashed(ip), want);
            assert_eq!(undash(want), Some(ip), "{want}");
        }
        assert_eq!(undash("not-an-ip"), None);
        assert_eq!(undash("10-244-1"), None);
    }

    #[test]
    fn reverse_names() {
        for ip in ["10.96.0.10", "fd00:10:96::a", "::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(reverse_to_ip(&ip_to_reverse(ip)), Some(ip));
        }
        assert_eq!(reverse_to_ip("96.10.in-addr.arpa."), None);
        assert_eq!(reverse_to_ip("05.0.96.10.in-addr.arpa."), None);
        assert_eq!(reverse_to_ip("300.0.96.10.in-addr.arpa."), None);
        assert_eq!(reverse_to_ip("+5.0.96.10.in-addr.arpa."), None);
        assert_eq!(reverse_to_ip("1.5.0.96.10.in-addr.arpa."), None);
        assert_eq!(reverse_to_ip(".0.96.10.in-addr.arpa."), None);
        let v6 = ip_to_reverse("fd00::1".parse().unwrap());
        assert_eq!(reverse_to_ip(&format!("0.{v6}")), None);
        assert_eq!(reverse_to_ip(&v6[2..]), None);
    }
}
