//! `{$NAME}` and `{%NAME%}` substitution.
//!
//! It runs on each token's text after lexing rather than on the raw source
//! (as Caddy v1 did), so a variable's value can never add tokens, braces or
//! line breaks: the structure of the file is fixed by what the user wrote.

use crate::ParseOptions;

/// Replaces every environment reference in `text`; unset variables become
/// empty, matching CoreDNS. Malformed references are left as written.
pub(crate) fn substitute(text: &str, opts: &ParseOptions) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('{') {
        out.push_str(&rest[..pos]);
        let candidate = &rest[pos..];
        match reference(candidate) {
            Some((name, len)) => {
                out.push_str(&opts.env(name).unwrap_or_default());
                rest = &candidate[len..];
            }
            None => {
                out.push('{');
                rest = &candidate[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// If `s` starts with a reference, returns the variable name and the length
/// of the whole reference in bytes.
fn reference(s: &str) -> Option<(&str, usize)> {
    let (body, close) = if let Some(body) = s.strip_prefix("{$") {
        (body, "}")
    } else if let Some(body) = s.strip_prefix("{%") {
        (body, "%}")
    } else {
        return None;
    };
    let end = body.find(close)?;
    let name = &body[..end];
    let valid =
        !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '{' || c == '}');
    valid.then_some((name, 2 + end + close.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ParseOptions {
        ParseOptions::with_env(|name| match name {
            "PORT" => Some("1053".to_owned()),
            "BRACE" => Some("{".to_owned()),
            _ => None,
        })
    }

    #[test]
    fn substitutes_references() {
        let cases = [
            ("plain", "plain"),
            (".:{$PORT}", ".:1053"),
            ("{%PORT%}", "1053"),
            ("a{$UNSET}b", "ab"),
            ("{$PORT}{%PORT%}", "10531053"),
            ("{$BRACE}", "{"),
            ("{$}", "{$}"),
            ("{%%}", "{%%}"),
            ("{$PORT", "{$PORT"),
            ("{$A B}", "{$A B}"),
            ("{args[0]}", "{args[0]}"),
            ("{{$PORT}}", "{1053}"),
            ("ünï{$PORT}cödé", "ünï1053cödé"),
        ];
        for (input, want) in cases {
            assert_eq!(substitute(input, &opts()), want, "input {input:?}");
        }
    }
}
