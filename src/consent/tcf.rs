//! IAB TCF v2.2 TC strings: the core segment (the part before the first
//! `.`), decoded without allocating. Purposes are bit masks; vendor consent
//! is looked up in place (one bit of a bit field, or a walk over the range
//! entries), so a string naming vendor 65535 costs nothing more.
//!
//! Layout (IAB "Transparency and Consent String and Global Vendor List
//! Format", v2.2): Version 6, Created 36, LastUpdated 36, CmpId 12,
//! CmpVersion 12, ConsentScreen 6, ConsentLanguage 12, VendorListVersion 12,
//! TcfPolicyVersion 6, IsServiceSpecific 1, UseNonStandardTexts 1,
//! SpecialFeatureOptIns 12, PurposesConsent 24, PurposesLITransparency 24,
//! PurposeOneTreatment 1, PublisherCC 12, then the vendor consent section,
//! the vendor legitimate-interest section and the publisher restrictions.
//! A vendor section is MaxVendorId 16, IsRangeEncoding 1, then a bit field
//! of MaxVendorId bits or NumEntries 12 of (IsARange 1, StartOrOnlyVendorId
//! 16, [EndVendorId 16]). Publisher restrictions: NumPubRestrictions 12 of
//! (PurposeId 6, RestrictionType 2, NumEntries 12, range entries).

use std::fmt;

use super::bits::{is_base64url, strip_padding, BitWriter, Bits, Packed, Truncated};

/// Longest TC string accepted. A core segment naming every vendor in a bit
/// field is under 11 KiB of bits (~1.8 KB of text); real strings with
/// disclosed-vendor segments stay well under this.
pub const MAX_TC_STRING_BYTES: usize = 4096;

/// Bit offset of the vendor consent section (sum of the fixed fields).
const VENDOR_SECTION_OFFSET: usize = 213;

/// Why a TC string could not be decoded. Messages never quote the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcfError {
    Empty,
    TooLong,
    /// A character outside base64url.
    NotBase64Url,
    /// The string ends inside a field.
    Truncated,
    /// Version 1 strings (and anything but 2) have another layout.
    UnsupportedVersion(u8),
    /// A vendor range starts at 0, ends before it starts, or past MaxVendorId.
    BadVendorRange,
    /// A publisher restriction names purpose 0 or a bad vendor range.
    BadRestriction,
}

impl From<Truncated> for TcfError {
    fn from(_: Truncated) -> TcfError {
        TcfError::Truncated
    }
}

impl fmt::Display for TcfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcfError::Empty => f.write_str("the TC string is empty"),
            TcfError::TooLong => write!(
                f,
                "the TC string is longer than {MAX_TC_STRING_BYTES} bytes"
            ),
            TcfError::NotBase64Url => {
                f.write_str("the TC string has a character outside base64url")
            }
            TcfError::Truncated => f.write_str("the TC string's core segment ends inside a field"),
            TcfError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "the TC string is version {v}; only version 2 (TCF v2.x) is read"
                )
            }
            TcfError::BadVendorRange => f.write_str("the TC string has an invalid vendor range"),
            TcfError::BadRestriction => {
                f.write_str("the TC string has an invalid publisher restriction")
            }
        }
    }
}

impl std::error::Error for TcfError {}

/// Where a vendor set's bits are, in the core segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VendorEncoding {
    /// Vendor `v` is the bit at `offset + v - 1`.
    BitField { offset: usize },
    /// `entries` range entries start at `offset`.
    Ranges { offset: usize, entries: u16 },
}

/// A vendor consent or legitimate-interest section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorSet {
    pub max_vendor_id: u16,
    encoding: VendorEncoding,
}

impl VendorSet {
    pub fn is_range_encoded(&self) -> bool {
        matches!(self.encoding, VendorEncoding::Ranges { .. })
    }
}

/// RestrictionType 1: the publisher requires consent for the purpose,
/// the basis adgate requires anyway. Type 0 (not allowed) and type 2
/// (legitimate interest only) take the consent basis away; type 3 is
/// reserved and read as the publisher's refusal.
pub const RESTRICTION_REQUIRE_CONSENT: u8 = 1;

/// Does a restriction of this type take away the consent basis?
pub fn restriction_refuses(kind: u8) -> bool {
    kind != RESTRICTION_REQUIRE_CONSENT
}

/// A decoded core segment, borrowing the text for vendor lookups.
#[derive(Debug, Clone, Copy)]
pub struct TcString<'a> {
    core: &'a [u8],
    pub version: u8,
    /// Deciseconds since the epoch.
    pub created: u64,
    pub last_updated: u64,
    pub cmp_id: u16,
    pub cmp_version: u16,
    pub consent_screen: u8,
    /// Two letters, `A`-`Z`.
    pub consent_language: [u8; 2],
    pub vendor_list_version: u16,
    pub policy_version: u8,
    pub is_service_specific: bool,
    pub use_non_standard_texts: bool,
    /// Bit `n - 1` set: special feature `n` opted in.
    pub special_feature_opt_ins: u16,
    /// Bit `n - 1` set: purpose `n` consented (purposes 1-24).
    pub purposes_consent: u32,
    pub purposes_li: u32,
    pub purpose_one_treatment: bool,
    pub publisher_cc: [u8; 2],
    pub vendor_consents: VendorSet,
    pub vendor_li: VendorSet,
    restrictions_offset: usize,
    pub restriction_count: u16,
}

/// The first 24 purposes as read MSB-first: purpose 1 is the top bit.
fn purposes_mask(msb_first: u64) -> u32 {
    (msb_first as u32).reverse_bits() >> 8
}

fn letters(v: u64) -> [u8; 2] {
    [b'A' + ((v >> 6) & 0x3F) as u8, b'A' + (v & 0x3F) as u8]
}

/// Walks one range entry list, checking it; returns the bit after it.
fn walk_ranges(
    packed: &Packed,
    offset: usize,
    entries: u16,
    max: u16,
    err: TcfError,
) -> Result<usize, TcfError> {
    walk_ranges_probing(packed, offset, entries, max, err, &[], &mut 0)
}

/// [`walk_ranges`] that also sets bit `i` of `hits` when `probe[i]` (the
/// first 64) lies in a range: the lookups of the walk that validation
/// makes anyway, so a probed vendor costs no second walk.
fn walk_ranges_probing(
    packed: &Packed,
    offset: usize,
    entries: u16,
    max: u16,
    err: TcfError,
    probe: &[u16],
    hits: &mut u64,
) -> Result<usize, TcfError> {
    let probe = &probe[..probe.len().min(64)];
    let mut b = packed.at(offset);
    for _ in 0..entries {
        let head = b.read(17)?;
        let start = (head & 0xFFFF) as u16;
        let end = if head >> 16 == 1 {
            b.read(16)? as u16
        } else {
            start
        };
        if start == 0 || end < start || end > max {
            return Err(err);
        }
        for (i, v) in probe.iter().enumerate() {
            if (start..=end).contains(v) {
                *hits |= 1 << i;
            }
        }
    }
    Ok(b.pos())
}

/// Reads a vendor section at `offset`; returns it and the bit after it.
/// `probe` and `hits` as [`walk_ranges_probing`], for range encoding only
/// (a bit field answers a lookup with one bit anyway).
fn vendor_section(
    packed: &Packed,
    offset: usize,
    probe: &[u16],
    hits: &mut u64,
) -> Result<(VendorSet, usize), TcfError> {
    let mut b = packed.at(offset);
    let max_vendor_id = b.read(16)? as u16;
    let encoding = if b.bit()? {
        let entries = b.read(12)? as u16;
        let start = b.pos();
        let end = walk_ranges_probing(
            packed,
            start,
            entries,
            max_vendor_id,
            TcfError::BadVendorRange,
            probe,
            hits,
        )?;
        return Ok((
            VendorSet {
                max_vendor_id,
                encoding: VendorEncoding::Ranges {
                    offset: start,
                    entries,
                },
            },
            end,
        ));
    } else {
        VendorEncoding::BitField { offset: b.pos() }
    };
    b.skip(max_vendor_id as usize)?;
    Ok((
        VendorSet {
            max_vendor_id,
            encoding,
        },
        b.pos(),
    ))
}

impl<'a> TcString<'a> {
    /// Decodes the core segment of `s`. Later segments (disclosed vendors,
    /// publisher TC) are only checked to be base64url.
    pub fn decode(s: &'a str) -> Result<TcString<'a>, TcfError> {
        TcString::decode_probing(s, &[]).map(|(tc, _)| tc)
    }

    /// [`TcString::decode`] that also looks up the vendor consent of
    /// `probe`'s vendors (the first 64) on the way: bit `i` of the returned
    /// mask is `vendor_consent(probe[i])`. The policy probes every vendor
    /// id its partners name, so each partner's check is one bit test.
    pub fn decode_probing(s: &'a str, probe: &[u16]) -> Result<(TcString<'a>, u64), TcfError> {
        if s.len() > MAX_TC_STRING_BYTES {
            return Err(TcfError::TooLong);
        }
        let bytes = s.as_bytes();
        let core_end = memchr::memchr(b'.', bytes).unwrap_or(bytes.len());
        let core = strip_padding(&bytes[..core_end]);
        if core.is_empty() {
            return Err(TcfError::Empty);
        }
        // The core's alphabet is checked while it is unpacked.
        let Some(packed) = Packed::checked(core) else {
            return Err(TcfError::NotBase64Url);
        };
        if core_end < bytes.len()
            && !bytes[core_end + 1..]
                .split(|&c| c == b'.')
                .all(|seg| is_base64url(strip_padding(seg)))
        {
            return Err(TcfError::NotBase64Url);
        }
        let mut b = packed.at(0);
        let version = b.read(6)? as u8;
        if version != 2 {
            return Err(TcfError::UnsupportedVersion(version));
        }
        let created = b.read(36)?;
        let last_updated = b.read(36)?;
        let cmp_id = b.read(12)? as u16;
        let cmp_version = b.read(12)? as u16;
        let consent_screen = b.read(6)? as u8;
        let consent_language = letters(b.read(12)?);
        let vendor_list_version = b.read(12)? as u16;
        let policy_version = b.read(6)? as u8;
        let is_service_specific = b.bit()?;
        let use_non_standard_texts = b.bit()?;
        let special_feature_opt_ins = ((b.read(12)? as u16).reverse_bits()) >> 4;
        let purposes_consent = purposes_mask(b.read(24)?);
        let purposes_li = purposes_mask(b.read(24)?);
        let purpose_one_treatment = b.bit()?;
        let publisher_cc = letters(b.read(12)?);
        debug_assert_eq!(b.pos(), VENDOR_SECTION_OFFSET);

        let mut hits = 0u64;
        let (vendor_consents, next) =
            vendor_section(&packed, VENDOR_SECTION_OFFSET, probe, &mut hits)?;
        let (vendor_li, next) = vendor_section(&packed, next, &[], &mut 0)?;
        // Publisher restrictions: walked so a malformed one is an error and
        // so lookups can trust the layout.
        let mut r = packed.at(next);
        let restriction_count = r.read(12)? as u16;
        let restrictions_offset = r.pos();
        for _ in 0..restriction_count {
            let purpose = r.read(6)?;
            let _kind = r.read(2)?;
            let entries = r.read(12)? as u16;
            if purpose == 0 {
                return Err(TcfError::BadRestriction);
            }
            let end = walk_ranges(
                &packed,
                r.pos(),
                entries,
                u16::MAX,
                TcfError::BadRestriction,
            )?;
            r = packed.at(end);
        }
        let tc = TcString {
            core,
            version,
            created,
            last_updated,
            cmp_id,
            cmp_version,
            consent_screen,
            consent_language,
            vendor_list_version,
            policy_version,
            is_service_specific,
            use_non_standard_texts,
            special_feature_opt_ins,
            purposes_consent,
            purposes_li,
            purpose_one_treatment,
            publisher_cc,
            vendor_consents,
            vendor_li,
            restrictions_offset,
            restriction_count,
        };
        if let VendorEncoding::BitField { .. } = vendor_consents.encoding {
            for (i, &v) in probe.iter().take(64).enumerate() {
                if tc.vendor_consent(v) {
                    hits |= 1 << i;
                }
            }
        }
        Ok((tc, hits))
    }

    /// Purpose `n` (1-24) consented.
    pub fn purpose_consent(&self, n: u8) -> bool {
        (1..=24).contains(&n) && self.purposes_consent & (1 << (n - 1)) != 0
    }

    /// The first purpose of `mask` (bit `n - 1` = purpose `n`) without consent.
    pub fn first_missing_purpose(&self, mask: u32) -> Option<u8> {
        let missing = mask & !self.purposes_consent;
        (missing != 0).then(|| missing.trailing_zeros() as u8 + 1)
    }

    pub fn vendor_consent(&self, vendor: u16) -> bool {
        self.contains(&self.vendor_consents, vendor)
    }

    pub fn vendor_li(&self, vendor: u16) -> bool {
        self.contains(&self.vendor_li, vendor)
    }

    fn contains(&self, set: &VendorSet, vendor: u16) -> bool {
        if vendor == 0 || vendor > set.max_vendor_id {
            return false;
        }
        match set.encoding {
            VendorEncoding::BitField { offset } => {
                Bits::bit_at(self.core, offset + vendor as usize - 1)
            }
            VendorEncoding::Ranges { offset, entries } => {
                in_ranges(self.core, offset, entries, vendor)
            }
        }
    }

    /// The first purpose of `mask` the publisher does not allow on consent
    /// for `vendor`: restriction type 0 (not allowed), 2 (legitimate
    /// interest only) or the reserved 3 ([`restriction_refuses`]).
    pub fn restricted_purpose(&self, mask: u32, vendor: u16) -> Option<u8> {
        if self.restriction_count == 0 {
            return None;
        }
        let mut r = Bits::at(self.core, self.restrictions_offset);
        for _ in 0..self.restriction_count {
            // Layout checked by decode: the reads cannot fail.
            let purpose = r.read(6).unwrap_or(0) as u8;
            let kind = r.read(2).unwrap_or(0) as u8;
            let entries = r.read(12).unwrap_or(0) as u16;
            let wanted = restriction_refuses(kind)
                && (1..=24).contains(&purpose)
                && mask & (1 << (purpose - 1)) != 0;
            // One walk answers the lookup and finds the next restriction.
            let (hit, end) = scan_ranges(self.core, r.pos(), entries, vendor);
            if wanted && hit {
                return Some(purpose);
            }
            r = Bits::at(self.core, end);
        }
        None
    }

    /// This decode without the text it borrows, for a cache keyed by the
    /// exact text (see [`Detached::attach`]).
    pub fn detach(&self) -> Detached {
        Detached {
            tc: TcString {
                core: &[],
                version: self.version,
                created: self.created,
                last_updated: self.last_updated,
                cmp_id: self.cmp_id,
                cmp_version: self.cmp_version,
                consent_screen: self.consent_screen,
                consent_language: self.consent_language,
                vendor_list_version: self.vendor_list_version,
                policy_version: self.policy_version,
                is_service_specific: self.is_service_specific,
                use_non_standard_texts: self.use_non_standard_texts,
                special_feature_opt_ins: self.special_feature_opt_ins,
                purposes_consent: self.purposes_consent,
                purposes_li: self.purposes_li,
                purpose_one_treatment: self.purpose_one_treatment,
                publisher_cc: self.publisher_cc,
                vendor_consents: self.vendor_consents,
                vendor_li: self.vendor_li,
                restrictions_offset: self.restrictions_offset,
                restriction_count: self.restriction_count,
            },
            core_len: self.core.len(),
        }
    }

    /// Vendor ids in a set, in order (tests and explain; allocates).
    pub fn vendors(&self, li: bool) -> Vec<u16> {
        let set = if li {
            &self.vendor_li
        } else {
            &self.vendor_consents
        };
        (1..=set.max_vendor_id)
            .filter(|&v| self.contains(set, v))
            .collect()
    }
}

/// A decoded TC string without its text: the fields and the offsets of
/// its sections, valid for the very text it was decoded from.
#[derive(Debug, Clone, Copy)]
pub struct Detached {
    tc: TcString<'static>,
    core_len: usize,
}

impl Detached {
    /// The decode again, borrowing `s`, which must be byte-for-byte the
    /// text it was decoded from (the consent cache compares the bytes);
    /// other text answers lookups wrongly but never panics.
    pub fn attach<'a>(&self, s: &'a str) -> TcString<'a> {
        TcString {
            core: s.as_bytes().get(..self.core_len).unwrap_or_default(),
            ..self.tc
        }
    }
}

/// Walks `entries` range entries at `offset`: whether `vendor` is in one,
/// and the bit after the last (where a read fails: the walk stops there).
fn scan_ranges(text: &[u8], offset: usize, entries: u16, vendor: u16) -> (bool, usize) {
    let mut b = Bits::at(text, offset);
    let mut hit = false;
    for _ in 0..entries {
        let (Ok(is_range), Ok(start)) = (b.bit(), b.read(16)) else {
            break;
        };
        let end = if is_range {
            match b.read(16) {
                Ok(e) => e,
                Err(_) => break,
            }
        } else {
            start
        };
        hit |= (start..=end).contains(&u64::from(vendor));
    }
    (hit, b.pos())
}

fn in_ranges(text: &[u8], offset: usize, entries: u16, vendor: u16) -> bool {
    let mut b = Bits::at(text, offset);
    for _ in 0..entries {
        let (Ok(is_range), Ok(start)) = (b.bit(), b.read(16)) else {
            return false;
        };
        let end = if is_range {
            b.read(16).unwrap_or(0)
        } else {
            start
        };
        if (start..=end).contains(&u64::from(vendor)) {
            return true;
        }
    }
    false
}

/// An owned TC model for encoding: tests, fuzz seeds, tools.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TcModel {
    pub created: u64,
    pub last_updated: u64,
    pub cmp_id: u16,
    pub cmp_version: u16,
    pub consent_screen: u8,
    pub consent_language: [u8; 2],
    pub vendor_list_version: u16,
    pub policy_version: u8,
    pub is_service_specific: bool,
    pub use_non_standard_texts: bool,
    pub special_feature_opt_ins: u16,
    pub purposes_consent: u32,
    pub purposes_li: u32,
    pub purpose_one_treatment: bool,
    pub publisher_cc: [u8; 2],
    /// Sorted, distinct, non-zero.
    pub vendor_consents: Vec<u16>,
    pub vendor_consents_as_ranges: bool,
    pub vendor_li: Vec<u16>,
    pub vendor_li_as_ranges: bool,
    /// (purpose, restriction type, sorted distinct vendors)
    pub restrictions: Vec<(u8, u8, Vec<u16>)>,
}

fn write_ranges(w: &mut BitWriter, vendors: &[u16]) {
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for &v in vendors {
        match runs.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(v) => *end = v,
            _ => runs.push((v, v)),
        }
    }
    w.write(12, runs.len() as u64);
    for (s, e) in runs {
        w.bit(s != e);
        w.write(16, u64::from(s));
        if s != e {
            w.write(16, u64::from(e));
        }
    }
}

fn write_vendors(w: &mut BitWriter, vendors: &[u16], as_ranges: bool) {
    let max = vendors.last().copied().unwrap_or(0);
    w.write(16, u64::from(max));
    w.bit(as_ranges);
    if as_ranges {
        write_ranges(w, vendors);
    } else {
        for v in 1..=max {
            w.bit(vendors.binary_search(&v).is_ok());
        }
    }
}

impl TcModel {
    /// The TC string (core segment only) for this model.
    pub fn encode(&self) -> String {
        let mut w = BitWriter::new();
        w.write(6, 2);
        w.write(36, self.created);
        w.write(36, self.last_updated);
        w.write(12, u64::from(self.cmp_id));
        w.write(12, u64::from(self.cmp_version));
        w.write(6, u64::from(self.consent_screen));
        let lang = |l: [u8; 2]| (u64::from(l[0] - b'A') << 6) | u64::from(l[1] - b'A');
        w.write(12, lang(self.consent_language));
        w.write(12, u64::from(self.vendor_list_version));
        w.write(6, u64::from(self.policy_version));
        w.bit(self.is_service_specific);
        w.bit(self.use_non_standard_texts);
        w.write(
            12,
            u64::from(self.special_feature_opt_ins.reverse_bits() >> 4),
        );
        w.write(24, u64::from(self.purposes_consent.reverse_bits() >> 8));
        w.write(24, u64::from(self.purposes_li.reverse_bits() >> 8));
        w.bit(self.purpose_one_treatment);
        w.write(12, lang(self.publisher_cc));
        write_vendors(
            &mut w,
            &self.vendor_consents,
            self.vendor_consents_as_ranges,
        );
        write_vendors(&mut w, &self.vendor_li, self.vendor_li_as_ranges);
        w.write(12, self.restrictions.len() as u64);
        for (purpose, kind, vendors) in &self.restrictions {
            w.write(6, u64::from(*purpose));
            w.write(2, u64::from(*kind));
            write_ranges(&mut w, vendors);
        }
        w.finish()
    }

    /// The model a decoded string describes (inverse of [`TcModel::encode`]).
    pub fn from_decoded(t: &TcString<'_>) -> TcModel {
        let mut restrictions = Vec::new();
        let mut r = Bits::at(t.core, t.restrictions_offset);
        for _ in 0..t.restriction_count {
            let purpose = r.read(6).unwrap_or(0) as u8;
            let kind = r.read(2).unwrap_or(0) as u8;
            let entries = r.read(12).unwrap_or(0) as u16;
            let mut vendors = Vec::new();
            for _ in 0..entries {
                let is_range = r.bit().unwrap_or(false);
                let s = r.read(16).unwrap_or(0) as u16;
                let e = if is_range {
                    r.read(16).unwrap_or(0) as u16
                } else {
                    s
                };
                vendors.extend(s..=e);
            }
            restrictions.push((purpose, kind, vendors));
        }
        TcModel {
            created: t.created,
            last_updated: t.last_updated,
            cmp_id: t.cmp_id,
            cmp_version: t.cmp_version,
            consent_screen: t.consent_screen,
            consent_language: t.consent_language,
            vendor_list_version: t.vendor_list_version,
            policy_version: t.policy_version,
            is_service_specific: t.is_service_specific,
            use_non_standard_texts: t.use_non_standard_texts,
            special_feature_opt_ins: t.special_feature_opt_ins,
            purposes_consent: t.purposes_consent,
            purposes_li: t.purposes_li,
            purpose_one_treatment: t.purpose_one_treatment,
            publisher_cc: t.publisher_cc,
            vendor_consents: t.vendors(false),
            vendor_consents_as_ranges: t.vendor_consents.is_range_encoded(),
            vendor_li: t.vendors(true),
            vendor_li_as_ranges: t.vendor_li.is_range_encoded(),
            restrictions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The vendors probed during decoding get the answer a lookup in the
        /// decoded string gives, for range and bit-field encodings.
        #[test]
        fn probing_agrees_with_lookups(
            vendors in proptest::collection::btree_set(1u16..1200, 0..200),
            probe in proptest::collection::vec(0u16..1300, 0..70),
            ranges: bool,
        ) {
            let s = TcModel {
                consent_language: *b"EN",
                publisher_cc: *b"DE",
                purposes_consent: 0b1111,
                vendor_consents: vendors.into_iter().collect(),
                vendor_consents_as_ranges: ranges,
                ..TcModel::default()
            }
            .encode();
            let (tc, hits) = TcString::decode_probing(&s, &probe).unwrap();
            for (i, &v) in probe.iter().take(64).enumerate() {
                prop_assert_eq!(hits & (1 << i) != 0, tc.vendor_consent(v), "vendor {}", v);
            }
        }
    }

    // Strings from IAB's reference implementation's tests,
    // github.com/InteractiveAdvertisingBureau/iabtcf-es,
    // modules/core/test/ReportedIssues.test.ts and
    // modules/cmpapi/test/ReportedIssues.test.ts.

    /// Issue 162: a publisher restriction (purpose 1, type 1) on vendors
    /// 7, 20, 71, 122, 140, 183; bit-field vendor sections.
    const IAB_162: &str = "CO4VGswO4VGswAfZCBDEAzCsAP_AAH_AAAigGUNf_X9fb2vj-_599_t0eY1f9_63t-wzjheMs-8NyZ-X_J4Wv2MyvB34JqQKGRgkunLBAQdtHGncTQgBwIlViTLMY02MjzNKJrJEilsbe2dYGH9vn8XT_ZKZ70-_v__7v3___33_5Ayhr_6_r7e18f3_Pvv9ujzGr_v_W9v2GccLxln3huTPy_5PC1-xmV4O_BNSBQyMEl05YICDto407iaEAOBEqsSZZjGmxkeZpRNZIkUtjb2zrAw_t8_i6f7JTPen39___d-___--__ICgKAOAAcAA4AFAAjgB6AEYALcGACAW0AtoJAHAAOAAcACgARwA9ACMAFuFABALaAW0GgDgAHAAOABQAI4AegBGAC3DgAgFtALaEQBwADgAHAAoAEcAPQAjABbiQAQC2gFtCoA4ABwADgAUACOAHoARgAtxYAIBbQC2hkAcAA4ABwAKABHAD0AIwAW40AEAtoBbQ6AOAAcAA4AFAAjgB6AEYALceACAW0AtohAHAAOAAcACgARwA9ACMAFuRABALaAW0SgDgAHAAOABQAI4AegBGAC3JgAgFtALaKQBwADgAHAAoAEcAPQAjABblQAQC2gFtA";
    /// Issue 142: iabtcf-es rejects it for its disclosed-vendors segment
    /// (`.IFukWSQh`, a bit field shorter than its MaxVendorId), which is
    /// skipped here; the core segment is sound.
    const IAB_142: &str = "CLSYjTaOngnCIAOABBENAXCMAGOAABBAAA7IA5n-m7fP6_3fbqVv6E__PoA5Aqff3aJx8tv_1967rfnQEQoAIAAQCrwkAEABAcACABIMACAAuApEVABABUSABgBCAVSAtIoACACIArYQAHACgAFgAVwBJgDcAI7AWgMAAgBiKgAgBMgFfKQAQBRkQAQA4AFiBAAoA-AEVAJlAVgAtYcACAJcAr4eABAK8OgBgFzAOmAqwgABAWyA.IFukWSQh";
    /// Issue 156: a TCF v1 string.
    const IAB_156_V1: &str = "BOhwdphOxFC7tAHABBFRC--AAAAuhr_7__7-_9_-_f__9uj3Or_v_f__32ccL59v_h_7v-_7fi_20nV4u_1vft9yfk1-5ctDztp507iakivXmqdeb9v_nz3_5pxP78k89r7337Ew_v8_v-b7BCON_YxEiA";
    /// cmpapi issue 220: no purposes, no vendors, a publisher TC segment.
    const IAB_220: &str = "CO5dPi4O5dPx2B7DvCENA2CgAAAAAAAAAAAAGewAAM8gAAAA.YAAAAAAAAAAA";

    #[test]
    fn iab_issue_162_publisher_restrictions() {
        let t = TcString::decode(IAB_162).unwrap();
        assert_eq!(t.version, 2);
        assert!(!t.vendor_consents.is_range_encoded());
        assert_eq!(
            t.restriction_count as usize,
            TcModel::from_decoded(&t).restrictions.len()
        );
        let m = TcModel::from_decoded(&t);
        let (_, _, vendors) = m
            .restrictions
            .iter()
            .find(|(p, k, _)| *p == 1 && *k == 1)
            .expect("purpose 1 type 1 restriction");
        for v in [7u16, 20, 71, 122, 140, 183] {
            assert!(vendors.contains(&v), "{v}");
        }
        // Type 1 (require consent) is not a flat refusal.
        assert_eq!(t.restricted_purpose(1, 7), None);
        // Re-encoding what was decoded gives the same core segment.
        let again = TcModel::from_decoded(&TcString::decode(&m.encode()).unwrap());
        assert_eq!(again, m);
    }

    #[test]
    fn iab_rejected_strings() {
        let t = TcString::decode(IAB_142).unwrap();
        assert_eq!((t.version, t.cmp_id, t.consent_language), (2, 14, *b"EN"));
        assert_eq!(t.vendor_consents.max_vendor_id, 115);
        assert_eq!(
            TcString::decode(IAB_156_V1).unwrap_err(),
            TcfError::UnsupportedVersion(1)
        );
    }

    #[test]
    fn iab_issue_220_empty_consent() {
        let t = TcString::decode(IAB_220).unwrap();
        assert_eq!(t.purposes_consent, 0);
        assert_eq!(t.first_missing_purpose(0b1101), Some(1));
        assert_eq!(t.vendors(false), Vec::<u16>::new());
        assert!(!t.vendor_consent(755));
    }

    #[test]
    fn hand_built_string() {
        let m = TcModel {
            cmp_id: 7,
            consent_language: *b"EN",
            publisher_cc: *b"DE",
            policy_version: 4,
            purposes_consent: 0b1101, // 1, 3, 4
            vendor_consents: vec![2, 3, 4, 755, 900],
            vendor_consents_as_ranges: true,
            vendor_li: vec![1, 755],
            restrictions: vec![(4, 0, vec![900]), (3, 1, vec![755]), (1, 2, vec![42])],
            ..TcModel::default()
        };
        let s = m.encode() + ".IFukWSQh";
        let t = TcString::decode(&s).unwrap();
        assert!(t.purpose_consent(1) && !t.purpose_consent(2) && t.purpose_consent(4));
        assert_eq!(t.first_missing_purpose(0b1101), None);
        assert_eq!(t.first_missing_purpose(0b1111), Some(2));
        assert!(t.vendor_consent(755) && t.vendor_consent(3) && !t.vendor_consent(5));
        assert!(!t.vendor_consent(901) && !t.vendor_consent(0));
        assert!(t.vendor_li(1) && !t.vendor_li(2));
        assert_eq!(t.restricted_purpose(0b1101, 900), Some(4));
        // Type 1 (require consent) keeps consent as the basis; type 2
        // (legitimate interest only) takes it away.
        assert_eq!(t.restricted_purpose(0b1101, 755), None);
        assert_eq!(t.restricted_purpose(0b1101, 42), Some(1));
        assert_eq!(t.restricted_purpose(0b1100, 42), None);
        assert_eq!(t.consent_language, *b"EN");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(TcString::decode("").unwrap_err(), TcfError::Empty);
        assert_eq!(TcString::decode(".abc").unwrap_err(), TcfError::Empty);
        assert_eq!(TcString::decode("C+").unwrap_err(), TcfError::NotBase64Url);
        assert_eq!(TcString::decode("CAAA").unwrap_err(), TcfError::Truncated);
        let long = "C".repeat(MAX_TC_STRING_BYTES + 1);
        assert_eq!(TcString::decode(&long).unwrap_err(), TcfError::TooLong);
        // A vendor range ending past MaxVendorId.
        let mut w = BitWriter::new();
        w.write(6, 2);
        for _ in 0..(VENDOR_SECTION_OFFSET - 6) {
            w.bit(false);
        }
        w.write(16, 10);
        w.bit(true);
        w.write(12, 1);
        w.bit(true);
        w.write(16, 5);
        w.write(16, 11);
        assert_eq!(
            TcString::decode(&w.finish()).unwrap_err(),
            TcfError::BadVendorRange
        );
        // Every prefix of a valid string fails cleanly.
        let s = IAB_162;
        for n in 0..s.len() {
            let _ = TcString::decode(&s[..n]);
        }
    }

    fn model() -> impl Strategy<Value = TcModel> {
        let vendors = || {
            (
                proptest::collection::btree_set(1u16..=3000, 0..40),
                any::<bool>(),
            )
        };
        (
            (
                0u64..1 << 36,
                0u64..1 << 36,
                0u16..4096,
                0u16..4096,
                0u8..64,
            ),
            (
                0u8..26,
                0u8..26,
                0u16..4096,
                0u8..64,
                any::<bool>(),
                any::<bool>(),
            ),
            (0u16..4096, 0u32..1 << 24, 0u32..1 << 24, any::<bool>()),
            vendors(),
            vendors(),
            proptest::collection::vec(
                (
                    1u8..64,
                    0u8..4,
                    proptest::collection::btree_set(1u16..=u16::MAX, 0..8),
                ),
                0..4,
            ),
        )
            .prop_map(|(a, b, c, vc, vl, r)| TcModel {
                created: a.0,
                last_updated: a.1,
                cmp_id: a.2,
                cmp_version: a.3,
                consent_screen: a.4,
                consent_language: [b'A' + b.0, b'A' + b.1],
                vendor_list_version: b.2,
                policy_version: b.3,
                is_service_specific: b.4,
                use_non_standard_texts: b.5,
                special_feature_opt_ins: c.0,
                purposes_consent: c.1,
                purposes_li: c.2,
                purpose_one_treatment: c.3,
                publisher_cc: [b'Z' - b.1, b'A' + b.0],
                vendor_consents: vc.0.into_iter().collect(),
                vendor_consents_as_ranges: vc.1,
                vendor_li: vl.0.into_iter().collect(),
                vendor_li_as_ranges: vl.1,
                restrictions: r
                    .into_iter()
                    .map(|(p, k, v)| (p, k, v.into_iter().collect()))
                    .collect(),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn decode_of_encode_is_identity(m in model()) {
            let s = m.encode();
            let t = TcString::decode(&s).expect("encoded strings decode");
            prop_assert_eq!(TcModel::from_decoded(&t), m.clone());
            for &v in &m.vendor_consents {
                prop_assert!(t.vendor_consent(v));
            }
        }

        /// A restriction lookup answers as the model says: the first
        /// restriction of a type other than 1 (in string order) on a purpose of the mask naming
        /// the vendor; and a detached decode attached again is the same.
        #[test]
        fn restriction_lookups_follow_the_model(
            m in model(),
            mask in 0u32..1 << 24,
            extra in 1u16..=u16::MAX,
        ) {
            let s = m.encode();
            let t = TcString::decode(&s).expect("encoded strings decode");
            let mut vendors: Vec<u16> = m.restrictions.iter().flat_map(|(_, _, v)| v.clone()).collect();
            vendors.push(extra);
            for v in vendors {
                let want = m.restrictions.iter().find(|(p, k, vs)| {
                    *k != RESTRICTION_REQUIRE_CONSENT
                        && (1..=24).contains(p)
                        && mask & (1 << (p - 1)) != 0
                        && vs.contains(&v)
                }).map(|(p, _, _)| *p);
                prop_assert_eq!(t.restricted_purpose(mask, v), want, "vendor {}", v);
            }
            let again = t.detach().attach(&s);
            prop_assert_eq!(TcModel::from_decoded(&again), m);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "[A-Za-z0-9_.=-]{0,300}") {
            let _ = TcString::decode(&s).map(|t| (t.vendor_consent(755), t.restricted_purpose(u32::MAX, 1)));
        }
    }
}
