//! The subject-access ledger: which partners were delivered events about a
//! subject, how many, when, and under which `ad_id_type` and key id.
//!
//! A row is `(day, subject, partner, ad_id_type, key_id) -> events, first,
//! last`, where `subject` is the internal keyed hash the outbox record
//! already carries for every identifier of the event (so asking with the
//! email finds events a partner got keyed by the account id too). Rows are
//! per UTC day so retention drops whole days and never keeps an old
//! delivery inside a newer total. The day leads the key: a flush writes into
//! today's part of the B-tree only, so its cost grows with a day's traffic,
//! not with the whole retention period, and retention deletes a key range.
//! A subject is looked up with one key lookup per day held. No ad_id is stored: `POST /v1/access`
//! recomputes it from the identifier it is given.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rusqlite::{params, Connection};

use crate::identity::{Kind, SubjectHash};
use crate::policy::Subjects;

use super::{day_of, DAY_MS};

/// A key id as stored inline (key ids are `[A-Za-z0-9_-]{1,16}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId {
    bytes: [u8; 16],
    len: u8,
}

impl KeyId {
    pub fn new(id: &str) -> Option<KeyId> {
        if !crate::config::valid_key_id(id) {
            return None;
        }
        let mut bytes = [0u8; 16];
        bytes[..id.len()].copy_from_slice(id.as_bytes());
        Some(KeyId {
            bytes,
            len: id.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("validated ASCII")
    }
}

/// One acknowledged event, as the ledger needs it: its subjects and how its
/// ad_id was made. Built from the outbox record at delivery time.
#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    pub subjects: Subjects,
    pub ad_id_type: Kind,
    pub key_id: KeyId,
}

impl Delivered {
    /// From an outbox record's subjects and scrubbed line; `None` for a
    /// record without subjects (nothing to answer an access request with).
    pub fn of(subjects: &Subjects, line: &[u8]) -> Option<Delivered> {
        if subjects.as_slice().is_empty() {
            return None;
        }
        let (ad_id_type, key_id) = ad_id_of(line)?;
        Some(Delivered {
            subjects: *subjects,
            ad_id_type,
            key_id,
        })
    }
}

/// The `ad_id_type` and key id of a line the policy wrote. The policy writes
/// `{"event_type":<escaped>,"time":"...","ad_id":"KEY.xxx","ad_id_type":"KIND",...`;
/// a producer's event_type is JSON-escaped, so its quotes are `\"` and the
/// first `,"ad_id":"` is the gateway's own.
///
/// An event a partner API profile encoded (docs/profiles.md) has no ad_id:
/// its first identifier kind and key id come from [`profile_id_of`].
pub fn ad_id_of(line: &[u8]) -> Option<(Kind, KeyId)> {
    adgate_id_of(line).or_else(|| profile_id_of(line))
}

fn adgate_id_of(line: &[u8]) -> Option<(Kind, KeyId)> {
    const AD_ID: &[u8] = b",\"ad_id\":\"";
    const TYPE: &[u8] = b"\",\"ad_id_type\":\"";
    let start = find(line, AD_ID)? + AD_ID.len();
    let rest = &line[start..];
    let end = memchr::memchr(b'"', rest)?;
    // Only the key id before the first dot is text to check; the HMAC
    // after it is not read.
    let dot = memchr::memchr(b'.', &rest[..end])?;
    let key = std::str::from_utf8(&rest[..dot]).ok()?;
    let rest = rest[end..].strip_prefix(TYPE)?;
    let kind_end = memchr::memchr(b'"', rest)?;
    let kind = Kind::parse(std::str::from_utf8(&rest[..kind_end]).ok()?)?;
    Some((kind, KeyId::new(key)?))
}

/// The first identifier kind a partner API profile sent and the key id of
/// the pseudonymized event id, from the encoded event: the key id prefixes
/// `"event_id"` (Meta, TikTok) or `"orderId"` (Google), which the encoders
/// write before any allow-listed field; the kinds are the hashed members of
/// the user block (`user_data`, `userIdentifiers`, `user`), in the order
/// the encoders write them (email, phone, account id). Configured names
/// and producer values are JSON-escaped, so they cannot pose as these keys.
pub fn profile_id_of(line: &[u8]) -> Option<(Kind, KeyId)> {
    let id_at = [&b",\"event_id\":\""[..], b",\"orderId\":\""]
        .iter()
        .find_map(|n| find(line, n).map(|i| i + n.len()))?;
    let rest = &line[id_at..];
    let dot = rest.iter().position(|&b| b == b'.' || b == b'"')?;
    let key = KeyId::new(std::str::from_utf8(&rest[..dot]).ok()?)?;
    let (start, close) = [
        (&b",\"user_data\":{"[..], b'}'),
        (b",\"userIdentifiers\":[", b']'),
        (b",\"user\":{", b'}'),
    ]
    .iter()
    .find_map(|(n, c)| find(line, n).map(|i| (i + n.len(), *c)))?;
    let block = &line[start..];
    let block = &block[..block.iter().position(|&b| b == close)?];
    let has = |names: &[&[u8]]| {
        names
            .iter()
            .any(|n| block.windows(n.len()).any(|w| w == *n))
    };
    let kind = if has(&[b"\"em\":", b"\"hashedEmail\":", b"\"email\":"]) {
        Kind::Email
    } else if has(&[b"\"ph\":", b"\"hashedPhoneNumber\":", b"\"phone\":"]) {
        Kind::Phone
    } else if has(&[b"\"external_id\":"]) {
        Kind::AccountId
    } else {
        return None;
    };
    Some((kind, key))
}

/// First position of `needle` (which starts with a comma) in `hay`: only
/// commas are compared, and the gateway's fields come second and third.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(needle[0], &hay[from..]) {
        let at = from + i;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowKey {
    pub subject: SubjectHash,
    pub partner: Arc<str>,
    pub day: i64,
    pub ad_id_type: Kind,
    pub key_id: KeyId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agg {
    pub events: u64,
    pub first_ms: u64,
    pub last_ms: u64,
}

/// Rows summed in memory before they are written. Hashed with foldhash:
/// a row is summed for every subject of every delivered event (about three
/// per event), and SipHash over its key was the ledger thread's whole cost
/// under load. The keys are keyed hashes and names from the config, so a
/// producer cannot choose collisions.
pub type Rows = HashMap<RowKey, Agg, foldhash::fast::RandomState>;

/// Adds events `partner` acknowledged at `at_ms` to the pending rows: one
/// row per subject of each event.
pub fn aggregate(pending: &mut Rows, partner: &Arc<str>, at_ms: u64, items: &[Delivered]) {
    aggregate_kept(pending, partner, at_ms, items, |_| true);
}

/// [`aggregate`] of the subjects `keep` accepts only.
pub fn aggregate_kept(
    pending: &mut Rows,
    partner: &Arc<str>,
    at_ms: u64,
    items: &[Delivered],
    keep: impl Fn(&SubjectHash) -> bool,
) {
    let day = day_of(at_ms);
    for d in items {
        for s in d.subjects.as_slice().iter().filter(|s| keep(s)) {
            let a = pending
                .entry(RowKey {
                    subject: *s,
                    partner: partner.clone(),
                    day,
                    ad_id_type: d.ad_id_type,
                    key_id: d.key_id,
                })
                .or_insert(Agg {
                    events: 0,
                    first_ms: at_ms,
                    last_ms: at_ms,
                });
            a.events += 1;
            a.first_ms = a.first_ms.min(at_ms);
            a.last_ms = a.last_ms.max(at_ms);
        }
    }
}

/// Writes pending rows in one transaction, adding to rows already there.
pub fn write(conn: &mut Connection, rows: &Rows) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO ledger (subject, partner, day, ad_id_type, key_id, events, first_ms, last_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (day, subject, partner, ad_id_type, key_id) DO UPDATE SET
                 events = events + excluded.events,
                 first_ms = min(first_ms, excluded.first_ms),
                 last_ms = max(last_ms, excluded.last_ms)",
        )?;
        // In primary-key order: the B-tree is walked once, front to back,
        // instead of at random (keyed hashes arrive in random order).
        let mut sorted: Vec<(&RowKey, &Agg)> = rows.iter().collect();
        sorted.sort_unstable_by(|(a, _), (b, _)| {
            (
                a.day,
                &a.subject,
                &*a.partner,
                a.ad_id_type.as_str(),
                a.key_id.as_str(),
            )
                .cmp(&(
                    b.day,
                    &b.subject,
                    &*b.partner,
                    b.ad_id_type.as_str(),
                    b.key_id.as_str(),
                ))
        });
        for (k, a) in sorted {
            st.execute(params![
                &k.subject[..],
                &*k.partner,
                k.day,
                k.ad_id_type.as_str(),
                k.key_id.as_str(),
                a.events as i64,
                a.first_ms as i64,
                a.last_ms as i64,
            ])?;
        }
    }
    tx.commit()
}

/// A subject's deliveries to one partner under one ad_id_type and key id,
/// summed over the days within retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRow {
    pub partner: String,
    pub ad_id_type: String,
    pub key_id: String,
    pub events: u64,
    pub first_ms: u64,
    pub last_ms: u64,
}

/// The first and last day the ledger holds (two O(log n) lookups on the
/// primary key's first column), or `None` when it is empty.
fn day_span(conn: &Connection) -> rusqlite::Result<Option<(i64, i64)>> {
    let min: Option<i64> = conn.query_row("SELECT MIN(day) FROM ledger", [], |r| r.get(0))?;
    let max: Option<i64> = conn.query_row("SELECT MAX(day) FROM ledger", [], |r| r.get(0))?;
    Ok(min.zip(max))
}

/// The subject's rows from `cutoff_day` on, summed per partner, type and
/// key, ordered by them. One primary-key lookup per day held.
pub fn query(
    conn: &Connection,
    subject: &SubjectHash,
    cutoff_day: i64,
) -> rusqlite::Result<Vec<AccessRow>> {
    let Some((min, max)) = day_span(conn)? else {
        return Ok(Vec::new());
    };
    let mut st = conn.prepare_cached(
        "SELECT partner, ad_id_type, key_id, events, first_ms, last_ms
         FROM ledger WHERE day = ?1 AND subject = ?2",
    )?;
    let mut out: BTreeMap<(String, String, String), AccessRow> = BTreeMap::new();
    for day in min.max(cutoff_day)..=max {
        let mut rows = st.query(params![day, &subject[..]])?;
        while let Some(r) = rows.next()? {
            let (partner, ad_id_type, key_id): (String, String, String) =
                (r.get(0)?, r.get(1)?, r.get(2)?);
            let (events, first, last) = (
                r.get::<_, i64>(3)? as u64,
                r.get::<_, i64>(4)? as u64,
                r.get::<_, i64>(5)? as u64,
            );
            let e = out
                .entry((partner.clone(), ad_id_type.clone(), key_id.clone()))
                .or_insert(AccessRow {
                    partner,
                    ad_id_type,
                    key_id,
                    events: 0,
                    first_ms: first,
                    last_ms: last,
                });
            e.events += events;
            e.first_ms = e.first_ms.min(first);
            e.last_ms = e.last_ms.max(last);
        }
    }
    Ok(out.into_values().collect())
}

/// Deletes every row of the subject, on every day held; returns how many.
pub fn erase(conn: &mut Connection, subject: &SubjectHash) -> rusqlite::Result<u64> {
    let Some((min, max)) = day_span(conn)? else {
        return Ok(0);
    };
    let tx = conn.transaction()?;
    let mut n = 0;
    {
        let mut st = tx.prepare_cached("DELETE FROM ledger WHERE day = ?1 AND subject = ?2")?;
        for day in min..=max {
            n += st.execute(params![day, &subject[..]])? as u64;
        }
    }
    tx.commit()?;
    Ok(n)
}

/// The first UTC day a ledger row is kept on, `retention_days` back from the
/// day of `now_ms`: with 90 days, today and the 89 days before it.
pub fn cutoff_day(now_ms: u64, retention_days: u64) -> i64 {
    day_of(now_ms) - retention_days as i64 + 1
}

/// Retention: deletes ledger rows before `ledger_cutoff` and daily counters
/// before `counter_cutoff`. Returns (ledger rows, counter rows) deleted.
pub fn compact(
    conn: &Connection,
    ledger_cutoff: i64,
    counter_cutoff: i64,
) -> rusqlite::Result<(u64, u64)> {
    let rows = conn.execute("DELETE FROM ledger WHERE day < ?1", params![ledger_cutoff])?;
    let counters = conn.execute(
        "DELETE FROM daily_counters WHERE day < ?1",
        params![counter_cutoff],
    )?;
    Ok((rows as u64, counters as u64))
}

/// Start of the UTC day `day`, in ms.
pub fn day_start_ms(day: i64) -> u64 {
    (day.max(0) as u64) * DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subjects(hs: &[SubjectHash]) -> Subjects {
        let mut s = Subjects::default();
        for h in hs {
            s.push(*h);
        }
        s
    }

    #[test]
    fn ad_id_is_read_from_the_gateway_fields_only() {
        let line = br#"{"event_type":"ad_impression","time":"2026-11-28T13:00:00Z","ad_id":"k202611.AbC-_x","ad_id_type":"email","event_id":"k202611.q","ad":{"campaign_id":"c"}}"#;
        let (k, id) = ad_id_of(line).unwrap();
        assert_eq!((k, id.as_str()), (Kind::Email, "k202611"));
        // A producer's event_type is escaped, so it cannot pose as ours.
        let hostile = br#"{"event_type":"x\",\"ad_id\":\"evil.z\",\"ad_id_type\":\"phone","time":"2026-11-28T13:00:00Z","ad_id":"k1.AAA","ad_id_type":"account_id","event_id":"k1.q"}"#;
        let (k, id) = ad_id_of(hostile).unwrap();
        assert_eq!((k, id.as_str()), (Kind::AccountId, "k1"));
        assert!(ad_id_of(b"{\"event_type\":\"a\"}").is_none());
        assert!(ad_id_of(br#"{"x":1,"ad_id":"nodot","ad_id_type":"email"}"#).is_none());
        assert!(Delivered::of(&Subjects::default(), line).is_none());
    }

    #[test]
    fn partner_api_events_name_their_first_identifier_and_key() {
        let h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let meta = format!(
            r#"{{"event_name":"V","event_time":1,"event_id":"m1.q","action_source":"website","user_data":{{"ph":["{h}"],"external_id":["{h}"]}},"custom_data":{{"em":"x"}}}}"#
        );
        let google = format!(
            r#"{{"conversionAction":"customers/1/conversionActions/2","conversionDateTime":"x","orderId":"g1.q","userIdentifiers":[{{"hashedEmail":"{h}"}}],"consent":{{}}}}"#
        );
        let tiktok = format!(
            r#"{{"event":"V","event_time":1,"event_id":"t1.q","user":{{"external_id":"{h}"}},"properties":{{"email_note":"x"}}}}"#
        );
        for (line, kind, key) in [
            (meta, Kind::Phone, "m1"),
            (google, Kind::Email, "g1"),
            (tiktok, Kind::AccountId, "t1"),
        ] {
            let (k, id) = ad_id_of(line.as_bytes()).unwrap_or_else(|| panic!("{line}"));
            assert_eq!((k, id.as_str()), (kind, key), "{line}");
        }
        // A producer value cannot pose as the user block.
        let hostile = br#"{"event":"V","event_time":1,"event_id":"t1.q","properties":{"a":"\",\"user\":{\"email\":1}"}}"#;
        assert!(ad_id_of(hostile).is_none());
    }

    fn mem() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(super::super::SCHEMA).unwrap();
        c
    }

    fn delivered(hs: &[SubjectHash], kind: Kind, key: &str) -> Delivered {
        Delivered {
            subjects: subjects(hs),
            ad_id_type: kind,
            key_id: KeyId::new(key).unwrap(),
        }
    }

    #[test]
    fn aggregate_kept_leaves_out_the_subjects_refused() {
        let p: Arc<str> = Arc::from("acme");
        let (a, b) = ([1u8; 16], [2u8; 16]);
        let mut rows = Rows::default();
        let both = delivered(&[a, b], Kind::Email, "k1");
        aggregate_kept(&mut rows, &p, 20_000 * DAY_MS, &[both, both], |h| *h != b);
        let subjects: Vec<SubjectHash> = rows.keys().map(|k| k.subject).collect();
        assert_eq!(subjects, vec![a]);
        assert_eq!(rows.values().next().unwrap().events, 2);
    }

    #[test]
    fn rows_add_up_across_flushes_and_days() {
        let mut c = mem();
        let p: Arc<str> = Arc::from("acme");
        let (a, b) = ([1u8; 16], [2u8; 16]);
        let day0 = 20_000 * DAY_MS;
        let mut pending = Rows::default();
        aggregate(
            &mut pending,
            &p,
            day0 + 1_000,
            &[delivered(&[a, b], Kind::Email, "k1")],
        );
        aggregate(
            &mut pending,
            &p,
            day0 + 2_000,
            &[delivered(&[a], Kind::Email, "k1")],
        );
        write(&mut c, &pending).unwrap();
        pending.clear();
        aggregate(
            &mut pending,
            &p,
            day0 + DAY_MS + 5,
            &[delivered(&[a], Kind::AccountId, "k2")],
        );
        write(&mut c, &pending).unwrap();
        let rows = query(&c, &a, 0).unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(
            rows[0],
            AccessRow {
                partner: "acme".into(),
                ad_id_type: "account_id".into(),
                key_id: "k2".into(),
                events: 1,
                first_ms: day0 + DAY_MS + 5,
                last_ms: day0 + DAY_MS + 5
            }
        );
        assert_eq!(
            (rows[1].events, rows[1].first_ms, rows[1].last_ms),
            (2, day0 + 1_000, day0 + 2_000)
        );
        assert_eq!(query(&c, &b, 0).unwrap()[0].events, 1);
        // The cutoff hides days before it even before compaction runs.
        assert_eq!(query(&c, &a, day_of(day0) + 1).unwrap().len(), 1);
        assert_eq!(erase(&mut c, &a).unwrap(), 2);
        assert!(query(&c, &a, 0).unwrap().is_empty());
        assert_eq!(query(&c, &b, 0).unwrap().len(), 1);
    }

    #[test]
    fn retention_keeps_exactly_the_last_n_days() {
        let mut c = mem();
        let p: Arc<str> = Arc::from("acme");
        let now = 20_100 * DAY_MS + 3_600_000; // 01:00 UTC
        let s = [7u8; 16];
        let mut pending = Rows::default();
        for back in 0..=5u64 {
            aggregate(
                &mut pending,
                &p,
                now - back * DAY_MS,
                &[delivered(&[s], Kind::Email, "k1")],
            );
        }
        write(&mut c, &pending).unwrap();
        c.execute(
            "INSERT INTO daily_counters (day, metric, labels, value) VALUES (?1, 'm', '', 1), (?2, 'm', '', 1)",
            params![day_of(now) - 10, day_of(now) - 2],
        )
        .unwrap();
        // 3 days: today and the two before it.
        let cut = cutoff_day(now, 3);
        assert_eq!(cut, day_of(now) - 2);
        assert_eq!(compact(&c, cut, day_of(now) - 5).unwrap(), (3, 1));
        let rows = query(&c, &s, 0).unwrap();
        assert_eq!(rows[0].events, 3);
        assert_eq!(rows[0].first_ms, now - 2 * DAY_MS);
        // Idempotent.
        assert_eq!(compact(&c, cut, day_of(now) - 5).unwrap(), (0, 0));
        assert_eq!(cutoff_day(now, 1), day_of(now));
    }
}
