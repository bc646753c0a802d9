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

/// The configured categories' folded words, followed by the other names of
/// the topics among them.
pub fn expand(configured: &[String], fold: impl Fn(&str) -> String) -> Vec<Vec<String>> {
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
    let form: Cow<'_, str> = if key.is_ascii() {
        Cow::Borrowed(key)
    } else {
        canon::word_form(key)
    };
    let squashed: String = form
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    ["categor", "topic", "taxonom", "genre", "vertical"]
        .iter()
        .any(|w| squashed.contains(w))
        || squashed.ends_with("cat")
        || squashed.ends_with("cats")
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
