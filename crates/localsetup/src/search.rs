//! Search over the Setup: every field's label and help in every language,
//! its settings key, its page's and area's titles, and its current value.

use crate::{page_of, Draft, Field, FIELDS, TREE};

/// A field the search found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub field: Field,
    /// The page to jump to (area index, page index).
    pub page: (usize, usize),
    /// The text that matched, for the list of hits.
    pub matched: String,
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// The fields whose texts or values contain every word of `query`
/// (case-insensitive), in the tree's order; one hit per field. An empty
/// query finds nothing.
pub fn search(query: &str, draft: &Draft) -> Vec<Hit> {
    let words: Vec<String> = query.split_whitespace().map(fold).collect();
    if words.is_empty() {
        return vec![];
    }
    let mut hits = Vec::new();
    for area in TREE {
        for page in area.pages {
            for &f in page.fields {
                let i = FIELDS.iter().find(|i| i.field == f).expect("described");
                // A password is never searched (nor shown).
                let value = if i.kind == crate::Kind::Secret { String::new() } else { draft.value(f) };
                let texts: Vec<&str> = i
                    .label
                    .iter()
                    .chain(&i.help)
                    .chain(&page.title)
                    .chain(&area.title)
                    .copied()
                    .chain([i.key, value.as_str()])
                    .collect();
                let all = fold(&texts.join("\n"));
                if words.iter().all(|w| all.contains(w.as_str())) {
                    // Show the text with the first word in it: the label
                    // in the language it matched, else the value.
                    let matched = texts
                        .iter()
                        .find(|t| fold(t).contains(words[0].as_str()))
                        .map_or_else(|| i.label[0].to_string(), |t| t.to_string());
                    hits.push(Hit { field: f, page: page_of(f), matched });
                }
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Env;

    #[test]
    fn finds_labels_in_both_languages_keys_and_values() {
        let mut d = Draft::new(devconfig::Settings::default(), Env::default());
        d.set(Field::Repository, "https://cdn.example/quill/").unwrap();
        let fields = |q: &str| search(q, &d).into_iter().map(|h| h.field).collect::<Vec<_>>();
        assert_eq!(fields("tastatur"), [Field::Keyboard]);
        assert_eq!(fields("keyboard"), [Field::Keyboard]);
        assert_eq!(fields("cdn.example"), [Field::Repository]);
        assert_eq!(fields("gateway"), [Field::Gateway]);
        assert_eq!(fields("network.proxy"), [Field::Proxy]);
        assert!(fields("zeit").contains(&Field::Timezone) && fields("zeit").contains(&Field::NtpServers));
        assert_eq!(fields("dns server"), [Field::Dns]);
        assert!(fields("").is_empty() && fields("nothing-like-this").is_empty());
        let h = &search("Zeitzone", &d)[0];
        assert_eq!(h.matched, "Zeitzone");
        assert_eq!(TREE[h.page.0].pages[h.page.1].id, "system/time");
    }
}
