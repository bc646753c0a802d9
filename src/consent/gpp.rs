//! IAB GPP strings: the header (section id 3) and every US section the GPP
//! registry defines, which govern sale, sharing, targeted advertising,
//! sensitive data and known children: usnat (7), the states usca (8),
//! usva (9), usco (10), usut (11), usct (12), usfl (13), usmt (14),
//! usor (15), ustx (16), usde (17), usia (18), usne (19), usnh (20),
//! usnj (21), ustn (22), usmn (23), usmd (24), usin (25), usky (26) and
//! usri (27); the US Privacy string in its GPP section (uspv1, 6: `1YYN`,
//! OptOutSale `Y`); and the GPC sub-section after a US section's `.`
//! (SubsectionType 1, one Gpc bit). Other registered sections (tcfeuv1,
//! tcfeuv2, the signal-integrity section 4, tcfcav1) and other
//! sub-sections are checked to be base64url and skipped. A section id
//! beyond the registry adgate follows (above [`LAST_REGISTERED_SECTION`])
//! is remembered as unread ([`Gpp::unread_section`]): it may be a later
//! US state, so the consent verdict refuses it (fail closed) instead of
//! skipping it.
//!
//! Layout (IAB "Consent String Specification" of the Global Privacy
//! Platform): `header~section~section...`, one section per id the header
//! lists, in the same order. Header: Type 6 (= 3), Version 6, SectionIds as
//! a Fibonacci range (NumEntries 12, then per entry IsARange 1 and one or
//! two Fibonacci integers, each an offset from the previous id). US
//! sections: Version 6 and two-bit fields (0 not applicable, 1 opted out /
//! no consent, 2 did not opt out / consent), field lists in [`layout`]
//! (one table, [`SPECS`], gives each section's id, name, layout, health
//! entries and sub-section kind). usin, usky and usri carry their
//! SensitiveDataProcessing in an optional sub-section after the core
//! segment's `.` (eight two-bit values, no type field), as IAB Tech Lab's
//! iabgpp-es writes them.
//! Decoding never allocates: the result is a fixed-size [`Gpp`].

use std::fmt;

use super::bits::{is_base64url, strip_padding, BitWriter, Bits, Truncated};

/// The GPP section id of the US Privacy string.
const USP_V1_SECTION: u8 = 6;
/// `tcfeuv2`: the section carries an IAB TCF v2 TC string as it is.
const TCF_EU_V2_SECTION: u8 = 2;
/// `tcfcav1`: TCF Canada, a TC string of its own format adgate does not read.
const TCF_CA_V1_SECTION: u8 = 5;
/// A US section's sub-section type for Global Privacy Control.
const GPC_SUBSECTION: u64 = 1;

/// Longest GPP string accepted.
pub const MAX_GPP_STRING_BYTES: usize = 4096;
/// Sections a header may list: the registry has about two dozen ids.
pub const MAX_SECTIONS: usize = 32;
/// Section ids above this are not in the registry and not read.
const MAX_SECTION_ID: u64 = 255;
/// The last id of the GPP registry ("Sections/Section Information.md" of
/// IAB's Global-Privacy-Platform, December 2025: usri, 27). Every id from
/// 7 up is a US jurisdiction; a higher id is refused as unread.
pub const LAST_REGISTERED_SECTION: u8 = 27;

/// The US sections read, by GPP section id (registry order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsSection {
    UsNat,
    UsCa,
    UsVa,
    UsCo,
    UsUt,
    UsCt,
    UsFl,
    UsMt,
    UsOr,
    UsTx,
    UsDe,
    UsIa,
    UsNe,
    UsNh,
    UsNj,
    UsTn,
    UsMn,
    UsMd,
    UsIn,
    UsKy,
    UsRi,
}

/// What follows a US section's core segment after a `.`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubSection {
    /// Sub-sections with a two-bit SubsectionType; type 1 is GPC (one
    /// bit). Read for every section of this kind, also usut and usfl,
    /// whose specifications define none.
    Gpc,
    /// The first sub-section is SensitiveDataProcessing (`n` two-bit
    /// values, no type field): usin, usky, usri.
    SensitiveConsents(u8),
}

/// One US section as the GPP registry and its specification define it.
#[derive(Debug)]
pub struct SectionSpec {
    pub section: UsSection,
    pub id: u8,
    /// The client-side API prefix (`usnat`, `usca`, ...).
    pub name: &'static str,
    /// The highest Version field published.
    pub max_version: u8,
    /// The core segment's fields (usnat: the longer of its two layouts).
    pub layout: Layout,
    /// 1-based SensitiveDataProcessing entries for consumer health.
    pub health: &'static [u8],
    /// SensitiveDataProcessing = 1 means "opted out" (usca: limit the use;
    /// usut, usia: opt-out states) rather than "no consent".
    pub sensitive_opt_out: bool,
    pub sub: SubSection,
}

/// Every US section, indexed by [`UsSection`] (ids 7 to 27, none
/// skipped: a registered US id without a row here would be read as
/// unknown, and refused, by [`Gpp::decode`]). Field lists, list lengths
/// and health entries from each section's specification in
/// github.com/InteractiveAdvertisingBureau/Global-Privacy-Platform
/// (`Sections/US-National`, `Sections/US-States/<state>`), checked against
/// IAB Tech Lab's iabgpp-es (`modules/cmpapi/src/encoder/field/Us*Field.ts`).
pub const SPECS: [SectionSpec; 21] = {
    use SubSection::Gpc;
    use UsField::{ProcessingNotice as P, SharingNotice as S};
    use UsSection::*;
    const fn spec(
        section: UsSection,
        id: u8,
        name: &'static str,
        layout: Layout,
        health: &'static [u8],
        sensitive_opt_out: bool,
        sub: SubSection,
    ) -> SectionSpec {
        SectionSpec {
            section,
            id,
            name,
            max_version: if id == 7 { 2 } else { 1 },
            layout,
            health,
            sensitive_opt_out,
            sub,
        }
    }
    const SDP_OPT_OUT: Option<UsField> = Some(UsField::SensitiveDataProcessingOptOutNotice);
    const SD_OPT_OUT: Option<UsField> = Some(UsField::SensitiveDataOptOutNotice);
    // usnat v2 adds a second health entry, 13: "consumer health data".
    [
        spec(UsNat, 7, "usnat", &USNAT_V2, &[3, 13], false, Gpc),
        spec(UsCa, 8, "usca", &USCA, &[8], true, Gpc),
        spec(
            UsVa,
            9,
            "usva",
            &state_layout(S, None, 8, 1, false),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsCo,
            10,
            "usco",
            &state_layout(S, None, 7, 1, false),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsUt,
            11,
            "usut",
            &state_layout(S, SDP_OPT_OUT, 8, 1, false),
            &[5],
            true,
            Gpc,
        ),
        spec(
            UsCt,
            12,
            "usct",
            &state_layout(S, None, 8, 3, false),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsFl,
            13,
            "usfl",
            &state_layout(P, None, 8, 3, true),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsMt,
            14,
            "usmt",
            &state_layout(S, None, 8, 3, true),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsOr,
            15,
            "usor",
            &state_layout(P, None, 11, 3, true),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsTx,
            16,
            "ustx",
            &state_layout(P, None, 8, 1, true),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsDe,
            17,
            "usde",
            &state_layout(P, None, 9, 5, true),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsIa,
            18,
            "usia",
            &state_layout(P, SD_OPT_OUT, 8, 1, false),
            &[3],
            true,
            Gpc,
        ),
        spec(
            UsNe,
            19,
            "usne",
            &state_layout(P, None, 8, 1, true),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsNh,
            20,
            "usnh",
            &state_layout(P, None, 8, 3, true),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsNj,
            21,
            "usnj",
            &state_layout(P, None, 10, 5, true),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsTn,
            22,
            "ustn",
            &state_layout(P, None, 8, 1, true),
            &[3],
            false,
            Gpc,
        ),
        spec(
            UsMn,
            23,
            "usmn",
            &state_layout(P, None, 8, 1, true),
            &[3],
            false,
            Gpc,
        ),
        spec(UsMd, 24, "usmd", &mspa_first_layout(0), &[], false, Gpc),
        spec(
            UsIn,
            25,
            "usin",
            &mspa_first_layout(1),
            &[3],
            false,
            SENSITIVE_8,
        ),
        spec(
            UsKy,
            26,
            "usky",
            &mspa_first_layout(1),
            &[3],
            false,
            SENSITIVE_8,
        ),
        spec(
            UsRi,
            27,
            "usri",
            &mspa_first_layout(1),
            &[3],
            false,
            SENSITIVE_8,
        ),
    ]
};
const SENSITIVE_8: SubSection = SubSection::SensitiveConsents(8);

impl UsSection {
    pub const ALL: [UsSection; 21] = {
        let mut all = [UsSection::UsNat; 21];
        let mut i = 0;
        while i < SPECS.len() {
            all[i] = SPECS[i].section;
            i += 1;
        }
        all
    };

    /// The section's row of [`SPECS`].
    pub fn spec(self) -> &'static SectionSpec {
        &SPECS[self.index()]
    }

    pub fn id(self) -> u8 {
        self.spec().id
    }

    pub fn from_id(id: u64) -> Option<UsSection> {
        UsSection::ALL.into_iter().find(|s| u64::from(s.id()) == id)
    }

    /// The API prefix IAB registers (`usnat`, `usca`, ...).
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    fn index(self) -> usize {
        self as usize
    }

    /// 1-based index of the consumer-health category in the section's
    /// SensitiveDataProcessing list (usnat v2 adds a second one, 13:
    /// "consumer health data"; usmd has no such list).
    pub fn health_categories(self) -> &'static [u8] {
        self.spec().health
    }

    /// SensitiveDataProcessing = 1 means opted out (usca, usut, usia), not
    /// "no consent".
    pub fn sensitive_is_opt_out(self) -> bool {
        self.spec().sensitive_opt_out
    }

    pub fn sub_section(self) -> SubSection {
        self.spec().sub
    }
}

/// A field of a US section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsField {
    SharingNotice,
    /// The 2024 states' first notice (in place of SharingNotice).
    ProcessingNotice,
    SaleOptOutNotice,
    SharingOptOutNotice,
    TargetedAdvertisingOptOutNotice,
    SensitiveDataProcessingOptOutNotice,
    /// usia's name for SensitiveDataProcessingOptOutNotice (same slot).
    SensitiveDataOptOutNotice,
    SensitiveDataLimitUseNotice,
    SaleOptOut,
    SharingOptOut,
    TargetedAdvertisingOptOut,
    SensitiveDataProcessing,
    KnownChildSensitiveDataConsents,
    PersonalDataConsents,
    AdditionalDataProcessingConsent,
    MspaCoveredTransaction,
    MspaOptOutOptionMode,
    MspaServiceProviderMode,
    /// usmd, usin, usky, usri: one field for the two MSPA modes.
    MspaMode,
}

impl UsField {
    pub fn as_str(self) -> &'static str {
        match self {
            UsField::SharingNotice => "SharingNotice",
            UsField::ProcessingNotice => "ProcessingNotice",
            UsField::SaleOptOutNotice => "SaleOptOutNotice",
            UsField::SharingOptOutNotice => "SharingOptOutNotice",
            UsField::TargetedAdvertisingOptOutNotice => "TargetedAdvertisingOptOutNotice",
            UsField::SensitiveDataProcessingOptOutNotice => "SensitiveDataProcessingOptOutNotice",
            UsField::SensitiveDataOptOutNotice => "SensitiveDataOptOutNotice",
            UsField::SensitiveDataLimitUseNotice => "SensitiveDataLimitUseNotice",
            UsField::SaleOptOut => "SaleOptOut",
            UsField::SharingOptOut => "SharingOptOut",
            UsField::TargetedAdvertisingOptOut => "TargetedAdvertisingOptOut",
            UsField::SensitiveDataProcessing => "SensitiveDataProcessing",
            UsField::KnownChildSensitiveDataConsents => "KnownChildSensitiveDataConsents",
            UsField::PersonalDataConsents => "PersonalDataConsents",
            UsField::AdditionalDataProcessingConsent => "AdditionalDataProcessingConsent",
            UsField::MspaCoveredTransaction => "MspaCoveredTransaction",
            UsField::MspaOptOutOptionMode => "MspaOptOutOptionMode",
            UsField::MspaServiceProviderMode => "MspaServiceProviderMode",
            UsField::MspaMode => "MspaMode",
        }
    }
}

/// `(field, count)`: count two-bit values (1 for a scalar, 0 for a field
/// the section does not have).
pub type Layout = &'static [(UsField, u8)];

const fn us_layout(sdp: u8, child: u8) -> [(UsField, u8); 15] {
    use UsField::*;
    [
        (SharingNotice, 1),
        (SaleOptOutNotice, 1),
        (SharingOptOutNotice, 1),
        (TargetedAdvertisingOptOutNotice, 1),
        (SensitiveDataProcessingOptOutNotice, 1),
        (SensitiveDataLimitUseNotice, 1),
        (SaleOptOut, 1),
        (SharingOptOut, 1),
        (TargetedAdvertisingOptOut, 1),
        (SensitiveDataProcessing, sdp),
        (KnownChildSensitiveDataConsents, child),
        (PersonalDataConsents, 1),
        (MspaCoveredTransaction, 1),
        (MspaOptOutOptionMode, 1),
        (MspaServiceProviderMode, 1),
    ]
}

/// usnat as first published: 12 sensitive categories, 2 child consents
/// (60 bits).
const USNAT_V1: [(UsField, u8); 15] = us_layout(12, 2);
/// usnat after the 2024 states: 16 and 3 (70 bits). IAB's libraries pick
/// the layout by length, not by the version field.
const USNAT_V2: [(UsField, u8); 15] = us_layout(16, 3);
const USCA: [(UsField, u8); 11] = {
    use UsField::*;
    [
        (SaleOptOutNotice, 1),
        (SharingOptOutNotice, 1),
        (SensitiveDataLimitUseNotice, 1),
        (SaleOptOut, 1),
        (SharingOptOut, 1),
        (SensitiveDataProcessing, 9),
        (KnownChildSensitiveDataConsents, 2),
        (PersonalDataConsents, 1),
        (MspaCoveredTransaction, 1),
        (MspaOptOutOptionMode, 1),
        (MspaServiceProviderMode, 1),
    ]
};

/// The state layout family (usva to usmn): a first notice (SharingNotice,
/// or the 2024 states' ProcessingNotice), the sale and targeted-advertising
/// notices, a sensitive-data notice where the state has one (usut, usia),
/// the two opt-outs, `sdp` sensitive categories, `child` known-child
/// consents, AdditionalDataProcessingConsent where the state has it, and
/// the three MSPA fields.
const fn state_layout(
    first_notice: UsField,
    sensitive_notice: Option<UsField>,
    sdp: u8,
    child: u8,
    additional: bool,
) -> [(UsField, u8); 12] {
    use UsField::*;
    [
        (first_notice, 1),
        (SaleOptOutNotice, 1),
        (TargetedAdvertisingOptOutNotice, 1),
        match sensitive_notice {
            Some(f) => (f, 1),
            None => (SensitiveDataProcessingOptOutNotice, 0),
        },
        (SaleOptOut, 1),
        (TargetedAdvertisingOptOut, 1),
        (SensitiveDataProcessing, sdp),
        (KnownChildSensitiveDataConsents, child),
        (AdditionalDataProcessingConsent, additional as u8),
        (MspaCoveredTransaction, 1),
        (MspaOptOutOptionMode, 1),
        (MspaServiceProviderMode, 1),
    ]
}

/// usmd, usin, usky, usri (2025): the Version (the specifications' and
/// iabgpp-es's MspaVersion) then the MSPA fields first, one MspaMode, no
/// sensitive list in the core (usin, usky, usri: in a sub-section; usmd:
/// none) and `child` known-child consents (usmd: none).
const fn mspa_first_layout(child: u8) -> [(UsField, u8); 9] {
    use UsField::*;
    [
        (MspaCoveredTransaction, 1),
        (MspaMode, 1),
        (ProcessingNotice, 1),
        (SaleOptOutNotice, 1),
        (TargetedAdvertisingOptOutNotice, 1),
        (SaleOptOut, 1),
        (TargetedAdvertisingOptOut, 1),
        (KnownChildSensitiveDataConsents, child),
        (AdditionalDataProcessingConsent, 1),
    ]
}

/// Bits of a layout after the 6-bit version.
const fn layout_bits(l: Layout) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < l.len() {
        n += 2 * l[i].1 as usize;
        i += 1;
    }
    n
}

/// The field list of `section`; for usnat, by the number of bits present.
pub fn layout(section: UsSection, bits: usize) -> Layout {
    match section {
        UsSection::UsNat if bits < 6 + layout_bits(&USNAT_V2) => &USNAT_V1,
        s => s.spec().layout,
    }
}

/// Why a GPP string could not be decoded. Messages never quote the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GppError {
    Empty,
    TooLong,
    NotBase64Url,
    /// A header or section ends inside a field.
    Truncated,
    /// The header's type is not 3.
    NotAHeader(u8),
    UnsupportedHeaderVersion(u8),
    /// A Fibonacci integer that never ends or an id beyond the registry.
    BadSectionId,
    TooManySections,
    /// The header lists a different number of sections than follow it.
    SectionCount {
        listed: usize,
        present: usize,
    },
    /// A section id listed twice.
    DuplicateSection(u8),
    /// A section with no text.
    EmptySection(u8),
    /// A US section's version is 0 or beyond those published.
    UnsupportedSectionVersion(UsSection, u8),
    /// A two-bit field holds 3 (undefined).
    BadValue(UsSection, UsField),
    /// The uspv1 section is not a US Privacy string (`1` and three of
    /// `Y`, `N`, `-`).
    BadUsPrivacy,
}

impl From<Truncated> for GppError {
    fn from(_: Truncated) -> GppError {
        GppError::Truncated
    }
}

impl fmt::Display for GppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GppError::Empty => f.write_str("the GPP string is empty"),
            GppError::TooLong => write!(
                f,
                "the GPP string is longer than {MAX_GPP_STRING_BYTES} bytes"
            ),
            GppError::NotBase64Url => {
                f.write_str("the GPP string has a character outside base64url")
            }
            GppError::Truncated => f.write_str("the GPP string ends inside a field"),
            GppError::NotAHeader(t) => write!(f, "the GPP header has type {t}, not 3"),
            GppError::UnsupportedHeaderVersion(v) => {
                write!(f, "the GPP header is version {v}; only version 1 is read")
            }
            GppError::BadSectionId => f.write_str("the GPP header has an invalid section id"),
            GppError::TooManySections => {
                write!(f, "the GPP header lists more than {MAX_SECTIONS} sections")
            }
            GppError::SectionCount { listed, present } => write!(
                f,
                "the GPP header lists {listed} sections but {present} follow it"
            ),
            GppError::DuplicateSection(id) => {
                write!(f, "the GPP header lists section {id} twice")
            }
            GppError::EmptySection(id) => write!(f, "the GPP string's section {id} is empty"),
            GppError::UnsupportedSectionVersion(s, v) => {
                write!(f, "the GPP {} section is version {v}", s.as_str())
            }
            GppError::BadValue(s, field) => write!(
                f,
                "the GPP {} section's {} holds an undefined value",
                s.as_str(),
                field.as_str()
            ),
            GppError::BadUsPrivacy => f.write_str(
                "the GPP uspv1 section is not a US Privacy string (1 and three of Y, N, -)",
            ),
        }
    }
}

impl std::error::Error for GppError {}

/// Longest list field (usnat v2's 16 sensitive categories).
const MAX_LIST: usize = 16;
/// Longest known-child list (usde, usnj: 5).
const MAX_CHILD: usize = 5;

/// One decoded US section: every field of its layout; fields the section
/// does not have read as 0 (not applicable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsValues {
    pub version: u8,
    pub sharing_notice: u8,
    pub processing_notice: u8,
    pub sale_opt_out_notice: u8,
    pub sharing_opt_out_notice: u8,
    pub targeted_advertising_opt_out_notice: u8,
    /// Also usia's SensitiveDataOptOutNotice.
    pub sensitive_data_processing_opt_out_notice: u8,
    pub sensitive_data_limit_use_notice: u8,
    pub sale_opt_out: u8,
    pub sharing_opt_out: u8,
    pub targeted_advertising_opt_out: u8,
    /// usin, usky, usri: from the Sensitive Data Consents sub-section.
    pub sensitive_data_processing: [u8; MAX_LIST],
    pub known_child: [u8; MAX_CHILD],
    pub personal_data_consents: u8,
    pub additional_data_processing_consent: u8,
    pub mspa_covered_transaction: u8,
    pub mspa_opt_out_option_mode: u8,
    pub mspa_service_provider_mode: u8,
    pub mspa_mode: u8,
}

impl UsValues {
    fn slot(&mut self, field: UsField) -> &mut [u8] {
        match field {
            UsField::SharingNotice => std::slice::from_mut(&mut self.sharing_notice),
            UsField::ProcessingNotice => std::slice::from_mut(&mut self.processing_notice),
            UsField::SaleOptOutNotice => std::slice::from_mut(&mut self.sale_opt_out_notice),
            UsField::SharingOptOutNotice => std::slice::from_mut(&mut self.sharing_opt_out_notice),
            UsField::TargetedAdvertisingOptOutNotice => {
                std::slice::from_mut(&mut self.targeted_advertising_opt_out_notice)
            }
            UsField::SensitiveDataProcessingOptOutNotice | UsField::SensitiveDataOptOutNotice => {
                std::slice::from_mut(&mut self.sensitive_data_processing_opt_out_notice)
            }
            UsField::SensitiveDataLimitUseNotice => {
                std::slice::from_mut(&mut self.sensitive_data_limit_use_notice)
            }
            UsField::SaleOptOut => std::slice::from_mut(&mut self.sale_opt_out),
            UsField::SharingOptOut => std::slice::from_mut(&mut self.sharing_opt_out),
            UsField::TargetedAdvertisingOptOut => {
                std::slice::from_mut(&mut self.targeted_advertising_opt_out)
            }
            UsField::SensitiveDataProcessing => &mut self.sensitive_data_processing,
            UsField::KnownChildSensitiveDataConsents => &mut self.known_child,
            UsField::PersonalDataConsents => std::slice::from_mut(&mut self.personal_data_consents),
            UsField::AdditionalDataProcessingConsent => {
                std::slice::from_mut(&mut self.additional_data_processing_consent)
            }
            UsField::MspaCoveredTransaction => {
                std::slice::from_mut(&mut self.mspa_covered_transaction)
            }
            UsField::MspaOptOutOptionMode => {
                std::slice::from_mut(&mut self.mspa_opt_out_option_mode)
            }
            UsField::MspaServiceProviderMode => {
                std::slice::from_mut(&mut self.mspa_service_provider_mode)
            }
            UsField::MspaMode => std::slice::from_mut(&mut self.mspa_mode),
        }
    }

    /// Decodes a section's text: its core segment and, for usin, usky and
    /// usri, the Sensitive Data Consents sub-section after the first `.`
    /// (other sub-sections are not values of the section: see
    /// [`Gpp::decode`] for GPC).
    pub fn decode(section: UsSection, text: &[u8]) -> Result<UsValues, GppError> {
        let mut segs = text.split(|&c| c == b'.');
        let mut v = UsValues::decode_core(section, segs.next().unwrap_or_default())?;
        if let Some(sub) = segs.next() {
            v.decode_sub_section(section, sub)?;
        }
        Ok(v)
    }

    /// Decodes a section's core segment (the text before any `.`).
    pub fn decode_core(section: UsSection, core: &[u8]) -> Result<UsValues, GppError> {
        // Every layout ends within 82 bits: the first 21 characters (126
        // bits) are loaded into one word and the fields shifted out of it.
        const HELD: usize = 21;
        let bits = core.len() * 6;
        let word = core
            .iter()
            .take(HELD)
            .fold(0u128, |w, &c| (w << 6) | u128::from(Bits::sextet(c)))
            .checked_shl(128 - 6 * core.len().min(HELD) as u32)
            .unwrap_or(0);
        let field = |pos: usize, n: usize| -> Result<u8, GppError> {
            if pos + n > bits {
                return Err(GppError::Truncated);
            }
            debug_assert!(pos + n <= 6 * HELD);
            Ok((word << pos >> (128 - n)) as u8)
        };
        let mut v = UsValues {
            version: field(0, 6)?,
            ..UsValues::default()
        };
        if v.version == 0 || v.version > section.spec().max_version {
            return Err(GppError::UnsupportedSectionVersion(section, v.version));
        }
        let mut pos = 6;
        for &(name, count) in layout(section, bits) {
            let slot = v.slot(name);
            for x in slot.iter_mut().take(count as usize) {
                *x = field(pos, 2)?;
                pos += 2;
                if *x == 3 {
                    return Err(GppError::BadValue(section, name));
                }
            }
        }
        Ok(v)
    }

    /// Reads the first sub-section after the core segment when it holds
    /// values of the section (usin, usky, usri: SensitiveDataProcessing);
    /// for other sections it is left to [`Gpp::decode`] (GPC).
    pub fn decode_sub_section(&mut self, section: UsSection, sub: &[u8]) -> Result<(), GppError> {
        if let SubSection::SensitiveConsents(n) = section.sub_section() {
            let mut b = Bits::new(sub);
            for x in self.sensitive_data_processing.iter_mut().take(n as usize) {
                *x = b.read(2)? as u8;
                if *x == 3 {
                    return Err(GppError::BadValue(
                        section,
                        UsField::SensitiveDataProcessing,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Encodes with the layout of `section` (usnat: the 16/3 layout when
    /// `version` is 2 or a value needs it; usin, usky, usri: the Sensitive
    /// Data Consents sub-section after a `.` when an entry is not 0).
    pub fn encode(&self, section: UsSection) -> String {
        let mut w = BitWriter::new();
        w.write(6, u64::from(self.version));
        // usnat: the longer layout when the version or the values need it
        // (IAB's own writers use it with version 1 too).
        let long = self.version >= 2
            || self.sensitive_data_processing[12..].iter().any(|&x| x != 0)
            || self.known_child[2] != 0;
        let bits = if section == UsSection::UsNat && long {
            usize::MAX
        } else {
            0
        };
        let mut copy = *self;
        for &(field, count) in layout(section, bits) {
            for &x in copy.slot(field).iter().take(count as usize) {
                w.write(2, u64::from(x));
            }
        }
        let mut s = w.finish();
        if let SubSection::SensitiveConsents(n) = section.sub_section() {
            let list = &self.sensitive_data_processing[..n as usize];
            if list.iter().any(|&x| x != 0) {
                let mut w = BitWriter::new();
                for &x in list {
                    w.write(2, u64::from(x));
                }
                s.push('.');
                s.push_str(&w.finish());
            }
        }
        s
    }
}

/// A decoded GPP string: the section ids listed and the US sections read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gpp {
    ids: [u8; MAX_SECTIONS],
    id_count: u8,
    us: [Option<UsValues>; SPECS.len()],
    /// The uspv1 section's US Privacy string (`1YNN`).
    usp: Option<[u8; 4]>,
    /// The first US section whose GPC sub-section says Gpc = 1.
    gpc: Option<UsSection>,
    /// The first section id beyond [`LAST_REGISTERED_SECTION`].
    unread: Option<u8>,
    /// Where the `tcfeuv2` section's TC string is in the decoded text
    /// (byte range).
    tcf_eu: Option<(u16, u16)>,
    /// The header lists `tcfcav1` (TCF Canada).
    tcf_ca: bool,
}

impl Gpp {
    /// Section ids the header lists, in order.
    pub fn section_ids(&self) -> &[u8] {
        &self.ids[..self.id_count as usize]
    }

    pub fn section(&self, s: UsSection) -> Option<&UsValues> {
        self.us[s.index()].as_ref()
    }

    /// The US Privacy string (uspv1 section): version `1`, then Notice,
    /// OptOutSale and LSPA as `Y`, `N` or `-`.
    pub fn us_privacy(&self) -> Option<[u8; 4]> {
        self.usp
    }

    /// The first US section carrying a GPC sub-section with Gpc = 1 (the
    /// person's browser sent Global Privacy Control).
    pub fn gpc(&self) -> Option<UsSection> {
        self.gpc
    }

    /// The first section id the header lists beyond the registry adgate
    /// follows (above [`LAST_REGISTERED_SECTION`]): possibly a later US
    /// state, whose opt-out could not be read.
    pub fn unread_section(&self) -> Option<u8> {
        self.unread
    }

    /// The TC string the `tcfeuv2` section (id 2) carries, cut from `text`,
    /// the GPP string this was decoded from: CMPs now send TCF consent this
    /// way, and it is decided as `consent.tcf` is.
    pub fn tcf_eu<'s>(&self, text: &'s str) -> Option<&'s str> {
        let (start, end) = self.tcf_eu?;
        text.get(start as usize..end as usize)
    }

    /// The header lists `tcfcav1` (id 5, TCF Canada), which adgate does not
    /// read: a partner that checks TCF consent is refused (fail closed).
    pub fn has_tcf_ca(&self) -> bool {
        self.tcf_ca
    }

    /// The US sections present, in registry order.
    pub fn us_sections(&self) -> impl Iterator<Item = (UsSection, &UsValues)> {
        UsSection::ALL
            .into_iter()
            .filter_map(|s| self.section(s).map(|v| (s, v)))
    }

    pub fn decode(s: &str) -> Result<Gpp, GppError> {
        if s.len() > MAX_GPP_STRING_BYTES {
            return Err(GppError::TooLong);
        }
        if s.is_empty() {
            return Err(GppError::Empty);
        }
        let mut parts = s.as_bytes().split(|&c| c == b'~');
        let header = strip_padding(parts.next().unwrap_or_default());
        if header.is_empty() {
            return Err(GppError::Empty);
        }
        if !is_base64url(header) {
            return Err(GppError::NotBase64Url);
        }
        let mut gpp = Gpp::default();
        read_header(&mut Bits::new(header), &mut gpp)?;
        let mut present = 0usize;
        for part in parts {
            if present >= gpp.id_count as usize {
                // Keep counting for the message, without decoding.
                present += 1;
                continue;
            }
            let id = gpp.ids[present];
            present += 1;
            let mut segs = part.split(|&c| c == b'.');
            let core = strip_padding(segs.next().unwrap_or_default());
            if core.is_empty() {
                return Err(GppError::EmptySection(id));
            }
            let subs: Vec<&[u8]> = segs.map(strip_padding).collect();
            if !is_base64url(core) || !subs.iter().all(|g| is_base64url(g)) {
                return Err(GppError::NotBase64Url);
            }
            if id == USP_V1_SECTION {
                match core {
                    [b'1', rest @ ..]
                        if rest.len() == 3 && rest.iter().all(|c| b"YN-".contains(c)) =>
                    {
                        gpp.usp = Some(core.try_into().expect("4 bytes"));
                    }
                    _ => return Err(GppError::BadUsPrivacy),
                }
            }
            if id > LAST_REGISTERED_SECTION {
                gpp.unread.get_or_insert(id);
            }
            if id == TCF_EU_V2_SECTION && gpp.tcf_eu.is_none() {
                // The part is a slice of `s`: its offset is its distance
                // from the start (the string is at most
                // MAX_GPP_STRING_BYTES long, so it fits a u16).
                let start = part.as_ptr() as usize - s.as_ptr() as usize;
                gpp.tcf_eu = Some((start as u16, (start + part.len()) as u16));
            }
            gpp.tcf_ca |= id == TCF_CA_V1_SECTION;
            if let Some(sec) = UsSection::from_id(u64::from(id)) {
                let mut v = UsValues::decode_core(sec, core)?;
                match sec.sub_section() {
                    SubSection::SensitiveConsents(_) => {
                        if let Some(sub) = subs.first() {
                            v.decode_sub_section(sec, sub)?;
                        }
                    }
                    SubSection::Gpc => {
                        for sub in subs {
                            let mut b = Bits::new(sub);
                            if b.read(2)? == GPC_SUBSECTION && b.read(1)? == 1 {
                                gpp.gpc.get_or_insert(sec);
                            }
                        }
                    }
                }
                gpp.us[sec.index()] = Some(v);
            }
        }
        if present != gpp.id_count as usize {
            return Err(GppError::SectionCount {
                listed: gpp.id_count as usize,
                present,
            });
        }
        Ok(gpp)
    }
}

fn read_header(b: &mut Bits<'_>, gpp: &mut Gpp) -> Result<(), GppError> {
    let kind = b.read(6)? as u8;
    if kind != 3 {
        return Err(GppError::NotAHeader(kind));
    }
    let version = b.read(6)? as u8;
    if version != 1 {
        return Err(GppError::UnsupportedHeaderVersion(version));
    }
    let entries = b.read(12)?;
    let mut last = 0u64;
    let push = |id: u64, gpp: &mut Gpp| -> Result<(), GppError> {
        if id == 0 || id > MAX_SECTION_ID {
            return Err(GppError::BadSectionId);
        }
        let id = id as u8;
        if gpp.section_ids().contains(&id) {
            return Err(GppError::DuplicateSection(id));
        }
        if gpp.id_count as usize >= MAX_SECTIONS {
            return Err(GppError::TooManySections);
        }
        gpp.ids[gpp.id_count as usize] = id;
        gpp.id_count += 1;
        Ok(())
    };
    // 16 digits reach 2583, beyond any registered id.
    let fib = |b: &mut Bits<'_>| -> Result<u64, GppError> {
        b.fibonacci(16)?.ok_or(GppError::BadSectionId)
    };
    for _ in 0..entries {
        if b.bit()? {
            let start = last + fib(b)?;
            let end = start + fib(b)?;
            if end > MAX_SECTION_ID || end - start >= MAX_SECTIONS as u64 {
                return Err(GppError::BadSectionId);
            }
            for id in start..=end {
                push(id, gpp)?;
            }
            last = end;
        } else {
            let id = last + fib(b)?;
            push(id, gpp)?;
            last = id;
        }
    }
    Ok(())
}

/// Encodes a header listing `ids` (ascending, distinct), one entry per id
/// or per run of consecutive ids.
pub fn encode_header(ids: &[u8]) -> String {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &id in ids {
        let id = u64::from(id);
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == id => *end = id,
            _ => runs.push((id, id)),
        }
    }
    let mut w = BitWriter::new();
    w.write(6, 3);
    w.write(6, 1);
    w.write(12, runs.len() as u64);
    let mut last = 0;
    for (s, e) in runs {
        if s == e {
            w.bit(false);
            w.fibonacci(s - last);
        } else {
            w.bit(true);
            w.fibonacci(s - last);
            w.fibonacci(e - s);
        }
        last = e;
    }
    w.finish()
}

/// A second encoder for tests, independent of [`SPECS`], [`layout`] and
/// [`BitWriter`]: the field lists transcribed from each section's
/// specification (Global-Privacy-Platform `Sections/US-National`,
/// `Sections/US-States/<state>`), written out as a bit string and turned
/// into base64url here.
#[cfg(test)]
pub(crate) mod spec_text {
    /// `(api prefix, fields after the 6-bit Version)`: `Name*n` is an
    /// N-Bitfield(2, n), a bare name an Int(2); after ` | ` the fields of
    /// the sub-section that carries values (usin, usky, usri: Sensitive
    /// Data Consents). ustn's specification spells the child field
    /// `KnownChildSensitiveDataConsent`; its registry id there reads 17
    /// (a typo: the registry and iabgpp-es say 22).
    pub const FIELDS: [(&str, &str); 21] = [
        ("usnat", "SharingNotice SaleOptOutNotice SharingOptOutNotice TargetedAdvertisingOptOutNotice SensitiveDataProcessingOptOutNotice SensitiveDataLimitUseNotice SaleOptOut SharingOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*16 KnownChildSensitiveDataConsents*3 PersonalDataConsents MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usca", "SaleOptOutNotice SharingOptOutNotice SensitiveDataLimitUseNotice SaleOptOut SharingOptOut SensitiveDataProcessing*9 KnownChildSensitiveDataConsents*2 PersonalDataConsents MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usva", "SharingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*8 KnownChildSensitiveDataConsents MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usco", "SharingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*7 KnownChildSensitiveDataConsents MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usut", "SharingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SensitiveDataProcessingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*8 KnownChildSensitiveDataConsents MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usct", "SharingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*8 KnownChildSensitiveDataConsents*3 MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usfl", "ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*8 KnownChildSensitiveDataConsents*3 AdditionalDataProcessingConsent MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usmt", "SharingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*8 KnownChildSensitiveDataConsents*3 AdditionalDataProcessingConsent MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usor", "ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*11 KnownChildSensitiveDataConsents*3 AdditionalDataProcessingConsent MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("ustx", "ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*8 KnownChildSensitiveDataConsents AdditionalDataProcessingConsent MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usde", "ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*9 KnownChildSensitiveDataConsents*5 AdditionalDataProcessingConsent MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usia", "ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SensitiveDataOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*8 KnownChildSensitiveDataConsents MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usne", "ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*8 KnownChildSensitiveDataConsents AdditionalDataProcessingConsent MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usnh", "ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*8 KnownChildSensitiveDataConsents*3 AdditionalDataProcessingConsent MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usnj", "ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*10 KnownChildSensitiveDataConsents*5 AdditionalDataProcessingConsent MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("ustn", "ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*8 KnownChildSensitiveDataConsents AdditionalDataProcessingConsent MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usmn", "ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut SensitiveDataProcessing*8 KnownChildSensitiveDataConsents AdditionalDataProcessingConsent MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"),
        ("usmd", "MspaCoveredTransaction MspaMode ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut AdditionalDataProcessingConsent"),
        ("usin", "MspaCoveredTransaction MspaMode ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut KnownChildSensitiveDataConsents AdditionalDataProcessingConsent | SensitiveDataProcessing*8"),
        ("usky", "MspaCoveredTransaction MspaMode ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut KnownChildSensitiveDataConsents AdditionalDataProcessingConsent | SensitiveDataProcessing*8"),
        ("usri", "MspaCoveredTransaction MspaMode ProcessingNotice SaleOptOutNotice TargetedAdvertisingOptOutNotice SaleOptOut TargetedAdvertisingOptOut KnownChildSensitiveDataConsents AdditionalDataProcessingConsent | SensitiveDataProcessing*8"),
    ];

    /// The field list of `name`: core and value sub-section.
    pub fn fields(name: &str) -> (&'static str, Option<&'static str>) {
        let text = FIELDS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no section {name}"))
            .1;
        match text.split_once(" | ") {
            Some((core, sub)) => (core, Some(sub)),
            None => (text, None),
        }
    }

    /// `(field, count)` of a field list.
    pub fn parse(list: &str) -> Vec<(&str, usize)> {
        list.split_whitespace()
            .map(|f| match f.split_once('*') {
                Some((name, n)) => (name, n.parse().unwrap()),
                None => (f, 1),
            })
            .collect()
    }

    /// base64url of a bit string, zero-padded to whole characters.
    pub fn b64(bits: &str) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits = bits.to_string();
        while !bits.len().is_multiple_of(6) {
            bits.push('0');
        }
        (0..bits.len() / 6)
            .map(|i| A[usize::from_str_radix(&bits[6 * i..6 * i + 6], 2).unwrap()] as char)
            .collect()
    }

    /// Section `name` with the values in `set` (`(field, values)`; a
    /// `Version` entry replaces version 1; other fields 0), and the value
    /// sub-section when `set` names one of its fields.
    pub fn encode(name: &str, set: &[(&str, &[u8])]) -> String {
        let get = |field: &str| set.iter().find(|(f, _)| *f == field).map(|(_, v)| *v);
        let write = |list: &str| -> String {
            let mut bits = String::new();
            for (field, n) in parse(list) {
                let vals = get(field).unwrap_or(&[]);
                for i in 0..n {
                    bits += &format!("{:02b}", vals.get(i).copied().unwrap_or(0));
                }
            }
            bits
        };
        let (core, sub) = fields(name);
        let version = get("Version").map_or(1, |v| v[0]);
        let mut out = b64(&format!("{version:06b}{}", write(core)));
        if let Some(sub) = sub {
            if parse(sub).iter().any(|(f, _)| get(f).is_some()) {
                out.push('.');
                out += &b64(&write(sub));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The section reader as first written (one [`Bits::read`] per field).
    fn decode_bit_by_bit(section: UsSection, core: &[u8]) -> Result<UsValues, GppError> {
        let mut b = Bits::new(core);
        let mut v = UsValues {
            version: b.read(6)? as u8,
            ..UsValues::default()
        };
        if v.version == 0 || v.version > section.spec().max_version {
            return Err(GppError::UnsupportedSectionVersion(section, v.version));
        }
        for &(field, count) in layout(section, b.len()) {
            let slot = v.slot(field);
            for x in slot.iter_mut().take(count as usize) {
                *x = b.read(2)? as u8;
                if *x == 3 {
                    return Err(GppError::BadValue(section, field));
                }
            }
        }
        Ok(v)
    }

    // Strings from IAB Tech Lab's reference libraries' tests:
    // github.com/IABTechLab/iabgpp-java,
    // iabgpp-encoder/src/test/java/com/iab/gpp/encoder/section/UsNatTest.java
    // (testDecode1, testDecodeBackwardsCompatibility) and
    // github.com/IABTechLab/iabgpp-es (header "DBABMA" / "DBACNY").

    #[test]
    fn iab_headers() {
        let h = |s: &str| {
            let mut g = Gpp::default();
            read_header(&mut Bits::new(s.as_bytes()), &mut g).map(|_| g.section_ids().to_vec())
        };
        assert_eq!(h("DBABMA"), Ok(vec![2]));
        assert_eq!(h("DBACNY"), Ok(vec![2, 6]));
        assert_eq!(encode_header(&[2]), "DBABMA");
        assert_eq!(encode_header(&[2, 6]), "DBACNYA");
    }

    #[test]
    fn iab_usnat_v2_layout() {
        // "BVVVkkkkkpFY.YA": every notice 1, opt-outs 1, sensitive data
        // 2,1,0 repeated, known child 2,1,0, GPC sub-section.
        let g = Gpp::decode(&format!("{}~BVVVkkkkkpFY.YA", encode_header(&[7]))).unwrap();
        let v = g.section(UsSection::UsNat).unwrap();
        assert_eq!(v.version, 1);
        assert_eq!(v.sale_opt_out, 1);
        assert_eq!(v.sharing_opt_out, 1);
        assert_eq!(v.targeted_advertising_opt_out, 1);
        assert_eq!(
            v.sensitive_data_processing,
            [2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2]
        );
        assert_eq!(v.known_child, [2, 1, 0, 0, 0]);
        assert_eq!(v.personal_data_consents, 1);
        assert_eq!(v.mspa_covered_transaction, 1);
        assert_eq!(v.mspa_opt_out_option_mode, 1);
        assert_eq!(v.mspa_service_provider_mode, 2);
    }

    #[test]
    fn iab_usnat_v1_layout() {
        let v = UsValues::decode(UsSection::UsNat, b"BVQqAAAACg").unwrap();
        assert_eq!(v.sharing_notice, 1);
        assert_eq!(v.sensitive_data_processing_opt_out_notice, 0);
        assert_eq!(
            (
                v.sale_opt_out,
                v.sharing_opt_out,
                v.targeted_advertising_opt_out
            ),
            (2, 2, 2)
        );
        assert_eq!(v.sensitive_data_processing, [0; 16]);
        assert_eq!(v.known_child, [0; 5]);
        assert_eq!(v.personal_data_consents, 2);
        assert_eq!(v.mspa_covered_transaction, 2);
        // IAB's "garbage" vector: 'z' reads as version 51.
        assert!(UsValues::decode(UsSection::UsNat, b"z").is_err());
        assert_eq!(
            UsValues::decode(UsSection::UsNat, b"B"),
            Err(GppError::Truncated)
        );
        assert_eq!(Gpp::decode("DBABMA~"), Err(GppError::EmptySection(2)));
    }

    #[test]
    fn iab_state_sections() {
        // iabgpp-java section tests (UsCaTest, UsVaTest, UsCoTest, UsCtTest,
        // testDecode1): every notice and opt-out 1, lists 2,1,0 repeated.
        let ca = UsValues::decode(UsSection::UsCa, b"BVWSSSVY").unwrap();
        assert_eq!((ca.sale_opt_out, ca.sharing_opt_out), (1, 1));
        assert_eq!(
            ca.sensitive_data_processing[..9],
            [2, 1, 0, 2, 1, 0, 2, 1, 0]
        );
        assert_eq!(ca.known_child[..2], [2, 1]);
        assert_eq!(
            (ca.personal_data_consents, ca.mspa_service_provider_mode),
            (1, 2)
        );
        let va = UsValues::decode(UsSection::UsVa, b"BVWSSVY").unwrap();
        assert_eq!((va.sale_opt_out, va.targeted_advertising_opt_out), (1, 1));
        assert_eq!(va.sensitive_data_processing[..8], [2, 1, 0, 2, 1, 0, 2, 1]);
        assert_eq!((va.known_child[0], va.mspa_service_provider_mode), (1, 2));
        let co = UsValues::decode(UsSection::UsCo, b"BVWSSVg").unwrap();
        assert_eq!(co.sensitive_data_processing[..7], [2, 1, 0, 2, 1, 0, 2]);
        assert_eq!((co.known_child[0], co.mspa_service_provider_mode), (1, 2));
        let ct = UsValues::decode(UsSection::UsCt, b"BVWSSZFg").unwrap();
        assert_eq!(ct.sensitive_data_processing[..8], [2, 1, 0, 2, 1, 0, 2, 1]);
        assert_eq!(ct.known_child[..3], [2, 1, 0]);
        assert_eq!(ct.mspa_service_provider_mode, 2);
        assert!(UsValues::decode(UsSection::UsVa, b"z").is_err());
    }

    #[test]
    fn iab_whole_strings() {
        // iabgpp-java GppModelTest.java.
        assert_eq!(Gpp::decode("DBAA").unwrap().section_ids(), &[] as &[u8]);
        let g = Gpp::decode("DBABTA~1YNN").unwrap();
        assert_eq!(g.section_ids(), &[6]);
        let g = Gpp::decode("DBACNYA~CPSG_8APSG_8ANwAAAENAwCAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA~1YNN")
            .unwrap();
        assert_eq!(g.section_ids(), &[2, 6]);
        let all = "DBACOYs~CPSG_8APSG_8AAAAAAENAACAAAAAAAAAAAAAAAAAAAAA.QAAA.IAAA~BPSG_8APSG_8AAAAAAENAACAAAAAAAAAAAAAAAAAAA.YAAAAAAAAAA~1---~BAAAAAAAAABA.QA~BAAAAABA.QA~BAAAABA~BAAAAEA.QA~BAAAAAQA~BAAAAAEA.QA~BAAAAABA~BAAAAABA.QA~BAAAAAABAA.QA~BAAAAAQA.QA~BAAAAAABAA.QA~BAAAAAQA.QA~BAAAAAQA.QA~BAAAAABA.QA~BAAAAAAAQA.QA~BAAAAAQA.QA~BAAAAAABAA.QA";
        let g = Gpp::decode(all).unwrap();
        assert_eq!(g.section_ids().len(), all.split('~').count() - 1);
        // Every US section the header lists is read: usnat to usmn.
        let mut ids = vec![2, 5, 6];
        ids.extend(7..=23);
        assert_eq!(g.section_ids(), &ids[..]);
        assert_eq!(g.us_sections().count(), 17);
        // Nobody opted out there: no refusal, even for a health category.
        assert_eq!(crate::consent::gpp_verdict(&g, || true), None);
        let g = Gpp::decode("DBABLA~BVQqAAAAAgA.QA").unwrap();
        assert_eq!(g.section(UsSection::UsNat).unwrap().sale_opt_out, 2);
    }

    #[test]
    fn sections_and_counts() {
        let us = UsValues {
            version: 1,
            sale_opt_out: 1,
            ..UsValues::default()
        };
        let s = format!(
            "{}~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN~{}",
            encode_header(&[2, 6, 8]),
            us.encode(UsSection::UsCa)
        );
        let g = Gpp::decode(&s).unwrap();
        assert_eq!(g.section_ids(), &[2, 6, 8]);
        assert_eq!(g.section(UsSection::UsCa).unwrap().sale_opt_out, 1);
        assert!(g.section(UsSection::UsNat).is_none());
        let missing = format!("{}~abc", encode_header(&[2, 6]));
        assert_eq!(
            Gpp::decode(&missing),
            Err(GppError::SectionCount {
                listed: 2,
                present: 1
            })
        );
        assert_eq!(Gpp::decode(""), Err(GppError::Empty));
        assert_eq!(Gpp::decode("DBABMA~a+b"), Err(GppError::NotBase64Url));
        assert_eq!(Gpp::decode("CBABMA~x"), Err(GppError::NotAHeader(2)));
        assert!(Gpp::decode(&"D".repeat(MAX_GPP_STRING_BYTES + 1)).is_err());
        // A value of 3 is undefined.
        let bad = UsValues {
            version: 1,
            sale_opt_out: 3,
            ..UsValues::default()
        };
        assert_eq!(
            Gpp::decode(&format!(
                "{}~{}",
                encode_header(&[9]),
                bad.encode(UsSection::UsVa)
            )),
            Err(GppError::BadValue(UsSection::UsVa, UsField::SaleOptOut))
        );
    }

    const ALL_FIELDS: [UsField; 19] = {
        use UsField::*;
        [
            SharingNotice,
            ProcessingNotice,
            SaleOptOutNotice,
            SharingOptOutNotice,
            TargetedAdvertisingOptOutNotice,
            SensitiveDataProcessingOptOutNotice,
            SensitiveDataOptOutNotice,
            SensitiveDataLimitUseNotice,
            SaleOptOut,
            SharingOptOut,
            TargetedAdvertisingOptOut,
            SensitiveDataProcessing,
            KnownChildSensitiveDataConsents,
            PersonalDataConsents,
            AdditionalDataProcessingConsent,
            MspaCoveredTransaction,
            MspaOptOutOptionMode,
            MspaServiceProviderMode,
            MspaMode,
        ]
    };

    fn field(name: &str) -> UsField {
        *ALL_FIELDS
            .iter()
            .find(|f| f.as_str() == name)
            .unwrap_or_else(|| panic!("no field {name}"))
    }

    fn section(name: &str) -> UsSection {
        UsSection::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .unwrap_or_else(|| panic!("no section {name}"))
    }

    #[test]
    fn every_registered_us_id_has_a_layout() {
        // Registry ("Sections/Section Information.md"): 7 usnat, 8 usca,
        // 9 usva, 10 usco, 11 usut, 12 usct, 13 usfl, 14 usmt, 15 usor,
        // 16 ustx, 17 usde, 18 usia, 19 usne, 20 usnh, 21 usnj, 22 ustn,
        // 23 usmn, 24 usmd, 25 usin, 26 usky, 27 usri.
        let registry = [
            "usnat", "usca", "usva", "usco", "usut", "usct", "usfl", "usmt", "usor", "ustx",
            "usde", "usia", "usne", "usnh", "usnj", "ustn", "usmn", "usmd", "usin", "usky", "usri",
        ];
        for (i, name) in registry.iter().enumerate() {
            let id = 7 + i as u64;
            let s = UsSection::from_id(id).unwrap_or_else(|| panic!("{id} not read"));
            assert_eq!((s.as_str(), u64::from(s.id())), (*name, id));
            assert_eq!(SPECS[s.index()].section, s);
        }
        assert_eq!(
            u64::from(LAST_REGISTERED_SECTION),
            6 + registry.len() as u64
        );
        assert_eq!(UsSection::from_id(28), None);
        assert_eq!(UsSection::from_id(6), None);
    }

    #[test]
    fn layouts_match_the_specifications() {
        for (name, _) in spec_text::FIELDS {
            let s = section(name);
            let render = |l: Layout| -> String {
                l.iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(f, n)| match n {
                        1 => f.as_str().to_string(),
                        n => format!("{}*{n}", f.as_str()),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let (core, sub) = spec_text::fields(name);
            assert_eq!(render(layout(s, usize::MAX)), core, "{name}");
            let sub_here = match s.sub_section() {
                SubSection::Gpc => None,
                SubSection::SensitiveConsents(n) => Some(format!("SensitiveDataProcessing*{n}")),
            };
            assert_eq!(sub_here.as_deref(), sub, "{name}");
        }
    }

    /// Every field of every section, given distinct values by the second
    /// encoder, decodes to those values in the right place.
    #[test]
    fn state_sections_decode_as_specified() {
        for (name, _) in spec_text::FIELDS {
            let s = section(name);
            let (core, sub) = spec_text::fields(name);
            let mut all = spec_text::parse(core);
            all.extend(sub.map(spec_text::parse).unwrap_or_default());
            // 1, 2, 0, 1, 2, ... across the section's two-bit values.
            let mut k = 0u8;
            let set: Vec<(&str, Vec<u8>)> = all
                .iter()
                .map(|&(f, n)| {
                    let vals = (0..n)
                        .map(|_| {
                            k += 1;
                            k % 3
                        })
                        .collect();
                    (f, vals)
                })
                .collect();
            let refs: Vec<(&str, &[u8])> = set.iter().map(|(f, v)| (*f, &v[..])).collect();
            let text = spec_text::encode(name, &refs);
            let g = Gpp::decode(&format!("{}~{text}", encode_header(&[s.id()])))
                .unwrap_or_else(|e| panic!("{name} {text}: {e}"));
            let mut v = *g.section(s).unwrap();
            assert_eq!(v.version, 1);
            for (f, want) in &set {
                let got = &v.slot(field(f))[..want.len()];
                assert_eq!(got, &want[..], "{name} {f} ({text})");
            }
            // The decoder's own encoder gives the same values back.
            assert_eq!(UsValues::decode(s, v.encode(s).as_bytes()), Ok(v), "{name}");
        }
    }

    #[test]
    fn state_section_errors() {
        for (name, _) in spec_text::FIELDS {
            let s = section(name);
            let dec = |text: &str| Gpp::decode(&format!("{}~{text}", encode_header(&[s.id()])));
            let max = if name == "usnat" { 2 } else { 1 };
            for version in [0, max + 1, 63] {
                assert_eq!(
                    dec(&spec_text::encode(name, &[("Version", &[version])])),
                    Err(GppError::UnsupportedSectionVersion(s, version)),
                    "{name}"
                );
            }
            // One character short of the last field (usnat: short of
            // its 60-bit layout too, else it reads as that one).
            let full = spec_text::encode(name, &[("SaleOptOut", &[2])]);
            assert!(dec(&full).is_ok(), "{name}");
            let cut = if name == "usnat" { 3 } else { 1 };
            assert_eq!(
                dec(&full[..full.len() - cut]),
                Err(GppError::Truncated),
                "{name}"
            );
            assert_eq!(
                dec(&spec_text::encode(name, &[("SaleOptOut", &[3])])),
                Err(GppError::BadValue(s, UsField::SaleOptOut)),
                "{name}"
            );
            if let SubSection::SensitiveConsents(_) = s.sub_section() {
                let with = spec_text::encode(name, &[("SensitiveDataProcessing", &[2, 2])]);
                assert!(dec(&with).is_ok(), "{name}");
                assert_eq!(
                    dec(&with[..with.len() - 1]),
                    Err(GppError::Truncated),
                    "{name}"
                );
                let three = spec_text::encode(name, &[("SensitiveDataProcessing", &[0, 3])]);
                assert_eq!(
                    dec(&three),
                    Err(GppError::BadValue(s, UsField::SensitiveDataProcessing)),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn iab_new_state_sections() {
        // iabgpp-es modules/cmpapi/test/encoder/section/Us*.test.ts: the
        // values its "should encode to" tests set (notices and opt-outs 1,
        // lists mostly 2,1,0 repeated, MSPA 1,1,2) and the strings they
        // assert; usmd and usin from their "should decode" tests.
        let ut = UsValues::decode(UsSection::UsUt, b"BVVkklWA").unwrap();
        assert_eq!(ut.sensitive_data_processing_opt_out_notice, 1);
        assert_eq!((ut.sale_opt_out, ut.targeted_advertising_opt_out), (1, 1));
        assert_eq!(ut.sensitive_data_processing[..8], [2, 1, 0, 2, 1, 0, 2, 1]);
        assert_eq!(ut.known_child[0], 1);
        assert_eq!(
            (
                ut.mspa_covered_transaction,
                ut.mspa_opt_out_option_mode,
                ut.mspa_service_provider_mode
            ),
            (1, 1, 2)
        );
        let fl = UsValues::decode(UsSection::UsFl, b"BVWSSZlY").unwrap();
        assert_eq!((fl.processing_notice, fl.sale_opt_out), (1, 1));
        assert_eq!(fl.sensitive_data_processing[..8], [2, 1, 0, 2, 1, 0, 2, 1]);
        assert_eq!(fl.known_child[..3], [2, 1, 2]);
        assert_eq!(fl.additional_data_processing_consent, 1);
        assert_eq!(fl.mspa_service_provider_mode, 2);
        let g = Gpp::decode(&format!("{}~BVWSSVWA.YA", encode_header(&[16]))).unwrap();
        let tx = g.section(UsSection::UsTx).unwrap();
        assert_eq!(tx.sensitive_data_processing[..8], [2, 1, 0, 2, 1, 0, 2, 1]);
        assert_eq!(
            (tx.known_child[0], tx.additional_data_processing_consent),
            (1, 1)
        );
        assert_eq!(tx.mspa_service_provider_mode, 2);
        assert_eq!(g.gpc(), Some(UsSection::UsTx));
        let de = UsValues::decode(UsSection::UsDe, b"BVWSSSSVYA").unwrap();
        assert_eq!(
            de.sensitive_data_processing[..9],
            [2, 1, 0, 2, 1, 0, 2, 1, 0]
        );
        assert_eq!(de.known_child, [2, 1, 0, 2, 1]);
        assert_eq!(de.mspa_service_provider_mode, 2);
        let nj = UsValues::decode(UsSection::UsNj, b"BVWSSRklWA").unwrap();
        assert_eq!(
            nj.sensitive_data_processing[..10],
            [2, 1, 0, 2, 1, 0, 2, 1, 0, 1]
        );
        assert_eq!(nj.known_child, [2, 1, 0, 2, 1]);
        let ia = UsValues::decode(UsSection::UsIa, b"BVVkklWA").unwrap();
        assert_eq!(ia.sensitive_data_processing_opt_out_notice, 1);
        assert_eq!(ia.known_child[0], 1);
        let g = Gpp::decode(&format!("{}~BVVU.YA", encode_header(&[24]))).unwrap();
        let md = g.section(UsSection::UsMd).unwrap();
        assert_eq!(
            (
                md.mspa_covered_transaction,
                md.mspa_mode,
                md.processing_notice
            ),
            (1, 1, 1)
        );
        assert_eq!(g.gpc(), Some(UsSection::UsMd));
        let g = Gpp::decode(&format!("{}~BVVV.kkk", encode_header(&[25]))).unwrap();
        let r#in = g.section(UsSection::UsIn).unwrap();
        assert_eq!((r#in.mspa_covered_transaction, r#in.mspa_mode), (1, 1));
        assert_eq!(
            r#in.sensitive_data_processing[..8],
            [2, 1, 0, 2, 1, 0, 2, 1]
        );
        // The Sensitive Data Consents sub-section is not a GPC one.
        assert_eq!(g.gpc(), None);
        for s in [UsSection::UsUt, UsSection::UsMd, UsSection::UsIn] {
            assert!(UsValues::decode(s, b"z").is_err());
        }
    }

    #[test]
    fn sections_beyond_the_registry_are_unread() {
        let g = Gpp::decode(&format!("{}~BAAA~xyz", encode_header(&[7, 28]))).unwrap_err();
        // usnat "BAAA" is too short; with a whole one, 28 is kept unread.
        assert_eq!(g, GppError::Truncated);
        let nat = UsValues {
            version: 1,
            ..UsValues::default()
        }
        .encode(UsSection::UsNat);
        let g = Gpp::decode(&format!("{}~{nat}~xyz~abc", encode_header(&[7, 28, 40]))).unwrap();
        assert_eq!(g.unread_section(), Some(28));
        assert_eq!(g.us_sections().count(), 1);
        let g = Gpp::decode(&format!("{}~xyz~1YNN", encode_header(&[2, 6]))).unwrap();
        assert_eq!(g.unread_section(), None);
    }

    fn values(section: UsSection) -> impl Strategy<Value = UsValues> {
        let max_version = section.spec().max_version;
        (1..=max_version, proptest::collection::vec(0u8..3, 48)).prop_map(move |(version, xs)| {
            let mut v = UsValues {
                version,
                ..UsValues::default()
            };
            let mut it = xs.into_iter();
            let bits = if version >= 2 { usize::MAX } else { 0 };
            for &(field, count) in layout(section, bits) {
                for x in v.slot(field).iter_mut().take(count as usize) {
                    *x = it.next().unwrap_or(0);
                }
            }
            if let SubSection::SensitiveConsents(n) = section.sub_section() {
                for x in v.sensitive_data_processing.iter_mut().take(n as usize) {
                    *x = it.next().unwrap_or(0);
                }
            }
            v
        })
    }

    fn gpp_model() -> impl Strategy<Value = Vec<(UsSection, UsValues)>> {
        UsSection::ALL
            .map(|s| proptest::option::of(values(s)))
            .prop_map(|vs| {
                UsSection::ALL
                    .into_iter()
                    .zip(vs)
                    .filter_map(|(s, v)| v.map(|v| (s, v)))
                    .collect()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        #[test]
        fn decode_of_encode_is_identity(secs in gpp_model(), gpc in any::<bool>()) {
            let ids: Vec<u8> = secs.iter().map(|(s, _)| s.id()).collect();
            let mut s = encode_header(&ids);
            for (sec, v) in &secs {
                s.push('~');
                s.push_str(&v.encode(*sec));
                if gpc && sec.sub_section() == SubSection::Gpc {
                    s.push_str(".YA");
                }
            }
            let g = Gpp::decode(&s).expect("encoded strings decode");
            prop_assert_eq!(g.section_ids(), &ids[..]);
            let got: Vec<(UsSection, UsValues)> = g.us_sections().map(|(s, v)| (s, *v)).collect();
            prop_assert_eq!(got, secs);
        }

        #[test]
        fn header_ids_roundtrip(ids in proptest::collection::btree_set(1u8..=60, 0..20)) {
            let ids: Vec<u8> = ids.into_iter().collect();
            let mut s = encode_header(&ids);
            for _ in &ids {
                s.push_str("~AA");
            }
            let g = Gpp::decode(&s);
            // US ids get "AA" (version 0): an error naming the section;
            // so does uspv1 (not a US Privacy string); other ids decode,
            // those beyond the registry remembered as unread.
            match g {
                Ok(g) => {
                    prop_assert_eq!(g.section_ids(), &ids[..]);
                    let beyond = ids.iter().copied().find(|&i| i > LAST_REGISTERED_SECTION);
                    prop_assert_eq!(g.unread_section(), beyond);
                }
                Err(e) => prop_assert!(
                    matches!(e, GppError::UnsupportedSectionVersion(..))
                        || (e == GppError::BadUsPrivacy && ids.contains(&6)),
                    "{e:?}"
                ),
            }
        }

        #[test]
        fn arbitrary_text_never_panics(s in "[A-Za-z0-9_.~=-]{0,200}") {
            let _ = Gpp::decode(&s);
        }

        /// The one-word section reader gives what reading field by field
        /// gives, for every section and any text (short, long, outside the
        /// alphabet).
        #[test]
        fn section_reader_agrees_with_bit_reads(s in "[A-Za-z0-9_+-]{0,30}") {
            for section in UsSection::ALL {
                prop_assert_eq!(
                    UsValues::decode(section, s.as_bytes()),
                    decode_bit_by_bit(section, s.as_bytes()),
                    "{:?}", section
                );
            }
        }
    }
}
