//! What else a configured sensitive category is called: its names in
//! other languages and its IAB Content Taxonomy 1.0 code, and the other
//! members an event's category can hide in (docs/policy.md "Sensitive
//! categories").
//!
//! An operator who lists `"health"` means the topic, not the English word:
//! `"Gesundheit"`, `"Santé"`, `"健康"` and `"IAB7"` are the same category.
//! The table holds the topics such lists name; a configured category not in
//! it is matched by its own words only.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::canon;
use crate::event::{as_str, kind_of, Event, JsonKind};
use crate::json;

/// A topic (as configured, folded) and its other names. Names in scripts
/// written without spaces (Han, Kana, Hangul, Thai) match anywhere in a
/// category (`健康食品`); the others match as whole words, like the
/// configured ones.
const TRANSLATIONS: &[(&str, &[&str])] = &[
    (
        "health",
        &[
            "healthcare",
            "medical",
            "medicine",
            "gesundheit",
            "santé",
            "salud",
            "saúde",
            "salute",
            "gezondheid",
            "zdrowie",
            "zdraví",
            "sundhed",
            "hälsa",
            "helse",
            "terveys",
            "egészség",
            "sănătate",
            "sağlık",
            "здоровье",
            "здоров'я",
            "υγεία",
            "健康",
            "医療",
            "医疗",
            "醫療",
            "건강",
            "صحة",
            "בריאות",
            "स्वास्थ्य",
            "สุขภาพ",
            "sức khỏe",
            "kesehatan",
            "kalusugan",
            // IAB Content Taxonomy 1.0: Health & Fitness.
            "iab7",
        ],
    ),
    (
        "pharmacy",
        &[
            "drugstore",
            "chemist",
            "pharmacie",
            "apotheke",
            "farmacia",
            "farmácia",
            "apotheek",
            "apteka",
            "lékárna",
            "apotek",
            "gyógyszertár",
            "farmacie",
            "eczane",
            "аптека",
            "φαρμακείο",
            "薬局",
            "药店",
            "药房",
            "藥局",
            "藥房",
            "약국",
            "صيدلية",
            "בית מרקחת",
        ],
    ),
    (
        "religion",
        &[
            "religión",
            "religião",
            "religione",
            "religie",
            "religia",
            "религия",
            "θρησκεία",
            "宗教",
            "종교",
            // IAB Content Taxonomy 1.0: Religion & Spirituality.
            "iab23",
        ],
    ),
    (
        "politics",
        &[
            "politik",
            "politique",
            "política",
            "politica",
            "polityka",
            "politiek",
            "политика",
            "πολιτική",
            "政治",
            "정치",
            // IAB Content Taxonomy 1.0: Law, Gov't & Politics > Politics.
            "iab11-4",
        ],
    ),
];

/// The sensitive categories as the policy matches them: each entry's folded
/// words, indexed by first word so that a category is compared only with
/// the entries that could start at one of its words.
#[derive(Debug, Clone, Default)]
pub struct Sensitive {
    entries: Vec<Vec<String>>,
    /// Every entry's first word, lowercase.
    firsts: HashSet<String>,
    /// The one-word entries in a script written without spaces.
    unspaced: Vec<String>,
}

impl Sensitive {
    pub fn new(entries: Vec<Vec<String>>) -> Sensitive {
        let entries: Vec<Vec<String>> = entries.into_iter().filter(|e| !e.is_empty()).collect();
        Sensitive {
            firsts: entries.iter().map(|e| e[0].to_lowercase()).collect(),
            unspaced: entries
                .iter()
                .filter(|e| e.len() == 1 && unspaced(&e[0]))
                .map(|e| e[0].clone())
                .collect(),
            entries,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Does the text `c` (a [`canon::word_form`]) hold the words of an
    /// entry, given its words; `words` yields the same words each time.
    pub fn matches<'a>(&self, c: &str, words: impl Iterator<Item = &'a str> + Clone) -> bool {
        let mut buf = [0u8; 64];
        let starts = words.clone().any(|w| {
            // A word of a word_form is lowercase unless it is ASCII.
            if w.is_ascii() && w.len() <= buf.len() {
                let b = &mut buf[..w.len()];
                b.copy_from_slice(w.as_bytes());
                b.make_ascii_lowercase();
                std::str::from_utf8(b).is_ok_and(|l| self.firsts.contains(l))
            } else {
                self.firsts.contains(&w.to_lowercase())
            }
        });
        (starts
            && self
                .entries
                .iter()
                .any(|s| super::has_word_run(words.clone(), s)))
            // A name in a script without spaces, inside a longer run of
            // letters (`健康食品`).
            || (!c.is_ascii() && self.unspaced.iter().any(|u| c.contains(u.as_str())))
    }
}

/// The configured categories' folded words, followed by the other names of
/// the topics among them.
pub fn expand(configured: &[String], fold: impl Fn(&str) -> String) -> Sensitive {
    Sensitive::new(expand_words(configured, fold))
}

fn expand_words(configured: &[String], fold: impl Fn(&str) -> String) -> Vec<Vec<String>> {
    let words = |s: &str| -> Vec<String> {
        fold(s)
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut out: Vec<Vec<String>> = configured.iter().map(|c| words(c)).collect();
    for c in configured {
        let folded = fold(c);
        for (_, names) in TRANSLATIONS.iter().filter(|(t, _)| *t == folded) {
            for n in *names {
                let w = words(n);
                if !w.is_empty() && !out.contains(&w) {
                    out.push(w);
                }
            }
        }
    }
    out
}

/// Is `word` in a script written without spaces between words, so that it
/// is matched inside a longer run of letters?
pub fn unspaced(word: &str) -> bool {
    word.chars().all(|c| {
        matches!(c,
            '\u{3040}'..='\u{30ff}'   // Hiragana, Katakana
            | '\u{3400}'..='\u{4dbf}' // CJK extension A
            | '\u{4e00}'..='\u{9fff}' // CJK unified ideographs
            | '\u{f900}'..='\u{faff}' // CJK compatibility ideographs
            | '\u{ac00}'..='\u{d7af}' // Hangul syllables
            | '\u{0e00}'..='\u{0e7f}' // Thai
        )
    }) && !word.is_empty()
}

/// A member that names a category in all but name: `subcategory`,
/// `categories`, `iab_categories`, `topic`, `genre`, `taxonomy`, OpenRTB's
/// `cat`, `sectioncat`, `pagecat`.
fn category_like(key: &str) -> bool {
    const MAX: usize = 48;
    let form: Cow<'_, str> = if key.is_ascii() {
        Cow::Borrowed(key)
    } else {
        canon::word_form(key)
    };
    // Its letters and digits, lowercase, on the stack (no allocation).
    let mut buf = [0u8; MAX];
    let mut n = 0;
    for c in form.chars().filter(|c| c.is_alphanumeric()) {
        if !c.is_ascii() || n == MAX {
            return false;
        }
        buf[n] = c.to_ascii_lowercase() as u8;
        n += 1;
    }
    let name = &buf[..n];
    let has = |w: &[u8]| name.windows(w.len()).any(|x| x == w);
    [&b"categor"[..], b"topic", b"taxonom", b"genre", b"vertical"]
        .iter()
        .any(|w| has(w))
        || name.ends_with(b"cat")
        || name.ends_with(b"cats")
}

/// The strings of `context`'s and `app`'s category-like members other than
/// `context.category` (which the SPEC names): each string value, and each
/// string of an array value.
pub fn other_categories(ev: &Event<'_>, mut each: impl FnMut(&str) -> bool) -> bool {
    // `app` is a top-level object: the event's parse read it already.
    let app = ev.top.get("app").and_then(|raw| ev.nested(raw));
    let blocks = ev
        .context
        .iter()
        .map(|c| (c, true))
        .chain(app.map(|a| (a, false)));
    for (block, is_context) in blocks {
        for (k, v) in &block.members {
            if (is_context && k == "category") || !category_like(k) {
                continue;
            }
            match kind_of(*v) {
                JsonKind::String if as_str(*v).is_some_and(|s| each(&s)) => return true,
                JsonKind::Array => {
                    for item in json::array_items(*v).unwrap_or_default() {
                        if as_str(item).is_some_and(|s| each(&s)) {
                            return true;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_like_names() {
        for k in [
            "subcategory",
            "categories",
            "iab_categories",
            "Topic",
            "genre",
            "cat",
            "sectioncat",
            "pagecat",
            "primaryGenre",
            "ｃａｔｅｇｏｒｉｅｓ",
        ] {
            assert!(category_like(k), "{k}");
        }
        for k in [
            "page_url",
            "location",
            "catalog_id",
            "user_agent",
            "placement",
        ] {
            assert!(!category_like(k), "{k}");
        }
    }

    #[test]
    fn unspaced_scripts() {
        assert!(unspaced("健康"));
        assert!(unspaced("약국"));
        assert!(unspaced("สุขภาพ"));
        assert!(!unspaced("sante"));
        assert!(!unspaced("здоровье"));
        assert!(!unspaced(""));
    }
}
