//! Consent signals an event carries and the per-partner decision on them
//! (see docs/policy.md#consent):
//!
//! - `consent.tcf`: an IAB TCF v2.2 TC string ([`tcf`]); a partner with a
//!   TCF vendor id needs its purposes (default 1, 3, 4) and that vendor
//!   consented.
//! - `consent.gpp`: an IAB GPP string ([`gpp`]); its US sections' (usnat
//!   and every state section of the GPP registry, ids 7 to 27) sale,
//!   sharing and targeted-advertising opt-outs refuse every partner that
//!   honours them (the default), and so do a known child and, for a
//!   health-like category, a refused consumer-health category; a section
//!   id beyond the registry adgate follows refuses too (fail closed).
//! - `consent.ad_user_data` / `consent.ad_personalization`: Google Consent
//!   Mode v2; a partner with `consent_mode = "required"` needs both
//!   `"granted"`.
//!
//! The strings are decoded at most once per event, and only when some
//! partner needs them ([`Signals`]); each partner then costs a few bit tests.
//! A string the same thread decoded a moment ago (the same bytes) is not
//! decoded again ([`cache`]).
//! A string that cannot be decoded refuses every partner that uses it.

pub mod bits;
pub mod cache;
pub mod gpp;
pub mod tcf;

use std::cell::OnceCell;
use std::fmt;

use gpp::{Gpp, GppError, UsField, UsSection};
use tcf::{TcString, TcfError};

/// TCF purposes checked when a partner names none: store and access
/// information (1), create a personalised ads profile (3), use it to select
/// ads (4): what ad targeting on a pseudonymous id relies on.
pub const DEFAULT_TCF_PURPOSES: [u8; 3] = [1, 3, 4];
/// TCF v2.2 defines purposes 1-11.
pub const MAX_TCF_PURPOSE: u8 = 11;

/// Categories (`context.category`, case-insensitive substring) treated as
/// consumer health for the GPP sensitive-data rule, besides the operator's
/// `privacy.sensitive_categories`.
pub const HEALTH_CATEGORY_MARKERS: [&str; 6] =
    ["health", "pharma", "medic", "wellness", "fitness", "drug"];

/// Google Consent Mode setting of a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsentMode {
    /// Signals are not looked at.
    #[default]
    Ignore,
    /// `ad_user_data` and `ad_personalization` must both be `"granted"`.
    Required,
}

impl ConsentMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMode::Ignore => "ignore",
            ConsentMode::Required => "required",
        }
    }
}

/// A partner's `[partners.consent]`, validated (crate::config builds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerConsent {
    /// Checked when set and the event has a TC string.
    pub tcf_vendor_id: Option<u16>,
    pub tcf_purposes: Vec<u8>,
    /// An event without a TC string is refused.
    pub tcf_required: bool,
    /// `tcf_purposes` written in the config: the TC string is used even
    /// without a vendor id.
    pub tcf_purposes_set: bool,
    pub gpp_us: bool,
    pub consent_mode: ConsentMode,
}

impl Default for PartnerConsent {
    /// What a partner without `[partners.consent]` gets: GPP US opt-outs
    /// honoured, TCF and Consent Mode not looked at.
    fn default() -> PartnerConsent {
        PartnerConsent {
            tcf_vendor_id: None,
            tcf_purposes: DEFAULT_TCF_PURPOSES.to_vec(),
            tcf_required: false,
            tcf_purposes_set: false,
            gpp_us: true,
            consent_mode: ConsentMode::Ignore,
        }
    }
}

impl PartnerConsent {
    /// Whether the TC string matters to this partner.
    pub fn uses_tcf(&self) -> bool {
        self.tcf_vendor_id.is_some() || self.tcf_required || self.tcf_purposes_set
    }

    /// One line for `check-config`'s summary.
    pub fn summary(&self) -> String {
        let tcf = if self.uses_tcf() {
            format!(
                "tcf purposes [{}]{}{}",
                self.tcf_purposes
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                self.tcf_vendor_id
                    .map(|v| format!(" + vendor {v}"))
                    .unwrap_or_default(),
                if self.tcf_required {
                    ", TC string required"
                } else {
                    ""
                }
            )
        } else {
            "tcf not used".to_string()
        };
        format!(
            "{tcf}; gpp_us {}; consent_mode {}",
            if self.gpp_us { "on" } else { "off" },
            self.consent_mode.as_str()
        )
    }
}

/// A partner's consent rules compiled for the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentRule {
    tcf: Option<TcfRule>,
    gpp_us: bool,
    mode_required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TcfRule {
    vendor: Option<u16>,
    /// Bit `n - 1` = purpose `n`.
    purposes: u32,
    required: bool,
}

impl ConsentRule {
    pub fn new(c: &PartnerConsent) -> ConsentRule {
        ConsentRule {
            tcf: c.uses_tcf().then(|| TcfRule {
                vendor: c.tcf_vendor_id,
                purposes: c
                    .tcf_purposes
                    .iter()
                    .filter(|p| (1..=24).contains(*p))
                    .fold(0, |m, p| m | 1 << (p - 1)),
                required: c.tcf_required,
            }),
            gpp_us: c.gpp_us,
            mode_required: c.consent_mode == ConsentMode::Required,
        }
    }

    /// Does this partner check TC strings? When it does and an event with
    /// one passed [`ConsentRule::check`], the string consented to its
    /// purposes (and vendor).
    pub fn uses_tcf(&self) -> bool {
        self.tcf.is_some()
    }

    /// `None`: the signals allow this partner. Otherwise the signal that
    /// refused, TCF first, then GPP, then Consent Mode.
    pub fn check(&self, s: &Signals<'_>) -> Option<Refusal> {
        if let Some(rule) = &self.tcf {
            // The TC string as `consent.tcf` and as the GPP string's
            // tcfeuv2 section: each one present must consent.
            let strings = [s.decoded(), s.gpp_decoded()];
            if strings.iter().all(Option::is_none) {
                if rule.required {
                    return Some(Refusal::TcfMissing);
                }
                if s.gpp_has_tcf_ca() {
                    return Some(Refusal::TcfCanada);
                }
            }
            for d in strings.into_iter().flatten() {
                let (tc, hits) = match d {
                    Err(e) => return Some(Refusal::TcfUndecodable(e)),
                    Ok(d) => d,
                };
                if let Some(p) = tc.first_missing_purpose(rule.purposes) {
                    return Some(Refusal::TcfPurpose(p));
                }
                if let Some(v) = rule.vendor {
                    if !s.vendor_consent(&tc, hits, v) {
                        return Some(Refusal::TcfVendor(v));
                    }
                    if let Some(p) = tc.restricted_purpose(rule.purposes, v) {
                        return Some(Refusal::TcfRestricted {
                            purpose: p,
                            vendor: v,
                        });
                    }
                }
            }
        }
        if self.gpp_us {
            if let Some(r) = s.gpp_refusal().or_else(|| s.us_privacy_refusal()) {
                return Some(r);
            }
        }
        if self.mode_required {
            for (key, v) in [
                ("ad_user_data", s.ad_user_data),
                ("ad_personalization", s.ad_personalization),
            ] {
                if v != ModeSignal::Granted {
                    return Some(Refusal::ConsentMode { key, value: v });
                }
            }
        }
        None
    }
}

/// A Consent Mode value as the event carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeSignal {
    Absent,
    Granted,
    Denied,
    /// Any other value, or not a string.
    Invalid,
}

impl ModeSignal {
    pub fn parse(v: Option<&str>) -> ModeSignal {
        match v {
            None => ModeSignal::Absent,
            Some("granted") => ModeSignal::Granted,
            Some("denied") => ModeSignal::Denied,
            Some(_) => ModeSignal::Invalid,
        }
    }
}

/// A consent string member as the event carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw<'e> {
    Absent,
    Text(&'e str),
    /// Present but not a string: undecodable.
    NotAString,
}

/// Why the signals refused a partner: names the purpose, vendor, GPP
/// section and field, or Consent Mode key that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TcfMissing,
    TcfUndecodable(Option<TcfError>),
    TcfPurpose(u8),
    TcfVendor(u16),
    TcfRestricted {
        purpose: u8,
        vendor: u16,
    },
    /// `consent.us_privacy` (an IAB US Privacy string outside GPP) says
    /// OptOutSale = `Y`.
    UsPrivacy,
    /// `consent.us_privacy` is not `1` and three of `Y`, `N`, `-`.
    UsPrivacyUndecodable,
    /// The GPP string carries TCF Canada (`tcfcav1`), which adgate does
    /// not read, and no TC string it reads: refused (fail closed).
    TcfCanada,
    GppUndecodable(Option<GppError>),
    /// The uspv1 section's OptOutSale is `Y`.
    GppUsPrivacy,
    /// A US section's GPC sub-section says Gpc = 1.
    GppGpc(UsSection),
    /// The header lists a section id beyond the GPP registry adgate
    /// follows (above [`gpp::LAST_REGISTERED_SECTION`]): possibly a later
    /// US state whose opt-out cannot be read, so refused (fail closed).
    GppUnreadSection(u8),
    Gpp {
        section: UsSection,
        field: UsField,
        /// 1-based index in a list field.
        index: Option<u8>,
        value: u8,
    },
    ConsentMode {
        key: &'static str,
        value: ModeSignal,
    },
}

impl Refusal {
    /// Which signal decided, for the ledger and metrics-free summaries:
    /// `tcf`, `gpp` or `consent_mode`.
    pub fn signal(&self) -> &'static str {
        match self {
            Refusal::TcfMissing
            | Refusal::TcfUndecodable(_)
            | Refusal::TcfPurpose(_)
            | Refusal::TcfVendor(_)
            | Refusal::TcfRestricted { .. }
            | Refusal::TcfCanada => "tcf",
            Refusal::GppUndecodable(_)
            | Refusal::GppUsPrivacy
            | Refusal::GppGpc(_)
            | Refusal::GppUnreadSection(_)
            | Refusal::Gpp { .. }
            | Refusal::UsPrivacy
            | Refusal::UsPrivacyUndecodable => "gpp",
            Refusal::ConsentMode { .. } => "consent_mode",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TcfMissing => {
                f.write_str("no TC string (consent.tcf) and this partner has tcf_required = true")
            }
            Refusal::TcfUndecodable(None) => {
                f.write_str("TC string could not be decoded (consent.tcf is not a string)")
            }
            Refusal::TcfUndecodable(Some(e)) => write!(f, "TC string could not be decoded: {e}"),
            Refusal::TcfPurpose(p) => write!(f, "TCF purpose {p} not consented"),
            Refusal::TcfVendor(v) => write!(f, "TCF vendor {v} not consented"),
            Refusal::TcfRestricted { purpose, vendor } => write!(
                f,
                "TCF publisher restriction: purpose {purpose} not allowed for vendor {vendor}"
            ),
            Refusal::TcfCanada => f.write_str(
                "the GPP string carries TCF Canada (tcfcav1), which adgate does not read, \
                 and no TC string it reads (fail closed)",
            ),
            Refusal::GppUndecodable(None) => {
                f.write_str("GPP string could not be decoded (consent.gpp is not a string)")
            }
            Refusal::GppUndecodable(Some(e)) => write!(f, "GPP string could not be decoded: {e}"),
            Refusal::GppUsPrivacy => f.write_str("GPP uspv1 OptOutSale = opted out"),
            Refusal::UsPrivacy => f.write_str("consent.us_privacy OptOutSale = opted out"),
            Refusal::UsPrivacyUndecodable => f.write_str(
                "consent.us_privacy could not be read: a US Privacy string is 1 and three of Y, N, -",
            ),
            Refusal::GppGpc(section) => write!(
                f,
                "GPP {} Gpc = 1 (Global Privacy Control)",
                section.as_str()
            ),
            Refusal::GppUnreadSection(id) => write!(
                f,
                "GPP section {id} not read: beyond the GPP registry adgate follows (ids up to {}), \
                 it may be a US state's opt-out (fail closed)",
                gpp::LAST_REGISTERED_SECTION
            ),
            Refusal::Gpp {
                section,
                field,
                index,
                value,
            } => {
                write!(f, "GPP {} {}", section.as_str(), field.as_str())?;
                if let Some(i) = index {
                    write!(f, "[{i}]")?;
                }
                let meaning = match (field, value) {
                    (UsField::KnownChildSensitiveDataConsents, 1) => "no consent (known child)",
                    (UsField::KnownChildSensitiveDataConsents, _) => "consent (known child)",
                    (UsField::SensitiveDataProcessing, _) if section.sensitive_is_opt_out() => {
                        "opted out (consumer health)"
                    }
                    (UsField::SensitiveDataProcessing, _) => "no consent (consumer health)",
                    _ => "opted out",
                };
                write!(f, " = {meaning}")
            }
            Refusal::ConsentMode { key, value } => write!(
                f,
                "consent_mode = \"required\" and consent.{key} is {}",
                match value {
                    ModeSignal::Absent => "absent",
                    ModeSignal::Denied => "\"denied\"",
                    ModeSignal::Invalid => "neither \"granted\" nor \"denied\"",
                    ModeSignal::Granted => "\"granted\"",
                }
            ),
        }
    }
}

/// A decoded TC string and the probed vendors' consent bits, or why it
/// could not be decoded (`None`: not a string).
type Decoded<'e> = Result<(TcString<'e>, u64), Option<TcfError>>;

/// One event's consent signals; the strings are decoded on first use and
/// the result shared by every partner.
#[derive(Debug)]
pub struct Signals<'e> {
    tcf_text: Raw<'e>,
    gpp_text: Raw<'e>,
    us_privacy: Raw<'e>,
    pub ad_user_data: ModeSignal,
    pub ad_personalization: ModeSignal,
    category: Option<&'e str>,
    sensitive: &'e [String],
    /// Vendor ids looked up while the TC string is decoded.
    probe: &'e [u16],
    /// The TC string and the probed vendors' consent bits.
    tcf: OnceCell<Option<Decoded<'e>>>,
    /// The same for the TC string of the GPP string's tcfeuv2 section.
    gpp_tcf: OnceCell<Option<Decoded<'e>>>,
    gpp: OnceCell<Option<Refusal>>,
}

/// Whether a US Privacy string (IAB CCPA, `1YNN`) opts out of sale: its
/// third character is `Y`. `None` when it does not read as one: not `1` and
/// three of `Y`, `N`, `-` (any case, blanks around it trimmed). One reading
/// for `consent.us_privacy` and the same string under other names.
pub fn us_privacy_opts_out(s: &str) -> Option<bool> {
    match s.trim().as_bytes() {
        [b'1', rest @ ..] if rest.len() == 3 && rest.iter().all(|c| b"YNyn-".contains(c)) => {
            Some(rest[1].eq_ignore_ascii_case(&b'Y'))
        }
        _ => None,
    }
}

impl<'e> Signals<'e> {
    /// `category` is `context.category`; `sensitive` the operator's
    /// sensitive categories (both count as health-like for GPP).
    pub fn new(
        tcf: Raw<'e>,
        gpp: Raw<'e>,
        ad_user_data: ModeSignal,
        ad_personalization: ModeSignal,
        category: Option<&'e str>,
        sensitive: &'e [String],
    ) -> Signals<'e> {
        Signals {
            tcf_text: tcf,
            gpp_text: gpp,
            us_privacy: Raw::Absent,
            ad_user_data,
            ad_personalization,
            category,
            sensitive,
            probe: &[],
            tcf: OnceCell::new(),
            gpp_tcf: OnceCell::new(),
            gpp: OnceCell::new(),
        }
    }

    /// No signals at all (the old two booleans only).
    pub fn none() -> Signals<'static> {
        Signals::new(
            Raw::Absent,
            Raw::Absent,
            ModeSignal::Absent,
            ModeSignal::Absent,
            None,
            &[],
        )
    }

    /// Vendor ids (the partners' `tcf_vendor_id`s) to look up while the
    /// TC string is decoded, so each partner's vendor check is a bit test
    /// rather than a walk of the string's vendor ranges.
    pub fn probing(mut self, vendors: &'e [u16]) -> Signals<'e> {
        self.probe = vendors;
        self
    }

    /// The event's `consent.us_privacy`, a US Privacy string outside GPP,
    /// honoured as GPP's uspv1 section is.
    pub fn with_us_privacy(mut self, us_privacy: Raw<'e>) -> Signals<'e> {
        self.us_privacy = us_privacy;
        self
    }

    /// `consent.us_privacy`'s verdict: OptOutSale (its third character)
    /// `Y` refuses, and so does a string that is not `1` and three of `Y`,
    /// `N`, `-` (fail closed).
    fn us_privacy_refusal(&self) -> Option<Refusal> {
        match self.us_privacy {
            Raw::Absent => None,
            Raw::NotAString => Some(Refusal::UsPrivacyUndecodable),
            Raw::Text(t) => match us_privacy_opts_out(t) {
                Some(true) => Some(Refusal::UsPrivacy),
                Some(false) => None,
                None => Some(Refusal::UsPrivacyUndecodable),
            },
        }
    }

    fn decoded(&self) -> Option<Decoded<'e>> {
        *self.tcf.get_or_init(|| match self.tcf_text {
            Raw::Absent => None,
            Raw::NotAString => Some(Err(None)),
            Raw::Text(t) => Some(cache::tcf(t, self.probe).map_err(Some)),
        })
    }

    /// The TC string of the GPP string's tcfeuv2 section, decoded once;
    /// `None` without a GPP string, one that cannot be decoded (its own
    /// refusal, [`Signals::gpp_refusal`]) or one without that section.
    fn gpp_decoded(&self) -> Option<Decoded<'e>> {
        *self.gpp_tcf.get_or_init(|| {
            let Raw::Text(t) = self.gpp_text else {
                return None;
            };
            let tc = cache::gpp(t).ok()?.tcf_eu(t)?;
            Some(cache::tcf(tc, self.probe).map_err(Some))
        })
    }

    fn gpp_has_tcf_ca(&self) -> bool {
        match self.gpp_text {
            Raw::Text(t) => cache::gpp(t).is_ok_and(|g| g.has_tcf_ca()),
            _ => false,
        }
    }

    /// The TC string, decoded once; `None` when the event has none.
    pub fn tcf(&self) -> Option<Result<TcString<'e>, Option<TcfError>>> {
        self.decoded().map(|r| r.map(|(tc, _)| tc))
    }

    /// Does every TC string the event carries (`consent.tcf`, the GPP
    /// tcfeuv2 section) consent to TCF's default ad purposes (1, 3, 4)?
    /// `None` when it carries none; a string that cannot be decoded is no
    /// consent.
    pub fn tcf_default_purposes(&self) -> Option<bool> {
        let all = DEFAULT_TCF_PURPOSES
            .iter()
            .fold(0u32, |m, p| m | 1 << (p - 1));
        let strings = [self.decoded(), self.gpp_decoded()];
        if strings.iter().all(Option::is_none) {
            // TCF Canada alone: a TC string adgate does not read is no
            // consent (fail closed), as for a TCF partner.
            return self.gpp_has_tcf_ca().then_some(false);
        }
        Some(
            strings
                .into_iter()
                .flatten()
                .all(|d| d.is_ok_and(|(tc, _)| tc.first_missing_purpose(all).is_none())),
        )
    }

    /// Does a TC string the event carries (`consent.tcf`, the GPP tcfeuv2
    /// section) refuse vendor `v`: not decodable, no consent bit for it, or
    /// a publisher restriction on TCF's default ad purposes for it? `false`
    /// without a TC string; `true` with TCF Canada alone (not read, so no
    /// consent).
    pub fn tcf_refuses_vendor(&self, v: u16) -> bool {
        let all = DEFAULT_TCF_PURPOSES
            .iter()
            .fold(0u32, |m, p| m | 1 << (p - 1));
        let strings = [self.decoded(), self.gpp_decoded()];
        if strings.iter().all(Option::is_none) {
            return self.gpp_has_tcf_ca();
        }
        strings.into_iter().flatten().any(|d| match d {
            Err(_) => true,
            Ok((tc, hits)) => {
                !self.vendor_consent(&tc, hits, v) || tc.restricted_purpose(all, v).is_some()
            }
        })
    }

    /// Vendor `v` consented in `tc` (one of this event's TC strings, decoded
    /// with the consent bits `hits` of the probed vendors): a bit of the
    /// probe when `v` was probed, else a lookup in the string.
    fn vendor_consent(&self, tc: &TcString<'e>, hits: u64, v: u16) -> bool {
        match self.probe.iter().take(64).position(|&p| p == v) {
            Some(i) => hits & (1 << i) != 0,
            None => tc.vendor_consent(v),
        }
    }

    /// The GPP verdict (partner-independent), decided once.
    pub fn gpp_refusal(&self) -> Option<Refusal> {
        *self.gpp.get_or_init(|| match self.gpp_text {
            Raw::Absent => None,
            Raw::NotAString => Some(Refusal::GppUndecodable(None)),
            Raw::Text(t) => match cache::gpp(t) {
                Err(e) => Some(Refusal::GppUndecodable(Some(e))),
                Ok(g) => gpp_verdict(&g, || {
                    self.category
                        .is_some_and(|c| is_health_category(c, self.sensitive))
                }),
            },
        })
    }
}

/// The first US opt-out, known-child flag or (for a health-like category)
/// refused consumer-health field in `g`, in registry order (any section
/// refusing wins: a usnat "did not opt out" does not outweigh a usut opt-out);
/// then GPC, uspv1 and a section id beyond the registry. `health_category` is asked only
/// when a consumer-health field is refused.
pub fn gpp_verdict(g: &Gpp, health_category: impl Fn() -> bool) -> Option<Refusal> {
    for (section, v) in g.us_sections() {
        let refuse = |field, index: Option<u8>, value| {
            Some(Refusal::Gpp {
                section,
                field,
                index,
                value,
            })
        };
        for (field, value) in [
            (UsField::SaleOptOut, v.sale_opt_out),
            (UsField::SharingOptOut, v.sharing_opt_out),
            (
                UsField::TargetedAdvertisingOptOut,
                v.targeted_advertising_opt_out,
            ),
        ] {
            if value == 1 {
                return refuse(field, None, value);
            }
        }
        if let Some(i) = v.known_child.iter().position(|&x| x != 0) {
            return refuse(
                UsField::KnownChildSensitiveDataConsents,
                Some(i as u8 + 1),
                v.known_child[i],
            );
        }
        for &c in section.health_categories() {
            let value = v.sensitive_data_processing[c as usize - 1];
            if value == 1 && health_category() {
                return refuse(UsField::SensitiveDataProcessing, Some(c), value);
            }
        }
    }
    if let Some(section) = g.gpc() {
        return Some(Refusal::GppGpc(section));
    }
    if g.us_privacy().is_some_and(|u| u[2] == b'Y') {
        return Some(Refusal::GppUsPrivacy);
    }
    if let Some(id) = g.unread_section() {
        return Some(Refusal::GppUnreadSection(id));
    }
    None
}

/// `category` looks like consumer health (no allocation).
pub fn is_health_category(category: &str, sensitive: &[String]) -> bool {
    let hay = category.as_bytes();
    HEALTH_CATEGORY_MARKERS.iter().any(|m| {
        hay.windows(m.len())
            .any(|w| w.eq_ignore_ascii_case(m.as_bytes()))
    }) || sensitive.iter().any(|s| s.eq_ignore_ascii_case(category))
}

#[cfg(test)]
mod tests {
    use super::gpp::{encode_header, UsValues};
    use super::tcf::TcModel;
    use super::*;

    fn tc(purposes: u32, vendors: Vec<u16>) -> String {
        TcModel {
            consent_language: *b"EN",
            publisher_cc: *b"FR",
            purposes_consent: purposes,
            vendor_consents: vendors,
            ..TcModel::default()
        }
        .encode()
    }

    fn signals<'e>(tcf: Raw<'e>, gpp: Raw<'e>, category: Option<&'e str>) -> Signals<'e> {
        Signals::new(
            tcf,
            gpp,
            ModeSignal::Absent,
            ModeSignal::Absent,
            category,
            &[],
        )
    }

    fn rule(vendor: Option<u16>, required: bool) -> ConsentRule {
        ConsentRule::new(&PartnerConsent {
            tcf_vendor_id: vendor,
            tcf_required: required,
            ..PartnerConsent::default()
        })
    }

    #[test]
    fn tcf_purposes_and_vendor() {
        let all = tc(0b1101, vec![755]);
        let no4 = tc(0b0101, vec![755]);
        let other_vendor = tc(0b1101, vec![10]);
        let r = rule(Some(755), false);
        assert_eq!(r.check(&signals(Raw::Text(&all), Raw::Absent, None)), None);
        assert_eq!(
            r.check(&signals(Raw::Text(&no4), Raw::Absent, None)),
            Some(Refusal::TcfPurpose(4))
        );
        let refusal = r.check(&signals(Raw::Text(&other_vendor), Raw::Absent, None));
        assert_eq!(refusal, Some(Refusal::TcfVendor(755)));
        assert_eq!(refusal.unwrap().to_string(), "TCF vendor 755 not consented");
        // No TC string: allowed unless required.
        assert_eq!(r.check(&Signals::none()), None);
        assert_eq!(
            rule(Some(755), true).check(&Signals::none()),
            Some(Refusal::TcfMissing)
        );
        // Undecodable: refused by TCF users, not by others.
        let bad = signals(Raw::Text("not a tc string"), Raw::Absent, None);
        assert!(matches!(
            r.check(&bad),
            Some(Refusal::TcfUndecodable(Some(_)))
        ));
        assert_eq!(
            ConsentRule::new(&PartnerConsent::default()).check(&bad),
            None
        );
        assert_eq!(
            Refusal::TcfPurpose(4).to_string(),
            "TCF purpose 4 not consented"
        );
    }

    #[test]
    fn gpp_us_privacy_and_gpc_subsections_refuse() {
        let check = |gpp: &str| {
            ConsentRule::new(&PartnerConsent::default()).check(&signals(
                Raw::Absent,
                Raw::Text(gpp),
                None,
            ))
        };
        // uspv1 (section 6) with OptOutSale Y, and a usnat section whose
        // GPC sub-section (`.YA`: type 1, Gpc 1) says the browser sent GPC.
        let usp = format!("{}~1YYN", encode_header(&[6]));
        assert_eq!(check(&usp), Some(Refusal::GppUsPrivacy));
        assert_eq!(
            Refusal::GppUsPrivacy.to_string(),
            "GPP uspv1 OptOutSale = opted out"
        );
        assert_eq!(check(&format!("{}~1YNN", encode_header(&[6]))), None);
        assert_eq!(check(&format!("{}~1---", encode_header(&[6]))), None);
        assert!(matches!(
            check(&format!("{}~2YYN", encode_header(&[6]))),
            Some(Refusal::GppUndecodable(Some(_)))
        ));
        let nat = UsValues {
            version: 1,
            ..UsValues::default()
        }
        .encode(UsSection::UsNat);
        let head = encode_header(&[7]);
        assert_eq!(
            check(&format!("{head}~{nat}.YA")),
            Some(Refusal::GppGpc(UsSection::UsNat))
        );
        // Gpc = 0 (`.QA`), or another sub-section type (`.gA`), refuses nothing.
        assert_eq!(check(&format!("{head}~{nat}.QA")), None);
        assert_eq!(check(&format!("{head}~{nat}.gA")), None);
        // The strings the red team sent.
        assert_eq!(check("DBABTA~1YYN"), Some(Refusal::GppUsPrivacy));
        assert_eq!(
            check("DBABLA~BVQqAAAAAgA.YA"),
            Some(Refusal::GppGpc(UsSection::UsNat))
        );
    }

    #[test]
    fn gpp_opt_outs_refuse_by_default() {
        let ca = UsValues {
            version: 1,
            sharing_opt_out: 1,
            sale_opt_out: 2,
            ..UsValues::default()
        };
        let s = format!("{}~{}", encode_header(&[8]), ca.encode(UsSection::UsCa));
        let sig = signals(Raw::Absent, Raw::Text(&s), None);
        let r = ConsentRule::new(&PartnerConsent::default()).check(&sig);
        assert_eq!(r.unwrap().to_string(), "GPP usca SharingOptOut = opted out");
        let off = ConsentRule::new(&PartnerConsent {
            gpp_us: false,
            ..PartnerConsent::default()
        });
        assert_eq!(off.check(&sig), None);
        // Undecodable GPP: a refusal for GPP users.
        let bad = signals(Raw::Absent, Raw::Text("DBABMA~"), None);
        assert!(matches!(
            ConsentRule::new(&PartnerConsent::default()).check(&bad),
            Some(Refusal::GppUndecodable(Some(_)))
        ));
        assert_eq!(off.check(&bad), None);
    }

    #[test]
    fn gpp_health_and_child() {
        let mut va = UsValues {
            version: 1,
            sale_opt_out: 2,
            targeted_advertising_opt_out: 2,
            ..UsValues::default()
        };
        va.sensitive_data_processing[2] = 1;
        let s = format!("{}~{}", encode_header(&[9]), va.encode(UsSection::UsVa));
        let def = ConsentRule::new(&PartnerConsent::default());
        assert_eq!(
            def.check(&signals(Raw::Absent, Raw::Text(&s), Some("books"))),
            None
        );
        let r = def.check(&signals(Raw::Absent, Raw::Text(&s), Some("Mental-Health")));
        assert_eq!(
            r.unwrap().to_string(),
            "GPP usva SensitiveDataProcessing[3] = no consent (consumer health)"
        );
        let mut nat = UsValues {
            version: 2,
            ..UsValues::default()
        };
        nat.known_child[2] = 1;
        let s = format!("{}~{}", encode_header(&[7]), nat.encode(UsSection::UsNat));
        let r = def.check(&signals(Raw::Absent, Raw::Text(&s), None));
        assert_eq!(
            r.unwrap().to_string(),
            "GPP usnat KnownChildSensitiveDataConsents[3] = no consent (known child)"
        );
    }

    fn gpp_check(gpp: &str, category: Option<&str>) -> Option<Refusal> {
        ConsentRule::new(&PartnerConsent::default()).check(&signals(
            Raw::Absent,
            Raw::Text(gpp),
            category,
        ))
    }

    /// Every US section refuses as the first five do: opt-outs, GPC, a
    /// known child and (for a health category) the consumer-health entry;
    /// "did not opt out" passes. Strings from the test encoder that
    /// follows the specifications' text (`gpp::spec_text`).
    #[test]
    fn gpp_every_us_state_section_refuses_like_the_first_ones() {
        use super::gpp::spec_text;
        // (prefix, health entries, their "1" means, known-child entries,
        // GPC sub-section), from each section's specification.
        let table: [(&str, &[u8], &str, usize, bool); 21] = [
            ("usnat", &[3, 13], "no consent", 3, true),
            ("usca", &[8], "opted out", 2, true),
            ("usva", &[3], "no consent", 1, true),
            ("usco", &[3], "no consent", 1, true),
            ("usut", &[5], "opted out", 1, true),
            ("usct", &[3], "no consent", 3, true),
            ("usfl", &[3], "no consent", 3, true),
            ("usmt", &[3], "no consent", 3, true),
            ("usor", &[3], "no consent", 3, true),
            ("ustx", &[3], "no consent", 1, true),
            ("usde", &[3], "no consent", 5, true),
            ("usia", &[3], "opted out", 1, true),
            ("usne", &[3], "no consent", 1, true),
            ("usnh", &[3], "no consent", 3, true),
            ("usnj", &[3], "no consent", 5, true),
            ("ustn", &[3], "no consent", 1, true),
            ("usmn", &[3], "no consent", 1, true),
            ("usmd", &[], "", 0, true),
            ("usin", &[3], "no consent", 1, false),
            ("usky", &[3], "no consent", 1, false),
            ("usri", &[3], "no consent", 1, false),
        ];
        for (i, (name, health, meaning, child, gpc)) in table.into_iter().enumerate() {
            let id = 7 + i as u8;
            let s = UsSection::from_id(u64::from(id)).unwrap();
            assert_eq!(s.as_str(), name);
            let head = encode_header(&[id]);
            let with = |set: &[(&str, &[u8])]| {
                let mut all: Vec<(&str, &[u8])> = vec![
                    ("SaleOptOut", &[2]),
                    ("SharingOptOut", &[2]),
                    ("TargetedAdvertisingOptOut", &[2]),
                ];
                all.retain(|(f, _)| !set.iter().any(|(g, _)| g == f));
                all.extend_from_slice(set);
                format!("{head}~{}", spec_text::encode(name, &all))
            };
            let text = |gpp: &str, category| gpp_check(gpp, category).map(|r| r.to_string());
            // Did not opt out: passes, also for a health category.
            assert_eq!(text(&with(&[]), Some("health")), None, "{name}");
            for field in ["SaleOptOut", "SharingOptOut", "TargetedAdvertisingOptOut"] {
                if !spec_text::fields(name).0.contains(&format!("{field} ")) {
                    continue;
                }
                assert_eq!(
                    text(&with(&[(field, &[1])]), None).as_deref(),
                    Some(format!("GPP {name} {field} = opted out").as_str()),
                );
            }
            if gpc {
                // SubsectionType 1, Gpc 1: bits 011.
                let g = format!("{}.{}", with(&[]), spec_text::b64("011"));
                assert_eq!(gpp_check(&g, None), Some(Refusal::GppGpc(s)), "{name}");
                let g = format!("{}.{}", with(&[]), spec_text::b64("010"));
                assert_eq!(gpp_check(&g, None), None, "{name}");
            }
            if child > 0 {
                let mut kids = vec![0u8; child];
                kids[child - 1] = 1;
                assert_eq!(
                    text(&with(&[("KnownChildSensitiveDataConsents", &kids)]), None),
                    Some(format!(
                        "GPP {name} KnownChildSensitiveDataConsents[{child}] = no consent (known child)"
                    )),
                );
                kids[child - 1] = 2;
                assert!(
                    text(&with(&[("KnownChildSensitiveDataConsents", &kids)]), None)
                        .unwrap()
                        .ends_with("= consent (known child)"),
                    "{name}"
                );
            }
            for &c in health {
                let mut sdp = vec![2u8; c as usize];
                sdp[c as usize - 1] = 1;
                let g = with(&[("SensitiveDataProcessing", &sdp)]);
                assert_eq!(text(&g, Some("books")), None, "{name}");
                assert_eq!(
                    text(&g, Some("Mental-Health")),
                    Some(format!(
                        "GPP {name} SensitiveDataProcessing[{c}] = {meaning} (consumer health)"
                    )),
                );
            }
            // Another sensitive entry refused: no refusal.
            let g = with(&[("SensitiveDataProcessing", &[1])]);
            assert_eq!(text(&g, Some("health")), None, "{name}");
            // Undecodable: wrong version, or cut short.
            let v2 = with(&[("Version", &[if name == "usnat" { 3 } else { 2 }])]);
            assert!(matches!(
                gpp_check(&v2, None),
                Some(Refusal::GppUndecodable(Some(
                    GppError::UnsupportedSectionVersion(..)
                )))
            ));
        }
    }

    /// The red team's strings (the fifth red-team pass, through a served gateway): each is
    /// refused now. Their encoder wrote every state with usut's four
    /// notices, so for the three-notice states the decisive field is not
    /// always the one they meant: usfl, usmt, usor, usde, usnh and usnj
    /// end inside a field (undecodable, refused); ustx, usne and ustn read
    /// their fourth notice as SaleOptOut = 1; rt5-013's "known child" reads
    /// as ustx SaleOptOut = 1 (its known-child case is tested above).
    #[test]
    fn gpp_red_team_rt5_strings_refuse() {
        let cut = "GPP string could not be decoded: the GPP string ends inside a field";
        let cases = [
            ("DBABFg~BVVAAAo", "GPP usut SaleOptOut = opted out"),
            ("DBABAw~BVVAAAo", cut),
            ("DBABQw~BVVAAAo", cut),
            ("DBABIw~BVVAAAo", cut),
            ("DBABEw~BVVAAAo", "GPP ustx SaleOptOut = opted out"),
            ("DBABUw~BVVAAAo", cut),
            ("DBABCw~BVVAAAo", "GPP usia SaleOptOut = opted out"),
            ("DBABSw~BVVAAAo", "GPP usne SaleOptOut = opted out"),
            ("DBABKw~BVVAAAo", cut),
            ("DBABAY~BVVAAAo", cut),
            ("DBABQY~BVVAAAo", "GPP ustn SaleOptOut = opted out"),
            (
                "DBABFg~BVaAAAo.Y",
                "GPP usut Gpc = 1 (Global Privacy Control)",
            ),
            ("DBABEw~BVaAABKA", "GPP ustx SaleOptOut = opted out"),
            (
                "DBACLW~BVVqAAAAAo~BVVAAAo",
                "GPP usut SaleOptOut = opted out",
            ),
        ];
        for (gpp, want) in cases {
            let r = gpp_check(gpp, None).unwrap_or_else(|| panic!("{gpp} passed"));
            assert_eq!(r.to_string(), want, "{gpp}");
        }
        // The headers list what the red team meant: 11, 13-22, and 7 + 11.
        let meant: [&[u8]; 14] = [
            &[11],
            &[13],
            &[14],
            &[15],
            &[16],
            &[17],
            &[18],
            &[19],
            &[20],
            &[21],
            &[22],
            &[11],
            &[16],
            &[7, 11],
        ];
        for ((gpp, _), ids) in cases.iter().zip(meant) {
            // (Up to the zero bits that pad the last character.)
            let head = gpp.split('~').next().unwrap();
            assert_eq!(
                head.trim_end_matches('A'),
                encode_header(ids).trim_end_matches('A')
            );
        }
    }

    #[test]
    fn gpp_any_refusing_section_wins_and_unread_ids_fail_closed() {
        let nat = UsValues {
            version: 1,
            sale_opt_out: 2,
            sharing_opt_out: 2,
            targeted_advertising_opt_out: 2,
            ..UsValues::default()
        }
        .encode(UsSection::UsNat);
        let ut = UsValues {
            version: 1,
            sale_opt_out: 2,
            targeted_advertising_opt_out: 1,
            ..UsValues::default()
        }
        .encode(UsSection::UsUt);
        let both = format!("{}~{nat}~{ut}", encode_header(&[7, 11]));
        assert_eq!(
            gpp_check(&both, None).unwrap().to_string(),
            "GPP usut TargetedAdvertisingOptOut = opted out"
        );
        assert_eq!(
            gpp_check(&format!("{}~{nat}", encode_header(&[7])), None),
            None
        );
        // A section id beyond the registry: refused, after the real ones.
        let beyond = format!("{}~{nat}~BAAA", encode_header(&[7, 28]));
        let r = gpp_check(&beyond, None).unwrap();
        assert_eq!(r, Refusal::GppUnreadSection(28));
        assert_eq!(r.signal(), "gpp");
        assert_eq!(
            r.to_string(),
            "GPP section 28 not read: beyond the GPP registry adgate follows (ids up to 27), \
             it may be a US state's opt-out (fail closed)"
        );
        let off = ConsentRule::new(&PartnerConsent {
            gpp_us: false,
            ..PartnerConsent::default()
        });
        assert_eq!(
            off.check(&signals(Raw::Absent, Raw::Text(&beyond), None)),
            None
        );
        // Registered non-US sections are still skipped.
        assert_eq!(
            gpp_check(&format!("{}~xyz~{nat}", encode_header(&[5, 7])), None),
            None
        );
    }

    #[test]
    fn consent_mode() {
        let req = ConsentRule::new(&PartnerConsent {
            consent_mode: ConsentMode::Required,
            ..PartnerConsent::default()
        });
        let s = |a, b| Signals::new(Raw::Absent, Raw::Absent, a, b, None, &[]);
        assert_eq!(
            req.check(&s(ModeSignal::Granted, ModeSignal::Granted)),
            None
        );
        let r = req
            .check(&s(ModeSignal::Granted, ModeSignal::Denied))
            .unwrap();
        assert_eq!(
            r.to_string(),
            "consent_mode = \"required\" and consent.ad_personalization is \"denied\""
        );
        assert!(req.check(&Signals::none()).is_some());
        assert_eq!(
            ConsentRule::new(&PartnerConsent::default())
                .check(&s(ModeSignal::Denied, ModeSignal::Denied)),
            None
        );
    }

    #[test]
    fn decoded_once_for_all_partners() {
        let t = tc(0b1101, vec![1]);
        let sig = signals(Raw::Text(&t), Raw::Absent, None);
        let a = sig.tcf().unwrap().unwrap();
        // The cell holds the decoded string: the same borrow comes back.
        let b = sig.tcf().unwrap().unwrap();
        assert_eq!(a.created, b.created);
        assert!(sig.tcf.get().is_some());
    }
}
