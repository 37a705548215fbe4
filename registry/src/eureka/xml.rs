//! XML for the Eureka API: a small reader (quick-xml events into a `serde_json::Value` tree with
//! the same shape as Eureka's JSON: attributes become `@name`, text next to attributes or child
//! elements becomes `$`) and escaping for the hand-written XML output.

use quick_xml::Reader;
use quick_xml::encoding::EncodingError;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

/// Deepest element nesting accepted (Eureka documents are 4 levels deep).
const MAX_DEPTH: usize = 64;

/// Why an XML document was refused (the message of a 400 answer).
#[derive(Debug, thiserror::Error)]
pub(crate) enum XmlError {
    #[error("malformed XML at byte {position}: {source}")]
    Syntax {
        position: u64,
        #[source]
        source: quick_xml::Error,
    },
    #[error("element name is not UTF-8")]
    ElementName,
    #[error("bad attribute in <{element}>: {source}")]
    Attribute {
        element: String,
        #[source]
        source: AttrError,
    },
    #[error("attribute name is not UTF-8")]
    AttributeName,
    #[error("bad attribute value in <{element}>: {source}")]
    AttributeValue {
        element: String,
        #[source]
        source: quick_xml::Error,
    },
    #[error("malformed XML: more than one root element")]
    SecondRoot,
    #[error("XML nested deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error("malformed XML: unexpected end tag")]
    UnexpectedEnd,
    #[error("malformed XML text: {0}")]
    Text(#[source] EncodingError),
    #[error("malformed XML CDATA: {0}")]
    CData(#[source] EncodingError),
    #[error("malformed XML character reference: {0}")]
    CharRef(#[source] quick_xml::Error),
    #[error("malformed XML entity: {0}")]
    Entity(#[source] EncodingError),
    #[error("malformed XML: unknown entity &{0};")]
    UnknownEntity(String),
    #[error("XML DOCTYPE is not accepted")]
    DocType,
    #[error("malformed XML: document ends inside an element")]
    Unclosed,
    #[error("malformed XML: no root element")]
    NoRoot,
    #[error("malformed XML: text outside the root element")]
    TextOutsideRoot,
}

struct Frame {
    name: String,
    fields: Map<String, Value>,
    has_children: bool,
    text: String,
}

impl Frame {
    fn new(start: &BytesStart<'_>) -> Result<Self, XmlError> {
        let name = std::str::from_utf8(start.name().as_ref())
            .map_err(|_| XmlError::ElementName)?
            .to_string();
        let mut fields = Map::new();
        for attr in start.attributes() {
            let attr = attr.map_err(|source| XmlError::Attribute {
                element: name.clone(),
                source,
            })?;
            let key =
                std::str::from_utf8(attr.key.as_ref()).map_err(|_| XmlError::AttributeName)?;
            if key == "xmlns" || key.starts_with("xmlns:") {
                continue;
            }
            let value = attr
                .unescape_value()
                .map_err(|source| XmlError::AttributeValue {
                    element: name.clone(),
                    source,
                })?;
            fields.insert(format!("@{key}"), Value::String(value.into_owned()));
        }
        Ok(Self {
            name,
            fields,
            has_children: false,
            text: String::new(),
        })
    }

    fn finish(self) -> (String, Value) {
        let text = self.text.trim();
        let value = if self.fields.is_empty() && !self.has_children {
            Value::String(text.to_string())
        } else {
            let mut fields = self.fields;
            if !text.is_empty() {
                fields.insert("$".to_string(), Value::String(text.to_string()));
            }
            Value::Object(fields)
        };
        (self.name, value)
    }
}

/// Parses an XML document into `(root element name, root value)`.
pub(crate) fn parse(input: &str) -> Result<(String, Value), XmlError> {
    let mut reader = Reader::from_str(input);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    loop {
        let event = reader.read_event().map_err(|source| XmlError::Syntax {
            position: reader.error_position(),
            source,
        })?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::SecondRoot);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                if let Some(parent) = stack.last_mut() {
                    parent.has_children = true;
                }
                stack.push(Frame::new(&start)?);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(XmlError::SecondRoot);
                }
                let frame = Frame::new(&start)?;
                close(frame, &mut stack, &mut root);
            }
            Event::End(_) => {
                // quick-xml checks that end names match.
                let Some(frame) = stack.pop() else {
                    return Err(XmlError::UnexpectedEnd);
                };
                close(frame, &mut stack, &mut root);
            }
            Event::Text(text) => {
                let text = text.xml10_content().map_err(XmlError::Text)?;
                push_text(&mut stack, &text)?;
            }
            Event::CData(data) => {
                let data = data.decode().map_err(XmlError::CData)?;
                push_text(&mut stack, &data)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(XmlError::CharRef)? {
                    Some(c) => c,
                    None => {
                        let name = r.decode().map_err(XmlError::Entity)?;
                        match name.as_ref() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => {
                                return Err(XmlError::UnknownEntity(other.to_string()));
                            }
                        }
                    }
                };
                let mut buf = [0u8; 4];
                push_text(&mut stack, resolved.encode_utf8(&mut buf))?;
            }
            Event::DocType(_) => return Err(XmlError::DocType),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Unclosed);
    }
    root.ok_or(XmlError::NoRoot)
}

fn close(frame: Frame, stack: &mut [Frame], root: &mut Option<(String, Value)>) {
    let (name, value) = frame.finish();
    match stack.last_mut() {
        Some(parent) => {
            parent.has_children = true;
            parent.fields.insert(name, value);
        }
        None => *root = Some((name, value)),
    }
}

fn push_text(stack: &mut [Frame], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(frame) => {
            frame.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError::TextOutsideRoot),
    }
}

/// Appends `s` escaped for XML text or a double-quoted attribute. Characters XML 1.0 cannot
/// carry (most control characters) become U+FFFD.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '<' => "&lt;",
            '>' => "&gt;",
            '&' => "&amp;",
            '"' => "&quot;",
            '\'' => "&apos;",
            '\t' | '\n' | '\r' => continue,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => "\u{FFFD}",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
}

/// XStream's element-name encoding of a metadata key (`_` → `__`, `$` → `_-`), or `None` when
/// the key cannot be an XML element name even then (such keys are left out of XML output).
pub(crate) fn metadata_element_name(key: &str) -> Option<String> {
    let mut chars = key.chars();
    let first = chars.next()?;
    if !(first.is_alphabetic() || first == '_' || first == '$') {
        return None;
    }
    if !key
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '-' | '.'))
    {
        return None;
    }
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        match c {
            '_' => out.push_str("__"),
            '$' => out.push_str("_-"),
            c => out.push(c),
        }
    }
    Some(out)
}

/// Decodes XStream's element-name encoding (`__` → `_`, `_-` → `$`).
pub(crate) fn decode_element_name(name: &str) -> String {
    if !name.contains('_') {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '_' {
            match chars.peek() {
                Some('_') => {
                    chars.next();
                    out.push('_');
                }
                Some('-') => {
                    chars.next();
                    out.push('$');
                }
                _ => out.push('_'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_instance_shapes() {
        let (root, v) = parse(
            r#"<?xml version="1.0"?>
            <instance>
              <hostName>h&amp;1</hostName>
              <port enabled="true">8080</port>
              <dataCenterInfo class="x$y"><name>MyOwn</name></dataCenterInfo>
              <metadata class="java.util.Collections$EmptyMap"/>
              <empty></empty>
              <c><![CDATA[<raw>]]></c>
              <n>&#65;&#x42;</n>
            </instance>"#,
        )
        .unwrap();
        assert_eq!(root, "instance");
        assert_eq!(
            v,
            json!({
                "hostName": "h&1",
                "port": {"@enabled": "true", "$": "8080"},
                "dataCenterInfo": {"@class": "x$y", "name": "MyOwn"},
                "metadata": {"@class": "java.util.Collections$EmptyMap"},
                "empty": "",
                "c": "<raw>",
                "n": "AB",
            })
        );
    }

    #[test]
    fn rejects_bad_xml() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a>&bogus;</a>",
            "<a/><b/>",
            "text",
            "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should fail");
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(&deep).unwrap_err().to_string().contains("deeper"));
    }

    #[test]
    fn escapes() {
        let mut s = String::new();
        escape_into(&mut s, "a<b>&\"'\u{1}\n");
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}\n");
    }

    #[test]
    fn element_names() {
        assert_eq!(
            metadata_element_name("management.port").as_deref(),
            Some("management.port")
        );
        assert_eq!(metadata_element_name("a_b$c").as_deref(), Some("a__b_-c"));
        assert_eq!(decode_element_name("a__b_-c"), "a_b$c");
        assert_eq!(metadata_element_name("1abc"), None);
        assert_eq!(metadata_element_name("a b"), None);
        assert_eq!(metadata_element_name("a:b"), None);
        assert_eq!(metadata_element_name(""), None);
    }
}
