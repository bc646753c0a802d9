//! The last few consent strings a thread decoded and what they decoded to.
//!
//! Consecutive events of one stream very often carry the same TC and GPP
//! strings (one person's session, one site's defaults), so each thread
//! keeps its last [`SLOTS`] strings of each kind, compared byte for byte
//! (and, for TC strings, with the vendor ids probed): a string seen again
//! costs a comparison instead of a decode. Any change to the text, even
//! one character, is a miss and a fresh decode, so a cached answer is
//! always the one decoding would give. Bounded: [`SLOTS`] entries of at
//! most [`MAX_KEY_BYTES`] each per kind and thread; longer strings (which
//! the decoders refuse anyway) are never kept.

use std::cell::RefCell;

use super::gpp::{Gpp, GppError};
use super::tcf::{Detached, TcString, TcfError};

/// Strings kept per kind and thread.
pub const SLOTS: usize = 4;
/// Longest string kept (the decoders' own input cap).
pub const MAX_KEY_BYTES: usize = 4096;

/// A bounded, exact-match memo: `SLOTS` keys (bytes plus a list of
/// `u16`) and their values, the oldest replaced first.
#[derive(Debug)]
pub struct LastDecoded<V> {
    slots: Vec<Slot<V>>,
    /// The slot the next miss overwrites once all are in use.
    next: usize,
}

#[derive(Debug)]
struct Slot<V> {
    text: Vec<u8>,
    probe: Vec<u16>,
    value: V,
}

impl<V: Copy> LastDecoded<V> {
    pub const fn new() -> LastDecoded<V> {
        LastDecoded {
            slots: Vec::new(),
            next: 0,
        }
    }

    /// The value kept for exactly (`text`, `probe`), or `decode()`'s,
    /// which is then kept in place of the oldest.
    pub fn get_or_decode(&mut self, text: &[u8], probe: &[u16], decode: impl FnOnce() -> V) -> V {
        if let Some(s) = self
            .slots
            .iter()
            .find(|s| s.text == text && s.probe == probe)
        {
            return s.value;
        }
        let value = decode();
        if text.len() > MAX_KEY_BYTES {
            return value;
        }
        if self.slots.len() < SLOTS {
            self.slots.push(Slot {
                text: text.to_vec(),
                probe: probe.to_vec(),
                value,
            });
        } else {
            // Reuses the slot's buffers: no allocation once warm.
            let s = &mut self.slots[self.next];
            s.text.clear();
            s.text.extend_from_slice(text);
            s.probe.clear();
            s.probe.extend_from_slice(probe);
            s.value = value;
            self.next = (self.next + 1) % SLOTS;
        }
        value
    }

    /// Entries kept.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

impl<V: Copy> Default for LastDecoded<V> {
    fn default() -> LastDecoded<V> {
        LastDecoded::new()
    }
}

type TcfValue = Result<(Detached, u64), TcfError>;

thread_local! {
    static TCF: RefCell<LastDecoded<TcfValue>> = const { RefCell::new(LastDecoded::new()) };
    static GPP: RefCell<LastDecoded<Result<Gpp, GppError>>> =
        const { RefCell::new(LastDecoded::new()) };
}

/// [`TcString::decode_probing`] of `s`, through this thread's cache.
pub fn tcf<'a>(s: &'a str, probe: &[u16]) -> Result<(TcString<'a>, u64), TcfError> {
    let decode = || TcString::decode_probing(s, probe).map(|(tc, hits)| (tc.detach(), hits));
    let value = TCF
        .try_with(|c| match c.try_borrow_mut() {
            Ok(mut c) => c.get_or_decode(s.as_bytes(), probe, decode),
            Err(_) => decode(),
        })
        .unwrap_or_else(|_| decode());
    value.map(|(d, hits)| (d.attach(s), hits))
}

/// [`Gpp::decode`] of `s`, through this thread's cache.
pub fn gpp(s: &str) -> Result<Gpp, GppError> {
    let decode = || Gpp::decode(s);
    GPP.try_with(|c| match c.try_borrow_mut() {
        Ok(mut c) => c.get_or_decode(s.as_bytes(), &[], decode),
        Err(_) => decode(),
    })
    .unwrap_or_else(|_| decode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::gpp::{encode_header, UsSection, UsValues};
    use crate::consent::tcf::TcModel;

    #[test]
    fn exact_match_only_and_bounded() {
        let mut c = LastDecoded::<u32>::new();
        let mut decodes = 0;
        let mut get = |c: &mut LastDecoded<u32>, t: &[u8], p: &[u16], v: u32| {
            c.get_or_decode(t, p, || {
                decodes += 1;
                v
            })
        };
        assert_eq!(get(&mut c, b"abc", &[], 1), 1);
        // Same text: the kept value, no decode.
        assert_eq!(get(&mut c, b"abc", &[], 99), 1);
        // One character more, one less, one changed, another probe: misses.
        assert_eq!(get(&mut c, b"abcd", &[], 2), 2);
        assert_eq!(get(&mut c, b"ab", &[], 3), 3);
        assert_eq!(get(&mut c, b"abC", &[], 4), 4);
        assert_eq!(get(&mut c, b"abc", &[755], 5), 5);
        assert_eq!(c.len(), SLOTS);
        // Five distinct keys through four slots: the oldest ("abc") went.
        assert_eq!(get(&mut c, b"abc", &[], 6), 6);
        for i in 0..100u32 {
            get(&mut c, format!("k{i}").as_bytes(), &[], i);
            assert!(c.len() <= SLOTS);
        }
        // Too long to keep: decoded each time, never stored.
        let long = vec![b'A'; MAX_KEY_BYTES + 1];
        let before: Vec<Vec<u8>> = c.slots.iter().map(|s| s.text.clone()).collect();
        assert_eq!(get(&mut c, &long, &[], 7), 7);
        assert_eq!(get(&mut c, &long, &[], 8), 8);
        let after: Vec<Vec<u8>> = c.slots.iter().map(|s| s.text.clone()).collect();
        assert_eq!(before, after);
        assert_eq!(decodes, 6 + 100 + 2);
    }

    fn tc(vendors: Vec<u16>) -> String {
        TcModel {
            consent_language: *b"EN",
            publisher_cc: *b"DE",
            purposes_consent: 0b1101,
            vendor_consents: vendors,
            vendor_consents_as_ranges: true,
            ..TcModel::default()
        }
        .encode()
    }

    #[test]
    fn a_changed_string_is_decoded_again() {
        let probe = [755u16, 10];
        let with = tc(vec![10, 755]);
        let without = tc(vec![10, 756]);
        assert_eq!(with.len(), without.len());
        for _ in 0..3 {
            for (s, hits) in [(&with, 0b11), (&without, 0b10)] {
                let (t, h) = tcf(s, &probe).unwrap();
                assert_eq!(h, hits);
                let (direct, h2) = TcString::decode_probing(s, &probe).unwrap();
                assert_eq!(h, h2);
                assert_eq!(t.vendor_consent(755), direct.vendor_consent(755));
                assert_eq!(TcModel::from_decoded(&t), TcModel::from_decoded(&direct));
            }
        }
        // Another probe list on the same text is its own entry.
        assert_eq!(tcf(&with, &[755]).unwrap().1, 0b1);
        assert_eq!(tcf(&with, &[1, 755]).unwrap().1, 0b10);
        // Errors are kept as errors.
        assert_eq!(tcf("C+", &probe).unwrap_err(), TcfError::NotBase64Url);
        assert_eq!(tcf("C+", &probe).unwrap_err(), TcfError::NotBase64Url);

        let section = |sale| {
            let v = UsValues {
                version: 1,
                sale_opt_out: sale,
                ..UsValues::default()
            };
            format!("{}~{}", encode_header(&[8]), v.encode(UsSection::UsCa))
        };
        let (opted_out, not) = (section(1), section(2));
        for _ in 0..3 {
            for (s, sale) in [(&opted_out, 1), (&not, 2)] {
                let g = gpp(s).unwrap();
                assert_eq!(g.section(UsSection::UsCa).unwrap().sale_opt_out, sale);
                assert_eq!(g, Gpp::decode(s).unwrap());
            }
        }
    }
}
