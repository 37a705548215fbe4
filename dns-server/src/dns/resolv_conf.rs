//! The parts of a resolv.conf rollcall reads: `search` domains (autopath).

/// The `search` (or legacy `domain`) list of a resolv.conf, lower-cased with trailing dots. The
/// last such line wins, as in glibc.
pub fn search_domains(contents: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in contents.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut fields = line.split_whitespace();
        if let Some("search" | "domain") = fields.next() {
            found = fields
                .filter(|d| *d != ".")
                .map(|d| {
                    let mut d = d.to_ascii_lowercase();
                    if !d.ends_with('.') {
                        d.push('.');
                    }
                    d
                })
                .collect();
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_search_line_wins_lower_cased_and_qualified() {
        let text = "domain old.example\nnameserver 10.0.0.1\n# search commented.out\nsearch C.Proj.Internal google.internal. . ; x\n";
        assert_eq!(
            search_domains(text),
            vec!["c.proj.internal.", "google.internal."]
        );
        assert!(search_domains("nameserver 10.0.0.1\n").is_empty());
    }
}
