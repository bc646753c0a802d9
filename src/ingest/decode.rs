//! Splitting a request body into events (see docs/http-api.md): a JSON
//! object, a JSON array of objects, or NDJSON. Pure: the served gateway
//! and `adgate explain` read bodies the same way.

use serde_json::value::RawValue;

use crate::event::{Event, Reject};

/// How the body is to be read, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyForm {
    /// application/json (or no content type): an object, an array, or
    /// NDJSON sent under the wrong type.
    Json,
    Ndjson,
}

pub fn body_form(content_type: Option<&str>) -> Option<BodyForm> {
    let Some(ct) = content_type else {
        return Some(BodyForm::Json);
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" | "text/json" | "" => Some(BodyForm::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines" => Some(BodyForm::Ndjson),
        _ => None,
    }
}

/// One event slot of a body: its JSON text, or why it cannot be read.
pub enum Item<'a> {
    Text(&'a str),
    Raw(&'a RawValue),
    Bad(Reject),
}

impl<'a> Item<'a> {
    /// The event of this slot, or why it is rejected (by index in the 202).
    pub fn parse(&self) -> Result<Event<'a>, Reject> {
        match self {
            Item::Text(t) => Event::parse(t),
            Item::Raw(r) => Event::parse(r.get()),
            Item::Bad(rej) => Err(rej.clone()),
        }
    }

    /// Is this slot JSON as JSON's grammar goes, whatever the event rules
    /// say of it (a duplicated key, which the grammar allows; a number, not
    /// an event)? An element of a body that is a JSON array always is.
    pub fn is_json(&self) -> bool {
        match self {
            Item::Text(t) => serde_json::from_str::<&RawValue>(t).is_ok(),
            Item::Raw(_) => true,
            Item::Bad(_) => false,
        }
    }
}

/// Splits a body into events. `Err` is a 400 message: the body cannot be
/// read as JSON, an array or NDJSON at all. NDJSON lines are not parsed
/// here (the event parser reports a bad line by index); [`NOT_JSON`]
/// is the caller's 400 when not one line was JSON.
pub fn split_body(body: &[u8], form: BodyForm) -> Result<Vec<Item<'_>>, &'static str> {
    // A UTF-8 byte order mark before the body is ignored (RFC 8259 §8.1
    // allows it; some Windows tools write one).
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("body is empty");
    }
    if form == BodyForm::Json {
        if let Ok(text) = std::str::from_utf8(body) {
            let t = text.trim_start();
            if t.starts_with('[') {
                if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(text) {
                    return Ok(items.into_iter().map(Item::Raw).collect());
                }
            } else if t.starts_with('{') {
                if serde_json::from_str::<&RawValue>(text).is_ok() {
                    return Ok(vec![Item::Text(text)]);
                }
            } else if serde_json::from_str::<&RawValue>(text).is_ok() {
                return Err("body is JSON but neither an object nor an array of objects");
            }
        }
    }
    // NDJSON: one event per non-blank line. Valid UTF-8 as a whole (the
    // common case) is checked once and split with memchr.
    let mut items = Vec::new();
    if let Ok(text) = std::str::from_utf8(body) {
        // '\n' is ASCII, so every position memchr finds is a char boundary.
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
        for end in ends {
            let line = &text[start..end];
            start = end + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if !line.trim_ascii().is_empty() {
                items.push(Item::Text(line));
            }
        }
        if items.is_empty() {
            return Err(NOT_JSON);
        }
        return Ok(items);
    }
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(s) => items.push(Item::Text(s)),
            Err(_) => items.push(Item::Bad(Reject::invalid_json("line is not UTF-8"))),
        }
    }
    if items.iter().all(|i| matches!(i, Item::Bad(_))) {
        return Err(NOT_JSON);
    }
    Ok(items)
}

/// The 400 message for a body none of whose events was JSON at all (every
/// item rejected as `invalid_json`).
pub const NOT_JSON: &str = "body is not a JSON object, a JSON array of objects, or NDJSON";

#[cfg(test)]
mod tests {
    use super::*;

    fn count(body: &str, form: BodyForm) -> Result<(usize, usize), &'static str> {
        let items = split_body(body.as_bytes(), form)?;
        let bad = items.iter().filter(|i| matches!(i, Item::Bad(_))).count();
        Ok((items.len(), bad))
    }

    #[test]
    fn body_forms() {
        assert_eq!(count(r#"{"a":1}"#, BodyForm::Json), Ok((1, 0)));
        assert_eq!(count(r#"[{"a":1}, 2]"#, BodyForm::Json), Ok((2, 0)));
        assert_eq!(
            count("{\"a\":1}\n{bad\n\n{\"b\":2}\n", BodyForm::Ndjson),
            Ok((3, 0))
        );
        assert_eq!(count("{\"a\":1}\n{\"b\":2}", BodyForm::Json), Ok((2, 0)));
        // A byte order mark first is ignored, in each form.
        assert_eq!(count("\u{feff}{\"a\":1}", BodyForm::Json), Ok((1, 0)));
        assert_eq!(count("\u{feff}[{\"a\":1}]", BodyForm::Json), Ok((1, 0)));
        assert_eq!(
            count("\u{feff}{\"a\":1}\n{\"b\":2}", BodyForm::Ndjson),
            Ok((2, 0))
        );
        // Not JSON at all: split as one NDJSON line; the event parser rejects
        // it and the handler answers 400 since nothing was JSON.
        assert_eq!(count("{not json", BodyForm::Json), Ok((1, 0)));
        assert!(count("\u{ff}\u{fe}", BodyForm::Ndjson).is_ok());
        assert!(count("   ", BodyForm::Ndjson).is_err());
        assert!(count("42", BodyForm::Json).is_err());
        assert_eq!(body_form(Some("text/plain")), None);
        assert_eq!(
            body_form(Some("application/x-ndjson; charset=utf-8")),
            Some(BodyForm::Ndjson)
        );
    }
}
