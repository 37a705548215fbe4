//! "Did you mean …?" for a misspelled directive or property: the closest known name, when it is
//! close enough to be a typo (Damerau–Levenshtein distance ≤ 1 for short names, ≤ 2 otherwise).

/// ` (did you mean "NAME"?)`, or nothing when no known name is close.
pub fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    let scored: Vec<(usize, &str)> = known
        .into_iter()
        .map(|k| (distance(word, k), k))
        .filter(|(d, _)| *d <= limit)
        .collect();
    let Some(best) = scored.iter().map(|(d, _)| *d).min() else {
        return String::new();
    };
    // Equally close names are all offered: "tll" is as near "ttl" as "tls".
    let names: Vec<String> = scored
        .iter()
        .filter(|(d, _)| *d == best)
        .map(|(_, k)| format!("{k:?}"))
        .collect();
    format!(" (did you mean {}?)", names.join(" or "))
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name_within_a_typo() {
        let known = ["forward", "cache", "kubernetes"];
        assert_eq!(
            did_you_mean("forwrd", known),
            " (did you mean \"forward\"?)"
        );
        assert_eq!(
            did_you_mean("kuberentes", known),
            " (did you mean \"kubernetes\"?)"
        );
        assert_eq!(
            did_you_mean("tll", ["tls", "ttl"]),
            " (did you mean \"tls\" or \"ttl\"?)"
        );
        assert_eq!(
            did_you_mean("sucess", ["success", "denial"]),
            " (did you mean \"success\"?)"
        );
        assert_eq!(did_you_mean("frobnicate", known), "");
        assert_eq!(did_you_mean("abc", ["xyz"]), "");
    }
}
