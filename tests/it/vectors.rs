//! Known-answer tests for identifier normalization, ad_id and partner event_id
//! derivation (see docs/policy.md).
//!
//! The vectors in `tests/vectors/identity.json` were computed independently of
//! this crate by `tests/vectors/generate.py` (Python standard library
//! hmac/hashlib/base64, every MAC cross-checked with the openssl CLI).
//! Regenerate them with `python3 tests/vectors/generate.py`; never by copying
//! output from the Rust code.
//!
//! Each test collects every mismatch of its group and fails once with the
//! full list (kind, input, what differs, expected, got, and the case's note).

use std::collections::BTreeMap;

use adgate::identity::{normalize, Kind, PartnerKey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    keys: Vec<KeySpec>,
    cases: Vec<Case>,
    event_ids: Vec<EventIdCase>,
}

#[derive(Deserialize)]
struct KeySpec {
    id: String,
    secret_b64: String,
}

#[derive(Deserialize)]
struct Case {
    kind: String,
    input: String,
    /// `None`: the identifier is invalid and must be rejected.
    normalized: Option<String>,
    /// key id -> expected ad_id; `None` exactly when `normalized` is `None`.
    ad_ids: Option<BTreeMap<String, String>>,
    note: String,
}

#[derive(Deserialize)]
struct EventIdCase {
    input: String,
    /// key id -> expected partner-visible event_id.
    ids: BTreeMap<String, String>,
}

fn load() -> Vectors {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/identity.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// The vector keys as (key id, PartnerKey), in file order.
fn keys(v: &Vectors) -> Vec<(String, PartnerKey)> {
    assert!(
        v.keys.len() >= 2,
        "expected at least two keys in the vectors"
    );
    v.keys
        .iter()
        .map(|k| {
            let secret = STANDARD
                .decode(&k.secret_b64)
                .unwrap_or_else(|e| panic!("key {}: secret_b64 is not standard base64: {e}", k.id));
            assert!(
                secret.len() >= 32,
                "key {}: only {} bytes",
                k.id,
                secret.len()
            );
            (k.id.clone(), PartnerKey::new(&k.id, &secret))
        })
        .collect()
}

/// Collects mismatches and panics once with all of them.
struct Mismatches {
    group: &'static str,
    checked: usize,
    list: Vec<String>,
}

impl Mismatches {
    fn new(group: &'static str) -> Self {
        Mismatches {
            group,
            checked: 0,
            list: Vec::new(),
        }
    }

    fn check<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: &str,
        ctx: &str,
        expected: T,
        got: T,
    ) {
        self.checked += 1;
        if expected != got {
            self.list
                .push(format!("{ctx}: {what}: expected {expected:?}, got {got:?}"));
        }
    }

    fn finish(self) {
        if !self.list.is_empty() {
            panic!(
                "{}: {} of {} checks failed:\n  {}",
                self.group,
                self.list.len(),
                self.checked,
                self.list.join("\n  ")
            );
        }
    }
}

/// Checks every case whose kind is in `kinds`; each entry also names the least
/// number of cases of that kind, so a truncated vector file cannot pass silently.
fn check_cases(group: &'static str, kinds: &[(&str, usize)]) {
    let v = load();
    let keys = keys(&v);
    let mut m = Mismatches::new(group);
    for &(kind, min_cases) in kinds {
        let n = v.cases.iter().filter(|c| c.kind == kind).count();
        assert!(
            n >= min_cases,
            "{group}: only {n} {kind} cases in the vector file, expected at least {min_cases}"
        );
    }
    for case in v
        .cases
        .iter()
        .filter(|c| kinds.iter().any(|&(k, _)| k == c.kind))
    {
        let ctx = format!("[{} {:?}] ({})", case.kind, case.input, case.note);
        let Some(kind) = Kind::parse(&case.kind) else {
            m.list
                .push(format!("{ctx}: Kind::parse({:?}) returned None", case.kind));
            continue;
        };
        m.check(
            "vector file: ad_ids present iff valid",
            &ctx,
            case.normalized.is_some(),
            case.ad_ids.is_some(),
        );

        // Normalization (None = invalid, must be rejected).
        let got = normalize(kind, &case.input).map(|c| c.into_owned());
        m.check(
            "normalize",
            &ctx,
            case.normalized.as_deref(),
            got.as_deref(),
        );

        let (Some(normalized), Some(ad_ids)) = (&case.normalized, &case.ad_ids) else {
            continue;
        };
        // The normalized form is a fixed point of normalization.
        let again = normalize(kind, normalized).map(|c| c.into_owned());
        m.check(
            "normalize(normalized)",
            &ctx,
            Some(normalized.as_str()),
            again.as_deref(),
        );

        // ad_id for every key, computed from the expected normalized value so a
        // normalization bug and a MAC bug are reported separately.
        m.check(
            "vector file: ad_ids cover every key",
            &ctx,
            keys.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ad_ids.keys().map(String::as_str).collect::<Vec<_>>(),
        );
        for (id, key) in &keys {
            let expected = ad_ids.get(id).map(String::as_str);
            let got = key.ad_id(kind, normalized);
            m.check(
                &format!("ad_id with key {id}"),
                &ctx,
                expected,
                Some(got.as_str()),
            );
        }
    }
    m.finish();
}

#[test]
fn email_vectors() {
    check_cases("email", &[("email", 30)]);
}

#[test]
fn phone_vectors() {
    check_cases("phone", &[("phone", 15)]);
}

#[test]
fn account_and_device_id_vectors() {
    check_cases(
        "account_id/device_id",
        &[("account_id", 8), ("device_id", 8)],
    );
}

#[test]
fn event_id_vectors() {
    let v = load();
    let keys = keys(&v);
    assert!(
        v.event_ids.len() >= 5,
        "only {} event_id cases",
        v.event_ids.len()
    );
    let mut m = Mismatches::new("event_id");
    for case in &v.event_ids {
        let ctx = format!("[event_id {:?}]", case.input);
        m.check(
            "vector file: ids cover every key",
            &ctx,
            keys.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            case.ids.keys().map(String::as_str).collect::<Vec<_>>(),
        );
        for (id, key) in &keys {
            let expected = case.ids.get(id).map(String::as_str);
            let got = key.event_id(&case.input);
            m.check(
                &format!("event_id with key {id}"),
                &ctx,
                expected,
                Some(got.as_str()),
            );
        }
    }
    m.finish();
}

#[test]
fn every_kind_in_the_vectors_parses() {
    let v = load();
    let mut kinds: Vec<&str> = v.cases.iter().map(|c| c.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds, ["account_id", "device_id", "email", "phone"]);
    for k in kinds {
        assert!(Kind::parse(k).is_some(), "Kind::parse({k:?}) returned None");
    }
}
