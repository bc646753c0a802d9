//! The on-disk record format of the embedded outbox.
//!
//! ```text
//! record  = len:u32le crc:u32le body[len]          crc = CRC-32C-free crc32 of body
//! body    = flags:u8 ingest_ms:u64le event_hash:[16] nsub:u8 subjects:[16*nsub] payload
//! ```
//!
//! `payload` is the scrubbed NDJSON line (no newline). A purged record keeps
//! its length, gets `FLAG_PURGED`, loses its subjects and has its payload
//! overwritten with zeros, so forget erases the content on disk, not just
//! from the reader's view. A record taken back because its request failed
//! for another partner (see `log::Held`) is purged the same way and also
//! gets `FLAG_RETRACTED`: it was never acknowledged, so recovery does not
//! count its event id as seen.

use crate::identity::SubjectHash;

pub const HEADER_LEN: usize = 8;
/// flags + ingest_ms + event_hash + nsub
pub const FIXED_BODY_LEN: usize = 1 + 8 + 16 + 1;
pub const FLAG_PURGED: u8 = 1;
/// With `FLAG_PURGED`: never acknowledged (the request failed elsewhere).
pub const FLAG_RETRACTED: u8 = 2;
/// With `FLAG_PURGED`: bytes that were damaged on disk, found at a restart
/// and replaced by this record (their copy is kept beside the segment, see
/// `log::PartnerLog::open`): nothing of them is delivered or counted.
pub const FLAG_DAMAGED: u8 = 4;
/// Larger bodies are corruption, not data (events are capped far below).
pub const MAX_BODY_LEN: usize = 16 * 1024 * 1024;

/// One record as read back.
#[derive(Debug, Clone)]
pub struct Record {
    /// Global offset of the record's first byte.
    pub offset: u64,
    /// Global offset just past the record: the position to ack.
    pub end: u64,
    pub ingest_ms: u64,
    pub event_hash: SubjectHash,
    pub purged: bool,
    /// Keyed hashes of the event's identifiers (for forget); never delivered.
    pub subjects: crate::policy::Subjects,
    pub payload: bytes::Bytes,
}

/// Appends one encoded record to `out`.
pub fn encode(
    out: &mut Vec<u8>,
    ingest_ms: u64,
    event_hash: &SubjectHash,
    subjects: &[SubjectHash],
    payload: &[u8],
) {
    let body_len = FIXED_BODY_LEN + 16 * subjects.len() + payload.len();
    let start = out.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(0);
    out.extend_from_slice(&ingest_ms.to_le_bytes());
    out.extend_from_slice(event_hash);
    out.push(subjects.len() as u8);
    for s in subjects {
        out.extend_from_slice(s);
    }
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start + HEADER_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Result of decoding at the start of `buf`.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A whole, valid record of `len` bytes (header included).
    Ok { len: usize, body: Body<'a> },
    /// `buf` ends before the record does (maybe more data is coming).
    Incomplete,
    /// Not a valid record: torn write or corruption.
    Corrupt(&'static str),
}

#[derive(Debug)]
pub struct Body<'a> {
    pub flags: u8,
    pub ingest_ms: u64,
    pub event_hash: SubjectHash,
    pub subjects: &'a [u8],
    pub payload: &'a [u8],
}

impl Body<'_> {
    /// Does the record carry one of `who` (a person's subject hashes)?
    pub fn has_subject(&self, who: &[SubjectHash]) -> bool {
        self.subjects
            .chunks_exact(16)
            .any(|c| who.iter().any(|h| c == h))
    }
}

pub fn decode(buf: &[u8]) -> Decoded<'_> {
    if buf.len() < HEADER_LEN {
        return Decoded::Incomplete;
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().unwrap());
    if !(FIXED_BODY_LEN..=MAX_BODY_LEN).contains(&len) {
        return Decoded::Corrupt("record length out of range");
    }
    if buf.len() < HEADER_LEN + len {
        return Decoded::Incomplete;
    }
    let body = &buf[HEADER_LEN..HEADER_LEN + len];
    if crc32fast::hash(body) != crc {
        return Decoded::Corrupt("checksum mismatch");
    }
    let nsub = body[25] as usize;
    if FIXED_BODY_LEN + 16 * nsub > len {
        return Decoded::Corrupt("subject count out of range");
    }
    let mut event_hash = [0u8; 16];
    event_hash.copy_from_slice(&body[9..25]);
    Decoded::Ok {
        len: HEADER_LEN + len,
        body: Body {
            flags: body[0],
            ingest_ms: u64::from_le_bytes(body[1..9].try_into().unwrap()),
            event_hash,
            subjects: &body[FIXED_BODY_LEN..FIXED_BODY_LEN + 16 * nsub],
            payload: &body[FIXED_BODY_LEN + 16 * nsub..],
        },
    }
}

/// The records of `buf`, in order (see [`records`]).
#[derive(Debug)]
pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    problem: Option<&'static str>,
}

/// Reads `buf` as whole records back to back (a JetStream message's
/// payload): yields each record's range in `buf` (header included; its
/// payload is the range's last `body.payload.len()` bytes) and its body;
/// stops at the end, or at the first record that does not decode
/// ([`Records::problem`] says why).
pub fn records(buf: &[u8]) -> Records<'_> {
    Records {
        buf,
        pos: 0,
        problem: None,
    }
}

impl Records<'_> {
    /// Why reading stopped before the end, if it did.
    pub fn problem(&self) -> Option<&'static str> {
        self.problem
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = (std::ops::Range<usize>, Body<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() || self.problem.is_some() {
            return None;
        }
        match decode(&self.buf[self.pos..]) {
            Decoded::Ok { len, body } => {
                let range = self.pos..self.pos + len;
                self.pos = range.end;
                Some((range, body))
            }
            Decoded::Incomplete => {
                self.problem = Some("a record is cut short");
                None
            }
            Decoded::Corrupt(why) => {
                self.problem = Some(why);
                None
            }
        }
    }
}

/// The purged form of a record of `total_len` bytes (header included).
/// Where the next whole record starts in `buf` (bytes that follow damaged
/// ones), or `None` when none does. A candidate must decode with its
/// checksum and be followed by another record that does, or end exactly at
/// the end of `buf`: a chance match inside damaged bytes is then one in
/// 2^64. A record's length field never has a nonzero top byte (records
/// are below [`MAX_BODY_LEN`]) and a payload is JSON text, which holds no
/// zero byte, so most offsets are passed over on one byte.
pub fn resync(buf: &[u8]) -> Option<usize> {
    (0..buf.len().saturating_sub(HEADER_LEN - 1)).find(|&k| {
        if buf[k + 3] != 0 {
            return false;
        }
        let Decoded::Ok { len, .. } = decode(&buf[k..]) else {
            return false;
        };
        k + len == buf.len() || matches!(decode(&buf[k + len..]), Decoded::Ok { .. })
    })
}

pub fn purged(total_len: usize, ingest_ms: u64, event_hash: &SubjectHash) -> Vec<u8> {
    tombstone(total_len, FLAG_PURGED, ingest_ms, event_hash)
}

/// The purged form with `flags` (`FLAG_PURGED`, maybe `FLAG_RETRACTED`).
pub fn tombstone(total_len: usize, flags: u8, ingest_ms: u64, event_hash: &SubjectHash) -> Vec<u8> {
    let body_len = total_len - HEADER_LEN;
    let mut out = Vec::with_capacity(total_len);
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(flags);
    out.extend_from_slice(&ingest_ms.to_le_bytes());
    out.extend_from_slice(event_hash);
    out.push(0);
    out.resize(total_len, 0);
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resync_finds_the_record_after_damage() {
        let mut buf = Vec::new();
        for i in 0..4u8 {
            encode(&mut buf, u64::from(i), &[i; 16], &[[i; 16]], b"{\"a\":1}");
        }
        let one = buf.len() / 4;
        // Damage in the second record's body, then in its length field: the
        // third record is found either way, and only there.
        for at in [one + 20, one + 1] {
            let mut bad = buf.clone();
            bad[at] ^= 0x10;
            assert!(matches!(
                decode(&bad[one..]),
                Decoded::Corrupt(_) | Decoded::Incomplete
            ));
            assert_eq!(
                resync(&bad[one + 1..]).map(|k| one + 1 + k),
                Some(2 * one),
                "{at}"
            );
        }
        // The last record damaged: nothing follows it.
        let mut bad = buf.clone();
        bad[3 * one + 20] ^= 1;
        assert_eq!(resync(&bad[3 * one + 1..]), None);
        assert_eq!(resync(&[]), None);
    }

    #[test]
    fn roundtrip_and_corruption() {
        let mut buf = Vec::new();
        encode(&mut buf, 42, &[1; 16], &[[2; 16], [3; 16]], b"{\"a\":1}");
        let Decoded::Ok { len, body } = decode(&buf) else {
            panic!()
        };
        assert_eq!(len, buf.len());
        assert_eq!(body.payload, b"{\"a\":1}");
        assert!(body.has_subject(&[[3; 16]]) && !body.has_subject(&[[4; 16]]));
        assert!(body.has_subject(&[[4; 16], [3; 16]]));
        assert!(matches!(decode(&buf[..buf.len() - 1]), Decoded::Incomplete));
        let mut bad = buf.clone();
        *bad.last_mut().unwrap() ^= 0xff;
        assert!(matches!(decode(&bad), Decoded::Corrupt(_)));
        let p = purged(buf.len(), 42, &[1; 16]);
        let Decoded::Ok { body, .. } = decode(&p) else {
            panic!()
        };
        assert_eq!(body.flags, FLAG_PURGED);
        assert!(body.payload.iter().all(|&b| b == 0));
    }

    #[test]
    fn records_reads_back_to_back_and_stops_at_damage() {
        let mut buf = Vec::new();
        encode(&mut buf, 1, &[1; 16], &[[7; 16]], b"one");
        let first_end = buf.len();
        encode(&mut buf, 2, &[2; 16], &[], b"two");
        let got: Vec<_> = records(&buf)
            .map(|(r, b)| (r, b.ingest_ms, b.payload.to_vec()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0..first_end, 1, b"one".to_vec()),
                (first_end..buf.len(), 2, b"two".to_vec())
            ]
        );
        let whole = records(&buf);
        assert_eq!(whole.count(), 2);
        // A damaged second record: the first is read, the problem named.
        let mut bad = buf.clone();
        *bad.last_mut().unwrap() ^= 1;
        let mut r = records(&bad);
        assert_eq!(r.by_ref().count(), 1);
        assert_eq!(r.problem(), Some("checksum mismatch"));
        let mut cut = records(&buf[..buf.len() - 1]);
        assert_eq!(cut.by_ref().count(), 1);
        assert_eq!(cut.problem(), Some("a record is cut short"));
        assert_eq!(records(&[]).count(), 0);
    }
}
