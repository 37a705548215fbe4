//! Small helpers that turn directive arguments into typed values with positioned errors.

use std::time::Duration;

use corefile::{Directive, Token};

use super::SetupError;

pub fn err(token: &Token, directive: &str, message: impl Into<String>) -> SetupError {
    SetupError::new(&token.span, directive, message)
}

/// Fails when the directive has arguments it does not take.
pub fn no_args(d: &Directive) -> Result<(), SetupError> {
    match d.args.first() {
        Some(extra) => Err(err(
            extra,
            d.name(),
            format!("unexpected argument {:?}", extra.text),
        )),
        None => Ok(()),
    }
}

/// Fails when the directive has a block it does not take.
pub fn no_block(d: &Directive) -> Result<(), SetupError> {
    match d.block.as_ref().and_then(|b| b.first()) {
        Some(first) => Err(err(
            &first.name,
            d.name(),
            format!("unknown property {:?}", first.name()),
        )),
        None => Ok(()),
    }
}

/// A property inside a directive's block that must not have a block of its own: its name.
pub fn leaf_property<'a>(prop: &'a Directive, owner: &str) -> Result<&'a str, SetupError> {
    let name = prop.name();
    if prop.block.is_some() {
        return Err(err(&prop.name, owner, format!("{name} takes no block")));
    }
    Ok(name)
}

/// Zone arguments (`cluster.local`, `example.org.`), normalized: lower-case with trailing dot.
/// A CIDR (`10.96.0.0/12`) stands for its reverse zones, as CoreDNS's plugins take it.
pub fn zones(tokens: &[Token], owner: &str) -> Result<Vec<String>, SetupError> {
    let mut zones = Vec::new();
    for t in tokens {
        let parsed = if t.text.contains('/') {
            super::keys::reverse_zones(&t.text)
        } else {
            super::keys::normalize_zone(&t.text).map(|z| vec![z])
        };
        zones.extend(parsed.map_err(|m| err(t, owner, m))?);
    }
    Ok(zones)
}

pub fn exactly_one<'a>(d: &'a Directive, owner: &str) -> Result<&'a Token, SetupError> {
    match d.args.as_slice() {
        [one] => Ok(one),
        [] => Err(err(
            &d.name,
            owner,
            format!("{} needs one argument", d.name()),
        )),
        [_, extra, ..] => Err(err(
            extra,
            owner,
            format!("{} takes one argument, found {:?}", d.name(), extra.text),
        )),
    }
}

pub fn parse_u32(t: &Token, owner: &str, min: u32, max: u32) -> Result<u32, SetupError> {
    match t.text.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(
            t,
            owner,
            format!(
                "expected a number between {min} and {max}, found {:?}",
                t.text
            ),
        )),
    }
}

/// Go-style durations as CoreDNS takes them: `5s`, `100ms`, `1m30s`, `2h`.
pub fn parse_duration(t: &Token, owner: &str) -> Result<Duration, SetupError> {
    parse_go_duration(&t.text).ok_or_else(|| {
        err(
            t,
            owner,
            format!("expected a duration like 5s or 100ms, found {:?}", t.text),
        )
    })
}

pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (num, tail) = rest.split_at(digits);
        let value: f64 = num.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let secs = match unit {
            "ns" => value / 1e9,
            "us" | "µs" => value / 1e6,
            "ms" => value / 1e3,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(secs).ok()?;
        rest = tail;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("abc"), None);
    }
}
