//! The part of Go's `text/template` that CoreDNS's `template` examples use: `{{ .Name }}`,
//! `{{ .Zone }}`, `{{ .Class }}`, `{{ .Type }}`, `{{ .Remote }}`, `{{ .Regex }}`,
//! `{{ .Group.NAME }}`, `{{ index .Group "NAME" }}` and `{{ index .Match N }}`, with `{{-`/`-}}`
//! trimming. Parsed once at setup; anything else is a setup error, never a surprise at query
//! time. The rendered text is one resource record in zone-file form.

use std::collections::HashMap;
use std::str::FromStr;

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Name,
    Zone,
    Class,
    Type,
    Remote,
    Regex,
    /// A capture group by name or number (`.Group.x`, `index .Group "x"`, `index .Match 1`).
    Group(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// What a template is rendered with: the question and the regex match.
pub struct Data<'a> {
    pub name: &'a str,
    pub zone: &'a str,
    pub class: &'a str,
    pub qtype: &'a str,
    pub remote: String,
    pub regex: &'a str,
    pub groups: HashMap<String, String>,
}

/// A template that is not the Go-template subset rollcall renders, or rendered text that is not a
/// record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed action in {0:?}")]
    Unclosed(String),
    #[error("{{{{ {0} }}}} is not supported by rollcall (supported: {SUPPORTED})")]
    Unsupported(String),
    #[error("empty record")]
    EmptyRecord,
    #[error("owner {0:?}: {1}")]
    Owner(String, String),
    #[error("{0:?} is not a TTL, class or record type")]
    NotAType(String),
    #[error("no record type in {0:?}")]
    NoType(String),
    #[error("{0} data {1:?}: {2}")]
    Data(RecordType, String, String),
}

/// Rendered text that does not parse as a record (a query-time failure: SERVFAIL).
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a record: {reason}")]
pub struct NotARecord {
    pub text: String,
    #[source]
    pub reason: TemplateError,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let mut literal = &rest[..open];
            let mut action = &rest[open + 2..];
            let close = action
                .find("}}")
                .ok_or_else(|| TemplateError::Unclosed(text.to_string()))?;
            let mut inner = &action[..close];
            rest = &action[close + 2..];
            if let Some(trimmed) = inner.strip_prefix('-') {
                literal = literal.trim_end();
                inner = trimmed;
            }
            if let Some(trimmed) = inner.strip_suffix('-') {
                rest = rest.trim_start();
                inner = trimmed;
            }
            action = inner.trim();
            if !literal.is_empty() {
                pieces.push(Piece::Text(literal.to_string()));
            }
            pieces.push(parse_action(action)?);
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces })
    }

    pub fn render(&self, data: &Data<'_>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Name => out.push_str(data.name),
                Piece::Zone => out.push_str(data.zone),
                Piece::Class => out.push_str(data.class),
                Piece::Type => out.push_str(data.qtype),
                Piece::Remote => out.push_str(&data.remote),
                Piece::Regex => out.push_str(data.regex),
                Piece::Group(g) => {
                    if let Some(v) = data.groups.get(g) {
                        out.push_str(v);
                    }
                }
            }
        }
        out
    }

    /// The capture groups the template refers to (checked against the regexes at setup).
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Group(g) => Some(g.as_str()),
            _ => None,
        })
    }
}

const SUPPORTED: &str = ".Name, .Zone, .Class, .Type, .Remote, .Regex, .Group.NAME, index .Group \"NAME\", index .Match N";

fn parse_action(action: &str) -> Result<Piece, TemplateError> {
    let piece = match action {
        ".Name" => Piece::Name,
        ".Zone" => Piece::Zone,
        ".Class" => Piece::Class,
        ".Type" => Piece::Type,
        ".Remote" => Piece::Remote,
        ".Regex" => Piece::Regex,
        other => {
            if let Some(group) = other.strip_prefix(".Group.") {
                Piece::Group(group.to_string())
            } else {
                let words: Vec<&str> = other.split_whitespace().collect();
                match words.as_slice() {
                    ["index", ".Group", key] => Piece::Group(key.trim_matches('"').to_string()),
                    ["index", ".Match", n] if n.parse::<usize>().is_ok() => {
                        Piece::Group((*n).to_string())
                    }
                    _ => {
                        return Err(TemplateError::Unsupported(other.to_string()));
                    }
                }
            }
        }
    };
    Ok(piece)
}

/// One record in zone-file form: `NAME [TTL] [CLASS] TYPE RDATA...` (TTL defaults to 3600 and
/// CLASS to IN, as miekg/dns's `NewRR` does).
pub fn parse_record(text: &str) -> Result<Record, TemplateError> {
    let mut words = text.split_whitespace().peekable();
    let owner = words.next().ok_or(TemplateError::EmptyRecord)?;
    let name = Name::from_ascii(owner)
        .map_err(|e| TemplateError::Owner(owner.to_string(), e.to_string()))?;
    let mut ttl = 3600;
    let mut class = DNSClass::IN;
    let mut rtype = None;
    for word in words.by_ref() {
        if let Ok(n) = word.parse::<u32>() {
            ttl = n;
        } else if let Ok(c) = DNSClass::from_str(&word.to_ascii_uppercase()) {
            class = c;
        } else {
            let t = RecordType::from_str(&word.to_ascii_uppercase())
                .ok()
                .filter(|t| !matches!(t, RecordType::Unknown(_)))
                .ok_or_else(|| TemplateError::NotAType(word.to_string()))?;
            rtype = Some(t);
            break;
        }
    }
    let rtype = rtype.ok_or_else(|| TemplateError::NoType(text.to_string()))?;
    let rdata_text: Vec<&str> = words.collect();
    let rdata = RData::try_from_str(rtype, &rdata_text.join(" "))
        .map_err(|e| TemplateError::Data(rtype, rdata_text.join(" "), e.to_string()))?;
    let mut record = Record::from_rdata(name, ttl, rdata);
    record.dns_class = class;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Data<'static> {
        Data {
            name: "ip-10-1-2-3.example.",
            zone: "example.",
            class: "IN",
            qtype: "A",
            remote: "192.0.2.9".into(),
            regex: "^ip-(?P<a>[0-9]+)-.*$",
            groups: [("0", "ip-10-1-2-3.example."), ("1", "10"), ("a", "10")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn fields_groups_and_trimming() {
        let t = Template::parse("{{ .Name }} 60 {{ .Class }} {{ .Type }} {{ .Group.a }}.{{index .Match 1}}.0.1 ; {{- .Zone -}} ;").unwrap();
        assert_eq!(
            t.render(&data()),
            "ip-10-1-2-3.example. 60 IN A 10.10.0.1 ;example.;"
        );
        assert_eq!(t.groups().collect::<Vec<_>>(), ["a", "1"]);
        let t = Template::parse("{{ index .Group \"a\" }} {{ .Remote }} {{ .Regex }}").unwrap();
        assert_eq!(t.render(&data()), "10 192.0.2.9 ^ip-(?P<a>[0-9]+)-.*$");
    }

    #[test]
    fn unsupported_actions_are_refused_at_parse_time() {
        let e = Template::parse("{{ if .Name }}x{{ end }}")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("{{ if .Name }} is not supported by rollcall"),
            "{e}"
        );
        assert!(Template::parse("{{ .Name ").is_err());
    }

    #[test]
    fn records_in_zone_file_form() {
        let r = parse_record("example. 60 IN A 127.0.0.1").unwrap();
        assert_eq!(r.to_string(), "example. 60 IN A 127.0.0.1");
        let r = parse_record("example. CNAME target.example.").unwrap();
        assert_eq!(r.to_string(), "example. 3600 IN CNAME target.example.");
        let r = parse_record("_x._tcp.example. 30 SRV 10 5 80 web.example.").unwrap();
        assert_eq!(r.ttl, 30);
        assert!(parse_record("example. 60 IN BOGUS x").is_err());
        assert!(parse_record("example. 60 IN A not-an-ip").is_err());
        assert!(parse_record("").is_err());
    }
}
