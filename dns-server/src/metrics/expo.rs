//! The Prometheus text exposition format, version 0.0.4: the one place that writes `# HELP`,
//! `# TYPE`, sample lines, escaped label values and histograms. Every [`super::MetricsSource`]
//! writes through an [`Exposition`], which groups samples by family so that two sources adding
//! to the same family (two `kubernetes` blocks, two `forward`s) still give one `# HELP`/`# TYPE`
//! header and contiguous samples, as the format requires.
//!
//! Only scrapes run this code; nothing here is on the query path.

use std::fmt::Write as _;

/// The `Content-Type` of a `/metrics` answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample value: integers print exactly, floats the shortest way that reads back the same
/// (`0.00025`, `16000`), with `+Inf`, `-Inf` and `NaN` spelled as Prometheus spells them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v)
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(u64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(u64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

fn write_value(out: &mut String, v: Value) {
    match v {
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f == f64::INFINITY => out.push_str("+Inf"),
        Value::Float(f) if f == f64::NEG_INFINITY => out.push_str("-Inf"),
        Value::Float(f) => {
            let _ = write!(out, "{f}");
        }
    }
}

/// A label value as the format wants it inside double quotes: `\` → `\\`, `"` → `\"`,
/// newline → `\n`.
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `# HELP` text escapes only `\` and newline.
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// One sample line: `name{k="v",...} value`. `extra` is one more label appended last (`le`).
fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(&str, &str)],
    extra: Option<(&str, &str)>,
    value: Value,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        for (i, (k, v)) in labels.iter().chain(extra.iter()).enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_value(out, value);
    out.push('\n');
}

struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    body: String,
}

/// What one scrape writes: metric families in first-use order, each with its samples.
#[derive(Default)]
pub struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    pub fn new() -> Self {
        Exposition::default()
    }

    fn family(&mut self, name: &'static str, help: &'static str, kind: Kind) -> &mut String {
        // A linear scan: a scrape sees a few dozen families.
        let i = match self.families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.families.push(Family {
                    name,
                    help,
                    kind,
                    body: String::new(),
                });
                self.families.len() - 1
            }
        };
        &mut self.families[i].body
    }

    /// One sample of a counter (`name` should end in `_total`).
    pub fn counter(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: impl Into<Value>,
    ) {
        let body = self.family(name, help, Kind::Counter);
        write_sample(body, name, "", labels, None, value.into());
    }

    pub fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: impl Into<Value>,
    ) {
        let body = self.family(name, help, Kind::Gauge);
        write_sample(body, name, "", labels, None, value.into());
    }

    /// One histogram series. `bounds` are the upper bounds as the `le` label spells them (the
    /// `+Inf` bucket is implied); `counts` holds one count per bucket, **not** cumulative, the
    /// last one for `+Inf` (so `counts.len() == bounds.len() + 1`). `_count` is their total.
    pub fn histogram(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        bounds: &[&str],
        counts: &[u64],
        sum: f64,
    ) {
        debug_assert_eq!(bounds.len() + 1, counts.len());
        let body = self.family(name, help, Kind::Histogram);
        let mut cumulative = 0u64;
        for (i, count) in counts.iter().enumerate() {
            cumulative = cumulative.saturating_add(*count);
            let le = bounds.get(i).copied().unwrap_or("+Inf");
            write_sample(
                body,
                name,
                "_bucket",
                labels,
                Some(("le", le)),
                cumulative.into(),
            );
        }
        write_sample(body, name, "_sum", labels, None, sum.into());
        write_sample(body, name, "_count", labels, None, cumulative.into());
    }

    /// The exposition text, families in first-use order.
    pub fn finish(self) -> String {
        let mut out = String::with_capacity(self.families.iter().map(|f| f.body.len() + 96).sum());
        for f in self.families {
            out.push_str("# HELP ");
            out.push_str(f.name);
            out.push(' ');
            escape_help(&mut out, f.help);
            out.push_str("\n# TYPE ");
            out.push_str(f.name);
            out.push(' ');
            out.push_str(f.kind.as_str());
            out.push('\n');
            out.push_str(&f.body);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::new();
        e.gauge(
            "x",
            "help with \\ and\nnewline",
            &[("a", "back\\slash \"quoted\"\nline"), ("b", "plain")],
            1u64,
        );
        assert_eq!(
            e.finish(),
            "# HELP x help with \\\\ and\\nnewline\n# TYPE x gauge\n\
             x{a=\"back\\\\slash \\\"quoted\\\"\\nline\",b=\"plain\"} 1\n"
        );
    }

    #[test]
    fn samples_of_one_family_stay_together_under_one_header() {
        let mut e = Exposition::new();
        e.counter("a_total", "A.", &[("k", "1")], 1u64);
        e.gauge("b", "B.", &[], 2.5);
        e.counter("a_total", "A.", &[("k", "2")], 3u64);
        assert_eq!(
            e.finish(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total{k=\"1\"} 1\na_total{k=\"2\"} 3\n\
             # HELP b B.\n# TYPE b gauge\nb 2.5\n"
        );
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let mut e = Exposition::new();
        e.histogram(
            "h_seconds",
            "H.",
            &[("zone", ".")],
            &["0.00025", "0.0005"],
            &[3, 0, 2],
            1.5,
        );
        assert_eq!(
            e.finish(),
            "# HELP h_seconds H.\n# TYPE h_seconds histogram\n\
             h_seconds_bucket{zone=\".\",le=\"0.00025\"} 3\n\
             h_seconds_bucket{zone=\".\",le=\"0.0005\"} 3\n\
             h_seconds_bucket{zone=\".\",le=\"+Inf\"} 5\n\
             h_seconds_sum{zone=\".\"} 1.5\n\
             h_seconds_count{zone=\".\"} 5\n"
        );
    }

    #[test]
    fn floats_use_prometheus_spellings() {
        let mut out = String::new();
        for v in [
            0.00025,
            16e3,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            0.0,
        ] {
            write_value(&mut out, Value::Float(v));
            out.push(' ');
        }
        assert_eq!(out, "0.00025 16000 +Inf -Inf NaN 0 ");
    }
}
