//! Value contracts on allow-listed fields (docs/policy.md, "Value
//! contracts"): what an allow-listed value may be, not only where it may be.
//!
//! A `fields` entry is a path string (the [`Contract::Default`]) or an inline
//! table `{ path, type, min, max, max_len, values }`. The policy checks each
//! copied value against its entry's contract after the leak guard; a value
//! that breaks it is left out of that partner's copy and counted in
//! `adgate_fields_omitted_total{reason="contract"}`.

use std::fmt;

use crate::event::{self, JsonKind};
use crate::json::Raw;

/// Longest `token` (letters, digits and `._:/-`).
pub const TOKEN_MAX_LEN: usize = 128;
/// `text` without `max_len`.
pub const DEFAULT_TEXT_MAX_LEN: usize = 256;
/// Largest `max_len` a `text` field may declare: longer free text is where
/// personal data hides, and no ad field needs it.
pub const MAX_TEXT_MAX_LEN: usize = 4096;
/// The default contract's integer range: counts, micros amounts and ids up
/// to a billion pass; longer integers (phones, card numbers, account
/// numbers) need an explicit `integer` contract.
pub const DEFAULT_INTEGER_MAX: i64 = 1_000_000_000;

/// What an allow-listed value may be.
#[derive(Debug, Clone, PartialEq)]
pub enum Contract {
    /// The string form: strings are tokens, numbers are integers in
    /// 0..=1e9 or non-integers, booleans pass; arrays and objects are
    /// checked leaf by leaf.
    Default,
    Token,
    Text {
        max_len: usize,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Number {
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    Enum {
        values: Vec<String>,
    },
    /// The whole object; every leaf gets the default contract.
    Object,
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range =
            |f: &mut fmt::Formatter<'_>, min: Option<String>, max: Option<String>| match (min, max)
            {
                (None, None) => Ok(()),
                (a, b) => write!(
                    f,
                    " {}..={}",
                    a.unwrap_or_else(|| "-inf".into()),
                    b.unwrap_or_else(|| "inf".into())
                ),
            };
        match self {
            Contract::Default => f.write_str("default (token / integer 0..=1e9 / boolean)"),
            Contract::Token => f.write_str("token"),
            Contract::Text { max_len } => write!(f, "text (max_len {max_len})"),
            Contract::Integer { min, max } => {
                f.write_str("integer")?;
                range(f, min.map(|v| v.to_string()), max.map(|v| v.to_string()))
            }
            Contract::Number { min, max } => {
                f.write_str("number")?;
                range(f, min.map(|v| v.to_string()), max.map(|v| v.to_string()))
            }
            Contract::Boolean => f.write_str("boolean"),
            Contract::Enum { values } => write!(f, "enum [{}]", values.join(", ")),
            Contract::Object => f.write_str("object (leaves: default)"),
        }
    }
}

/// An allow-list entry: a dotted path and its contract.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub path: String,
    pub contract: Contract,
}

impl fmt::Display for FieldSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.contract {
            Contract::Default => f.write_str(&self.path),
            _ => write!(f, "{} ({})", self.path, self.contract),
        }
    }
}

/// Why a `fields` table was refused: the key (relative to the entry) and
/// the problem and fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub key: &'static str,
    pub problem: String,
    pub fix: String,
}

fn err(key: &'static str, problem: impl Into<String>, fix: impl Into<String>) -> SpecError {
    SpecError {
        key,
        problem: problem.into(),
        fix: fix.into(),
    }
}

const TYPES: &str = "token, text, integer, number, boolean, enum or object";

/// Reads one `fields` entry: a path string or an inline table.
pub fn parse_entry(v: &toml::Value) -> Result<FieldSpec, SpecError> {
    let t = match v {
        toml::Value::String(s) => {
            return Ok(FieldSpec {
                path: s.clone(),
                contract: Contract::Default,
            })
        }
        toml::Value::Table(t) => t,
        _ => {
            return Err(err(
                "",
                "must be a path string or an inline table",
                "write \"ad.campaign_id\" or { path = \"ad.campaign_id\", type = \"token\" }",
            ))
        }
    };
    for k in t.keys() {
        if !matches!(
            k.as_str(),
            "path" | "type" | "min" | "max" | "max_len" | "values"
        ) {
            return Err(err(
                "",
                format!("unknown key \"{k}\""),
                "a fields table takes path, type, min, max, max_len and values",
            ));
        }
    }
    let path = match t.get("path") {
        Some(toml::Value::String(s)) => s.clone(),
        _ => {
            return Err(err(
                "path",
                "is missing or not a string",
                "add path = \"ad.campaign_id\"",
            ))
        }
    };
    let ty = match t.get("type") {
        Some(toml::Value::String(s)) => s.as_str(),
        _ => {
            return Err(err(
                "type",
                "is missing or not a string",
                format!("add type = one of {TYPES}"),
            ))
        }
    };
    let allowed: &[&str] = match ty {
        "integer" | "number" => &["min", "max"],
        "text" => &["max_len"],
        "enum" => &["values"],
        "token" | "boolean" | "object" => &[],
        other => {
            return Err(err(
                "type",
                format!("unknown type \"{other}\""),
                format!("use {TYPES}"),
            ))
        }
    };
    for k in ["min", "max", "max_len", "values"] {
        if t.contains_key(k) && !allowed.contains(&k) {
            return Err(err(
                if k == "min" {
                    "min"
                } else if k == "max" {
                    "max"
                } else if k == "max_len" {
                    "max_len"
                } else {
                    "values"
                },
                format!("does not apply to type \"{ty}\""),
                "remove it (min/max: integer and number; max_len: text; values: enum)",
            ));
        }
    }
    let contract = match ty {
        "token" => Contract::Token,
        "boolean" => Contract::Boolean,
        "object" => Contract::Object,
        "text" => {
            let max_len = match t.get("max_len") {
                None => DEFAULT_TEXT_MAX_LEN,
                Some(toml::Value::Integer(n)) if (1..=MAX_TEXT_MAX_LEN as i64).contains(n) => {
                    *n as usize
                }
                Some(_) => {
                    return Err(err(
                        "max_len",
                        format!("must be an integer between 1 and {MAX_TEXT_MAX_LEN}"),
                        format!("use e.g. max_len = 200 (default {DEFAULT_TEXT_MAX_LEN})"),
                    ))
                }
            };
            Contract::Text { max_len }
        }
        "integer" => {
            let bound = |k: &'static str| -> Result<Option<i64>, SpecError> {
                match t.get(k) {
                    None => Ok(None),
                    Some(toml::Value::Integer(n)) => Ok(Some(*n)),
                    Some(_) => Err(err(k, "must be an integer", format!("write e.g. {k} = 0"))),
                }
            };
            let (min, max) = (bound("min")?, bound("max")?);
            if let (Some(a), Some(b)) = (min, max) {
                if a > b {
                    return Err(err("min", "is greater than max", "swap them"));
                }
            }
            Contract::Integer { min, max }
        }
        "number" => {
            let bound = |k: &'static str| -> Result<Option<f64>, SpecError> {
                match t.get(k) {
                    None => Ok(None),
                    Some(toml::Value::Integer(n)) => Ok(Some(*n as f64)),
                    Some(toml::Value::Float(x)) if x.is_finite() => Ok(Some(*x)),
                    Some(_) => Err(err(k, "must be a number", format!("write e.g. {k} = 0.5"))),
                }
            };
            let (min, max) = (bound("min")?, bound("max")?);
            if let (Some(a), Some(b)) = (min, max) {
                if a > b {
                    return Err(err("min", "is greater than max", "swap them"));
                }
            }
            Contract::Number { min, max }
        }
        _ => {
            let values = match t.get("values") {
                Some(toml::Value::Array(a)) if !a.is_empty() => a,
                _ => {
                    return Err(err(
                        "values",
                        "is missing or empty",
                        "list the allowed strings, e.g. values = [\"USD\", \"EUR\"]",
                    ))
                }
            };
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    toml::Value::String(s) if !s.is_empty() && s.len() <= TOKEN_MAX_LEN => {
                        out.push(s.clone())
                    }
                    _ => {
                        return Err(err(
                            "values",
                            format!("every value must be a string of 1-{TOKEN_MAX_LEN} bytes"),
                            "list strings only",
                        ))
                    }
                }
            }
            Contract::Enum { values: out }
        }
    };
    Ok(FieldSpec { path, contract })
}

/// Is `s` a token: 1-128 ASCII letters, digits and `._:/-`?
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= TOKEN_MAX_LEN
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'/' | b'-'))
}

/// Is the JSON number literal an integer (no fraction, no exponent)?
fn integer_literal(raw: &str) -> Option<i64> {
    let d = raw.strip_prefix('-').unwrap_or(raw);
    if d.is_empty() || !d.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok()
}

impl Contract {
    /// Does a scalar value (string, number, boolean, null) keep this
    /// contract? Arrays and objects are walked by the caller: `None` means
    /// "a container: check its elements with [`Contract::leaf`]".
    pub fn check_scalar(&self, raw: Raw<'_>) -> Option<Result<(), &'static str>> {
        let kind = event::kind_of(raw);
        if matches!(kind, JsonKind::Array | JsonKind::Object) {
            return match self {
                Contract::Default | Contract::Object => None,
                // An array of scalars is checked element by element too.
                _ if kind == JsonKind::Array => None,
                _ => Some(Err("an object where the contract expects a single value")),
            };
        }
        if kind == JsonKind::Null {
            return Some(Ok(()));
        }
        Some(match self {
            Contract::Default | Contract::Object => default_scalar(raw, kind),
            Contract::Token => match event::as_str(raw) {
                Some(s) if is_token(&s) => Ok(()),
                Some(_) => Err("not a token (1-128 characters from letters, digits and ._:/-)"),
                None => Err("not a string"),
            },
            Contract::Text { max_len } => match event::as_str(raw) {
                Some(s) if s.chars().count() <= *max_len => Ok(()),
                Some(_) => Err("longer than max_len"),
                None => Err("not a string"),
            },
            Contract::Integer { min, max } => match integer_literal(raw.get()) {
                Some(v) if min.is_some_and(|m| v < m) => Err("below min"),
                Some(v) if max.is_some_and(|m| v > m) => Err("above max"),
                Some(_) => Ok(()),
                None => Err("not an integer"),
            },
            Contract::Number { min, max } => match event::as_f64(raw) {
                Some(v) if !v.is_finite() => Err("not a finite number"),
                Some(v) if min.is_some_and(|m| v < m) => Err("below min"),
                Some(v) if max.is_some_and(|m| v > m) => Err("above max"),
                Some(_) => Ok(()),
                None => Err("not a number"),
            },
            Contract::Boolean => match kind {
                JsonKind::Bool => Ok(()),
                _ => Err("not a boolean"),
            },
            Contract::Enum { values } => match event::as_str(raw) {
                Some(s) if values.iter().any(|v| *v == s) => Ok(()),
                Some(_) => Err("not one of the enum's values"),
                None => Err("not a string"),
            },
        })
    }

    /// The contract of the elements of an array or the leaves of an object
    /// under this contract.
    pub fn leaf(&self) -> Contract {
        match self {
            Contract::Default | Contract::Object => Contract::Default,
            other => other.clone(),
        }
    }
}

fn default_scalar(raw: Raw<'_>, kind: JsonKind) -> Result<(), &'static str> {
    match kind {
        JsonKind::Bool | JsonKind::Null => Ok(()),
        JsonKind::String => match event::as_str(raw) {
            Some(s) if is_token(&s) => Ok(()),
            _ => Err("not a token (1-128 characters from letters, digits and ._:/-); declare a text contract for free text"),
        },
        JsonKind::Number => {
            let text = raw.get();
            if let Some(v) = integer_literal(text) {
                return if (0..=DEFAULT_INTEGER_MAX).contains(&v) {
                    Ok(())
                } else {
                    Err("an integer outside 0..=1e9; declare an integer contract with min and max")
                };
            }
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() && v.fract() != 0.0 => Ok(()),
                Ok(v) if v.is_finite() && (0.0..=DEFAULT_INTEGER_MAX as f64).contains(&v) => Ok(()),
                _ => Err("an integer-valued number outside 0..=1e9; declare an integer contract with min and max"),
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Raw<'_> {
        Raw::parse(s).unwrap()
    }

    fn spec(s: &str) -> Result<FieldSpec, SpecError> {
        let v: toml::Value = toml::from_str::<toml::Table>(&format!("f = {s}"))
            .unwrap()
            .remove("f")
            .unwrap();
        parse_entry(&v)
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(spec("\"ad.x\"").unwrap().contract, Contract::Default);
        assert_eq!(
            spec("{ path = \"ad.v\", type = \"integer\", min = 0, max = 10 }")
                .unwrap()
                .contract,
            Contract::Integer {
                min: Some(0),
                max: Some(10)
            }
        );
        assert_eq!(
            spec("{ path = \"ad.v\", type = \"colour\" }")
                .unwrap_err()
                .key,
            "type"
        );
        assert_eq!(
            spec("{ path = \"ad.v\", type = \"text\", min = 1 }")
                .unwrap_err()
                .key,
            "min"
        );
        assert_eq!(
            spec("{ path = \"ad.v\", type = \"enum\" }")
                .unwrap_err()
                .key,
            "values"
        );
        assert_eq!(
            spec("{ path = \"ad.v\", type = \"integer\", min = 5, max = 1 }")
                .unwrap_err()
                .key,
            "min"
        );
        assert!(spec("{ path = \"ad.v\", type = \"token\", colour = 1 }").is_err());
        assert!(spec("3").is_err());
    }

    #[test]
    fn checks_values() {
        let ok = |c: &Contract, v: &str| c.check_scalar(raw(v)) == Some(Ok(()));
        let d = Contract::Default;
        assert!(ok(&d, "\"c-77\""));
        assert!(ok(&d, "\"com.example.game\""));
        assert!(!ok(&d, "\"two words\""));
        assert!(ok(&d, "1250"));
        assert!(ok(&d, "12.5"));
        assert!(!ok(&d, "14155550123"));
        assert!(!ok(&d, "-3"));
        assert!(!ok(&d, "4.111111111111111e15"));
        assert!(ok(&d, "true"));
        let t = Contract::Text { max_len: 5 };
        assert!(ok(&t, "\"a b c\""));
        assert!(!ok(&t, "\"a b c d\""));
        let i = Contract::Integer {
            min: Some(0),
            max: Some(100_000_000_000),
        };
        assert!(ok(&i, "12500000000"));
        assert!(!ok(&i, "1.5"));
        assert!(!ok(&i, "4111111111111111.0"));
        let e = Contract::Enum {
            values: vec!["USD".into()],
        };
        assert!(ok(&e, "\"USD\""));
        assert!(!ok(&e, "\"usd\""));
        assert_eq!(Contract::Token.check_scalar(raw("[1]")), None);
    }
}
