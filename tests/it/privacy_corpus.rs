//! The privacy corpora (tests/corpus/, written by tests/corpus/generate.py)
//! run through the real binary twice: `adgate explain` on stdin, and a
//! served gateway whose pull feeds are drained. Partners allow-list a
//! free-text note, a labels array, a nested `ad.meta` object and
//! `app.app_id`; one has only plain string paths.
//!
//! Judged by an oracle written here (never adgate's guard): every copied
//! string is decoded (invisibles, fullwidth and other Unicode digits,
//! percent-encoding to a fixed point, HTML entities, JSON escapes,
//! `(at)`/`[dot]`, then base64 / base32 / hex tokens) and each reading is
//! searched for an email address, a 10+-digit run, digit groups that join
//! into a phone or a Luhn-valid card, the case's planted secrets (as
//! written, lowercased and with separators removed) and any 12+ hex / 16+
//! base64 piece of the unkeyed digests the generator computed with hashlib.
//!
//! - Hostile cases: nothing planted may reach a partner; where the corpus
//!   fixes the outcome (dropped, rejected, field omitted) it must be that.
//! - Benign events: routed to every partner with every allow-listed field
//!   equal to the input; the false-positive rate is printed and must be 0.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::common::*;
use base64::Engine as _;
use serde_json::Value;

const KEY_C: &str = "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=";
const FEED_TOKEN_C: &str = "feed-token-c-0123456789abcdef0123456789abc";

const PARTNERS: &str = r#"
[[partners]]
name = "notes"
event_types = ["ad_impression", "app_install", "ad_click"]
identifiers = ["email", "phone", "account_id", "device_id"]
fields = [
  "ad.campaign_id",
  "ad.placement",
  { path = "ad.creative_note", type = "text", max_len = 200 },
  "ad.labels",
  { path = "ad.meta", type = "object" },
  "app.app_id",
  { path = "ad.currency", type = "enum", values = ["USD", "EUR", "GBP", "JPY"] },
  { path = "ad.value_estimate_micros", type = "integer", min = 0, max = 100000000000 },
  { path = "ad.creative_id", type = "token" },
]
[partners.delivery]
mode = "pull"
token_env = "T_FEED_A"
lease_ms = 60000
[[partners.keys]]
id = "k1"
secret_env = "K_A"

[[partners]]
name = "labels"
event_types = ["ad_impression", "app_install", "ad_click"]
identifiers = ["account_id", "device_id", "email", "phone"]
fields = [
  "ad.labels",
  { path = "ad.meta", type = "object" },
  "app.app_id",
  { path = "ad.creative_note", type = "text", max_len = 200 },
  "ad.campaign_id",
]
[partners.delivery]
mode = "pull"
token_env = "T_FEED_B"
lease_ms = 60000
[[partners.keys]]
id = "k1"
secret_env = "K_B"

[[partners]]
name = "plain"
event_types = ["ad_impression", "app_install", "ad_click"]
identifiers = ["device_id", "email"]
fields = ["ad.campaign_id", "ad.placement", "ad.currency", "app.app_id", "ad.creative_id", "ad.value_estimate_micros"]
[partners.delivery]
mode = "pull"
token_env = "T_FEED_C"
lease_ms = 60000
[[partners.keys]]
id = "k1"
secret_env = "K_C"
"#;

/// (partner, feed token, key, allow-listed paths)
const PARTNER_LIST: [(&str, &str, &str, &[&str]); 3] = [
    (
        "notes",
        FEED_TOKEN_A,
        KEY_A,
        &[
            "ad.campaign_id",
            "ad.placement",
            "ad.creative_note",
            "ad.labels",
            "ad.meta",
            "app.app_id",
            "ad.currency",
            "ad.value_estimate_micros",
            "ad.creative_id",
        ],
    ),
    (
        "labels",
        FEED_TOKEN_B,
        KEY_B,
        &[
            "ad.labels",
            "ad.meta",
            "app.app_id",
            "ad.creative_note",
            "ad.campaign_id",
        ],
    ),
    (
        "plain",
        FEED_TOKEN_C,
        KEY_C,
        &[
            "ad.campaign_id",
            "ad.placement",
            "ad.currency",
            "app.app_id",
            "ad.creative_id",
            "ad.value_estimate_micros",
        ],
    ),
];

/// Slots of the hostile generator that only `notes` and `labels` see.
const NOT_PLAIN_SLOTS: [&str; 6] = ["note", "label", "meta", "deep", "key", "label_key"];

const GATEWAY_FIELDS: [&str; 5] = ["event_type", "time", "ad_id", "ad_id_type", "event_id"];

fn env() -> HashMap<String, String> {
    let mut e = base_env();
    e.insert("T_FEED_C".into(), FEED_TOKEN_C.into());
    e.insert("K_C".into(), KEY_C.into());
    e
}

fn config() -> String {
    format!("{HEAD}{PARTNERS}")
}

// ---------------------------------------------------------------------------
// The corpora.

struct Case {
    id: String,
    class: String,
    event: String,
    must_not_leak: Vec<String>,
    expect: Option<String>,
    omit_key: Option<String>,
    optouts: Vec<Value>,
    person: String,
}

struct Person {
    ids: Vec<String>,
    digests_hex: Vec<String>,
    digests_b64: Vec<String>,
}

fn load(name: &str) -> Value {
    let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn hostile() -> (Vec<Case>, HashMap<String, Person>) {
    let v = load("hostile.json");
    let mut people = HashMap::new();
    for (name, p) in v["people"].as_object().expect("people") {
        let mut ids = Vec::new();
        let mut hex = Vec::new();
        for (k, x) in p.as_object().unwrap() {
            if k == "digests" {
                hex = x
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap().to_string())
                    .collect();
            } else {
                ids.push(x.as_str().unwrap().to_string());
            }
        }
        let b64 = hex
            .iter()
            .flat_map(|h| {
                let bytes = unhex(h).expect("digest hex");
                [
                    base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes),
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
                ]
            })
            .collect();
        people.insert(
            name.clone(),
            Person {
                ids,
                digests_hex: hex,
                digests_b64: b64,
            },
        );
    }
    let strs = |x: &Value| -> Vec<String> {
        x.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let cases = v["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            id: c["id"].as_str().unwrap().into(),
            class: c["class"].as_str().unwrap().into(),
            event: c["event"].as_str().unwrap().into(),
            must_not_leak: strs(&c["must_not_leak"]),
            expect: c["expect"].as_str().map(String::from),
            omit_key: c["omit_key"].as_str().map(String::from),
            optouts: c["optouts"].as_array().cloned().unwrap_or_default(),
            person: c["person"].as_str().unwrap().into(),
        })
        .collect();
    (cases, people)
}

fn benign() -> Vec<(String, String)> {
    load("benign.json")["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["event"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The oracle: decoding.

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Invisible and control characters a reader does not see.
fn invisible(c: char) -> bool {
    matches!(c as u32,
        0x00..=0x1F | 0x7F..=0x9F | 0xAD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5
        | 0x180B..=0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0xE0000..=0xE007F)
}

/// A decimal digit of any script this corpus uses, as ASCII.
fn fold_digit(c: char) -> Option<char> {
    let base = [
        0x30, 0x660, 0x6F0, 0x966, 0x9E6, 0xFF10, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6,
    ];
    let u = c as u32;
    base.iter()
        .find(|&&b| (b..b + 10).contains(&u))
        .map(|&b| char::from(b'0' + (u - b) as u8))
}

/// A small NFKC: fullwidth ASCII, small and fullwidth punctuation, spaces.
fn fold_char(c: char) -> char {
    if let Some(d) = fold_digit(c) {
        return d;
    }
    match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFF01 + 0x21).unwrap(),
        0xFE6B => '@',
        0xFE52 => '.',
        0xFE50 => ',',
        0xFE55 => ':',
        0x2024 => '.',
        0x00A0 | 0x2000..=0x200A | 0x202F | 0x205F | 0x3000 => ' ',
        0x2010..=0x2015 | 0x2212 | 0xFE63 => '-',
        _ => c,
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let v = u8::from_str_radix(&s[i + 1..i + 3], 16).expect("two hex digits");
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn entities(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail[..tail.len().min(12)].find(';');
        let decoded = end.and_then(|e| {
            let name = &tail[1..e];
            let c = if let Some(n) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                u32::from_str_radix(n, 16).ok().and_then(char::from_u32)
            } else if let Some(n) = name.strip_prefix('#') {
                n.parse::<u32>().ok().and_then(char::from_u32)
            } else {
                match name {
                    "commat" => Some('@'),
                    "period" => Some('.'),
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some(' '),
                    "plus" => Some('+'),
                    "colon" => Some(':'),
                    "sol" => Some('/'),
                    "lowbar" => Some('_'),
                    "hyphen" | "dash" => Some('-'),
                    _ => None,
                }
            };
            c.map(|c| (c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn json_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("\\u") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match tail
            .get(2..6)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
        {
            Some(c) => {
                out.push(c);
                rest = &tail[6..];
            }
            None => {
                out.push_str("\\u");
                rest = &tail[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn at_dot_words(s: &str) -> String {
    let mut out = s.to_string();
    for (word, sym) in [("at", "@"), ("dot", ".")] {
        for (o, c) in [("(", ")"), ("[", "]"), ("{", "}")] {
            for pad in [" ", ""] {
                for case in [word.to_string(), word.to_uppercase()] {
                    out = out.replace(&format!("{pad}{o}{case}{c}{pad}"), sym);
                }
            }
        }
    }
    out
}

/// One round of every text decoding; the caller repeats to a fixed point.
fn decode_round(s: &str) -> String {
    let folded: String = s
        .chars()
        .filter(|c| !invisible(*c))
        .map(fold_char)
        .collect();
    let t = json_escapes(&folded);
    let t = entities(&t);
    let t = percent_decode(&t);
    at_dot_words(&t)
}

fn b64_decode(tok: &str) -> Option<Vec<u8>> {
    let t = tok.trim_end_matches('=');
    let engine = if t.contains(['-', '_']) {
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        &base64::engine::general_purpose::STANDARD_NO_PAD
    };
    engine.decode(t).ok()
}

fn b32_decode(tok: &str) -> Option<Vec<u8>> {
    let t = tok.trim_end_matches('=').to_ascii_uppercase();
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u64, 0u32);
    for c in t.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        } as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((acc >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// Every reading of `s`: decoded to a fixed point, then the text hidden in
/// its base64 / base32 / hex tokens, two levels deep.
fn readings(s: &str, depth: usize, out: &mut Vec<String>) {
    let mut cur = s.to_string();
    for _ in 0..8 {
        let next = decode_round(&cur);
        if next == cur {
            break;
        }
        cur = next;
    }
    if !out.contains(&s.to_string()) {
        out.push(s.to_string());
    }
    if !out.contains(&cur) {
        out.push(cur.clone());
    }
    if depth == 0 {
        return;
    }
    for tok in cur.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-".contains(c))) {
        if tok.len() < 8 {
            continue;
        }
        let mut hidden = Vec::new();
        hidden.extend(unhex(tok));
        hidden.extend(b64_decode(tok));
        hidden.extend(b32_decode(tok));
        for bytes in hidden {
            if let Ok(t) = String::from_utf8(bytes) {
                if t.chars().all(|c| !c.is_control() || c.is_whitespace()) {
                    readings(&t, depth - 1, out);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The oracle: detectors.

fn local_char(c: char) -> bool {
    c.is_alphanumeric() || "._%+-'!#$&*=?^`{|}~".contains(c)
}

/// An email address: a local-part character (a closing quote may sit
/// between it and the `@`), then `label.` ... and a TLD of 2+ letters
/// (digits may follow it).
fn has_email(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c != '@' || i == 0 {
            continue;
        }
        let mut j = i;
        if chars[j - 1] == '"' && j >= 2 {
            j -= 1;
        }
        if !local_char(chars[j - 1]) {
            continue;
        }
        let dom: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '.' || **c == '-')
            .collect();
        let labels: Vec<&str> = dom.split('.').collect();
        if labels.len() < 2 || labels[0].is_empty() {
            continue;
        }
        // The TLD is the last label with letters, its letters before any digit.
        let tld_ok = labels[1..]
            .iter()
            .any(|l| l.chars().take_while(|c| c.is_alphabetic()).count() >= 2);
        if tld_ok {
            return true;
        }
    }
    false
}

fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &x)| {
            let v = x as u32;
            if k % 2 == 1 {
                let v = v * 2;
                if v > 9 {
                    v - 9
                } else {
                    v
                }
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn luhn_window(d: &[u8]) -> bool {
    (13..=19.min(d.len())).any(|w| d.windows(w).any(luhn))
}

/// Digit findings: a 10+ digit run; groups joined across separators into
/// 10-15 digits (a phone) or a Luhn-valid 13-19-digit window (a card).
fn digit_findings(s: &str) -> Option<String> {
    // Groups of digits, what follows each, and whether a letter touches
    // it (`20ed` in a UUID is not part of a phone number).
    let mut groups: Vec<(Vec<u8>, String, bool)> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut sep = String::new();
    let mut prev: Option<char> = None;
    let mut glued = false;
    for c in s.chars() {
        if let Some(d) = fold_digit(c) {
            if cur.is_empty() {
                if let Some(g) = groups.last_mut() {
                    g.1 = std::mem::take(&mut sep);
                }
                glued = prev.is_some_and(char::is_alphabetic);
            }
            cur.push(d as u8 - b'0');
        } else {
            if !cur.is_empty() {
                glued |= c.is_alphabetic();
                groups.push((std::mem::take(&mut cur), String::new(), glued));
                sep.clear();
            }
            sep.push(c);
        }
        prev = Some(c);
    }
    if !cur.is_empty() {
        groups.push((cur, String::new(), glued));
    }
    for (g, _, _) in &groups {
        if g.len() >= 10 {
            return Some(format!("a {}-digit run", g.len()));
        }
        if luhn_window(g) && g.len() >= 13 {
            return Some("a card number".into());
        }
    }
    // Joined: consecutive groups whose separators are short punctuation.
    for start in 0..groups.len() {
        if groups[start].2 {
            continue;
        }
        let mut joined: Vec<u8> = Vec::new();
        for (k, (digits, sep, glued)) in groups.iter().enumerate().skip(start) {
            if k > start && *glued {
                break;
            }
            joined.extend(digits);
            if (10..=15).contains(&joined.len()) && k > start {
                return Some(format!("{} digits joined across separators", joined.len()));
            }
            if joined.len() >= 13 && luhn_window(&joined) {
                return Some("a card number joined across separators".into());
            }
            let short = !sep.is_empty()
                && sep.chars().count() <= 3
                && sep.chars().all(|c| " -._,:|/()+".contains(c));
            if !short || joined.len() > 19 {
                break;
            }
        }
    }
    None
}

/// `s` with UUID-shaped tokens (8-4-4-4-12 hex digits with at least one
/// letter) blanked: a creative's id is not a number, whatever digit runs
/// its hex happens to hold.
fn without_uuids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
            .unwrap_or(rest.len());
        let tok = &rest[..end];
        let shape: Vec<usize> = tok.split('-').map(str::len).collect();
        if shape == [8, 4, 4, 4, 12] && tok.bytes().any(|b| b.is_ascii_alphabetic()) {
            out.push_str("uuid");
        } else {
            out.push_str(tok);
        }
        rest = &rest[end..];
        if let Some(c) = rest.chars().next() {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn alnum_lower(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// What one output copy reveals of `needles` / `person`, if anything.
fn findings(data: &[String], needles: &[String], person: Option<&Person>) -> Vec<String> {
    let mut found = Vec::new();
    for s in data {
        let mut views = Vec::new();
        readings(s, 2, &mut views);
        for v in &views {
            let lower = v.to_lowercase();
            let flat = alnum_lower(v);
            if has_email(v) {
                found.push(format!("an email address in {v:?}"));
            }
            if let Some(d) = digit_findings(&without_uuids(v)) {
                found.push(format!("{d} in {v:?}"));
            }
            for n in needles {
                let nl = n.to_lowercase();
                let nf = alnum_lower(n);
                if lower.contains(&nl) || (nf.chars().count() >= 6 && flat.contains(&nf)) {
                    found.push(format!("planted {n:?} in {v:?}"));
                }
            }
            if let Some(p) = person {
                for run in runs(&lower, |c| c.is_ascii_hexdigit(), 12) {
                    if p.digests_hex
                        .iter()
                        .any(|d| d.contains(run) || run.contains(d.as_str()))
                    {
                        found.push(format!("an unkeyed digest (hex {run}) in {v:?}"));
                    }
                }
                for run in runs(v, |c| c.is_ascii_alphanumeric() || "+/_-".contains(c), 16) {
                    if p.digests_b64
                        .iter()
                        .any(|d| d.contains(run) || run.contains(d.as_str()))
                    {
                        found.push(format!("an unkeyed digest (base64 {run}) in {v:?}"));
                    }
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn runs(s: &str, f: impl Fn(char) -> bool, min: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices().chain(std::iter::once((s.len(), ' '))) {
        match (f(c) && i < s.len(), start) {
            (true, None) => start = Some(i),
            (false, Some(st)) => {
                if i - st >= min {
                    out.push(&s[st..i]);
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The data an output copy carries: every key and string below the
/// allow-listed roots, numbers as JSON writes them.
fn copied(out: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.iter().for_each(|(k, x)| {
                out.push(k.clone());
                walk(x, out)
            }),
            _ => {}
        }
    }
    let mut data = Vec::new();
    for (k, v) in out.as_object().expect("output is an object") {
        if !GATEWAY_FIELDS.contains(&k.as_str()) {
            walk(v, &mut data);
        }
    }
    data
}

/// Protected names anywhere in the copy (keys compared folded).
fn protected_keys(v: &Value, out: &mut Vec<String>) {
    const NAMES: [&str; 14] = [
        "user",
        "purchase",
        "search",
        "view",
        "page_url",
        "referrer",
        "ip",
        "user_agent",
        "email",
        "phone",
        "account_id",
        "device_id",
        "birth_date",
        "age",
    ];
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let folded: String = k
                    .chars()
                    .filter(|c| !invisible(*c))
                    .map(fold_char)
                    .collect::<String>()
                    .to_lowercase();
                if NAMES.contains(&folded.as_str()) {
                    out.push(k.clone());
                }
                protected_keys(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| protected_keys(x, out)),
        _ => {}
    }
}

fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |at, seg| at.get(seg))
}

// ---------------------------------------------------------------------------
// Running the corpora.

/// What one partner got for one event.
#[derive(Debug, Clone)]
enum Fate {
    Rejected,
    /// Not received; from explain, the reason and its detail.
    Dropped(String),
    Forwarded(Value),
}

/// Per event, per partner (in PARTNER_LIST order).
type Fates = Vec<[Fate; 3]>;

fn explain_run(events: &[&str]) -> Fates {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("adgate.toml");
    std::fs::write(
        &path,
        config().replace("{DATA}", dir.path().join("data").to_str().unwrap()),
    )
    .unwrap();
    let report = explain_reports(&path, &env(), events.join("\n"), events.len());
    report
        .iter()
        .enumerate()
        .map(|(i, ev)| {
            assert_eq!(ev["index"], i, "report order");
            if ev.get("rejected").is_some() {
                return [Fate::Rejected, Fate::Rejected, Fate::Rejected];
            }
            let parts = ev["partners"].as_array().expect("partners");
            std::array::from_fn(|k| {
                let p = parts
                    .iter()
                    .find(|p| p["partner"] == PARTNER_LIST[k].0)
                    .expect("every partner explained");
                if p["outcome"] == "forwarded" {
                    Fate::Forwarded(p["output"].clone())
                } else {
                    Fate::Dropped(format!(
                        "{}: {}",
                        p["reason"].as_str().unwrap_or(""),
                        p["detail"].as_str().unwrap_or("")
                    ))
                }
            })
        })
        .collect()
}

/// Events per request of [`serve_run`]: small enough that a debug build
/// reading the hostile ones answers well within the client's 30 s.
const SERVE_CHUNK: usize = 50;

/// Posts opt-outs, then the events in NDJSON requests of [`SERVE_CHUNK`],
/// then drains every partner's feed. `ids[i]` is event i's producer
/// event_id.
fn serve_run(g: &Gateway, events: &[&str], ids: &[String]) -> Fates {
    let mut rejected = HashSet::new();
    for (chunk_no, chunk) in events.chunks(SERVE_CHUNK).enumerate() {
        let body = chunk.join("\n");
        let r = g.post_events(&body, "application/x-ndjson");
        assert_eq!(r.status, 202, "{}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        for e in v["errors"].as_array().into_iter().flatten() {
            rejected.insert(chunk_no * SERVE_CHUNK + e["index"].as_u64().unwrap() as usize);
        }
        assert_eq!(
            v["accepted"].as_u64().unwrap() as usize + v["errors"].as_array().map_or(0, Vec::len),
            chunk.len(),
            "{}",
            r.body
        );
    }
    let mut got: Vec<HashMap<String, Value>> = Vec::new();
    for (name, token, _, _) in PARTNER_LIST {
        let mut by_id = HashMap::new();
        for e in drain_feed(g, name, token) {
            let id = e["event_id"].as_str().unwrap().to_string();
            assert!(by_id.insert(id, e).is_none(), "an event served twice");
        }
        got.push(by_id);
    }
    let mut fates: Fates = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        fates.push(std::array::from_fn(|k| {
            if rejected.contains(&i) {
                return Fate::Rejected;
            }
            let pseudo = expected_event_id(PARTNER_LIST[k].2, id);
            match got[k].get(&pseudo) {
                Some(v) => Fate::Forwarded(v.clone()),
                None => Fate::Dropped("not in the feed".into()),
            }
        }));
    }
    let total: usize = got.iter().map(HashMap::len).sum();
    let matched: usize = fates
        .iter()
        .flatten()
        .filter(|f| matches!(f, Fate::Forwarded(_)))
        .count();
    assert_eq!(total, matched, "feed events that match no posted event");
    fates
}

/// Judges the hostile cases; returns the problems, one line each.
fn judge_hostile(
    how: &str,
    cases: &[Case],
    people: &HashMap<String, Person>,
    fates: &Fates,
    optouts_consulted: bool,
) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut leaks = 0;
    for (c, fate) in cases.iter().zip(fates) {
        let person = people.get(&c.person);
        let mut needles = c.must_not_leak.clone();
        if let Some(p) = person {
            needles.extend(p.ids.iter().cloned());
        }
        for (k, f) in fate.iter().enumerate() {
            let Fate::Forwarded(out) = f else { continue };
            let found = findings(&copied(out), &needles, person);
            let mut keys = Vec::new();
            protected_keys(out, &mut keys);
            if !found.is_empty() || !keys.is_empty() {
                leaks += 1;
                problems.push(format!(
                    "{how}: LEAK {} ({}) to {}: {}{} -- output {}",
                    c.id,
                    c.class,
                    PARTNER_LIST[k].0,
                    found.join("; "),
                    if keys.is_empty() {
                        String::new()
                    } else {
                        format!(" protected keys {keys:?}")
                    },
                    out
                ));
            }
        }
        let forwarded = fate
            .iter()
            .filter(|f| matches!(f, Fate::Forwarded(_)))
            .count();
        let rejected = fate.iter().all(|f| matches!(f, Fate::Rejected));
        let bad = match c.expect.as_deref() {
            Some("dropped") if !c.optouts.is_empty() && !optouts_consulted => None,
            Some("dropped") if rejected || forwarded > 0 => Some("dropped at every partner"),
            Some("rejected") if !rejected => Some("rejected at ingest"),
            Some("not_forwarded") if forwarded > 0 => Some("not forwarded"),
            Some("field_omitted") => {
                let key = c.omit_key.as_deref().unwrap();
                let ok = fate.iter().enumerate().all(|(k, f)| match f {
                    Fate::Forwarded(o) => {
                        let meta = &o["ad"]["meta"];
                        let ok_here = meta.get(key).is_none() && meta["variant"] == "b";
                        ok_here || PARTNER_LIST[k].0 == "plain"
                    }
                    // meta is allow-listed by notes and labels: they must get the rest.
                    _ => PARTNER_LIST[k].0 == "plain",
                });
                (!ok).then_some("forwarded to notes and labels with ad.meta minus that member")
            }
            _ => None,
        };
        if let Some(want) = bad {
            problems.push(format!(
                "{how}: {} ({}) should be {want}; got {:?}",
                c.id,
                c.class,
                fate.iter()
                    .map(|f| match f {
                        Fate::Rejected => "rejected".to_string(),
                        Fate::Dropped(why) => format!("dropped ({why})"),
                        Fate::Forwarded(o) => format!("forwarded {o}"),
                    })
                    .collect::<Vec<_>>()
            ));
        }
        // Collateral: a payload outside plain's fields must not stop plain.
        let slot = c.class.rsplit_once('@').map(|(_, s)| s);
        if c.expect.is_none()
            && slot.is_some_and(|s| NOT_PLAIN_SLOTS.contains(&s))
            && !matches!(fate[2], Fate::Forwarded(_))
        {
            problems.push(format!(
                "{how}: {} ({}) not forwarded to plain, whose fields hold nothing of it",
                c.id, c.class
            ));
        }
    }
    (problems, leaks)
}

/// Judges the benign events; returns (problems, events altered or dropped).
fn judge_benign(how: &str, events: &[(String, String)], fates: &Fates) -> (Vec<String>, usize) {
    let mut problems = Vec::new();
    let mut altered = 0;
    for ((id, text), fate) in events.iter().zip(fates) {
        let input: Value = serde_json::from_str(text).unwrap();
        let mut bad = Vec::new();
        for (k, f) in fate.iter().enumerate() {
            let (name, _, _, fields) = PARTNER_LIST[k];
            let Fate::Forwarded(out) = f else {
                bad.push(format!("{name}: {f:?}"));
                continue;
            };
            for path in fields {
                let want = get_path(&input, path);
                let have = get_path(out, path);
                if want != have {
                    bad.push(format!("{name}: {path} is {have:?}, sent {want:?}"));
                }
            }
            let roots: HashSet<&str> = fields
                .iter()
                .map(|f| f.split('.').next().unwrap())
                .collect();
            for k in out.as_object().unwrap().keys() {
                if !GATEWAY_FIELDS.contains(&k.as_str()) && !roots.contains(k.as_str()) {
                    bad.push(format!("{name}: unexpected {k}"));
                }
            }
            // The oracle itself must stay quiet on ordinary data.
            let found = findings(&copied(out), &[], None);
            if !found.is_empty() {
                bad.push(format!(
                    "{name}: oracle finds {found:?} (fix the corpus or the oracle)"
                ));
            }
        }
        if !bad.is_empty() {
            altered += 1;
            problems.push(format!("{how}: benign {id} altered: {}", bad.join("; ")));
        }
    }
    (problems, altered)
}

fn report(
    how: &str,
    cases: &[Case],
    people: &HashMap<String, Person>,
    hostile_fates: &Fates,
    benign_events: &[(String, String)],
    benign_fates: &Fates,
    optouts_consulted: bool,
) -> usize {
    let (mut problems, leaks) = judge_hostile(how, cases, people, hostile_fates, optouts_consulted);
    let (bp, altered) = judge_benign(how, benign_events, benign_fates);
    problems.extend(bp);
    let routed_hostile = hostile_fates
        .iter()
        .flatten()
        .filter(|f| matches!(f, Fate::Forwarded(_)))
        .count();
    let classes: BTreeMap<&str, usize> = cases.iter().fold(BTreeMap::new(), |mut m, c| {
        let cls = c.class.split('@').next().unwrap();
        let cls = cls.split('_').next().unwrap();
        *m.entry(cls).or_default() += 1;
        m
    });
    println!(
        "{how}: {} hostile cases {classes:?}; partner copies forwarded {routed_hostile}; leaks found {leaks}",
        cases.len()
    );
    println!(
        "{how}: benign {} events, {} routed untouched to all {} partners; false-positive rate {}/{} = {:.4}",
        benign_events.len(),
        benign_events.len() - altered,
        PARTNER_LIST.len(),
        altered,
        benign_events.len(),
        altered as f64 / benign_events.len() as f64
    );
    for p in &problems {
        println!("{p}");
    }
    // A policy that drops everything fails here: every benign copy is
    // routed, and hostile payloads outside plain's fields leave it alone.
    let eligible = cases
        .iter()
        .filter(|c| {
            c.expect.is_none()
                && c.class
                    .rsplit_once('@')
                    .is_some_and(|(_, s)| NOT_PLAIN_SLOTS.contains(&s))
        })
        .count();
    assert!(
        eligible >= 100,
        "corpus has {eligible} cases for the collateral check"
    );
    assert!(
        routed_hostile >= eligible,
        "{how}: only {routed_hostile} hostile copies forwarded (at least {eligible} expected)"
    );
    problems.len()
}

#[test]
fn corpora_through_explain_and_a_served_gateway() {
    let (cases, people) = hostile();
    let benign_events = benign();
    assert!(cases.len() >= 300, "{} hostile cases", cases.len());
    assert!(
        benign_events.len() >= 200,
        "{} benign events",
        benign_events.len()
    );
    let hostile_text: Vec<&str> = cases.iter().map(|c| c.event.as_str()).collect();
    let benign_text: Vec<&str> = benign_events.iter().map(|(_, e)| e.as_str()).collect();

    // 1. adgate explain (no opt-out list).
    let mut all: Vec<&str> = hostile_text.clone();
    all.extend(&benign_text);
    let fates = explain_run(&all);
    let (hf, bf) = fates.split_at(cases.len());
    let explain_problems = report(
        "explain",
        &cases,
        &people,
        &hf.to_vec(),
        &benign_events,
        &bf.to_vec(),
        false,
    );

    // 2. A served gateway, opt-outs first.
    let g = Gateway::start(&config(), env());
    for c in &cases {
        for o in &c.optouts {
            let r = g.request(
                "POST",
                "/v1/optouts",
                Some(ADMIN_TOKEN),
                &[("Content-Type", "application/json")],
                o.to_string().as_bytes(),
            );
            assert_eq!(r.status, 200, "{}: {}", c.id, r.body);
        }
    }
    let mut ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
    ids.extend(benign_events.iter().map(|(id, _)| id.clone()));
    let fates = serve_run(&g, &all, &ids);
    let (hf, bf) = fates.split_at(cases.len());
    let serve_problems = report(
        "serve",
        &cases,
        &people,
        &hf.to_vec(),
        &benign_events,
        &bf.to_vec(),
        true,
    );
    // Summed over the partners; each partner's series is pre-created, so
    // none found means a misspelled name or label, not zero.
    let contract: Vec<f64> = g
        .metrics()
        .lines()
        .filter(|l| {
            l.starts_with("adgate_fields_omitted_total{") && l.contains("reason=\"contract\"")
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .collect();
    assert!(
        !contract.is_empty(),
        "no adgate_fields_omitted_total{{reason=\"contract\"}} series in /metrics"
    );
    let omitted: f64 = contract.iter().sum();
    let want = cases
        .iter()
        .filter(|c| c.expect.as_deref() == Some("field_omitted"))
        .count();
    // The gateway's own hygiene (also checked when it drops, but only if
    // nothing above failed): no posted identifier, raw or as an unkeyed
    // digest, in its logs or metrics.
    let text = format!("{}{}", g.logs(), g.metrics());
    let mut dirty = leaks(&text, &g.needles());
    dirty.extend(digest_leaks(&text, &g.posted.lock().unwrap()));
    assert!(dirty.is_empty(), "in adgate's logs or metrics: {dirty:?}");
    assert_eq!(
        (explain_problems, serve_problems),
        (0, 0),
        "problems (leaks, wrong outcomes, benign events altered) in explain and serve; listed above"
    );
    assert!(
        omitted >= want as f64,
        "adgate_fields_omitted_total{{reason=\"contract\"}} = {omitted}, want at least {want}"
    );
}

// ---------------------------------------------------------------------------
// The oracle is tested on its own: it must find what it claims to.

#[test]
fn the_oracle_finds_planted_data_and_ignores_ordinary_text() {
    let found = |s: &str, needles: &[&str]| {
        let n: Vec<String> = needles.iter().map(|x| x.to_string()).collect();
        !findings(&[s.to_string()], &n, None).is_empty()
    };
    for s in [
        "jane%2540example.com",
        "jane&#064;example.com",
        "ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        "jane﹫example.com",
        "jane\"@example.com",
        "jane@x.com2026",
        r#"{"c":"jane\u0040example.com"}"#,
        "amFuZUBleGFtcGxlLmNvbQ==",
        "6a616e65406578616d706c652e636f6d",
        "NJQW4ZKAMV4GC3LQNRSS4Y3PNU======",
        "jane (at) example [dot] com",
        "4111111111111111737",
        "4111 1111 1111 1111 12/28",
        "4111_1111_1111_1111",
        "4111\u{ad}1111\u{ad}1111\u{ad}1111",
        "４１１１１１１１１１１１１１１１",
        "٤١٥٥٥٥٠١٢٣",
        "+14155550123/+14155550124",
        "415|555|0123",
        "14155550123",
        "4111111111111111.0",
    ] {
        assert!(found(s, &[]), "the oracle misses {s:?}");
    }
    assert!(found("ACCT_55812_XQ", &["ACCT-55812-XQ"]));
    assert!(found(
        "Because ORTHOPEDIC  insoles size 44",
        &["orthopedic insoles size 44"]
    ));
    assert!(found(
        "ORTHOPEDIC INSOLES SIZE 44!",
        &["orthopedic insoles size 44"]
    ));
    for s in [
        "Winter sale banner, blue variant B",
        "Ends 2026-12-01",
        "Only 4.99 EUR this week",
        "Up to 40% off selected lines",
        "Weekend deal: Sat & Sun only",
        "com.example.game",
        "3f2b9c1e-8a4d-4e21-9b6a-0d9c3e7f1a22",
        "62ad314f-4d9f-0dec-8909-386710983292",
        "id 7ce1d6d8-5329-5094-20ed-6099c4d25a1d.",
        "cmp:retarget:7",
        "Open 24/7 online",
    ] {
        assert!(!found(s, &[]), "the oracle flags ordinary {s:?}");
    }
    // Digests: a 16-hex prefix and a base64 piece are found.
    let p = Person {
        ids: vec![],
        digests_hex: vec!["0123456789abcdef0123456789abcdef".into()],
        digests_b64: vec!["ASNFZ4mrze8BI0VniavN7w".into()],
    };
    assert!(!findings(&["uid=0123456789ABCDEF;".into()], &[], Some(&p)).is_empty());
    assert!(!findings(&["x ASNFZ4mrze8BI0Vn".into()], &[], Some(&p)).is_empty());
    assert!(findings(&["x 01234x6789abcd".into()], &[], Some(&p)).is_empty());
}
