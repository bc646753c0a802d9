//! Per-partner policy (docs/policy.md): the rules in order, the allow-list
//! copy with its value contracts, and the leak guard. This module is the only maker of [`ScrubbedEvent`], the
//! only type the outbox accepts, so unscrubbed data cannot reach disk or a
//! partner by construction.
//!
//! Work that does not depend on the partner (consent, opt-outs, age,
//! category, the subject hashes) is done once per event in
//! [`Policy::evaluate`]; each partner then costs one or two HMACs (ad_id and
//! event_id with precomputed key state) and the copy of its allow-listed
//! fields into one output buffer.

pub mod categories;
pub mod guard;

use std::borrow::Cow;
use std::fmt;

use crate::json::{self, Raw as JsonRaw};

use crate::canon;
use crate::config::{Config, PartnerConfig, PrivacyConfig};
use crate::consent::{ConsentRule, ModeSignal, Raw, Refusal, Signals};
use crate::contract::{Contract, FieldSpec};
use crate::event::{self, Event, Field, JsonKind, Obj};
use crate::identity::{self, Kind, PartnerKey, SubjectHash, SubjectHasher};
use crate::profile::{ConsentSignals, EncodeError, Profile, ProfileInput};
use crate::signals::{self, Verdict};
use guard::{Hit, Protected};
use std::sync::Arc;

/// Why an event is not forwarded to a partner (the `reason` label of
/// `adgate_events_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    NotAllowed,
    NoConsent,
    OptedOut,
    Minor,
    Sensitive,
    NoIdentifier,
    PiiGuard,
    Invalid,
}

impl DropReason {
    pub const ALL: [DropReason; 8] = [
        DropReason::NotAllowed,
        DropReason::NoConsent,
        DropReason::OptedOut,
        DropReason::Minor,
        DropReason::Sensitive,
        DropReason::NoIdentifier,
        DropReason::PiiGuard,
        DropReason::Invalid,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotAllowed => "not_allowed",
            DropReason::NoConsent => "no_consent",
            DropReason::OptedOut => "opted_out",
            DropReason::Minor => "minor",
            DropReason::Sensitive => "sensitive",
            DropReason::NoIdentifier => "no_identifier",
            DropReason::PiiGuard => "pii_guard",
            DropReason::Invalid => "invalid",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The opt-out list as the policy sees it: keyed hashes of normalized
/// identifiers, never raw values.
pub trait OptOutLookup: Send + Sync {
    fn contains(&self, subject: &SubjectHash) -> bool;
    /// `true` when nothing is on the list (the lenient forms are then not
    /// computed).
    fn is_empty(&self) -> bool {
        false
    }
}

/// An empty opt-out list (explain, benches).
pub struct NoOptOuts;

impl OptOutLookup for NoOptOuts {
    fn contains(&self, _: &SubjectHash) -> bool {
        false
    }
    fn is_empty(&self) -> bool {
        true
    }
}

/// The keyed hashes of every identifier an event carries (at most one per
/// kind). Kept next to each outbox record so forget can find it; never
/// delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subjects {
    /// The four identifiers', the two pre-hashed fields' (email, phone) and
    /// what the account id and the device id are when each is an email, a
    /// phone or a digest (identity::identity_in).
    hashes: [SubjectHash; 8],
    len: u8,
}

impl Subjects {
    /// Adds `h` unless it is already there (an account id that is the
    /// event's own email names the person once).
    pub fn push(&mut self, h: SubjectHash) {
        if (self.len as usize) < self.hashes.len() && !self.contains(&h) {
            self.hashes[self.len as usize] = h;
            self.len += 1;
        }
    }
    pub fn as_slice(&self) -> &[SubjectHash] {
        &self.hashes[..self.len as usize]
    }
    pub fn contains(&self, h: &SubjectHash) -> bool {
        self.as_slice().contains(h)
    }
    /// From the concatenated 16-byte hashes stored in an outbox record.
    pub fn from_bytes(b: &[u8]) -> Subjects {
        let mut s = Subjects::default();
        for c in b.chunks_exact(16) {
            let mut h = [0u8; 16];
            h.copy_from_slice(c);
            s.push(h);
        }
        s
    }
}

/// An output event for one partner: the event encoded by the partner's
/// profile (for the adgate profile, the NDJSON line without its newline)
/// and the subject hashes. Only [`Policy`] can make one.
#[derive(Debug, Clone)]
pub struct ScrubbedEvent {
    line: Vec<u8>,
    subjects: Subjects,
}

impl ScrubbedEvent {
    pub fn line(&self) -> &[u8] {
        &self.line
    }
    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }
}

/// The outcome for one partner.
#[derive(Debug, Clone)]
pub enum Outcome {
    Route(ScrubbedEvent),
    Drop(DropReason),
}

/// A field left out of one partner's copy: its path and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Omission {
    pub path: String,
    /// The `reason` label of `adgate_fields_omitted_total` (`contract`).
    pub reason: &'static str,
    pub why: String,
}

/// Every `reason` of `adgate_fields_omitted_total`: a value that broke its
/// contract, or a protected name under an allowed object (which no
/// contract allows); `explain` tells the two apart.
pub const OMISSION_REASONS: [&str; 1] = ["contract"];

/// Where the guard hit (for explain): the category and the field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardHit {
    pub hit: Hit,
    pub path: String,
}

/// Allow-list entries as a tree, so `ad.campaign_id` and `ad.placement`
/// become one `"ad":{...}` object in the output; leaves carry their
/// contract.
#[derive(Debug, Clone)]
struct FieldNode {
    name: String,
    contract: Contract,
    children: Vec<FieldNode>,
}

fn field_tree(fields: &[FieldSpec]) -> Vec<FieldNode> {
    let mut roots: Vec<FieldNode> = Vec::new();
    for f in fields {
        let mut level = &mut roots;
        let segs: Vec<&str> = f.path.split('.').collect();
        for (i, seg) in segs.iter().enumerate() {
            let pos = match level.iter().position(|n| n.name == *seg) {
                Some(p) => p,
                None => {
                    level.push(FieldNode {
                        name: (*seg).to_owned(),
                        contract: Contract::Default,
                        children: Vec::new(),
                    });
                    level.len() - 1
                }
            };
            if i + 1 == segs.len() {
                level[pos].contract = f.contract.clone();
            }
            level = &mut level[pos].children;
        }
    }
    roots
}

/// One partner's compiled rules.
#[derive(Debug, Clone)]
pub struct PartnerPolicy {
    pub name: String,
    event_types: Vec<String>,
    identifiers: Vec<Kind>,
    fields: Vec<FieldNode>,
    key: PartnerKey,
    /// The key before `key` and until when (unix seconds) outputs also
    /// carry `ad_id_prev` under it (`emit_previous_until`).
    prev: Option<(PartnerKey, i64)>,
    consent: ConsentRule,
    /// The partner API's encoder; `None` for the adgate profile, whose
    /// line the policy writes itself.
    encoder: Option<Arc<dyn Profile>>,
    /// The partner's identifiers its profile can send, in its order.
    sendable: Vec<Kind>,
    /// The TCF vendor whose consent the partner is told of: its
    /// `tcf_vendor_id`, else Google's own (755) for the google_ads profile.
    consent_vendor: Option<u16>,
}

/// Google's vendor id in IAB's Global Vendor List.
const GOOGLE_TCF_VENDOR: u16 = 755;

impl PartnerPolicy {
    pub fn new(p: &PartnerConfig) -> PartnerPolicy {
        let adgate = p.profile == crate::profile::ProfileKind::Adgate;
        let usable = crate::config::profile_identifiers(p.profile);
        PartnerPolicy {
            name: p.name.clone(),
            event_types: p.event_types.clone(),
            identifiers: p.identifiers.clone(),
            fields: field_tree(&p.fields),
            key: p.signing_key().partner_key(),
            prev: p.previous_key().map(|(k, until)| (k.partner_key(), until)),
            consent: ConsentRule::new(&p.consent),
            encoder: (!adgate).then(|| p.encoder.clone()),
            sendable: p
                .identifiers
                .iter()
                .copied()
                .filter(|k| usable.contains(k))
                .collect(),
            consent_vendor: p
                .consent
                .tcf_vendor_id
                .or((p.profile == crate::profile::ProfileKind::GoogleAds)
                    .then_some(GOOGLE_TCF_VENDOR)),
        }
    }

    /// The partner's profile encoder, unless it is the adgate profile.
    pub fn encoder(&self) -> Option<&dyn Profile> {
        self.encoder.as_deref()
    }

    /// The previous key while outputs still carry `ad_id_prev` under it
    /// (before its `emit_previous_until`), at unix time `now_s`.
    pub fn previous_key(&self, now_s: i64) -> Option<&PartnerKey> {
        self.prev
            .as_ref()
            .filter(|(_, until)| now_s < *until)
            .map(|(k, _)| k)
    }

    pub fn allows_type(&self, t: &str) -> bool {
        self.event_types.iter().any(|x| x == t)
    }

    pub fn identifiers(&self) -> &[Kind] {
        &self.identifiers
    }

    pub fn key(&self) -> &PartnerKey {
        &self.key
    }
}

/// The compiled policy of a whole config.
#[derive(Debug, Clone)]
pub struct Policy {
    pub partners: Vec<PartnerPolicy>,
    privacy: PrivacyConfig,
    /// `privacy.sensitive_categories`, folded and split into words.
    sensitive: categories::Sensitive,
    /// The same, without the table's other names: how names of products,
    /// brands, sites and placements are read.
    sensitive_names: categories::Sensitive,
    hasher: SubjectHasher,
    /// The partners' TCF vendor ids, distinct: looked up while an event's
    /// TC string is decoded (one walk for all partners).
    tcf_vendors: Vec<u16>,
}

/// Everything the policy decided about one event.
#[derive(Debug)]
pub struct Evaluation {
    /// In the order of [`Policy::partners`].
    pub outcomes: Vec<Outcome>,
    pub subjects: Subjects,
    /// The partner-independent block, if any (for explain).
    pub blocked: Option<(DropReason, &'static str)>,
    /// Which identifier each routed partner used (for explain).
    pub used: Vec<Option<Kind>>,
    /// What the guard hit, and where, for each partner dropped with pii_guard.
    pub guard_hits: Vec<Option<GuardHit>>,
    /// Fields left out of each routed partner's copy (value contracts and
    /// protected names under an allowed object).
    pub omitted: Vec<Vec<Omission>>,
    /// The consent signal that refused each partner dropped with no_consent.
    pub consent: Vec<Option<Refusal>>,
}

/// What the request, not the event, says about every event in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestSignals {
    /// The request carried `Sec-GPC: 1`: `consent.gpc` is true for every
    /// event of it.
    pub sec_gpc: bool,
    /// The request carried `DNT: 1` (Do Not Track): every event of it is
    /// opted out.
    pub dnt: bool,
}

/// Protected names that are never copied from under an allow-listed object,
/// compared after folding (a `search` object or an `email` member nested in
/// `ad.meta` is left out).
const PROTECTED_NAMES: &[&str] = &[
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

/// Top-level blocks whose every value is protected (taint sources), and the
/// protected members of `context`.
const PROTECTED_BLOCKS: &[&str] = &["user", "purchase", "search", "view"];
const PROTECTED_CONTEXT: &[&str] = &["page_url", "referrer", "ip", "user_agent"];

/// Folds a category or a configured sensitive category for comparison:
/// its words ([`category_words`]) lowercase, separated by single spaces.
pub fn fold_category(s: &str) -> String {
    let mut out = String::new();
    for w in category_words(&canon::word_form(s)) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(w.chars().flat_map(char::to_lowercase));
    }
    out
}

/// The words of a [`canon::word_form`]: the runs of letters and digits
/// (Unicode alphanumerics). Every other character separates words, so
/// punctuation, brackets, hierarchy separators (`>`, `/`, `.`, `+`, `→`,
/// `·`, `、`), quotes, `#` and blank-looking characters (U+2800) neither
/// hide a word nor join two.
fn category_words(s: &str) -> impl Iterator<Item = &str> + Clone {
    s.split(|ch: char| !ch.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Is `category` sensitive: do the words of one configured category
/// (`sensitive` holds each one's folded words) appear in it as consecutive
/// whole words? `"Health."`, `"Beauty (Health)"`, `"Books.Health"` and
/// `"Mental-Health"` are; `"healthy snacks"` and `"wealth"` are not (a word
/// matches only whole).
///
/// Allocation-free for a category in plain ASCII: its words are compared
/// without ASCII case, and the configured words are lowercase. A category
/// read lately by the same thread is answered from memory
/// ([`categories::Sensitive::remembered`]).
pub fn is_sensitive(category: &str, sensitive: &categories::Sensitive) -> bool {
    if sensitive.is_empty() {
        return false;
    }
    sensitive.remembered(categories::VerdictOf::Category, category, |c| {
        reads_sensitive(c, sensitive)
    })
}

/// [`is_sensitive`] by the table of the configured words alone
/// ([`categories::configured_only`]), remembered apart
/// ([`categories::VerdictOf::Name`]).
fn is_sensitive_name(name: &str, names: &categories::Sensitive) -> bool {
    if names.is_empty() {
        return false;
    }
    names.remembered(categories::VerdictOf::Name, name, |c| {
        reads_sensitive(c, names)
    })
}

/// [`is_sensitive`], read afresh.
fn reads_sensitive(category: &str, sensitive: &categories::Sensitive) -> bool {
    // Invisible and control characters are dropped inside a word
    // (`hea\u{200b}lth`), but one between words (`Books\u{3164}Health`,
    // a NEL) separates them; and `™`, `℠`, `®` are marks after a word, not
    // letters of it (NFKC spells `™` as `TM`). A category holding one is
    // also read with them as blanks.
    // So does a letter drawn like a sign (`Mentalːhealth`, `Books一Health`,
    // `pharmacyǀshop`: [`canon::sign_like_letter`]); the category as
    // written is read too, where `ǀ` is the `l` it imitates.
    let separates = |ch: char| {
        ch.is_control()
            || canon::is_invisible(ch)
            || canon::sign_like_letter(ch)
            || matches!(ch, '\u{2122}' | '\u{2120}' | '\u{AE}' | '\u{A9}')
    };
    // So does a letter of another script standing alone between two
    // ASCII letters or digits (`Books丶Health`, `BooksㅣHealth`,
    // `Healthוbooks`): one character cannot be a word of that script there.
    let lone = |chars: &[char], i: usize| {
        let ch = chars[i];
        !ch.is_ascii()
            && ch.is_alphanumeric()
            && i > 0
            && chars[i - 1].is_ascii_alphanumeric()
            && chars.get(i + 1).is_some_and(char::is_ascii_alphanumeric)
    };
    let plain = category
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_control());
    let spaced: Option<String> = (!plain)
        .then(|| {
            let chars: Vec<char> = category.chars().collect();
            let mut any = false;
            let out: String = (0..chars.len())
                .map(|i| {
                    if separates(chars[i]) || lone(&chars, i) {
                        any = true;
                        ' '
                    } else {
                        chars[i]
                    }
                })
                .collect();
            any.then_some(out)
        })
        .flatten();
    // Digits and signs standing for letters (`Hea1th`, `HeaIth`, `H3alth`),
    // and words glued by case or digits (`OnlinePharmacy`, `Health24`),
    // are read as well.
    // Letters drawn with several signs are read first (`|-|ealth`).
    let art = ascii_art_read(category);
    let drawn = art.as_deref().unwrap_or(category);
    let leet: Option<String> = drawn.chars().any(|ch| leet_letter(ch).is_some()).then(|| {
        drawn
            .chars()
            .map(|ch| leet_letter(ch).unwrap_or(ch))
            .collect()
    });
    let glued = [
        unglued(category, true),
        unglued(category, false),
        leet.as_deref().and_then(|l| unglued(l, true)),
    ];
    // One letter at a time, some parted by invisible characters and some
    // by blanks (`h\u{200b}e a l t h`): joined in the spaced reading.
    let letters = [
        joined_letters(category),
        spaced.as_deref().and_then(joined_letters),
    ];
    // Quoted-printable (`=68=65=61=6C=74=68`).
    let qp = category
        .contains('=')
        .then(|| canon::quoted_printable(category))
        .flatten();
    // The signs of medicine and care (`💊`, `🏥 Care`, `⚕ Shop`) say
    // health in any language.
    let signs: Option<String> = category.chars().any(health_sign).then(|| {
        let mut out = String::with_capacity(category.len() + 8);
        for ch in category.chars() {
            if health_sign(ch) {
                out.push_str(" health ");
            } else {
                out.push(ch);
            }
        }
        out
    });
    // A word glued to a sensitive one (`Telehealth`), looked for once, in
    // the category as written.
    let form = canon::word_form(category);
    if sensitive.glued(category_words(&form)) {
        return true;
    }
    // A word cut in two or three by blanks or signs (`heal th`,
    // `Phar-ma-cy`) is read whole; words written backwards or in ROT13
    // (`htlaeh`, `urnygu`) are read as written forwards.
    let pieces = pieces_joined(&form);
    let art_form = art.as_deref().map(canon::word_form);
    let turned = turned_words(&form);
    // A category written in base64, base32 or hex (`aGVhbHRo`) is read
    // decoded too.
    let decoded = canon::decoded_tokens(category).unwrap_or_default().texts;
    std::iter::once(category)
        .chain(decoded.iter().map(String::as_str))
        .chain(spaced.as_deref())
        .chain(leet.as_deref())
        .chain(glued.iter().flatten().map(String::as_str))
        .chain(letters.iter().flatten().map(String::as_str))
        .chain(qp.as_deref())
        .chain(pieces.as_deref())
        .chain(turned.as_deref())
        .chain(signs.as_deref())
        .chain(art_form.as_deref())
        .any(|text| {
            let c = canon::word_form(text);
            sensitive.matches(&c, category_words(&c))
        })
}

/// Does a page's path name a sensitive category (`/pharmacy/insulin-pens`)?
/// Its words as written and glued words; in the views that take a URL
/// apart further (digits split off, letters joined, tokens decoded), the
/// configured categories' own words only (`names`): a URL is read on
/// every event, and `RX7900` or `beats-pill` is a product, not a
/// prescription.
fn path_is_sensitive(
    path: &str,
    sensitive: &categories::Sensitive,
    names: &categories::Sensitive,
) -> bool {
    if sensitive.is_empty() {
        return false;
    }
    sensitive.remembered(categories::VerdictOf::PagePath, path, |path| {
        let form = canon::word_form(path);
        let reads = |form: &str| reads_words(sensitive, form);
        let reads_named = |form: &str| reads_words(names, form);
        // Also, by the configured words, with words parted from digits
        // glued to them (`pharmacy24.example`, `health4u`), one-letter
        // runs joined (`/p-h-a-r-m-a-c-y/`), and its base64, base32 or hex
        // tokens decoded (`?c=cGhhcm1hY3k=`).
        reads(&form)
            || (canon::may_hold_encoded_text(&form)
                && canon::decoded_tokens(&form)
                    .unwrap_or_default()
                    .texts
                    .iter()
                    .any(|d| reads_named(&canon::word_form(d))))
            || unglued(&form, false).is_some_and(|u| reads_named(&u))
            || joined_letters(&form).is_some_and(|j| {
                reads_named(&j) || unglued(&j, false).is_some_and(|u| reads_named(&u))
            })
    })
}

/// The words of a path's text hold a configured category's, or one glued to
/// other letters ([`categories::Sensitive::matches`],
/// [`categories::Sensitive::glued`])? The words are found once for both
/// (a page's address is read on every event), kept on the stack when there
/// are at most [`PATH_WORDS`].
fn reads_words(sensitive: &categories::Sensitive, form: &str) -> bool {
    let mut words = [""; PATH_WORDS];
    let mut n = 0;
    for w in category_words(form) {
        if n == words.len() {
            return sensitive.matches(form, category_words(form))
                || sensitive.glued(category_words(form));
        }
        words[n] = w;
        n += 1;
    }
    let words = words[..n].iter().copied();
    sensitive.matches(form, words.clone()) || sensitive.glued(words)
}

/// The words of a path [`reads_words`] keeps on the stack.
const PATH_WORDS: usize = 32;

/// A pictograph of medicine or care: pill, hospital, staff of Aesculapius,
/// stethoscope, syringe, adhesive bandage, drop of blood, DNA, microbe,
/// X-ray, face with mask, thermometer face, bandaged head, ambulance,
/// tooth, pregnancy, heart and lungs, crutch, thermometer, caduceus,
/// prescription, hearing aid, first-aid helmet.
fn health_sign(ch: char) -> bool {
    matches!(
        ch,
        '\u{1F48A}'
            | '\u{1F3E5}'
            | '\u{2695}'
            | '\u{1FA7A}'
            | '\u{1F489}'
            | '\u{1FA79}'
            | '\u{1FA78}'
            | '\u{1F9EC}'
            | '\u{1F9A0}'
            | '\u{1FA7B}'
            | '\u{1F637}'
            | '\u{1F912}'
            | '\u{1F915}'
            // Ambulance, tooth, pregnant woman, man and person, anatomical
            // heart, lungs, crutch, thermometer, caduceus.
            | '\u{1F691}'
            | '\u{1F9B7}'
            | '\u{1F930}'
            | '\u{1FAC3}'
            | '\u{1FAC4}'
            | '\u{1FAC0}'
            | '\u{1FAC1}'
            | '\u{1FA7C}'
            | '\u{1F321}'
            | '\u{2624}'
            // The prescription sign, the staff of Hermes that US signs of
            // medicine use, an ear with a hearing aid (the nineteenth
            // pass).
            | '\u{211E}'
            | '\u{269A}'
            | '\u{1F9BB}'
            // A rescue worker's helmet with the first-aid cross (the
            // twentieth pass).
            | '\u{26D1}'
    )
}

/// Letters drawn with several ASCII signs (`|-|ealth`, `|\/|edical`,
/// `/\pteka`), longest first.
const ASCII_ART_LETTERS: &[(&str, &str)] = &[
    ("|\\/|", "m"),
    ("/\\/\\", "m"),
    ("|\\|", "n"),
    ("|-|", "h"),
    ("/-\\", "a"),
    ("/\\", "a"),
    ("\\/", "v"),
    ("|)", "d"),
    ("|<", "k"),
];

/// `s` with the [`ASCII_ART_LETTERS`] it holds as their letters; `None`
/// when it holds none.
fn ascii_art_read(s: &str) -> Option<String> {
    if !s.contains(['|', '/', '\\']) {
        return None;
    }
    let mut out = s.to_owned();
    for (art, letter) in ASCII_ART_LETTERS {
        if out.contains(art) {
            out = out.replace(art, letter);
        }
    }
    (out != s).then_some(out)
}

/// The letter an ASCII digit or sign stands for in a word spelled to slip
/// past a filter (`Hea1th`, `HeaIth`, `Ph@rmacy`).
fn leet_letter(ch: char) -> Option<char> {
    Some(match ch {
        '1' | '|' | '!' | 'I' | '£' => 'l',
        '0' => 'o',
        '3' | '€' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' | '+' => 't',
        '(' | '¢' => 'c',
        '¥' => 'y',
        _ => return None,
    })
}

/// `s` with every run of three or more one-letter words joined into one
/// word (`h e a l t h`, `h.e.a.l.t.h`, `(h)(e)(a)...` as `health`);
/// `None` when there is no such run.
fn joined_letters(s: &str) -> Option<String> {
    let form = canon::word_form(s);
    // Cheap first: three letters or digits standing alone.
    // (An ASCII character is alphanumeric exactly when its byte is: a
    // page's address is read on every event, byte by byte.)
    let alone = if form.is_ascii() {
        alone_count(form.bytes().map(|b| b.is_ascii_alphanumeric()))
    } else {
        alone_count(form.chars().map(char::is_alphanumeric))
    };
    if alone < 3 {
        return None;
    }
    let words: Vec<&str> = category_words(&form).collect();
    let single = |w: &str| w.chars().count() == 1;
    if !words.windows(3).any(|w| w.iter().all(|x| single(x))) {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < words.len() {
        let run = words[i..].iter().take_while(|x| single(x)).count();
        if run >= 3 {
            out.push(' ');
            out.extend(words[i..i + run].iter().copied());
            i += run;
        } else {
            out.push(' ');
            out.push_str(words[i]);
            i += 1;
        }
    }
    Some(out)
}

/// How many runs of exactly one `true` `alnum` holds (the characters of a
/// text standing alone between others that are not letters or digits).
fn alone_count(alnum: impl Iterator<Item = bool>) -> usize {
    let mut alone = 0;
    let mut run = 0;
    for a in alnum.chain([false]) {
        if a {
            run += 1;
        } else {
            alone += usize::from(run == 1);
            run = 0;
        }
    }
    alone
}

/// The shortest word [`pieces_joined`] reads: shorter joins (`hi v`, `c bd`)
/// are made by ordinary words by chance.
const MIN_JOINED_CHARS: usize = 5;

/// Every two and every three neighbouring words of the word form `form`
/// joined into one (`heal th` as `health`, `phar ma cy` as `pharmacy`),
/// as words of one text, when the join has [`MIN_JOINED_CHARS`] or more
/// characters; `None` for a text of one word. The joins are compared whole
/// with the table (never as a glued stem), so `Stealth Mode` or `Home and
/// Garden` read nothing new.
fn pieces_joined(form: &str) -> Option<String> {
    let words: Vec<&str> = category_words(form).collect();
    if words.len() < 2 {
        return None;
    }
    let mut out = String::with_capacity(form.len() * 3);
    for n in 2..=3 {
        for w in words.windows(n) {
            if w.iter().map(|p| p.chars().count()).sum::<usize>() >= MIN_JOINED_CHARS {
                out.push(' ');
                w.iter().for_each(|p| out.push_str(p));
            }
        }
    }
    // Four to six pieces of at most three characters each (`ph ar mac y`,
    // `h e al th`, `h-ea-l-th`: the nineteenth pass); runs of one-letter
    // pieces are [`joined_letters`]'.
    for n in 4..=MAX_SHORT_PIECES {
        for w in words.windows(n) {
            if w.iter().all(|p| p.chars().count() <= SHORT_PIECE)
                && w.iter().map(|p| p.chars().count()).sum::<usize>() >= MIN_JOINED_CHARS
            {
                out.push(' ');
                w.iter().for_each(|p| out.push_str(p));
            }
        }
    }
    Some(out)
}

/// The longest piece, and the most pieces, [`pieces_joined`] joins beyond
/// three neighbours.
const SHORT_PIECE: usize = 3;
const MAX_SHORT_PIECES: usize = 6;

/// The shortest word [`turned_words`] reads: a shorter one is another
/// word backwards or in ROT13 by chance (`vis` is `ivf` in ROT13, `bgp`
/// is `otc`).
const MIN_TURNED_CHARS: usize = 5;

/// Each word of ASCII letters of the word form `form` with
/// [`MIN_TURNED_CHARS`] or more, written backwards and in ROT13
/// (`htlaeh` and `urnygu` as `health`), as words of one text; `None` when
/// there is no such word.
fn turned_words(form: &str) -> Option<String> {
    let mut out = String::new();
    for w in category_words(form)
        .filter(|w| w.len() >= MIN_TURNED_CHARS && w.bytes().all(|c| c.is_ascii_alphabetic()))
    {
        out.push(' ');
        out.extend(w.chars().rev());
        out.push(' ');
        out.extend(w.bytes().map(|c| char::from(canon::rot13(c))));
    }
    (!out.is_empty()).then_some(out)
}

/// `s` with a space where words glued together meet: a lowercase letter
/// and an uppercase one (`OnlinePharmacy`), a letter and a digit
/// (`Health24`), and, in capitals, either before the last capital of a run
/// followed by lowercase (`camel`: `MENTALHealth`, `HEALTHStore`) or after
/// the run (`PHARMACYonline`, `HEALTHandBEAUTY`); `None` when there is no
/// such place.
fn unglued(s: &str, camel: bool) -> Option<String> {
    if s.is_ascii() {
        unglued_ascii(s.as_bytes(), camel)
    } else {
        unglued_chars(s, camel)
    }
}

/// [`unglued`] of any text, by its characters.
fn unglued_chars(s: &str, camel: bool) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    unglue(&chars, camel, |c| Letter {
        lower: c.is_lowercase(),
        upper: c.is_uppercase(),
        alpha: c.is_alphabetic(),
        digit: c.is_numeric(),
    })
}

/// [`unglued`] of ASCII text, on its bytes: the same splits, since an ASCII
/// character is upper- or lowercase, alphabetic or numeric exactly when its
/// byte is (a URL is read on every event).
fn unglued_ascii(s: &[u8], camel: bool) -> Option<String> {
    // Every split of [`unglue`] lies at or next to two neighbours of these
    // kinds: a letter before a capital (`eP`, and the two capitals that
    // any run split needs), a letter before a digit, a digit before a
    // letter. Text with none (a page's address, nearly always) has no
    // split, found without classifying each character.
    let may_split = |w: &[u8]| {
        (w[0].is_ascii_alphabetic() && (w[1].is_ascii_uppercase() || w[1].is_ascii_digit()))
            || (w[0].is_ascii_digit() && w[1].is_ascii_alphabetic())
    };
    if !s.windows(2).any(may_split) {
        return None;
    }
    unglue(s, camel, |c| Letter {
        lower: c.is_ascii_lowercase(),
        upper: c.is_ascii_uppercase(),
        alpha: c.is_ascii_alphabetic(),
        digit: c.is_ascii_digit(),
    })
}

/// What [`unglue`] asks of a character.
#[derive(Clone, Copy, Default)]
struct Letter {
    lower: bool,
    upper: bool,
    alpha: bool,
    digit: bool,
}

/// [`unglued`] over the characters `s`, as `of` classifies them.
fn unglue<T: Copy + Into<char>>(s: &[T], camel: bool, of: impl Fn(T) -> Letter) -> Option<String> {
    // Each character classified once, not at each of the four places
    // that look at it (a page's address is read on every event); on the
    // stack for text of the usual length.
    let mut stack = [Letter::default(); 160];
    let heap: Vec<Letter>;
    let class: &[Letter] = if s.len() <= stack.len() {
        for (slot, &c) in stack.iter_mut().zip(s) {
            *slot = of(c);
        }
        &stack[..s.len()]
    } else {
        heap = s.iter().map(|&c| of(c)).collect();
        &heap
    };
    let split_at = |i: usize| {
        let (p, c) = (class[i - 1], class[i]);
        let next_lower = class.get(i + 1).is_some_and(|n| n.lower);
        let run_before = i >= 2 && class[i - 2].upper;
        (p.lower && c.upper)
            || (p.alpha && c.digit)
            || (p.digit && c.alpha)
            || if camel {
                p.upper && c.upper && next_lower
            } else {
                p.upper && c.lower && run_before
            }
    };
    // Most text has no such place: found before anything is written.
    let first = (1..s.len()).find(|&i| split_at(i))?;
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in s.iter().enumerate() {
        if i >= first && split_at(i) {
            out.push(' ');
        }
        out.push(c.into());
    }
    Some(out)
}

/// Do `want`'s words appear in `words` consecutively?
fn has_word_run<'a>(mut words: impl Iterator<Item = &'a str> + Clone, want: &[String]) -> bool {
    if want.is_empty() {
        return false;
    }
    loop {
        let mut at = words.clone();
        if want
            .iter()
            // A word of a word_form is lowercase unless it is ASCII; the
            // configured words are folded, lowercase.
            .all(|w| at.next().is_some_and(|a| a.eq_ignore_ascii_case(w)))
        {
            return true;
        }
        if words.next().is_none() {
            return false;
        }
    }
}

/// The oldest `user.age` taken as a person's age; a greater one (or one too
/// large for any number type, `1e400`) is `invalid`.
pub const MAX_AGE_YEARS: u64 = 150;

/// Age in whole years of someone born on `date` (`YYYY-MM-DD`) at an event
/// of `unix_seconds` whose timestamp was written with `offset_seconds` from
/// UTC: the younger of the ages on the UTC date and on the event's own
/// local date (`2026-11-28T23:30:00-05:00` is 2026-11-28 there and
/// 2026-11-29 in UTC), so either date counting the person as a minor
/// makes the event a minor's. `None` if `date` is not such a date or lies
/// after both dates; a birth date between them (born on the later one)
/// counts as 0.
pub fn age_from_birth_date(date: &str, unix_seconds: i64, offset_seconds: i32) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let born = time::Date::parse(date.trim(), &fmt).ok()?;
    let utc = time::OffsetDateTime::from_unix_timestamp(unix_seconds).ok()?;
    let local = time::UtcOffset::from_whole_seconds(offset_seconds)
        .map(|o| utc.to_offset(o).date())
        .unwrap_or(utc.date());
    let (earlier, later) = if local < utc.date() {
        (local, utc.date())
    } else {
        (utc.date(), local)
    };
    if born > later {
        return None;
    }
    if born > earlier {
        return Some(0);
    }
    let mut years = (earlier.year() - born.year()) as i64;
    if (earlier.month() as u8, earlier.day()) < (born.month() as u8, born.day()) {
        years -= 1;
    }
    Some(years)
}

impl Policy {
    pub fn new(config: &Config, hasher: SubjectHasher) -> Policy {
        let mut tcf_vendors: Vec<u16> = config
            .partners
            .iter()
            .filter_map(|p| p.consent.tcf_vendor_id)
            .collect();
        tcf_vendors.sort_unstable();
        tcf_vendors.dedup();
        Policy {
            tcf_vendors,
            partners: config.partners.iter().map(PartnerPolicy::new).collect(),
            sensitive: categories::expand(&config.privacy.sensitive_categories, fold_category),
            sensitive_names: categories::configured_only(
                &config.privacy.sensitive_categories,
                fold_category,
            ),
            privacy: config.privacy.clone(),
            hasher,
        }
    }

    pub fn hasher(&self) -> &SubjectHasher {
        &self.hasher
    }

    /// Applies the rules (docs/policy.md) to `ev` for every partner.
    pub fn evaluate(&self, ev: &Event<'_>, optouts: &dyn OptOutLookup) -> Evaluation {
        self.evaluate_with(ev, optouts, RequestSignals::default())
    }

    /// [`Policy::evaluate`] with what the request says about all its events
    /// (the `Sec-GPC` header).
    pub fn evaluate_with(
        &self,
        ev: &Event<'_>,
        optouts: &dyn OptOutLookup,
        request: RequestSignals,
    ) -> Evaluation {
        // Normalize each identifier once. Events no partner takes (product
        // views, purchases, searches: most of a retailer's stream) are
        // dropped as not_allowed before any other rule, so they need neither
        // subject hashes nor a leak guard.
        let country = self.privacy.default_phone_country;
        let wanted = self.partners.iter().any(|p| p.allows_type(&ev.event_type));
        let mut normalized: [Option<Cow<'_, str>>; 4] = Default::default();
        let mut subjects = Subjects::default();
        // The values of the identifiers in other names and shapes, read
        // once: subjects here, the opt-out lookup in block_reason.
        let mut odd: Vec<(Kind, Cow<'_, str>)> = Vec::new();
        if wanted {
            for k in Kind::ALL {
                if let Some(raw) = ev.identifier(k) {
                    if let Some(n) = identity::normalize_with(k, raw, country) {
                        subjects.push(self.hasher.subject(k, &n));
                        normalized[k.index()] = Some(n);
                    }
                }
            }
            // A pre-hashed email or phone names the person too: an opt-out
            // stops it, a forget purges it (identity::SubjectHasher::prehashed).
            // Only without the raw identifier of its kind, which a profile
            // then sends instead, so an access request counts a record once.
            if let Some(u) = ev.user.as_ref() {
                for (k, member) in [(Kind::Email, "email_sha256"), (Kind::Phone, "phone_sha256")] {
                    if normalized[k.index()].is_some() {
                        continue;
                    }
                    if let Some(h) = u
                        .get(member)
                        .and_then(event::as_str)
                        .and_then(|s| crate::profile::Hex64::prehashed_any(&s))
                    {
                        subjects.push(self.hasher.prehashed(k, h.as_str()));
                    }
                }
            }
            // An identifier under another name or in another shape
            // (`email_address`, `context.traits.email`, a phone as a JSON
            // number) names the person too: their forget purges the event
            // and the ledger records it (the opt-out lookup reads them below).
            odd = ev
                .odd_identifiers
                .iter()
                .flat_map(|(k, raw)| odd_values(*raw).into_iter().map(move |v| (*k, v)))
                .collect();
            for (k, v) in &odd {
                let found = identity::normalize_with(*k, v, country)
                    .map(|n| (*k, n))
                    .or_else(|| identity::identity_in(v));
                let h = match found {
                    Some((kind, n)) => self.hasher.subject(kind, &n),
                    // A digest under another name (`hashed_email`,
                    // `user.sha256_phone`): the pre-hashed identifier.
                    None => match crate::profile::Hex64::prehashed_any(v) {
                        Some(hex) if matches!(k, Kind::Email | Kind::Phone) => {
                            self.hasher.prehashed(*k, hex.as_str())
                        }
                        _ => continue,
                    },
                };
                if !subjects.as_slice().contains(&h) {
                    subjects.push(h);
                }
            }
            // An account id or device id that is an email address, an E.164
            // number or a digest names that person as well: it is stopped by
            // their opt-out and purged by their forget, whatever field it
            // arrived in.
            for k in [Kind::AccountId, Kind::DeviceId] {
                let Some(raw) = ev.identifier(k) else {
                    continue;
                };
                if let Some((kind, n)) = identity::identity_in(raw) {
                    subjects.push(self.hasher.subject(kind, &n));
                } else if let Some(h) = crate::profile::Hex64::prehashed_any(raw) {
                    subjects.push(self.hasher.prehashed(Kind::Email, h.as_str()));
                }
            }
        }
        let blocked = if wanted {
            self.block_reason(ev, &subjects, &odd, optouts, request)
        } else {
            None
        };
        // The consent strings, decoded on the first partner that needs them
        // and shared by the rest.
        let signals =
            consent_signals(ev, &self.privacy.sensitive_categories).probing(&self.tcf_vendors);

        // What this event must not leak besides the patterns, built on the
        // first partner that gets as far as rendering.
        let mut protected_cell: Option<Protected<'_>> = None;

        let g = self.privacy.time_granularity.seconds();
        let coarse = ev.unix_seconds.div_euclid(g) * g;
        // The output's time and the copying's scratch, made on the first
        // partner that renders: an event no partner takes (a third of a
        // retailer's stream) needs neither.
        let mut time_cell: Option<String> = None;
        let mut scratch_cell: Option<Scratch<'_, '_>> = None;
        let n = self.partners.len();
        let mut outcomes = Vec::with_capacity(n);
        let mut used = Vec::with_capacity(n);
        let mut guard_hits = Vec::with_capacity(n);
        let mut omitted = Vec::with_capacity(n);
        let mut consent = Vec::with_capacity(n);
        for p in &self.partners {
            let mut hit = None;
            let mut kind_used = None;
            let mut left_out = Vec::new();
            let mut refusal = None;
            let outcome = if !p.allows_type(&ev.event_type) {
                Outcome::Drop(DropReason::NotAllowed)
            } else if let Some(r) = p.consent.check(&signals) {
                refusal = Some(r);
                Outcome::Drop(DropReason::NoConsent)
            } else if let Some((r, _)) = blocked {
                Outcome::Drop(r)
            } else if let Some(enc) = p.encoder.as_deref() {
                let prehashed = |member: &str| -> Option<Cow<'_, str>> {
                    ev.user
                        .as_ref()
                        .and_then(|u| u.get(member))
                        .and_then(event::as_str)
                };
                let wants = |k: Kind| p.sendable.contains(&k);
                // A pre-hashed value must be a hash of the person's email or
                // phone, not of the event's IP or another protected value
                // (those are not sent hashed either).
                let mut own_hash = |h: &Cow<'_, str>| {
                    !protected_cell
                        .get_or_insert_with(|| protected_values(ev, &normalized, country))
                        .is_digest_of_other(h)
                };
                let email_sha256 = prehashed("email_sha256")
                    .filter(|_| wants(Kind::Email))
                    .filter(&mut own_hash);
                let phone_sha256 = prehashed("phone_sha256")
                    .filter(|_| wants(Kind::Phone))
                    .filter(&mut own_hash);
                kind_used = p.sendable.iter().copied().find(|k| {
                    ev.identifier(*k).is_some()
                        || (*k == Kind::Email && email_sha256.is_some())
                        || (*k == Kind::Phone && phone_sha256.is_some())
                });
                if kind_used.is_none() {
                    Outcome::Drop(DropReason::NoIdentifier)
                } else {
                    let protected = protected_cell
                        .get_or_insert_with(|| protected_values(ev, &normalized, country));
                    let mut r = Render {
                        protected,
                        scratch: scratch_cell.get_or_insert_with(|| Scratch::new(ev)),
                        country,
                        omitted: &mut left_out,
                        path: Vec::with_capacity(4),
                    };
                    match r.render_fields(p, ev) {
                        Err(h) => {
                            hit = Some(h);
                            left_out.clear();
                            Outcome::Drop(DropReason::PiiGuard)
                        }
                        Ok(fields) => {
                            let mut event_id = Vec::with_capacity(64);
                            p.key.write_tagged("event_id", &ev.event_id, &mut event_id);
                            let input = ProfileInput {
                                event_type: &ev.event_type,
                                unix_seconds: coarse,
                                event_id: std::str::from_utf8(&event_id).unwrap_or_default(),
                                email: ev.identifier(Kind::Email).filter(|_| wants(Kind::Email)),
                                // adgate's E.164 form (with
                                // privacy.default_phone_country), which every
                                // profile reads.
                                phone: normalized[Kind::Phone.index()]
                                    .as_deref()
                                    .filter(|_| wants(Kind::Phone)),
                                // Not an account id that is the event's
                                // device id (its plain hash would be the
                                // device's, which no profile sends), or
                                // its email's local part.
                                account_id: ev
                                    .identifier(Kind::AccountId)
                                    .filter(|_| wants(Kind::AccountId))
                                    .filter(|a| !names_another_identifier(ev, a)),
                                device_id: None,
                                email_sha256: email_sha256.as_deref(),
                                phone_sha256: phone_sha256.as_deref(),
                                fields: fields
                                    .as_deref()
                                    .map(|f| std::str::from_utf8(f).unwrap_or("{}")),
                                consent: profile_consent(
                                    ev,
                                    &signals,
                                    p.consent.uses_tcf() && matches!(signals.tcf(), Some(Ok(_))),
                                    p.consent_vendor,
                                ),
                            };
                            let mut line = Vec::with_capacity(512);
                            match enc.encode(&input, &mut line) {
                                Ok(()) => Outcome::Route(ScrubbedEvent { line, subjects }),
                                Err(EncodeError::NoIdentifier { .. }) => {
                                    kind_used = None;
                                    Outcome::Drop(DropReason::NoIdentifier)
                                }
                                // Config validation maps every event type and
                                // the policy writes the fields as one object.
                                Err(_) => Outcome::Drop(DropReason::Invalid),
                            }
                        }
                    }
                }
            } else {
                match p
                    .identifiers
                    .iter()
                    .find_map(|k| normalized[k.index()].as_deref().map(|n| (*k, n)))
                {
                    None => Outcome::Drop(DropReason::NoIdentifier),
                    Some((kind, norm)) => {
                        kind_used = Some(kind);
                        let protected = protected_cell
                            .get_or_insert_with(|| protected_values(ev, &normalized, country));
                        let time = time_cell.get_or_insert_with(|| {
                            let mut time = String::with_capacity(20);
                            event::format_utc(coarse, &mut time);
                            time
                        });
                        let mut r = Render {
                            protected,
                            scratch: scratch_cell.get_or_insert_with(|| Scratch::new(ev)),
                            country,
                            omitted: &mut left_out,
                            path: Vec::with_capacity(4),
                        };
                        match r.render(p, ev, kind, norm, time) {
                            Ok(line) => Outcome::Route(ScrubbedEvent { line, subjects }),
                            Err(h) => {
                                hit = Some(h);
                                left_out.clear();
                                Outcome::Drop(DropReason::PiiGuard)
                            }
                        }
                    }
                }
            };
            outcomes.push(outcome);
            used.push(kind_used);
            guard_hits.push(hit);
            omitted.push(left_out);
            consent.push(refusal);
        }
        Evaluation {
            outcomes,
            subjects,
            blocked,
            used,
            guard_hits,
            omitted,
            consent,
        }
    }

    /// Is the identifier `raw` (sent as `kind`) on the opt-out list in a
    /// form other than its normalized one: as the other kind of id (an
    /// account id that is a listed device id), as a phone number (a bare or
    /// written number, `tel:`), as an address, or in its lenient form (a
    /// national phone number, a device id without dashes, an address with
    /// a display name)? The `&str` says which, for explain.
    fn listed_in_another_form(
        &self,
        kind: Kind,
        raw: &str,
        optouts: &dyn OptOutLookup,
    ) -> Option<&'static str> {
        let t = raw.trim();
        let id_like = matches!(kind, Kind::AccountId | Kind::DeviceId);
        if id_like {
            let other = if kind == Kind::AccountId {
                Kind::DeviceId
            } else {
                Kind::AccountId
            };
            let as_other = identity::normalize(kind, raw).map(|n| self.hasher.subject(other, &n));
            let as_phone =
                identity::bare_phone_digits(raw).map(|p| self.hasher.subject(Kind::Phone, &p));
            if as_other
                .into_iter()
                .chain(as_phone)
                .any(|h| optouts.contains(&h))
            {
                return Some("an identifier of the event is on the opt-out list as another kind");
            }
        }
        // The lenient forms: an identifier in an unusual shape still
        // matches; an account or device id also in the forms of the kinds
        // it may be.
        let mut kinds = [Some(kind), None, None];
        if id_like {
            kinds[1] = Some(if kind == Kind::AccountId {
                Kind::DeviceId
            } else {
                Kind::AccountId
            });
            if t.contains('@') {
                kinds[2] = Some(Kind::Email);
            } else if identity::looks_like_phone(t) {
                kinds[2] = Some(Kind::Phone);
            }
        }
        let country = self.privacy.default_phone_country;
        for as_kind in kinds.into_iter().flatten() {
            for f in identity::match_forms(as_kind, raw, country) {
                if optouts.contains(&self.hasher.matched(as_kind, &f)) {
                    return Some(
                        "an identifier of the event matches the opt-out list (in its lenient form)",
                    );
                }
            }
        }
        None
    }

    /// The partner-independent rules minus `no_identifier`, which depends on
    /// the partner. The first matching reason wins; the `&str` says which
    /// rule (for explain).
    fn block_reason(
        &self,
        ev: &Event<'_>,
        subjects: &Subjects,
        odd: &[(Kind, Cow<'_, str>)],
        optouts: &dyn OptOutLookup,
        request: RequestSignals,
    ) -> Option<(DropReason, &'static str)> {
        if let Some(b) = ev.malformed_block {
            return Some((
                DropReason::Invalid,
                match b {
                    "user" => "user is not an object",
                    "consent" => "consent is not an object",
                    _ => "context is not an object",
                },
            ));
        }
        match ev.personalized_ads {
            Field::Value(false) => {
                return Some((DropReason::OptedOut, "consent.personalized_ads is false"))
            }
            Field::WrongType => {
                return Some((
                    DropReason::Invalid,
                    "consent.personalized_ads is not a boolean",
                ))
            }
            _ => {}
        }
        match ev.gpc {
            Field::Value(true) => {
                return Some((
                    DropReason::OptedOut,
                    "consent.gpc is true (Global Privacy Control)",
                ))
            }
            _ if request.sec_gpc => {
                return Some((
                    DropReason::OptedOut,
                    "the request carried Sec-GPC: 1 (Global Privacy Control)",
                ))
            }
            Field::WrongType => return Some((DropReason::Invalid, "consent.gpc is not a boolean")),
            _ => {}
        }
        if request.dnt {
            return Some((
                DropReason::OptedOut,
                "the request carried DNT: 1 (Do Not Track)",
            ));
        }
        // Refusals and minors under other names (crate::signals): an
        // opt-out here, a minor after the SPEC's own minor rules, an
        // unreadable one last (the SPEC's reasons come first).
        let (mut other_minor, mut other_invalid) = (None, None);
        if !ev.other_signals.is_empty() {
            let now = ev
                .unix_seconds
                .min((crate::util::now_ms() / 1000) as i64 + 86_400);
            let year = time::OffsetDateTime::from_unix_timestamp(now)
                .map(|t| t.year() as i64)
                .unwrap_or(i64::MAX);
            for (signal, raw) in &ev.other_signals {
                match signals::verdict(*signal, *raw, year, self.privacy.minor_age) {
                    Some(Verdict::OptedOut(why)) => return Some((DropReason::OptedOut, why)),
                    Some(Verdict::Minor(why)) => {
                        other_minor.get_or_insert((DropReason::Minor, why));
                    }
                    Some(Verdict::Unreadable(why)) => {
                        other_invalid.get_or_insert((DropReason::Invalid, why));
                    }
                    None => {}
                }
            }
        }
        // iOS and Android give apps an all-zero advertising id when the
        // person refused tracking (App Tracking Transparency, Limit Ad
        // Tracking): a refusal, and never an identifier (it would give
        // every such person one ad_id).
        let zeroed =
            ev.identifier(Kind::DeviceId)
                .is_some_and(identity::is_zeroed_ad_id)
                || ev.odd_identifiers.iter().any(|(_, raw)| {
                    event::as_str(*raw).is_some_and(|s| identity::is_zeroed_ad_id(&s))
                });
        if zeroed {
            return Some((
                DropReason::OptedOut,
                "the advertising id is all zeros: the device refused tracking (App Tracking Transparency or Limit Ad Tracking)",
            ));
        }
        if !optouts.is_empty() {
            if subjects.as_slice().iter().any(|h| optouts.contains(h)) {
                return Some((
                    DropReason::OptedOut,
                    "an identifier of the event is on the opt-out list",
                ));
            }
            // Every identifier value: the strings the event parse read,
            // and the shapes it did not (a phone as a JSON number, an
            // address in an array), which are matched only here.
            if odd.iter().any(|(k, v)| {
                identity::normalize(*k, v)
                    .is_some_and(|n| optouts.contains(&self.hasher.subject(*k, &n)))
            }) {
                return Some((
                    DropReason::OptedOut,
                    "an identifier of the event is on the opt-out list",
                ));
            }
            // A phone written as a spreadsheet number (`14155550100.0`).
            let whole: Vec<(Kind, String)> = Kind::ALL
                .into_iter()
                .filter_map(|k| ev.identifier(k).and_then(whole_number).map(|w| (k, w)))
                .collect();
            let values = Kind::ALL
                .into_iter()
                .filter_map(|k| ev.identifier(k).map(|raw| (k, raw)))
                .chain(odd.iter().map(|(k, v)| (*k, v.as_ref())))
                .chain(whole.iter().map(|(k, v)| (*k, v.as_str())));
            for (k, raw) in values {
                if let Some(why) = self.listed_in_another_form(k, raw, optouts) {
                    return Some((DropReason::OptedOut, why));
                }
                // A phone without its `+` is matched as an id is (its digits
                // as an E.164 number).
                if k == Kind::Phone {
                    if let Some(why) = self.listed_in_another_form(Kind::AccountId, raw, optouts) {
                        return Some((DropReason::OptedOut, why));
                    }
                }
            }
        }
        // Compared exactly as written (event::Decimal): 17.9999999999999999
        // is below 18, although it is 18.0 as an f64.
        match ev.age {
            Field::Value(a) if a.negative => {
                return Some((DropReason::Invalid, "user.age is negative"))
            }
            Field::Value(a) if a.is_above(MAX_AGE_YEARS) => {
                return Some((
                    DropReason::Invalid,
                    "user.age is above 150 (or too large to be a number)",
                ))
            }
            Field::Value(a) if a.is_below(self.privacy.minor_age) => {
                return Some((DropReason::Minor, "user.age is below privacy.minor_age"))
            }
            Field::WrongType => return Some((DropReason::Invalid, "user.age is not a number")),
            _ => {}
        }
        match &ev.birth_date {
            // The age at the event, but never at a time still to come: a
            // timestamp years ahead must not make a child an adult (sixth
            // red-team pass).
            Field::Value(d) => match age_from_birth_date(
                d,
                ev.unix_seconds
                    .min((crate::util::now_ms() / 1000) as i64 + 86_400),
                ev.utc_offset_seconds,
            ) {
                None => {
                    return Some((
                        DropReason::Invalid,
                        "user.birth_date is not a past date written YYYY-MM-DD",
                    ))
                }
                Some(a) if a < self.privacy.minor_age as i64 => {
                    return Some((
                        DropReason::Minor,
                        "user.birth_date makes the person younger than privacy.minor_age",
                    ))
                }
                Some(_) => {}
            },
            Field::WrongType => {
                return Some((DropReason::Invalid, "user.birth_date is not a string"))
            }
            Field::Absent => {}
        }
        if other_minor.is_some() {
            return other_minor;
        }
        match &ev.category {
            Field::Value(c) if is_sensitive(c, &self.sensitive) => {
                return Some((
                    DropReason::Sensitive,
                    "context.category has the words of a sensitive category",
                ))
            }
            Field::WrongType => {
                return Some((DropReason::Invalid, "context.category is not a string"))
            }
            _ => {}
        }
        if !self.sensitive.is_empty()
            && categories::other_categories(
                ev,
                |c| is_sensitive(c, &self.sensitive),
                |n| is_sensitive_name(n, &self.sensitive_names),
                |p| path_is_sensitive(p, &self.sensitive, &self.sensitive_names),
            )
        {
            return Some((
                DropReason::Sensitive,
                "another category member of context or app (subcategory, categories, genre, ...) has the words of a sensitive category",
            ));
        }
        other_invalid
    }
}

/// The identifier values in a member the event parse did not read as one
/// (see [`Event::odd_identifiers`]): a string or a number (a spreadsheet's
/// `14155550100.0` or `1.4155550100E+10` also as its whole number), the
/// strings and numbers of an array or object (`emails: [{"value": ...}]`,
/// `identities: [{"type": "email", "id": ...}]`), and a phone written as
/// `{"country_code": "1", "number": "4155550100"}` as `+14155550100`.
fn odd_values(raw: JsonRaw<'_>) -> Vec<Cow<'_, str>> {
    let mut out = Vec::new();
    odd_values_into(raw, &mut out, 0);
    out
}

fn odd_values_into<'a>(raw: JsonRaw<'a>, out: &mut Vec<Cow<'a, str>>, depth: usize) {
    match event::kind_of(raw) {
        JsonKind::Number => {
            out.push(Cow::Borrowed(raw.get()));
            out.extend(whole_number(raw.get()).map(Cow::Owned));
        }
        JsonKind::String => {
            if let Some(s) = event::as_str(raw) {
                if let Some(w) = whole_number(&s) {
                    out.push(Cow::Owned(w));
                }
                out.push(s);
            }
        }
        JsonKind::Array if depth < 3 => {
            for item in json::array_items(raw).unwrap_or_default() {
                odd_values_into(item, out, depth + 1);
            }
        }
        JsonKind::Object if depth < 3 => {
            let members = json::object_members(raw).unwrap_or_default();
            let text = |names: &[&str]| {
                members
                    .iter()
                    .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
                    .and_then(|(_, v)| match event::kind_of(*v) {
                        JsonKind::Number => Some(v.get().to_string()),
                        _ => event::as_str(*v).map(Cow::into_owned),
                    })
            };
            if let (Some(cc), Some(number)) = (
                text(&[
                    "country_code",
                    "countryCode",
                    "cc",
                    "dial_code",
                    "calling_code",
                ]),
                text(&[
                    "number",
                    "national_number",
                    "nationalNumber",
                    "phone",
                    "subscriber_number",
                ]),
            ) {
                let cc = cc.trim().trim_start_matches('+');
                out.push(Cow::Owned(format!("+{cc}{}", number.trim())));
            }
            for (k, v) in members.iter() {
                // A map keyed by the identifiers themselves
                // (`emails: {"jane@example.com": {"primary": true}}`,
                // `identities: {"<IDFA>": "idfa"}`).
                if k.len() >= guard::MIN_CONTAINED_LEN {
                    out.push(k.clone());
                }
                odd_values_into(*v, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// The digits of a number written with a zero fraction or an exponent
/// that leaves it whole (`14155550100.0`, `1.4155550100E+10`, a leading
/// `+` kept), or `None`.
fn whole_number(s: &str) -> Option<String> {
    let t = s.trim();
    let (sign, t) = match t.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", t),
    };
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (
            &t[..i],
            t[i + 1..].trim_start_matches('+').parse::<usize>().ok()?,
        ),
        None => (t, 0),
    };
    let (int, frac) = mantissa.split_once('.')?;
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // The fraction's digits past the exponent must be zeros.
    let (moved, rest) = frac.split_at(exp.min(frac.len()));
    if !rest.bytes().all(|b| b == b'0') || exp > frac.len() + 15 {
        return None;
    }
    let zeros = exp - moved.len();
    Some(format!("{sign}{int}{moved}{}", "0".repeat(zeros)))
}

/// The event's own identifiers and every value of its protected paths.
fn protected_values<'a>(
    ev: &Event<'a>,
    normalized: &[Option<Cow<'_, str>>; 4],
    country: Option<phonenumber::country::Id>,
) -> Protected<'a> {
    let mut p = Protected::new(country);
    for k in Kind::ALL {
        if let Some(raw) = &ev.identifiers[k.index()] {
            p.add_identifier(k, raw.clone(), normalized[k.index()].as_deref());
        }
    }
    if let Some(ip) = &ev.ip {
        p.add_ip(ip.clone());
    }
    if let Some(ip) = ev
        .context
        .as_ref()
        .and_then(|c| c.get("ip"))
        .and_then(event::as_str)
    {
        p.add_ip(ip);
    }
    if let Some(user) = &ev.user {
        for (k, v) in &user.members {
            // The identifiers are in already.
            if Kind::parse(k).is_some() && event::kind_of(*v) == JsonKind::String {
                continue;
            }
            // An identifier sent as a number (`"phone": 12065550100`) or in
            // an array is not used as one, but it still must not leak.
            if let Some(kind) = Kind::parse(k) {
                let texts: Vec<Cow<'a, str>> = match event::kind_of(*v) {
                    JsonKind::Number => vec![Cow::Borrowed(v.get())],
                    JsonKind::Array => json::array_items(*v)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|i| match event::kind_of(i) {
                            JsonKind::Number => Some(Cow::Borrowed(i.get())),
                            _ => event::as_str(i),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                for t in texts {
                    let n = identity::normalize_with(kind, &t, country);
                    p.add_identifier(kind, t.clone(), n.as_deref());
                }
            }
            if k.len() >= guard::MIN_CONTAINED_LEN {
                p.add_value(k.clone());
            }
            collect_values(*v, &mut p);
        }
    }
    // Identifiers under other names (`ad.meta.advertising_id`,
    // `context.customer_ref`, `user.email_address`): never forwarded, in
    // any form the guard knows.
    for (kind, raw) in &ev.odd_identifiers {
        // Only values that can be one: the words around them (`"type":
        // "email"`, `"primary"`) are no identifiers.
        for v in odd_values(*raw)
            .into_iter()
            .filter(|v| event::looks_like_an_id(v))
        {
            let n = identity::normalize_with(*kind, &v, country);
            let n = n.map(Cow::into_owned);
            p.add_identifier(*kind, v, n.as_deref());
        }
    }
    for name in &PROTECTED_BLOCKS[1..] {
        if let Some(raw) = ev.top.get(name) {
            match ev.nested(raw) {
                Some(o) => collect_members(o, &mut p),
                None => collect_values(raw, &mut p),
            }
        }
    }
    if let Some(ctx) = &ev.context {
        for name in PROTECTED_CONTEXT {
            if let Some(raw) = ctx.get(name) {
                collect_values(raw, &mut p);
                // A page copied without its scheme or query, with `www.`
                // added, or its parameters reordered, still names the page.
                if matches!(*name, "page_url" | "referrer") {
                    let page = match event::as_str(raw) {
                        Some(Cow::Borrowed(url)) => url_page(url).map(Cow::Borrowed),
                        Some(Cow::Owned(url)) => url_page(&url).map(|p| Cow::Owned(p.to_owned())),
                        None => None,
                    };
                    if let Some(page) = page {
                        p.add_value(page);
                    }
                }
            }
        }
    }
    p
}

/// Is the account id `a` the event's device id (without its dashes, in
/// any case), its email's local part (`jane.doe` of
/// `jane.doe@example.com`), or its phone number in digits (with or without
/// the country code)? Its plain hash, a partner API's
/// `external_id`, would be that identifier's.
fn names_another_identifier(ev: &Event<'_>, a: &str) -> bool {
    let bare = |s: &str| -> String {
        s.trim()
            .chars()
            .filter(|c| *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let a = a.trim();
    // Digits alone that are the event's phone number, with or without its
    // country code (Meta hashes a phone as its digits: `ph` itself).
    let phone = || {
        a.len() >= 7
            && a.bytes().all(|b| b.is_ascii_digit())
            && ev
                .identifier(Kind::Phone)
                .and_then(|p| identity::normalize(Kind::Phone, p))
                .is_some_and(|n| n.trim_start_matches('+').ends_with(a))
    };
    ev.identifier(Kind::DeviceId)
        .is_some_and(|d| bare(d) == bare(a))
        || ev
            .identifier(Kind::Email)
            .and_then(|e| e.trim().rsplit_once('@').map(|(l, _)| l.to_owned()))
            .is_some_and(|local| local.eq_ignore_ascii_case(a))
        || phone()
}

/// The fewest character codes [`char_codes`] reads as a text.
const MIN_CHAR_CODES: usize = 4;

/// `items` read as character codes, when there are [`MIN_CHAR_CODES`] or
/// more and every one is an integer naming a printable character (tab,
/// newline and 32 up, not a surrogate): `[106, 97, 110, 101]` is `"jane"`.
/// The strings and numbers of `items` and of the arrays among them, at
/// any depth, one after another.
fn join_leaves(items: &[JsonRaw<'_>], out: &mut String) {
    for item in items {
        match event::kind_of(*item) {
            JsonKind::String => out.push_str(&event::as_str(*item).unwrap_or_default()),
            JsonKind::Number => out.push_str(item.get()),
            JsonKind::Array => join_leaves(&json::array_items(*item).unwrap_or_default(), out),
            _ => {}
        }
    }
}

fn char_codes(items: &[JsonRaw<'_>]) -> Option<String> {
    if items.len() < MIN_CHAR_CODES {
        return None;
    }
    items
        .iter()
        .map(|item| {
            (event::kind_of(*item) == JsonKind::Number)
                .then(|| item.get().parse::<u32>().ok())
                .flatten()
                .filter(|&c| c >= 32 || c == 9 || c == 10)
                .and_then(char::from_u32)
        })
        .collect()
}

/// The host (without `www.`) and path of a URL whose path says more than
/// the site (`shop.example/checkout` of
/// `https://www.shop.example/checkout?order=1`); `None` for a bare site,
/// which an ordinary campaign name may well contain.
fn url_page(url: &str) -> Option<&str> {
    let t = url.trim();
    let rest = t.split_once("//").map_or(t, |(_, r)| r);
    let rest = rest.split(['?', '#']).next()?;
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let (host, path) = rest.split_once('/')?;
    if host.is_empty() || path.bytes().filter(u8::is_ascii_alphanumeric).count() < 4 {
        return None;
    }
    Some(rest)
}

/// Every key of 6+ characters of `o` and [`collect_values`] of each value,
/// added to `out`.
fn collect_members<'a>(o: &Obj<'a>, out: &mut Protected<'a>) {
    for (k, v) in &o.members {
        if k.len() >= guard::MIN_CONTAINED_LEN {
            out.add_value(k.clone());
        }
        collect_values(*v, out);
    }
}

/// Every string, number (as text) and object key of 6+ characters in
/// `raw`, added to `out`.
fn collect_values<'a>(raw: JsonRaw<'a>, out: &mut Protected<'a>) {
    let text = raw.get();
    match event::kind_of(raw) {
        JsonKind::String => {
            if let Some(s) = event::as_str(raw) {
                if s.len() >= guard::MIN_CONTAINED_LEN {
                    // Its singular too (`insulin pen needle` of a search
                    // for `insulin pen needles`): a value copied one
                    // letter short is still the search or the purchase.
                    // (Borrowed from the event when the value is.)
                    let cut = s
                        .strip_suffix(['s', 'S'])
                        .filter(|t| t.len() >= guard::MIN_CONTAINED_LEN)
                        .map(str::len);
                    let singular = cut.map(|n| match &s {
                        Cow::Borrowed(b) => Cow::Borrowed(&b[..n]),
                        Cow::Owned(o) => Cow::Owned(o[..n].to_owned()),
                    });
                    out.add_value(s);
                    if let Some(t) = singular {
                        out.add_value(t);
                    }
                }
            }
        }
        JsonKind::Number => {
            if text.len() >= guard::MIN_CONTAINED_LEN {
                out.add_value(Cow::Borrowed(text));
            }
        }
        JsonKind::Object => {
            if let Some(o) = Obj::parse(raw) {
                collect_members(&o, out);
            }
        }
        JsonKind::Array => {
            if let Some(items) = json::array_items(raw) {
                for v in items {
                    collect_values(v, out);
                }
            }
        }
        JsonKind::Bool | JsonKind::Null => {}
    }
}

/// Per-event state shared by every partner's copy: nested objects parsed
/// once (the event's own top-level objects were read by its parse), and
/// the guard's verdict on each value already scanned (keyed by the address
/// of its text in the event, so a value two partners copy is decoded and
/// scanned once).
struct Scratch<'e, 'a> {
    ev: &'e Event<'a>,
    nested: Vec<(*const u8, Option<Obj<'a>>)>,
    verdicts: Vec<(usize, usize, Option<Hit>)>,
}

/// An object to copy from: read by the event's parse, or parsed here (to
/// be given back with [`Scratch::put`]).
enum Nested<'e, 'a> {
    Event(&'e Obj<'a>),
    Parsed(usize, Obj<'a>),
}

impl<'e, 'a> Scratch<'e, 'a> {
    fn new(ev: &'e Event<'a>) -> Scratch<'e, 'a> {
        Scratch {
            ev,
            nested: Vec::new(),
            verdicts: Vec::with_capacity(8),
        }
    }

    /// The object `raw` (parsing it the first time it is not one of the
    /// event's own); `None` if `raw` is not an object.
    fn take(&mut self, raw: JsonRaw<'a>) -> Option<Nested<'e, 'a>> {
        if let Some(o) = self.ev.nested(raw) {
            return Some(Nested::Event(o));
        }
        // A value's text starts where no other value's does, except its
        // own first member's: objects only are kept here, keyed by the `{`.
        let key = raw.get().as_ptr();
        let i = match self.nested.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.nested.push((key, Obj::parse(raw)));
                self.nested.len() - 1
            }
        };
        self.nested[i]
            .1
            .as_mut()
            .map(|o| Nested::Parsed(i, std::mem::take(o)))
    }

    fn put(&mut self, slot: usize, obj: Obj<'a>) {
        self.nested[slot].1 = Some(obj);
    }
}

/// One partner's copy of one event.
struct Render<'r, 'e, 'a, 'p> {
    protected: &'r mut Protected<'p>,
    scratch: &'r mut Scratch<'e, 'a>,
    country: Option<phonenumber::country::Id>,
    omitted: &'r mut Vec<Omission>,
    /// The path being copied (for explain's omissions and guard hits);
    /// borrowed from the allow-list and the event.
    path: Vec<Cow<'r, str>>,
}

impl<'r, 'e, 'a: 'r> Render<'r, 'e, 'a, '_> {
    /// Builds the output line, scanning every copied value.
    fn render(
        &mut self,
        p: &'r PartnerPolicy,
        ev: &Event<'a>,
        kind: Kind,
        normalized: &str,
        time: &str,
    ) -> Result<Vec<u8>, GuardHit> {
        // An event with a few fields is ~360 bytes: not grown while written.
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"event_type\":");
        write_json_str(&mut out, &ev.event_type);
        out.extend_from_slice(b",\"time\":\"");
        out.extend_from_slice(time.as_bytes());
        out.extend_from_slice(b"\",\"ad_id\":\"");
        // HMAC output and key ids are [A-Za-z0-9_-.]: no escaping needed.
        p.key.write_tagged(kind.as_str(), normalized, &mut out);
        out.extend_from_slice(b"\",\"ad_id_type\":\"");
        out.extend_from_slice(kind.as_str().as_bytes());
        // After ad_id_type: the ledger reads ad_id and ad_id_type as a pair.
        if let Some(prev) = p.previous_key((crate::util::now_ms() / 1000) as i64) {
            out.extend_from_slice(b"\",\"ad_id_prev\":\"");
            prev.write_tagged(kind.as_str(), normalized, &mut out);
        }
        out.extend_from_slice(b"\",\"event_id\":\"");
        p.key.write_tagged("event_id", &ev.event_id, &mut out);
        out.push(b'"');
        self.write_fields(&mut out, &ev.top, &p.fields)?;
        out.push(b'}');
        Ok(out)
    }

    /// The allow-listed fields of `ev` as one JSON object (`None` when
    /// nothing is kept), for a partner profile's encoder; every copied
    /// value is scanned as in [`Render::render`].
    fn render_fields(
        &mut self,
        p: &'r PartnerPolicy,
        ev: &Event<'a>,
    ) -> Result<Option<Vec<u8>>, GuardHit> {
        let mut out = Vec::with_capacity(256);
        out.push(b'{');
        if !self.write_fields(&mut out, &ev.top, &p.fields)? {
            return Ok(None);
        }
        // Each member wrote a leading comma; drop the first.
        out.remove(1);
        out.push(b'}');
        Ok(Some(out))
    }

    fn here(&self) -> String {
        self.path.join(".")
    }

    fn omit(&mut self, reason: &'static str, why: impl Into<String>) {
        self.omitted.push(Omission {
            path: self.here(),
            reason,
            why: why.into(),
        });
    }

    fn hit(&self, hit: Hit) -> GuardHit {
        GuardHit {
            hit,
            path: self.here(),
        }
    }

    fn write_fields(
        &mut self,
        out: &mut Vec<u8>,
        obj: &Obj<'a>,
        nodes: &'r [FieldNode],
    ) -> Result<bool, GuardHit> {
        let mut wrote = false;
        for node in nodes {
            let Some(raw) = obj.get(&node.name) else {
                continue;
            };
            self.path.push(Cow::Borrowed(node.name.as_str()));
            let mark = out.len();
            out.push(b',');
            out.push(b'"');
            out.extend_from_slice(node.name.as_bytes());
            out.extend_from_slice(b"\":");
            let r = if node.children.is_empty() {
                self.write_value(out, raw, &node.contract)
            } else if let Some(sub) = self.scratch.take(raw) {
                out.push(b'{');
                let inner_start = out.len();
                let copied = match sub {
                    Nested::Event(o) => self.write_fields(out, o, &node.children),
                    Nested::Parsed(slot, o) => {
                        let copied = self.write_fields(out, &o, &node.children);
                        // Back before any `?`: the next partner copies from it too.
                        self.scratch.put(slot, o);
                        copied
                    }
                };
                match copied {
                    Ok(true) => {
                        // The children each wrote a leading comma; drop the first.
                        out.remove(inner_start);
                        out.push(b'}');
                        Ok(true)
                    }
                    Ok(false) => Ok(false),
                    Err(e) => Err(e),
                }
            } else {
                // Not an object where the allow-list expects one: nothing to copy.
                Ok(false)
            };
            self.path.pop();
            match r {
                Ok(true) => wrote = true,
                Ok(false) => out.truncate(mark),
                Err(e) => return Err(e),
            }
        }
        Ok(wrote)
    }

    /// The guard's verdict on one copied string (or, with `number`, the raw
    /// text of a JSON number). Text borrowed from the event is judged once
    /// per event, keyed by its address (`borrowed`), so a value several
    /// partners copy is decoded and scanned once; an escaped (owned) string
    /// each time.
    fn verdict(&mut self, text: &str, borrowed: bool, number: bool) -> Option<Hit> {
        let key = borrowed.then_some((text.as_ptr() as usize, text.len()));
        if let Some(k) = key {
            if let Some((_, _, v)) = self.scratch.verdicts.iter().find(|(p, l, _)| (*p, *l) == k) {
                return *v;
            }
        }
        let protected = &mut *self.protected;
        let v = if number {
            guard::detect::scan_number(text, self.country)
                .or_else(|| guard::with_reading(text, |r| protected.check(r)))
                .or_else(|| {
                    // The value written out (`2.0655501e9` is 2065550100),
                    // as a partner that reads the number sees it.
                    guard::detect::integer_digits(text)
                        .and_then(|i| guard::with_reading(&i, |r| protected.check(r)))
                })
                .or_else(|| {
                    // Its digits without the point and the exponent
                    // (`0.2065550100`, `206555.0100`): the event's phone
                    // hidden in a score or an amount.
                    guard::detect::mantissa_digits(text)
                        .and_then(|d| guard::with_reading(&d, |r| protected.check(r)))
                })
        } else {
            guard::with_reading(text, |r| r.pattern.or_else(|| protected.check(r)))
        };
        if let Some((p, l)) = key {
            self.scratch.verdicts.push((p, l, v));
        }
        v
    }

    /// Copies one value under `contract`; `Ok(false)` when it was left out.
    /// The guard looks at every string, number and key first: a hit is an
    /// error whatever the contract says.
    fn write_value(
        &mut self,
        out: &mut Vec<u8>,
        raw: JsonRaw<'a>,
        contract: &Contract,
    ) -> Result<bool, GuardHit> {
        match event::kind_of(raw) {
            JsonKind::String => {
                let s = event::as_str(raw).unwrap_or_default();
                if let Some(h) = self.verdict(&s, matches!(s, Cow::Borrowed(_)), false) {
                    return Err(self.hit(h));
                }
                if let Some(Err(why)) = contract.check_scalar(raw) {
                    self.omit("contract", format!("breaks its {contract} contract: {why}"));
                    return Ok(false);
                }
                write_json_str(out, &s);
                Ok(true)
            }
            JsonKind::Number => {
                if let Some(h) = self.verdict(raw.get(), true, true) {
                    return Err(self.hit(h));
                }
                if let Some(Err(why)) = contract.check_scalar(raw) {
                    self.omit("contract", format!("breaks its {contract} contract: {why}"));
                    return Ok(false);
                }
                out.extend_from_slice(raw.get().as_bytes());
                Ok(true)
            }
            JsonKind::Bool | JsonKind::Null => {
                if let Some(Err(why)) = contract.check_scalar(raw) {
                    self.omit("contract", format!("breaks its {contract} contract: {why}"));
                    return Ok(false);
                }
                out.extend_from_slice(raw.get().as_bytes());
                Ok(true)
            }
            JsonKind::Array => {
                let items = json::array_items(raw).unwrap_or_default();
                // The event's own identifiers cut into the elements
                // (`["206", "555", "0100"]`), or into those of arrays
                // inside it (`[["+1", "206"], ["555", "0100"]]`): its
                // strings and numbers are read joined too, once each is
                // read alone.
                let joined = (items.len() >= 2).then(|| {
                    let mut joined = String::new();
                    join_leaves(&items, &mut joined);
                    joined
                });
                let codes = char_codes(&items);
                let leaf = contract.leaf();
                out.push(b'[');
                let start = out.len();
                for (i, item) in items.into_iter().enumerate() {
                    self.path.push(Cow::Owned(i.to_string()));
                    let mark = out.len();
                    if out.len() > start {
                        out.push(b',');
                    }
                    let r = self.write_value(out, item, &leaf);
                    self.path.pop();
                    if !r? {
                        out.truncate(mark);
                    }
                }
                if let Some(joined) = joined {
                    let protected = &mut *self.protected;
                    if let Some(h) = guard::with_reading(&joined, |r| protected.check(r)) {
                        return Err(self.hit(h));
                    }
                }
                // A text written as its character codes
                // (`[106, 97, 110, 101, 64, …]`, as `charCodeAt` gives
                // them): read as those characters.
                if let Some(codes) = codes {
                    let protected = &mut *self.protected;
                    if let Some(h) = guard::with_reading(&codes, |r| protected.check(r)) {
                        return Err(self.hit(h));
                    }
                }
                out.push(b']');
                Ok(true)
            }
            JsonKind::Object => {
                let breaks = contract.check_scalar(raw);
                let Some(obj) = Obj::parse(raw) else {
                    return Ok(false);
                };
                let leaf = contract.leaf();
                out.push(b'{');
                let start = out.len();
                for (k, v) in obj.members {
                    // The key is output too: the guard reads it.
                    let kv = self.verdict(&k, matches!(k, Cow::Borrowed(_)), false);
                    self.path.push(k.clone());
                    if let Some(h) = kv {
                        return Err(self.hit(h));
                    }
                    if is_protected_name(&k) {
                        self.omit("contract", "a protected name (user, purchase, search, view, page URL, referrer, IP, user agent or an identifier) under an allowed object is never copied");
                        self.path.pop();
                        continue;
                    }
                    if !crate::contract::is_token(&k) {
                        self.omit(
                            "contract",
                            "a member name that is not a token (1-128 characters from letters, digits and ._:/-)",
                        );
                        self.path.pop();
                        continue;
                    }
                    let mark = out.len();
                    if out.len() > start {
                        out.push(b',');
                    }
                    write_json_str(out, &k);
                    out.push(b':');
                    let r = self.write_value(out, v, &leaf);
                    self.path.pop();
                    if !r? {
                        out.truncate(mark);
                    }
                }
                out.push(b'}');
                if let Some(Err(why)) = breaks {
                    out.truncate(start - 1);
                    self.omit("contract", format!("breaks its {contract} contract: {why}"));
                    return Ok(false);
                }
                Ok(true)
            }
        }
    }
}

/// Is `k` a protected name, whatever its case or Unicode form?
fn is_protected_name(k: &str) -> bool {
    if PROTECTED_NAMES.contains(&k) {
        return true;
    }
    let canonical = canon::canonical(k);
    let folded: String = canonical
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .map(|c| if c == '-' { '_' } else { c })
        .collect();
    PROTECTED_NAMES.contains(&folded.as_str()) || names_personal_data(&canonical)
}

/// Does a member name say it holds a person's identifier or age: it
/// contains `email` or `phone` in any case (`hashed_email`, `phoneHash`),
/// or one of its words ([`signals::any_name_word`]) is a mobile
/// advertising id, a birth date or an age (`idfa`, `gaid`, `maid`, `dob`,
/// `birthdate`, `user_age`, `userAge`, `client_ipv4`)? Such a member under
/// an allowed object is never copied (seventh red-team pass).
fn names_personal_data(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "idfa",
        "idfv",
        "gaid",
        "aaid",
        "ifa",
        "adid",
        "maid",
        "msisdn",
        "dob",
        "firstname",
        "lastname",
        "fullname",
        "surname",
        "birth",
        "birthdate",
        "birthday",
        "age",
        "ssn",
        "ip",
        "ipv",
        // Where the person is (a precise place) or their hardware.
        "lat",
        "lon",
        "lng",
        "latitude",
        "longitude",
        "geo",
        "geohash",
        "location",
        "coords",
        "coordinates",
        "mac",
        "nin",
        // What they bought, searched or viewed (only `purchase`, `search`
        // and `view` are protected paths; the same detail nested under an
        // allowed object under another name is not copied either).
        "cart",
        "basket",
        "order",
        "orders",
        "sku",
        "skus",
        "purchase",
        "purchases",
        "purchased",
        "transaction",
        "transactions",
        "revenue",
        "checkout",
        "search",
        "searches",
        "query",
        "q",
        "term",
        "terms",
        "keyword",
        "keywords",
        "viewed",
        "browsed",
        // Ids of a click or a browser made to join it to the person
        // without the keyed ad_id (ninth red-team pass).
        "gclid",
        "gbraid",
        "wbraid",
        "dclid",
        "fbclid",
        "fbc",
        "fbp",
        "ttclid",
        "ttp",
        "msclkid",
        "epik",
        "yclid",
        "anon",
        "anonymous",
    ];
    let holds = |w: &[u8]| {
        name.as_bytes()
            .windows(w.len())
            .any(|x| x.eq_ignore_ascii_case(w))
    };
    holds(b"email")
        || holds(b"phone")
        || signals::any_name_word(name, |w| WORDS.contains(&w))
        || canon::fold_alnum::<24>(name).is_some_and(|f| {
            matches!(
                &*f,
                b"clientid"
                    | b"gaclientid"
                    | b"cid"
                    | b"userpseudoid"
                    | b"lifatid"
                    | b"sessionid"
                    | b"userdata"
                    // Meta's and TikTok's user data keys as whole names
                    // (hashed first and last names, date of birth, gender,
                    // city, zip), not as words (`imp_ct`, `db_version`).
                    | b"fn"
                    | b"ln"
                    | b"db"
                    | b"ge"
                    | b"ct"
                    | b"zp"
            )
        })
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// The consent a partner profile forwards (Google's consent fields, Meta's
/// Limited Data Use), from the event's own decision: Consent Mode values
/// when the event carries them, else granted when a TC string passed this
/// partner's TCF check (`tcf_consented`) or `consent.personalized_ads` is
/// true, else unspecified; Limited Data Use when a GPP US section says the
/// person opted out of sale, sharing or targeted advertising (forwarded at
/// all only to a partner with `gpp_us = false`).
fn profile_consent(
    ev: &Event<'_>,
    signals: &Signals<'_>,
    tcf_consented: bool,
    vendor: Option<u16>,
) -> ConsentSignals {
    // A TC string the event carries that refuses TCF's ad purposes, or the
    // partner's vendor (Google's own for google_ads: no consent, legitimate
    // interest only, a publisher restriction), or cannot be read, outweighs
    // personalized_ads: the partner is told DENIED, whether or not it
    // checks TCF itself (sixth and eighth red-team passes).
    let tc_refuses = signals.tcf_default_purposes() == Some(false)
        || vendor.is_some_and(|v| signals.tcf_refuses_vendor(v));
    let personalized =
        !tc_refuses && (tcf_consented || matches!(ev.personalized_ads, Field::Value(true)));
    let mode = |m: ModeSignal| match m {
        ModeSignal::Granted => Some(!tc_refuses),
        // A value that is neither "granted" nor "denied" (`"DENIED"`,
        // `false`, `0`) is not consent: the partner is told DENIED, never
        // GRANTED on the strength of personalized_ads.
        ModeSignal::Denied | ModeSignal::Invalid => Some(false),
        ModeSignal::Absent if tc_refuses => Some(false),
        ModeSignal::Absent => personalized.then_some(true),
    };
    ConsentSignals {
        ad_user_data: mode(signals.ad_user_data),
        ad_personalization: mode(signals.ad_personalization),
        limited_data_use: ev.gpp != Field::Absent
            && matches!(signals.gpp_refusal(), Some(Refusal::Gpp { .. })),
    }
}

/// The event's consent strings and Consent Mode values, not yet decoded.
fn consent_signals<'e>(ev: &'e Event<'_>, sensitive: &'e [String]) -> Signals<'e> {
    let raw = |f: &'e Field<Cow<'_, str>>| match f {
        Field::Absent => Raw::Absent,
        Field::Value(s) => Raw::Text(s.as_ref()),
        Field::WrongType => Raw::NotAString,
    };
    let mode = |f: &Field<Cow<'_, str>>| match f {
        Field::Absent => ModeSignal::Absent,
        Field::Value(s) => ModeSignal::parse(Some(s.as_ref())),
        Field::WrongType => ModeSignal::Invalid,
    };
    let category = match &ev.category {
        Field::Value(c) => Some(c.as_ref()),
        _ => None,
    };
    Signals::new(
        raw(&ev.tcf),
        raw(&ev.gpp),
        mode(&ev.ad_user_data),
        mode(&ev.ad_personalization),
        category,
        sensitive,
    )
    .with_us_privacy(raw(&ev.us_privacy))
}

#[cfg(test)]
mod whole_number_tests {
    use super::whole_number;

    #[test]
    fn spreadsheet_numbers_read_whole() {
        assert_eq!(
            whole_number("14155550100.0").as_deref(),
            Some("14155550100")
        );
        assert_eq!(
            whole_number("+14155550100.00").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(
            whole_number("1.4155550100E+10").as_deref(),
            Some("14155550100")
        );
        assert_eq!(
            whole_number("1.41555501e10").as_deref(),
            Some("14155550100")
        );
        for not in [
            "14155550100",
            "1415.5",
            "1.4155550123E+5",
            "abc.0",
            ".0",
            "1e400",
        ] {
            assert_eq!(whole_number(not), None, "{not}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::env_from;

    proptest::proptest! {
        /// Text longer than the classes kept on the stack splits as its
        /// pieces do (a split depends on the two characters before it and
        /// the one after, and a blank never splits).
        #[test]
        fn long_text_splits_as_its_pieces(piece in "[a-zA-Z0-9./_-]{1,30}", camel: bool, ascii: bool) {
            let piece = if ascii { format!("{piece} ") } else { format!("{piece}é ") };
            let long = piece.repeat(400 / piece.len() + 1);
            proptest::prop_assert!(long.chars().count() > 160);
            let want = unglued(&piece, camel).map(|u| u.repeat(400 / piece.len() + 1));
            proptest::prop_assert_eq!(unglued(&long, camel), want);
        }

        /// Counting the characters standing alone by bytes and by characters
        /// agrees on ASCII text.
        #[test]
        fn alone_count_by_bytes_is_by_characters(s in "[a-z0-9 ./_-]{0,40}") {
            proptest::prop_assert_eq!(
                alone_count(s.bytes().map(|b| b.is_ascii_alphanumeric())),
                alone_count(s.chars().map(char::is_alphanumeric))
            );
        }

        /// The byte path for ASCII text splits where the character path does.
        #[test]
        fn unglued_ascii_splits_as_the_characters_do(s in "[a-zA-Z0-9 ./_-]{0,40}", camel: bool) {
            proptest::prop_assert_eq!(unglued_ascii(s.as_bytes(), camel), unglued_chars(&s, camel));
        }
    }
    use categories::Sensitive;
    use std::collections::HashMap;
    use std::path::Path;

    fn config(fields: &str) -> Config {
        let toml = format!(
            r#"
[privacy]
time_granularity = "hour"
[[partners]]
name = "a"
event_types = ["ad_impression"]
identifiers = ["account_id", "email"]
fields = {fields}
[partners.delivery]
mode = "pull"
token_env = "T"
[[partners.keys]]
id = "k1"
secret_env = "K"
"#
        );
        let env = env_from(HashMap::from([
            (
                "T".to_string(),
                "feed-token-feed-token-feed-token-x".to_string(),
            ),
            (
                "K".to_string(),
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string(),
            ),
        ]));
        Config::from_toml(&toml, "test.toml", Path::new("."), &env).unwrap()
    }

    fn run(cfg: &Config, json: &str) -> Outcome {
        let p = Policy::new(cfg, SubjectHasher::new(&[9; 32]));
        let ev = Event::parse(json).unwrap();
        p.evaluate(&ev, &NoOptOuts).outcomes.remove(0)
    }

    /// The event's phone cut into the elements of arrays nested in an
    /// allowed array is read joined; the same digits that are not its
    /// phone go through.
    #[test]
    fn an_identifier_cut_across_nested_arrays_is_found() {
        let cfg = config(r#"["ad.slots"]"#);
        let event = |slots: &str| {
            format!(
                r#"{{"event_id":"e1","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                    "user":{{"email":"jane@example.com","phone":"+1 206 555 0100"}},"ad":{{"slots":{slots}}}}}"#
            )
        };
        for slots in [
            r#"[["+1", "206"], ["555", "0100"]]"#,
            r#"[[["+1"], ["206"]], [["555"], ["0100"]]]"#,
            r#"[["+1", 206], [555, "0100"]]"#,
        ] {
            assert!(
                matches!(
                    run(&cfg, &event(slots)),
                    Outcome::Drop(DropReason::PiiGuard)
                ),
                "{slots}"
            );
        }
        assert!(matches!(
            run(&cfg, &event(r#"[["+1", "206"], ["555", "0199"]]"#)),
            Outcome::Route(_)
        ));
    }

    /// The event's phone's digits in a number written with a point or an
    /// exponent are found, under any contract; other numbers go through.
    #[test]
    fn a_phone_hidden_in_a_numbers_digits_is_found() {
        for fields in [
            r#"["ad.score"]"#,
            r#"[{ path = "ad.score", type = "number" }]"#,
        ] {
            let cfg = config(fields);
            let event = |score: &str| {
                format!(
                    r#"{{"event_id":"e1","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                        "user":{{"email":"jane@example.com","phone":"+1 206 555 0100"}},"ad":{{"score":{score}}}}}"#
                )
            };
            for score in [
                "0.2065550100",
                "206555.0100",
                "2065550100e-10",
                "20655501.00",
            ] {
                assert!(
                    matches!(
                        run(&cfg, &event(score)),
                        Outcome::Drop(DropReason::PiiGuard)
                    ),
                    "{fields} {score}"
                );
            }
            for score in ["0.25", "1250.5", "2.5e3", "0.2065550199"] {
                assert!(
                    matches!(run(&cfg, &event(score)), Outcome::Route(_)),
                    "{fields} {score}"
                );
            }
        }
    }

    #[test]
    fn ad_id_prev_is_written_only_before_emit_previous_until() {
        let mut cfg = config(r#"["ad.campaign_id"]"#);
        let mut newer = cfg.partners[0].keys[0].clone();
        newer.id = "k2".into();
        newer.secret = crate::secret::Secret::new(vec![7; 32]);
        newer.emit_previous_until = Some(2_000_000_000);
        cfg.partners[0].keys.push(newer);
        let p = PartnerPolicy::new(&cfg.partners[0]);
        let old = cfg.partners[0].keys[0].partner_key();
        assert_eq!(p.previous_key(1_999_999_999).map(|k| k.id()), Some("k1"));
        assert!(
            p.previous_key(2_000_000_000).is_none(),
            "the time itself ends it"
        );
        let now = (crate::util::now_ms() / 1000) as i64;
        assert!(now < 2_000_000_000, "this test assumes a date before 2033");
        let Outcome::Route(s) = run(
            &cfg,
            r#"{"event_id":"e1","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                "user":{"email":"Jane@Example.com"}}"#,
        ) else {
            panic!("not routed")
        };
        let v: serde_json::Value = serde_json::from_slice(s.line()).unwrap();
        assert_eq!(v["ad_id_prev"], old.ad_id(Kind::Email, "jane@example.com"));
        assert!(v["ad_id"].as_str().unwrap().starts_with("k2."));
        // The ledger still reads ad_id and its type from the line.
        let (kind, key) = crate::privacy::ledger::ad_id_of(s.line()).unwrap();
        assert_eq!((kind, key.as_str()), (Kind::Email, "k2"));
        // Without the window: no ad_id_prev.
        cfg.partners[0].keys[1].emit_previous_until = Some(now - 1);
        let Outcome::Route(s) = run(
            &cfg,
            r#"{"event_id":"e1","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                "user":{"email":"Jane@Example.com"}}"#,
        ) else {
            panic!("not routed")
        };
        let v: serde_json::Value = serde_json::from_slice(s.line()).unwrap();
        assert!(v.get("ad_id_prev").is_none(), "{v}");
    }

    #[test]
    fn keeps_only_allow_listed_nesting_kept() {
        let cfg = config(r#"["ad.campaign_id", "ad.value_estimate_micros", "app.app_id"]"#);
        let out = run(
            &cfg,
            r#"{"event_id":"e1","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                "user":{"email":"Jane@Example.com","account_id":" A123 "},
                "ad":{"campaign_id":"c-77","placement":"home","value_estimate_micros":1250},
                "search":{"query":"shoes"}}"#,
        );
        let Outcome::Route(s) = out else {
            panic!("{out:?}")
        };
        let v: serde_json::Value = serde_json::from_slice(s.line()).unwrap();
        assert_eq!(v["time"], "2026-11-28T13:00:00Z");
        assert_eq!(v["ad_id_type"], "account_id");
        assert_eq!(
            v["ad"],
            serde_json::json!({"campaign_id": "c-77", "value_estimate_micros": 1250})
        );
        assert!(v.get("app").is_none());
        assert!(v.get("search").is_none() && v.get("user").is_none());
        let key = cfg.partners[0].signing_key().partner_key();
        assert_eq!(v["ad_id"], key.ad_id(Kind::AccountId, "A123"));
        assert_eq!(v["event_id"], key.event_id("e1"));
    }

    #[test]
    fn a_guard_drop_for_one_partner_leaves_the_shared_nested_object_to_the_next() {
        // Partner "a" copies ad.note (a leak: dropped by the guard midway
        // through "ad"); partner "b" copies ad.campaign_id from the same
        // parsed object and must still get it.
        let a = config(r#"["ad.campaign_id", "ad.note"]"#);
        let b = config(r#"["ad.campaign_id"]"#);
        let mut cfg = a.clone();
        let mut pb = b.partners[0].clone();
        pb.name = "b".to_string();
        cfg.partners.push(pb);
        let p = Policy::new(&cfg, SubjectHasher::new(&[9; 32]));
        let json = r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"account_id":"A1"},"ad":{"campaign_id":"c-7","note":"jane@example.com"}}"#;
        let ev = Event::parse(json).unwrap();
        let outcomes = p.evaluate(&ev, &NoOptOuts).outcomes;
        assert!(matches!(outcomes[0], Outcome::Drop(DropReason::PiiGuard)));
        let Outcome::Route(s) = &outcomes[1] else {
            panic!("b not routed: {:?}", outcomes[1]);
        };
        let line = std::str::from_utf8(s.line()).unwrap();
        assert!(line.contains(r#""ad":{"campaign_id":"c-7"}"#), "{line}");
    }

    #[test]
    fn pages_are_protected_without_scheme_www_or_query() {
        assert_eq!(
            url_page("https://www.shop.example/checkout?order=1&step=2"),
            Some("shop.example/checkout")
        );
        assert_eq!(
            url_page("//shop.example/checkout#top"),
            Some("shop.example/checkout")
        );
        // A bare site, or one with a short path, is not a page.
        assert_eq!(url_page("https://shop.example/"), None);
        assert_eq!(url_page("https://shop.example/en"), None);
        assert_eq!(url_page("shop.example"), None);
    }

    #[test]
    fn guard_drops_leaks_in_allowed_fields() {
        let cfg = config(r#"["ad"]"#);
        for leak in [
            r#""jane@example.com""#,
            r#""+1 206 555 0100""#,
            r#"["x", {"y": "4111 1111 1111 1111"}]"#,
            r#""A123-extra""#,
        ] {
            let ev = format!(
                r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                    "user":{{"account_id":"A123-extra"}},"ad":{{"campaign_id":{leak}}}}}"#
            );
            assert!(
                matches!(run(&cfg, &ev), Outcome::Drop(DropReason::PiiGuard)),
                "{leak}"
            );
        }
    }

    #[test]
    fn sensitive_categories_fold_and_match_segments_and_words() {
        let list: Vec<Vec<String>> = vec![
            vec!["health".into()],
            vec!["mental".into(), "health".into()],
        ];
        for c in [
            "health",
            "Health",
            "HEALTH",
            " health ",
            "health\n",
            "Health > Pharmacy",
            "health/vitamins",
            "Beauty | Health",
            "ＨＥＡＬＴＨ",
            "he\u{200b}alth",
            "Health Supplements",
            "Mental-Health",
        ] {
            assert!(is_sensitive(c, &Sensitive::new(list.clone())), "{c:?}");
        }
        for c in ["books", "healthy snacks", "wealth", "electronics > tv"] {
            assert!(!is_sensitive(c, &Sensitive::new(list.clone())), "{c:?}");
        }
    }

    /// Red-team S1-S6 (rt-035..rt-040) and their variants: punctuation,
    /// brackets, unlisted separators, lookalike letters, combining marks,
    /// blank-looking characters and percent-encoded punctuation.
    #[test]
    fn sensitive_categories_ignore_punctuation_marks_and_lookalikes() {
        let list: Vec<Vec<String>> = ["health", "pharmacy", "mental health", "Adult Content"]
            .iter()
            .map(|c| fold_category(c).split(' ').map(str::to_owned).collect())
            .collect();
        assert_eq!(list[3], ["adult", "content"]);
        for c in [
            // S1
            "Health.",
            "Health!",
            "health?",
            "#health",
            "\"health\"",
            "health*",
            "'Health'",
            // S2
            "Beauty (Health)",
            "Beauty(Health)",
            "[pharmacy]",
            // S3
            "Books.Health",
            "Books+Health",
            "shop+health",
            "Shop→Health",
            "books·health",
            "books•health",
            "?cat=health",
            "books~health",
            "books、health",
            "books،health",
            "Books > Mental Health",
            "mental.health",
            "Mental > Health",
            // Letters parted by invisible characters and blanks, and
            // quoted-printable.
            "h\u{200b}e a l t h",
            "=68=65=61=6C=74=68",
            "=70harmacy",
            "adult-content",
            "ADULT_CONTENT!",
            // S4
            "H\u{435}alth",
            "he\u{3b1}lth",
            "\u{29c}\u{1d07}\u{1d00}\u{29f}\u{1d1b}\u{29c}",
            "\u{397}\u{395}\u{391}LTH",
            "\u{440}harmacy",
            "ℍ𝕖𝕒𝕝𝕥𝕙",
            // S5
            "health\u{332}",
            "he\u{301}alth",
            "h\u{20dd}ealth",
            "health\u{2800}",
            "\u{2800}health\u{2800}beauty",
            "health\u{3000}",
            // S6
            "health%2E",
            "health%252E",
            "Beauty%20%28Health%29",
            "health&period;",
            // What the red team found caught already (section 3), kept so.
            "Beauty&Health",
            "heal\u{ad}th",
            "heal\u{200d}th",
            "%68ealth",
            "&#104;ealth",
            "\u{17f}hop > health",
            "\u{1d525}\u{1d522}\u{1d51e}\u{1d529}\u{1d531}\u{1d525}",
            "\u{24d7}\u{24d4}\u{24d0}\u{24db}\u{24e3}\u{24d7}",
            "\u{1f3e5} health",
            "https://shop.example/health/vitamins",
            "beauty\u{ff1e}health",
            // Digits and signs for letters, words glued by case or digits.
            "HeaIth",
            "Hea1th",
            "H3alth",
            "Ph@rmacy",
            "OnlinePharmacy",
            "Health24",
            // The fourth pass: letters as symbols, spaced out, glued in
            // capitals, more signs.
            "\u{1F177}\u{1F174}\u{1F170}\u{1F17B}\u{1F183}\u{1F177}",
            "\u{24A3}\u{24A0}\u{249C}\u{24A7}\u{24AF}\u{24A3}",
            "h e a l t h",
            "h.e.a.l.t.h",
            "MENTALHealth",
            "HEALTHStore",
            "PHARMACYonline",
            "HEALTHandBEAUTY",
            "MentaIHeaIth",
            "H\u{20AC}alth",
            "Pharma(y",
            "\u{2C67}ealth",
            "\u{2C8F}\u{2C89}\u{2C81}\u{2C97}\u{2CA7}\u{2C8F}",
            // The twelfth pass: a word cut in two or three.
            "heal th",
            "HEAL TH",
            "Books > Heal-th",
            "phar ma cy",
            "Phar-ma-cy",
            // Backwards and in ROT13.
            "htlaeh",
            "URNYGU",
            "Books > ycamrahp",
        ] {
            assert!(is_sensitive(c, &Sensitive::new(list.clone())), "{c:?}");
        }
        for c in [
            "healthy-snacks",
            "Healthy Snacks",
            "wealth",
            "stealth.games",
            "pharmacycle",
            "mental",
            "mental math",
            "healthy > mental",
            "adult",
            "content > adult",
            "books",
            "electronics > tv",
            "sports (outdoor)",
            "Home & Garden",
            "toys.r.us",
            "Travel → Europe",
            "\u{2800}",
            "",
            "%2E%2E",
            "Wea1th",
            "HealthyLiving",
            "Books4Kids",
            "iPhone 17",
            "a b c books",
            "USAToday",
            "TVandAUDIO",
            "Stealth Mode",
            "Heal the World",
            "Phar Lap",
            "he alt",
            // Short words backwards or in ROT13 by chance (`bgp` is `otc`,
            // `vis` is `ivf`).
            "BGP routers",
            "vis-a-vis",
            "Stressed desserts",
            // `=` with hex digits that spell nothing sensitive, letters
            // spaced out that spell nothing.
            "size=2E",
            "ratio=3D4",
            "b\u{200b}o o k s",
        ] {
            assert!(!is_sensitive(c, &Sensitive::new(list.clone())), "{c:?}");
        }
    }

    /// The red team's events (sensitive categories and minors; the same
    /// cases are the corpus family `redteam`) as they were sent, with the default privacy settings (health,
    /// pharmacy; minor_age 18): each was forwarded before.
    #[test]
    fn red_team_rule_events_are_dropped() {
        let cfg = config(r#"["ad.campaign_id"]"#);
        for (ev, want) in [
            (r#"{"event_id":"rt-035","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"account_id":"ACCT-55812-XQ"},"context":{"category":"Health."},"ad":{"campaign_id":"c-77"}}"#, DropReason::Sensitive),
            (r#"{"event_id":"rt-036","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"account_id":"ACCT-55812-XQ"},"context":{"category":"Beauty (Health)"},"ad":{"campaign_id":"c-77"}}"#, DropReason::Sensitive),
            (r#"{"event_id":"rt-037","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"account_id":"ACCT-55812-XQ"},"context":{"category":"Books.Health"},"ad":{"campaign_id":"c-77"}}"#, DropReason::Sensitive),
            ("{\"event_id\":\"rt-038\",\"event_type\":\"ad_impression\",\"timestamp\":\"2026-11-28T13:45:12Z\",\"user\":{\"account_id\":\"ACCT-55812-XQ\"},\"context\":{\"category\":\"H\u{435}alth\"},\"ad\":{\"campaign_id\":\"c-77\"}}", DropReason::Sensitive),
            ("{\"event_id\":\"rt-039\",\"event_type\":\"ad_impression\",\"timestamp\":\"2026-11-28T13:45:12Z\",\"user\":{\"account_id\":\"ACCT-55812-XQ\"},\"context\":{\"category\":\"health\u{332}\"},\"ad\":{\"campaign_id\":\"c-77\"}}", DropReason::Sensitive),
            (r#"{"event_id":"rt-040","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"account_id":"ACCT-55812-XQ"},"context":{"category":"health%2E"},"ad":{"campaign_id":"c-77"}}"#, DropReason::Sensitive),
            (r#"{"event_id":"rt-041","event_type":"ad_impression","timestamp":"2026-11-28T23:30:00-05:00","user":{"account_id":"ACCT-55812-XQ","birth_date":"2008-11-29"},"ad":{"campaign_id":"c-77"}}"#, DropReason::Minor),
            (r#"{"event_id":"rt-042","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"account_id":"ACCT-55812-XQ","age":17.9999999999999999},"ad":{"campaign_id":"c-77"}}"#, DropReason::Minor),
            // Section 4: an age that is infinite as an f64.
            (r#"{"event_id":"rt-042b","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"account_id":"ACCT-55812-XQ","age":1e400},"ad":{"campaign_id":"c-77"}}"#, DropReason::Invalid),
        ] {
            assert!(
                matches!(run(&cfg, ev), Outcome::Drop(r) if r == want),
                "{ev}"
            );
        }
    }

    #[test]
    fn configured_categories_fold_like_categories() {
        assert_eq!(fold_category("  Mental   Health "), "mental health");
        assert_eq!(fold_category("Mental-Health"), "mental health");
        assert_eq!(fold_category("Santé"), "sante");
        assert_eq!(fold_category("ʜᴇᴀʟᴛʜ"), "health");
        assert_eq!(fold_category("Health."), "health");
        assert_eq!(fold_category("18+"), "18");
        assert_eq!(fold_category("+++"), "");
        let list = Sensitive::new(vec![vec![fold_category("Santé")]]);
        assert!(is_sensitive("sante", &list));
        assert!(is_sensitive("SANTÉ > Beauté", &list));
    }

    /// Minors and refusals under names the SPEC does not give
    /// (crate::signals), and sensitive categories in other languages or
    /// other members: each stops the event, each control goes through.
    /// The eighth red-team pass: the SPEC's names and other signals in
    /// other blocks, categories in other places, glued words and codes.
    /// Each stopped event has a forwarded control beside it.
    #[test]
    fn eighth_red_team_pass_places_names_and_codes() {
        let mut cfg = config(r#"["ad.campaign_id"]"#);
        cfg.privacy.sensitive_categories = vec!["health".into(), "pharmacy".into()];
        let ev = |rest: &str| {
            format!(
                r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{{"account_id":"A1"}},"ad":{{"campaign_id":"c"}}{rest}}}"#
            )
        };
        use DropReason::*;
        let cases: &[(&str, Option<DropReason>)] = &[
            ("", None),
            // Signals in blocks about the person, wherever they are.
            (r#","context":{"traits":{"age":12}}"#, Some(Minor)),
            (r#","context":{"traits":{"age":40}}"#, None),
            // Ninth pass: age and birth in other languages.
            (r#","traits":{"edad":12}"#, Some(Minor)),
            (r#","traits":{"Alter":40}"#, None),
            (r#","customer":{"geburtsdatum":"2012-04-01"}"#, Some(Minor)),
            (
                r#","customer":{"fecha_nacimiento":"2012-04-01"}"#,
                Some(Minor),
            ),
            (r#","context":{"eta":12}"#, None),
            // Consent tools' answers, and the health words shops use.
            (
                r#","context":{"google_consent":{"ad_storage":"denied"}}"#,
                Some(OptedOut),
            ),
            (r#","context":{"ad_storage":"granted"}"#, None),
            (r#","context":{"category":"Wellness"}"#, Some(Sensitive)),
            (r#","context":{"category":"Drugs"}"#, Some(Sensitive)),
            (r#","context":{"category":"Healthmart"}"#, Some(Sensitive)),
            (r#","context":{"category":"💊"}"#, Some(Sensitive)),
            // Letters drawn like signs between words, and lookalikes the
            // seventeenth pass used.
            (
                r#","context":{"category":"Books一Health"}"#,
                Some(Sensitive),
            ),
            (
                r#","context":{"category":"pharmacyːshop"}"#,
                Some(Sensitive),
            ),
            (r#","context":{"category":"heaǀth"}"#, Some(Sensitive)),
            (r#","context":{"category":"ꞕealth"}"#, Some(Sensitive)),
            (r#","context":{"category":"ΡhAʀṀàϹʏ"}"#, Some(Sensitive)),
            (r#","context":{"classification":"HEALTH"}"#, Some(Sensitive)),
            (
                r#","context":{"hashtags":["books","HEALTH"]}"#,
                Some(Sensitive),
            ),
            (r#","context":{"category":"Booksːmodels"}"#, None),
            (r#","app":{"labels":["health"]}"#, Some(Sensitive)),
            (
                r#","context":{"page":{"path":"/pharmacy/insulin-pens"}}"#,
                Some(Sensitive),
            ),
            (
                r#","context":{"page_location":"https://shop.example/pharmacy/x"}"#,
                Some(Sensitive),
            ),
            (
                r#","context":{"page_location":"https://shop.example/shoes/x"}"#,
                None,
            ),
            (r#","context":{"sic":"5912"}"#, Some(Sensitive)),
            (
                r#","context":{"traits":{"birth_date":"2012-04-01"}}"#,
                Some(Minor),
            ),
            (r#","traits":{"age":12}"#, Some(Minor)),
            (r#","customer":{"birth_date":"2012-04-01"}"#, Some(Minor)),
            (r#","user_properties":{"age":{"value":12}}"#, Some(Minor)),
            (r#","user_properties":{"age":{"value":41}}"#, None),
            (r#","context":{"user":{"age":12}}"#, Some(Minor)),
            (r#","context":{"personalized_ads":false}"#, Some(OptedOut)),
            (r#","app":{"personalized_ads":false}"#, Some(OptedOut)),
            (r#","app":{"personalized_ads":true}"#, None),
            (
                r#","consent_state":{"gdpr":{"advertising":{"consented":false}}}"#,
                Some(Invalid),
            ),
            // A page's or an app's own age is not the person's.
            (r#","context":{"age":3}"#, None),
            // Categories in other places, glued words, codes.
            (r#","context":{"category":"Telehealth"}"#, Some(Sensitive)),
            (
                r#","context":{"category":"healthandbeauty"}"#,
                Some(Sensitive),
            ),
            (r#","context":{"category":"Healthy Snacks"}"#, None),
            (r#","context":{"category":"IAB-7"}"#, Some(Sensitive)),
            (r#","context":{"category":"IAB 70"}"#, None),
            (
                r#","context":{"category":"Prescriptions"}"#,
                Some(Sensitive),
            ),
            (r#","context":{"category":"Apteekki"}"#, Some(Sensitive)),
            (r#","context":{"mcc":"5912"}"#, Some(Sensitive)),
            (r#","context":{"mcc":"5411"}"#, None),
            (r#","site":{"cattax":2,"cat":["286"]}"#, Some(Sensitive)),
            (r#","site":{"cattax":1,"cat":["286"]}"#, None),
            (r#","app":{"genreId":6020}"#, Some(Sensitive)),
            (r#","items":[{"item_category":"Health"}]"#, Some(Sensitive)),
            (r#","items":[{"item_category":"Books"}]"#, None),
            (r#","view":{"category":"Pharmacy"}"#, Some(Sensitive)),
            (r#","context":{"product_type":"Pharmacy"}"#, Some(Sensitive)),
            (r#","context":{"tags":["pharmacy"]}"#, Some(Sensitive)),
            (
                r#","context":{"page_url":"https://shop.example/pharmacy/insulin-pens"}"#,
                Some(Sensitive),
            ),
            (
                r#","context":{"page_url":"https://healthy.example/books/novels"}"#,
                None,
            ),
        ];
        for (rest, want) in cases {
            match (run(&cfg, &ev(rest)), want) {
                (Outcome::Route(_), None) => {}
                (Outcome::Drop(r), Some(w)) if r == *w => {}
                (got, _) => panic!("{rest}: {got:?}, want {want:?}"),
            }
        }
        // In user: words and values that say minor or refusal.
        let user = |members: &str| {
            run(
                &cfg,
                &format!(
                    r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{{"account_id":"A1",{members}}},"ad":{{"campaign_id":"c"}}}}"#
                ),
            )
        };
        for (members, want) in [
            (r#""is_over_18":false"#, Some(Minor)),
            (r#""is_over_18":true"#, None),
            (r#""account_type":"child""#, Some(Minor)),
            (r#""account_type":"business""#, None),
            (r#""supervised":true"#, Some(Minor)),
            (r#""guardian_email":"g@x.example""#, Some(Minor)),
            (r#""interest_based_ads":false"#, Some(OptedOut)),
            (r#""interest_based_ads":true"#, None),
            (r#""ad_targeting":false"#, Some(OptedOut)),
            (r#""permissions":{"advertising":false}"#, Some(Invalid)),
            (
                r#""advertising_id":"6D92078A-8246-4BA4-AE5B-76104861E102""#,
                None,
            ),
        ] {
            match (user(members), want) {
                (Outcome::Route(_), None) => {}
                (Outcome::Drop(r), Some(w)) if r == w => {}
                (got, _) => panic!("{members}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn other_names_for_minors_refusals_and_sensitive_categories() {
        let mut cfg = config(r#"["ad.campaign_id"]"#);
        cfg.privacy.sensitive_categories = vec!["health".into(), "pharmacy".into()];
        let outcome = |user: &str, consent: &str, context: &str, app: &str| {
            run(
                &cfg,
                &format!(
                    r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                        "user":{{"account_id":"A1"{user}}},"consent":{{"personalized_ads":true{consent}}},
                        "context":{{"category":"books"{context}}},"app":{{"app_id":"x"{app}}},
                        "ad":{{"campaign_id":"c"}}}}"#
                ),
            )
        };
        use DropReason::*;
        let cases: &[(&str, &str, &str, &str, Option<DropReason>)] = &[
            ("", "", "", "", None),
            (r#","birth_year":2012"#, "", "", "", Some(Minor)),
            (r#","birthYear":"2012""#, "", "", "", Some(Minor)),
            (r#","birth_year":1980"#, "", "", "", None),
            (r#","dob":"2013-05-01""#, "", "", "", Some(Minor)),
            (r#","age_range":"13-17""#, "", "", "", Some(Minor)),
            (r#","age_range":"25-34""#, "", "", "", None),
            (r#","age_range":"sometimes""#, "", "", "", Some(Invalid)),
            (r#","is_minor":true"#, "", "", "", Some(Minor)),
            (r#","is_minor":false"#, "", "", "", None),
            ("", r#","COPPA":1"#, "", "", Some(Minor)),
            (r#","is_adult":false"#, "", "", "", Some(Minor)),
            // The SPEC's own reason first: an adult by age, a minor by flag.
            (r#","age":34,"is_minor":true"#, "", "", "", Some(Minor)),
            (r#","age":12,"lat":"maybe""#, "", "", "", Some(Minor)),
            ("", r#","limit_ad_tracking":true"#, "", "", Some(OptedOut)),
            ("", r#","lmt":1"#, "", "", Some(OptedOut)),
            ("", r#","limit_ad_tracking":false"#, "", "", None),
            ("", r#","att_status":"denied""#, "", "", Some(OptedOut)),
            ("", r#","att_status":"authorized""#, "", "", None),
            ("", r#","do_not_sell":true"#, "", "", Some(OptedOut)),
            (r#","doNotShare":"yes""#, "", "", "", Some(OptedOut)),
            ("", r#","dnt":"1""#, "", "", Some(OptedOut)),
            // An opt-out wins over a minor, as in the SPEC's order.
            (
                r#","is_minor":true"#,
                r#","do_not_sell":true"#,
                "",
                "",
                Some(OptedOut),
            ),
            ("", "", r#","subcategory":"pharmacy""#, "", Some(Sensitive)),
            (
                "",
                "",
                r#","categories":["toys","Health"]"#,
                "",
                Some(Sensitive),
            ),
            ("", "", r#","subcategory":"toys""#, "", None),
            ("", "", "", r#","category":"Medical""#, Some(Sensitive)),
            ("", "", "", r#","genre":"Games""#, None),
            // Seventh red-team pass: any other consent member fails closed,
            // names like a signal in user, signals nested or in context/app.
            (
                "",
                r#","globalPrivacyControl":true"#,
                "",
                "",
                Some(OptedOut),
            ),
            (
                "",
                r#","data_processing_options":["LDU"]"#,
                "",
                "",
                Some(OptedOut),
            ),
            ("", r#","data_processing_options":[]"#, "", "", None),
            ("", r#","ccpa":"1YYN""#, "", "", Some(OptedOut)),
            ("", r#","ccpa":{"do_not_sell":true}"#, "", "", Some(Invalid)),
            ("", r#","source":"cmp""#, "", "", Some(Invalid)),
            ("", r#","source":null"#, "", "", None),
            (
                r#","advertiser_tracking_enabled":false"#,
                "",
                "",
                "",
                Some(OptedOut),
            ),
            (r#","age_years":12"#, "", "", "", Some(Minor)),
            (r#","age_years":40"#, "", "", "", None),
            (r#","made_for_kids":true"#, "", "", "", Some(Minor)),
            (r#","under13":"yes""#, "", "", "", Some(Minor)),
            (r#","is_teenager":false"#, "", "", "", Some(Invalid)),
            (
                r#","consent":"CP1R2oAP1R2oAAHABBENEsEAAAAAAAAAAAggAAgAAgAA""#,
                "",
                "",
                "",
                Some(Invalid),
            ),
            (r#","device":{"lmt":1}"#, "", "", "", Some(OptedOut)),
            (r#","profile":{"is_minor":true}"#, "", "", "", Some(Minor)),
            (r#","first_name":"Jane","page_views":3"#, "", "", "", None),
            ("", "", r#","dnt":1"#, "", Some(OptedOut)),
            ("", "", r#","coppa":1"#, "", Some(Minor)),
            ("", "", "", r#","child_directed":true"#, Some(Minor)),
            ("", "", "", r#","age_rating":"12+""#, None),
            // Content, not the person: an ad that is not adult content, an
            // app's version, a latitude.
            (
                "",
                "",
                "",
                r#","adult":false,"version":{"major":2,"minor":1}"#,
                None,
            ),
            ("", "", r#","geo":{"lat":47.6,"lon":-122.3}"#, "", None),
            (r#","device":{"geo":{"lat":47.6}}"#, "", "", "", None),
            (r#","device":{"lat":true}"#, "", "", "", Some(OptedOut)),
            ("", "", r#","department":"Pharmacy""#, "", Some(Sensitive)),
            (
                "",
                "",
                r#","breadcrumb":"Home > Health > Vitamins""#,
                "",
                Some(Sensitive),
            ),
            (
                "",
                "",
                r#","content":{"cat":["IAB7"]}"#,
                "",
                Some(Sensitive),
            ),
            (
                "",
                "",
                r#","categories":[{"id":7,"name":"Health"}]"#,
                "",
                Some(Sensitive),
            ),
            ("", "", r#","categories":[["Health"]]"#, "", Some(Sensitive)),
            // What a page is called says what it is about.
            (
                "",
                "",
                r#","content":{"title":"Health"}"#,
                "",
                Some(Sensitive),
            ),
            ("", "", r#","content":{"title":"Healthy snacks"}"#, "", None),
            (
                "",
                "",
                r#","page":{"url":"https://pharmacy.shop.example/item/1"}"#,
                "",
                Some(Sensitive),
            ),
            ("", "", r#","page":{"path":"/products/12345"}"#, "", None),
            (
                "",
                "",
                r#","customerPrivacy":{"marketingAllowed":false}"#,
                "",
                Some(OptedOut),
            ),
            (
                "",
                "",
                r#","customerPrivacy":{"marketingAllowed":true}"#,
                "",
                None,
            ),
            ("", "", r#","cmp":"OneTrust""#, "", None),
            (
                "",
                "",
                r#","OptanonConsent":"groups=C0004:0""#,
                "",
                Some(OptedOut),
            ),
            (
                "",
                "",
                r#","OptanonConsent":"version=1&groups=C0001%3A1%2CC0004%3A1""#,
                "",
                None,
            ),
            (
                "",
                "",
                r#","OptanonConsent":"version=1""#,
                "",
                Some(Invalid),
            ),
            // Consent tools' grants (benign false-positive audit).
            ("", "", r#","cookieconsent":{"marketing":true}"#, "", None),
            (
                "",
                "",
                r#","cookieconsent":{"marketing":false}"#,
                "",
                Some(OptedOut),
            ),
            ("", "", r#","usercentrics":{"Google Ads":true}"#, "", None),
            (
                "",
                "",
                r#","consent_tool":{"ads":"maybe"}"#,
                "",
                Some(Invalid),
            ),
        ];
        for (user, consent, context, app, want) in cases {
            match (outcome(user, consent, context, app), want) {
                (Outcome::Route(_), None) => {}
                (Outcome::Drop(r), Some(w)) if r == *w => {}
                (got, _) => panic!("{user} {consent} {context} {app}: {got:?}, want {want:?}"),
            }
        }
        let category = |c: &str| {
            run(
                &cfg,
                &format!(
                    r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                        "user":{{"account_id":"A1"}},"context":{{"category":"{c}"}},"ad":{{"campaign_id":"c"}}}}"#
                ),
            )
        };
        for c in [
            "Gesundheit",
            "Santé > Beauté",
            "健康",
            "健康食品",
            "IAB7-12",
            "Apotheke",
            "약국",
            "sức khỏe",
            "Pharmacies and Drug Stores",
            "Здраве",
            "الصحة والجمال",
            "יופי ובריאות",
            "医薬品・コンタクト・介護",
            "Medicines",
        ] {
            assert!(
                matches!(category(c), Outcome::Drop(Sensitive)),
                "{c}: {:?}",
                category(c)
            );
        }
        // OpenRTB's top-level blocks.
        for (block, want) in [
            (r#""regs":{"coppa":1}"#, Some(Minor)),
            (r#""device":{"lmt":1}"#, Some(OptedOut)),
            (r#""device":{"ext":{"atts":2}}"#, Some(OptedOut)),
            (r#""regs":{"gpp":"DBABLA~BVQqAAAAAgA.QA"}"#, Some(Invalid)),
            (r#""device":{"ua":"Mozilla/5.0","language":"en"}"#, None),
            (r#""device":{"geo":{"lat":47.6,"lon":-122.3}}"#, None),
            (r#""custom":{"age_band":"x"}"#, None),
            (r#""site":{"cat":["IAB7"]}"#, Some(Sensitive)),
            (r#""site":{"name":"Health"}"#, Some(Sensitive)),
            (
                r#""site":{"name":"Shop Direct","domain":"shop.example"}"#,
                None,
            ),
            // What names of products, brands and shops may be, and names
            // that are not the person's age (benign false-positive audit).
            (r#""properties":{"name":"Drugstore Cowboy (DVD)"}"#, None),
            (r#""properties":{"brand":"Salute to Service"}"#, None),
            (r#""properties":{"category":"Drugstore"}"#, Some(Sensitive)),
            (r#""bcat":["IAB7"]"#, None),
            (
                r#""properties":{"warranty":{"years":2},"shipping":{"eta":3}}"#,
                None,
            ),
            (r#""properties":{"sizes":{"u13":4}}"#, None),
            (r#""traits":{"years":12}"#, Some(Minor)),
            (r#""traits":{"age":"45"}"#, None),
            (r#""traits":{"age":"12"}"#, Some(Minor)),
            (r#""traits":{"birth_month":4,"age_verified":true}"#, None),
            (r#""traits":{"age_verified":false}"#, Some(Minor)),
            (
                r#""customer":{"email_marketing_consent":{"state":"subscribed","opt_in_level":"single_opt_in"},"accepts_marketing":true}"#,
                None,
            ),
            (r#""customer":{"accepts_marketing":false}"#, Some(OptedOut)),
            (r#""site":{"domain":"pharmacy.example"}"#, Some(Sensitive)),
            (
                r#""device":{"ifa":"00000000-0000-0000-0000-000000000000"}"#,
                Some(OptedOut),
            ),
        ] {
            let got = run(
                &cfg,
                &format!(
                    r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                        "user":{{"account_id":"A1"}},"ad":{{"campaign_id":"c"}},{block}}}"#
                ),
            );
            match (&got, want) {
                (Outcome::Route(_), None) => {}
                (Outcome::Drop(r), Some(w)) if *r == w => {}
                _ => panic!("{block}: {got:?}, want {want:?}"),
            }
        }
        for c in [
            "books",
            "IAB17",
            "Spiele",
            "本",
            "Healthy Snacks",
            "والجمال",
            "יופי",
        ] {
            assert!(matches!(category(c), Outcome::Route(_)), "{c}");
        }
    }

    #[test]
    fn ages_are_compared_as_written() {
        let cfg = config(r#"["ad.campaign_id"]"#);
        let outcome = |age: &str| {
            run(
                &cfg,
                &format!(
                    r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z",
                        "user":{{"account_id":"A1","age":{age}}},"ad":{{"campaign_id":"c"}}}}"#
                ),
            )
        };
        for (age, want) in [
            ("17.9999999999999999", Some(DropReason::Minor)),
            ("1.79999999999999999e1", Some(DropReason::Minor)),
            ("179999999999999999999e-19", Some(DropReason::Minor)),
            ("0.17999999999999999999E2", Some(DropReason::Minor)),
            ("17", Some(DropReason::Minor)),
            ("17.0", Some(DropReason::Minor)),
            ("1.7e1", Some(DropReason::Minor)),
            ("17e0", Some(DropReason::Minor)),
            ("17.999", Some(DropReason::Minor)),
            ("-0.0", Some(DropReason::Minor)),
            ("\"17\"", Some(DropReason::Invalid)),
            ("1e-400", Some(DropReason::Minor)),
            ("-0", Some(DropReason::Minor)),
            ("18", None),
            ("18.0", None),
            ("1.8e1", None),
            ("180E-1", None),
            ("18.0000000000000001", None),
            ("150", None),
            ("150.0000000000000001", Some(DropReason::Invalid)),
            ("151", Some(DropReason::Invalid)),
            ("1e400", Some(DropReason::Invalid)),
            ("1E+400", Some(DropReason::Invalid)),
            ("99999999999999999999999", Some(DropReason::Invalid)),
            ("-1e400", Some(DropReason::Invalid)),
            ("-1e-400", Some(DropReason::Invalid)),
            ("-17", Some(DropReason::Invalid)),
        ] {
            match (outcome(age), want) {
                (Outcome::Route(_), None) => {}
                (Outcome::Drop(r), Some(w)) if r == w => {}
                (got, _) => panic!("age {age}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn birth_dates_count_on_the_local_and_the_utc_date() {
        // rt-041: 2026-11-28 locally (the person is 17), 2026-11-29 in UTC (18).
        let (t, off) =
            crate::event::parse_rfc3339_with_offset("2026-11-28T23:30:00-05:00").unwrap();
        assert_eq!(off, -5 * 3600);
        assert_eq!(age_from_birth_date("2008-11-29", t, off), Some(17));
        assert_eq!(age_from_birth_date("2008-11-29", t, 0), Some(18));
        assert_eq!(age_from_birth_date("2008-11-28", t, off), Some(18));
        // The other way round (red team section 4): 18 locally, 17 in UTC;
        // still a minor's event, on the safe side.
        let (t, off) =
            crate::event::parse_rfc3339_with_offset("2026-11-29T00:30:00+14:00").unwrap();
        assert_eq!(age_from_birth_date("2008-11-29", t, off), Some(17));
        // Born on the later of the two dates: 0, not "in the future".
        let (t, off) =
            crate::event::parse_rfc3339_with_offset("2026-11-28T23:30:00-05:00").unwrap();
        assert_eq!(age_from_birth_date("2026-11-29", t, off), Some(0));
        assert_eq!(age_from_birth_date("2026-11-30", t, off), None);
    }

    #[test]
    fn birth_dates() {
        let t = crate::event::parse_rfc3339("2026-11-28T13:45:12Z").unwrap();
        assert_eq!(age_from_birth_date("2008-11-28", t, 0), Some(18));
        assert_eq!(age_from_birth_date("2008-11-29", t, 0), Some(17));
        assert_eq!(age_from_birth_date("2027-01-01", t, 0), None);
        assert_eq!(age_from_birth_date("28/11/2008", t, 0), None);
    }

    #[test]
    fn rules_in_order() {
        let cfg = config("[]");
        let base = r#""event_id":"e","timestamp":"2026-11-28T13:45:12Z""#;
        let cases = [
            (
                r#""event_type":"purchase","consent":{"gpc":true}"#,
                DropReason::NotAllowed,
            ),
            (
                r#""event_type":"ad_impression","consent":{"gpc":true},"user":{"age":5}"#,
                DropReason::OptedOut,
            ),
            (
                r#""event_type":"ad_impression","user":{"age":5,"email":"a@b.co"}"#,
                DropReason::Minor,
            ),
            (
                r#""event_type":"ad_impression","context":{"category":"health"}"#,
                DropReason::Sensitive,
            ),
            (
                r#""event_type":"ad_impression","user":{"phone":"+12065550100"}"#,
                DropReason::NoIdentifier,
            ),
            (
                r#""event_type":"ad_impression","user":{"age":"old"}"#,
                DropReason::Invalid,
            ),
        ];
        for (body, want) in cases {
            let out = run(&cfg, &format!("{{{base},{body}}}"));
            assert!(
                matches!(out, Outcome::Drop(r) if r == want),
                "{body}: {out:?}"
            );
        }
    }

    /// A Meta and a Google partner (the latter with `gpp_us = false`).
    fn profile_config() -> Config {
        let toml = r#"
[[partners]]
name = "meta"
profile = "meta_capi"
linkable_ids = "accept"
event_types = ["ad_impression"]
identifiers = ["device_id", "email", "account_id"]
fields = ["ad.campaign_id"]
[partners.profile_options]
pixel_id = "123"
event_names = { ad_impression = "ViewContent" }
[partners.delivery]
mode = "push"
endpoint = "https://graph.example/v21.0/123/events"
access_token_env = "A"
[partners.consent]
gpp_us = false
[[partners.keys]]
id = "m1"
secret_env = "K"

[[partners]]
name = "google"
profile = "google_ads"
linkable_ids = "accept"
event_types = ["ad_impression"]
identifiers = ["email", "phone"]
[partners.profile_options]
customer_id = "1234567890"
conversion_action = "customers/1234567890/conversionActions/1"
[partners.delivery]
mode = "push"
endpoint = "https://ads.example/v21/customers/1234567890:uploadClickConversions"
access_token_env = "A"
developer_token_env = "D"
[partners.consent]
tcf_vendor_id = 755
[[partners.keys]]
id = "g1"
secret_env = "K2"
"#;
        let env = env_from(HashMap::from([
            ("A".to_string(), "partner-token-0123456789".to_string()),
            ("D".to_string(), "developer-token-0123456789".to_string()),
            (
                "K".to_string(),
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".to_string(),
            ),
            (
                "K2".to_string(),
                "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=".to_string(),
            ),
        ]));
        Config::from_toml(toml, "test.toml", Path::new("."), &env).unwrap()
    }

    fn outcomes(cfg: &Config, json: &str) -> Vec<Outcome> {
        let p = Policy::new(cfg, SubjectHasher::new(&[9; 32]));
        let ev = Event::parse(json).unwrap();
        p.evaluate(&ev, &NoOptOuts).outcomes
    }

    /// The event of `base`'s members with `ad.note` set to `note` is
    /// dropped by the leak guard.
    fn assert_note_is_stopped(cfg: &Config, base: &str, note: &str) {
        let out = outcomes(cfg, &format!(r#"{{{base},"ad":{{"note":"{note}"}}}}"#));
        assert!(
            matches!(out[0], Outcome::Drop(DropReason::PiiGuard)),
            "{note}: {:?}",
            out[0]
        );
    }

    fn routed(o: &Outcome) -> serde_json::Value {
        match o {
            Outcome::Route(s) => serde_json::from_slice(s.line()).unwrap(),
            Outcome::Drop(r) => panic!("dropped: {r}"),
        }
    }

    #[test]
    fn profiles_send_only_identifiers_they_take() {
        let cfg = profile_config();
        let base =
            r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z""#;
        // A device id is listed for Meta but never sent; Google takes no
        // account id.
        let out = outcomes(
            &cfg,
            &format!(r#"{{{base},"user":{{"device_id":"d-123456","account_id":"A1"}}}}"#),
        );
        let meta = routed(&out[0]);
        assert_eq!(
            meta["user_data"],
            serde_json::json!({"external_id": [crate::profile::Hex64::sha256(b"A1").as_str()]})
        );
        assert!(!meta.to_string().contains("d-123456"));
        assert!(matches!(out[1], Outcome::Drop(DropReason::NoIdentifier)));
        // Only a device id: nothing Meta can send.
        let out = outcomes(
            &cfg,
            &format!(r#"{{{base},"user":{{"device_id":"d-123456"}}}}"#),
        );
        assert!(matches!(out[0], Outcome::Drop(DropReason::NoIdentifier)));
        // A pre-hashed phone reaches Google, not hashed again.
        let pre = crate::profile::Hex64::sha256(b"+12065550100");
        let out = outcomes(
            &cfg,
            &format!(r#"{{{base},"user":{{"phone_sha256":"{}"}}}}"#, pre.as_str()),
        );
        assert_eq!(
            routed(&out[1])["userIdentifiers"],
            serde_json::json!([{"hashedPhoneNumber": pre.as_str()}])
        );
        // The guard reads the fields of a profile's copy too.
        let out = outcomes(
            &cfg,
            &format!(
                r#"{{{base},"user":{{"email":"a@b.co"}},"ad":{{"campaign_id":"x@example.com"}}}}"#
            ),
        );
        assert!(matches!(out[0], Outcome::Drop(DropReason::PiiGuard)));
    }

    /// A TC string from CMP 31 in Germany consenting to the purposes of
    /// the bit mask `purposes` and to `vendors`.
    fn tc_string(purposes: u32, vendors: Vec<u16>) -> String {
        crate::consent::tcf::TcModel {
            cmp_id: 31,
            consent_language: *b"EN",
            publisher_cc: *b"DE",
            policy_version: 4,
            purposes_consent: purposes,
            vendor_consents: vendors,
            ..Default::default()
        }
        .encode()
    }

    /// Meta's Limited Data Use follows the event's GPP US opt-out (the
    /// event reaches Meta only because its partner has gpp_us = false);
    /// Google's consent fields follow Consent Mode, else personalized_ads.
    #[test]
    fn profile_consent_comes_from_the_events_signals() {
        use crate::consent::gpp::{encode_header, UsSection, UsValues};
        let cfg = profile_config();
        let opted_out = UsValues {
            version: 1,
            sale_opt_out_notice: 1,
            sale_opt_out: 1,
            ..UsValues::default()
        };
        let gpp = format!(
            "{}~{}",
            encode_header(&[7]),
            opted_out.encode(UsSection::UsNat)
        );
        let ev = format!(
            r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{{"email":"a@b.co"}},"consent":{{"gpp":"{gpp}","personalized_ads":true}}}}"#
        );
        let out = outcomes(&cfg, &ev);
        let meta = routed(&out[0]);
        assert_eq!(meta["data_processing_options"], serde_json::json!(["LDU"]));
        // Google honours the GPP opt-out (gpp_us defaults to true).
        assert!(matches!(out[1], Outcome::Drop(DropReason::NoConsent)));

        let base = r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"a@b.co"}"#;
        for (consent, want) in [
            (r#"{"personalized_ads":true}"#, ("GRANTED", "GRANTED")),
            (r#"{}"#, ("UNSPECIFIED", "UNSPECIFIED")),
            (
                r#"{"personalized_ads":true,"ad_user_data":"granted","ad_personalization":"denied"}"#,
                ("GRANTED", "DENIED"),
            ),
            // A denial spelled otherwise is no consent: never GRANTED on
            // the strength of personalized_ads (fifth red-team pass).
            (
                r#"{"personalized_ads":true,"ad_user_data":"DENIED","ad_personalization":" Denied"}"#,
                ("DENIED", "DENIED"),
            ),
            (
                r#"{"personalized_ads":true,"ad_user_data":false,"ad_personalization":0}"#,
                ("DENIED", "DENIED"),
            ),
        ] {
            let out = outcomes(&cfg, &format!(r#"{{{base},"consent":{consent}}}"#));
            let meta = routed(&out[0]);
            assert!(meta.get("data_processing_options").is_none(), "{meta}");
            let g = routed(&out[1]);
            assert_eq!(
                (
                    g["consent"]["adUserData"].as_str(),
                    g["consent"]["adPersonalization"].as_str()
                ),
                (Some(want.0), Some(want.1)),
                "{consent}"
            );
        }
        // A TC string that passed Google's TCF check is consent.
        let tc = tc_string(0b1111, vec![755]);
        let out = outcomes(&cfg, &format!(r#"{{{base},"consent":{{"tcf":"{tc}"}}}}"#));
        assert_eq!(
            routed(&out[1])["consent"],
            serde_json::json!({"adUserData": "GRANTED", "adPersonalization": "GRANTED"})
        );
        // A TC string refusing the ad purposes outweighs personalized_ads
        // and an explicit grant for a partner that does not check TCF
        // itself (sixth red-team pass, rt6-130): Meta has no vendor id,
        // Google is the only one that reads Consent Mode, so a second
        // Google without TCF is compared here.
        let refusing = tc_string(0, Vec::new());
        let mut cfg = profile_config();
        cfg.partners[1].consent.tcf_vendor_id = None;
        for consent in [
            format!(r#"{{"personalized_ads":true,"tcf":"{refusing}"}}"#),
            format!(
                r#"{{"personalized_ads":true,"ad_user_data":"granted","ad_personalization":"granted","tcf":"{refusing}"}}"#
            ),
        ] {
            let out = outcomes(&cfg, &format!(r#"{{{base},"consent":{consent}}}"#));
            assert_eq!(
                routed(&out[1])["consent"],
                serde_json::json!({"adUserData": "DENIED", "adPersonalization": "DENIED"}),
                "{consent}"
            );
        }
        // Google's own vendor (755) is read for a google_ads partner without
        // a vendor id of its own: purposes consented but Google not among
        // the vendors is DENIED (eighth red-team pass, rt8-124/125); with
        // Google among them, GRANTED.
        for (vendors, want) in [(vec![754, 756], "DENIED"), (vec![755], "GRANTED")] {
            let tc = tc_string(0b1111, vendors);
            let out = outcomes(
                &cfg,
                &format!(r#"{{{base},"consent":{{"personalized_ads":true,"tcf":"{tc}"}}}}"#),
            );
            assert_eq!(
                routed(&out[1])["consent"],
                serde_json::json!({"adUserData": want, "adPersonalization": want}),
            );
        }
        // A GPP string whose only TC string is TCF Canada's (not read):
        // no consent, as for a TCF partner (ninth red-team pass, rt9-091).
        let ca = "DBABD~CP1R2oAP1R2oAAHABBENEsEgAAAAAAAAAAggF5gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgACAAA";
        let out = outcomes(
            &cfg,
            &format!(r#"{{{base},"consent":{{"personalized_ads":true,"gpp":"{ca}"}}}}"#),
        );
        assert_eq!(
            routed(&out[1])["consent"],
            serde_json::json!({"adUserData": "DENIED", "adPersonalization": "DENIED"}),
        );
    }

    /// The TC string of a GPP string's tcfeuv2 section is read as
    /// `consent.tcf` is, and when both are there both must consent; TCF
    /// Canada, which adgate does not read, refuses a partner that checks
    /// TCF (sixth red-team pass, rt6-016, 017, 019).
    #[test]
    fn a_tc_string_inside_gpp_is_decided_too() {
        use crate::consent::gpp::encode_header;
        let (yes, no) = (tc_string(0b1111, vec![755]), tc_string(0, vec![755]));
        let cfg = profile_config();
        let base = r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"a@b.co"}"#;
        let google = |consent: String| {
            let out = outcomes(&cfg, &format!(r#"{{{base},"consent":{consent}}}"#));
            matches!(out[1], Outcome::Route(_))
        };
        let in_gpp = |tc: &str| format!("{}~{tc}", encode_header(&[2]));
        assert!(google(format!(r#"{{"gpp":"{}"}}"#, in_gpp(&yes))));
        assert!(!google(format!(r#"{{"gpp":"{}"}}"#, in_gpp(&no))));
        assert!(!google(format!(
            r#"{{"tcf":"{yes}","gpp":"{}"}}"#,
            in_gpp(&no)
        )));
        assert!(!google(format!(
            r#"{{"tcf":"{no}","gpp":"{}"}}"#,
            in_gpp(&yes)
        )));
        assert!(google(format!(
            r#"{{"tcf":"{yes}","gpp":"{}"}}"#,
            in_gpp(&yes)
        )));
        let canada = format!("{}~{yes}", encode_header(&[5]));
        assert!(!google(format!(r#"{{"gpp":"{canada}"}}"#)));
        // Meta does not check TCF: the sections change nothing for it.
        let out = outcomes(
            &cfg,
            &format!(r#"{{{base},"consent":{{"gpp":"{canada}"}}}}"#),
        );
        assert!(matches!(out[0], Outcome::Route(_)));
    }

    /// A US Privacy string outside GPP (`consent.us_privacy`) is honoured
    /// as GPP's uspv1 section is, by the partners that honour US opt-outs
    /// (sixth red-team pass, rt6-028: it was not read).
    #[test]
    fn a_us_privacy_string_opts_out() {
        let cfg = profile_config();
        let base = r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"a@b.co"}"#;
        for (usp, google_routed) in [
            ("1YNN", true),
            ("1---", true),
            ("1YYN", false),
            ("1NYY", false),
            ("1yyn", false),
            ("2YNN", false),
            ("1YN", false),
        ] {
            let out = outcomes(
                &cfg,
                &format!(
                    r#"{{{base},"consent":{{"personalized_ads":true,"us_privacy":"{usp}"}}}}"#
                ),
            );
            assert_eq!(matches!(out[1], Outcome::Route(_)), google_routed, "{usp}");
            // Meta's partner has gpp_us = false.
            assert!(matches!(out[0], Outcome::Route(_)), "{usp}");
        }
    }

    /// A person on the opt-out list is stopped whichever field names them:
    /// an address or a number as the account or device id, an account id
    /// as the device id, the digest of their address in the phone's digest
    /// field, an internationalized domain in Punycode (sixth red-team pass:
    /// Meta and TikTok had received the person's own `em` hash as
    /// `external_id`). No event is blocked without the opt-out.
    #[test]
    fn an_opted_out_person_is_stopped_whatever_field_names_them() {
        use std::collections::HashSet;
        struct Listed(HashSet<SubjectHash>);
        impl OptOutLookup for Listed {
            fn contains(&self, h: &SubjectHash) -> bool {
                self.0.contains(h)
            }
        }
        let hasher = SubjectHasher::new(&[9; 32]);
        // What POST /v1/optouts stores (api::admin): the recorded hashes
        // and the lenient forms.
        let listed = |kind: Kind, raw: &str| {
            let n = identity::normalize(kind, raw);
            let mut set: HashSet<SubjectHash> =
                crate::api::admin::recorded_subjects(&hasher, kind, n.as_deref(), raw)
                    .into_iter()
                    .collect();
            set.extend(
                identity::match_forms(kind, raw, None)
                    .iter()
                    .map(|f| hasher.matched(kind, f)),
            );
            Listed(set)
        };
        let sha = |s: &str| {
            crate::profile::Hex64::sha256(s.as_bytes())
                .as_str()
                .to_owned()
        };
        let mut cfg = profile_config();
        cfg.partners[0].identifiers = Kind::ALL.to_vec();
        cfg.partners[0].consent.gpp_us = true;
        let policy = Policy::new(&cfg, hasher.clone());
        for (kind, raw, user) in [
            (
                Kind::Email,
                "P001.Target@Mailbox.example",
                r#"{"account_id":"p001.target@mailbox.example"}"#.to_string(),
            ),
            (
                Kind::Email,
                "p004@x.example",
                r#"{"device_id":"P004@x.example"}"#.into(),
            ),
            (
                Kind::Phone,
                "+1 415 555 0003",
                r#"{"account_id":"+14155550003"}"#.into(),
            ),
            (
                Kind::Phone,
                "+1 415 555 0116",
                r#"{"account_id":"14155550116"}"#.into(),
            ),
            (
                Kind::Email,
                "p005@x.example",
                format!(r#"{{"phone_sha256":"{}"}}"#, sha("p005@x.example")),
            ),
            (
                Kind::Phone,
                "+14155550006",
                format!(r#"{{"email_sha256":"{}"}}"#, sha("+14155550006")),
            ),
            (
                Kind::DeviceId,
                "dev-007-abc",
                r#"{"account_id":"dev-007-abc"}"#.into(),
            ),
            (
                Kind::AccountId,
                "acct-008",
                r#"{"device_id":"acct-008"}"#.into(),
            ),
            (
                Kind::Email,
                "p117@x.example",
                format!(r#"{{"account_id":"{}"}}"#, sha("p117@x.example")),
            ),
            (
                Kind::Email,
                "p093@bücher.example",
                r#"{"email":"p093@xn--bcher-kva.example"}"#.into(),
            ),
            (
                Kind::Email,
                "p095@x.example",
                r#"{"email":"<p095@x.example>"}"#.into(),
            ),
            (
                Kind::Email,
                "p096@x.example",
                r#"{"email":"mailto:p096@x.example"}"#.into(),
            ),
            // Fourteenth red-team pass: a digest of the address as a CRM
            // capitalizes it, a digest in base64, an address under a name
            // no table knows in a block about the person.
            (
                Kind::Email,
                "bob.roe@example.com",
                format!(r#"{{"device_id":"d-141","email_sha256":"{}"}}"#, sha("Bob.Roe@Example.com")),
            ),
            (
                Kind::Email,
                "max.roe@example.com",
                format!(r#"{{"device_id":"d-142","email_sha256":"{}"}}"#, sha("Max.Roe@example.com")),
            ),
            (
                Kind::Email,
                "kai.roe@example.com",
                format!(
                    r#"{{"device_id":"d-143","email_sha256":"{}"}}"#,
                    {
                        use base64::Engine as _;
                        use sha2::Digest as _;
                        base64::engine::general_purpose::STANDARD
                            .encode(sha2::Sha256::digest(b"kai.roe@example.com"))
                    }
                ),
            ),
            (
                Kind::Email,
                "zoe.roe@gmail.com",
                r#"{"device_id":"d-144","contact":{"primary":"Zoe.Roe@googlemail.com"}}"#.into(),
            ),
            (
                Kind::Email,
                "ted.roe@example.com",
                r#"{"device_id":"d-145","emails":{"work":"ted.roe@example.com"}}"#.into(),
            ),
            // Seventh red-team pass: other shapes of the same identifier.
            (
                Kind::Phone,
                "+1 415 555 0091",
                r#"{"phone":14155550091,"device_id":"dev-091"}"#.into(),
            ),
            (
                Kind::Email,
                "p092@x.example",
                r#"{"email":["p092@x.example"],"device_id":"dev-092"}"#.into(),
            ),
            (
                Kind::Email,
                "p093@x.example",
                r#"{"email":"P Target <p093@x.example>"}"#.into(),
            ),
            (
                Kind::Email,
                "p094@x.example",
                r#"{"email":"p094@x.example (work)"}"#.into(),
            ),
            (
                Kind::Email,
                "p095@x.example",
                r#"{"email":"\"p095@x.example\""}"#.into(),
            ),
            (
                Kind::Email,
                "p096@x.example",
                r#"{"email":"mailto:p096@x.example?subject=hi"}"#.into(),
            ),
            (
                Kind::Email,
                "p097@x.example",
                r#"{"email":"p097@x.example;"}"#.into(),
            ),
            (
                Kind::Phone,
                "+1 415 555 0098",
                r#"{"account_id":"415-555-0098"}"#.into(),
            ),
            (
                Kind::Phone,
                "+1 415 555 0099",
                r#"{"account_id":"tel:+14155550099"}"#.into(),
            ),
            (
                Kind::Phone,
                "+44 20 7946 0100",
                r#"{"phone":"011 44 20 7946 0100"}"#.into(),
            ),
            (
                Kind::DeviceId,
                "6D92078A-8246-4BA4-AE5B-76104861E102",
                r#"{"device_id":"idfa:6d92078a-8246-4ba4-ae5b-76104861e102"}"#.into(),
            ),
            (
                Kind::AccountId,
                "acct-103",
                r#"{"account_id":["acct-103"],"device_id":"dev-103"}"#.into(),
            ),
            // Eighth red-team pass: other names and shapes of identifiers.
            (
                Kind::Email,
                "r8p001@x.example",
                r#"{"email_address":"r8p001@x.example","device_id":"d-1"}"#.into(),
            ),
            (
                Kind::Email,
                "r8p002@x.example",
                r#"{"emailAddress":"R8P002@x.example","device_id":"d-2"}"#.into(),
            ),
            (
                Kind::Email,
                "r8p004@x.example",
                r#"{"mail":"r8p004@x.example","device_id":"d-4"}"#.into(),
            ),
            (
                Kind::Phone,
                "+1 415 556 0005",
                r#"{"phone_number":"+14155560005","device_id":"d-5"}"#.into(),
            ),
            (
                Kind::Phone,
                "+1 415 556 0007",
                r#"{"msisdn":"14155560007","device_id":"d-7"}"#.into(),
            ),
            (
                Kind::AccountId,
                "CUST-008-91",
                r#"{"user_id":"CUST-008-91","device_id":"d-8"}"#.into(),
            ),
            (
                Kind::DeviceId,
                "6D92078A-8246-4BA4-AE5B-76104861E110",
                r#"{"idfa":"6D92078A-8246-4BA4-AE5B-76104861E110","email":"ok110@x.example"}"#
                    .into(),
            ),
            (
                Kind::Email,
                "r8p012@x.example",
                r#"{"contact":{"email":"r8p012@x.example"},"device_id":"d-12"}"#.into(),
            ),
            (
                Kind::Email,
                "r8p013@x.example",
                r#"{"emails":[{"value":"r8p013@x.example","primary":true}],"device_id":"d-13"}"#
                    .into(),
            ),
            (
                Kind::Email,
                "r8p014@x.example",
                r#"{"identities":[{"type":"email","id":"r8p014@x.example"}],"device_id":"d-14"}"#
                    .into(),
            ),
            (
                Kind::Phone,
                "+1 415 556 0015",
                r#"{"phone":{"country_code":"1","number":"4155560015"},"device_id":"d-15"}"#.into(),
            ),
            (
                Kind::Email,
                "r8p016@x.example",
                r#"{"email":{"address":"r8p016@x.example","verified":true},"device_id":"d-16"}"#
                    .into(),
            ),
            (
                Kind::Phone,
                "+1 415 556 0024",
                r#"{"phone":"14155560024.0","device_id":"d-24"}"#.into(),
            ),
            (
                Kind::Phone,
                "+1 415 556 0026",
                r#"{"phone":14155560026.0,"device_id":"d-26"}"#.into(),
            ),
            // Ninth red-team pass: logins, extensions, digests.
            (
                Kind::Email,
                "r9p056@x.example",
                r#"{"login":"r9p056@x.example","device_id":"d-56"}"#.into(),
            ),
            (
                Kind::Email,
                "r9p057@x.example",
                r#"{"username":"R9P057@x.example","device_id":"d-57"}"#.into(),
            ),
            (
                Kind::Phone,
                "+1 415 557 0025",
                r#"{"phone":"+1 415 557 0025 ext. 12","device_id":"d-25"}"#.into(),
            ),
            (
                Kind::Phone,
                "+1 415 557 0027",
                r#"{"phone":"tel:+1-415-557-0027;ext=12","device_id":"d-27"}"#.into(),
            ),
            (
                Kind::Phone,
                "+1 415 557 0029",
                r#"{"phone":"+14155570029,,123","device_id":"d-29"}"#.into(),
            ),
            (
                Kind::Email,
                "r9p064@x.example",
                r#"{"hashed_email":"10ad160565f57019680c08a1ced18b8cc1e66cc4774a2a1afca337697475beaa","device_id":"d-64"}"#.into(),
            ),
        ] {
            let json = format!(
                r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{user}}}"#
            );
            let ev = Event::parse(&json).unwrap();
            let free = policy.evaluate(&ev, &NoOptOuts);
            assert_eq!(free.blocked, None, "{user}");
            let stopped = policy.evaluate(&ev, &listed(kind, raw));
            assert_eq!(
                stopped.blocked.map(|(r, _)| r),
                Some(DropReason::OptedOut),
                "{raw} / {user}"
            );
        }
        // Blocks about the person elsewhere: Segment's context.traits, a
        // top-level customer, a top-level userId.
        for (kind, raw, json) in [
            (
                Kind::Email,
                "r8p017@x.example",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","context":{"traits":{"email":"r8p017@x.example"}},"user":{"device_id":"d-17"}}"#,
            ),
            (
                Kind::Email,
                "r8p018@x.example",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","customer":{"email":"r8p018@x.example"},"user":{"device_id":"d-18"}}"#,
            ),
            (
                Kind::AccountId,
                "seg-19",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","userId":"seg-19","user":{"device_id":"d-19"}}"#,
            ),
            // A device block: Segment's context.device, OpenRTB's device.
            (
                Kind::DeviceId,
                "7E13A0C2-5B4D-4C8E-9F2A-3D6B1C0E4052",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","context":{"device":{"advertisingId":"7E13A0C2-5B4D-4C8E-9F2A-3D6B1C0E4052"}},"user":{"email":"ok52@x.example"}}"#,
            ),
            (
                Kind::DeviceId,
                "dev-067-9f5c",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","context":{"device":{"id":"dev-067-9f5c"}},"user":{"email":"ok67@x.example"}}"#,
            ),
            (
                Kind::DeviceId,
                "7E13A0C2-5B4D-4C8E-9F2A-3D6B1C0E4053",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","device":{"ifa":"7E13A0C2-5B4D-4C8E-9F2A-3D6B1C0E4053"},"user":{"email":"ok53@x.example"}}"#,
            ),
            (
                Kind::DeviceId,
                "fb-inst-66",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","app_instance_id":"fb-inst-66","user":{"email":"ok66@x.example"}}"#,
            ),
            // The ad's, the app's and the page's data, OpenRTB's `ext`,
            // and a map keyed by the identifiers (tenth red-team pass).
            (
                Kind::DeviceId,
                "5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4164",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"ok164@x.example"},"ad":{"campaign_id":"c","meta":{"advertising_id":"5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4164"}}}"#,
            ),
            (
                Kind::DeviceId,
                "5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4165",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"ok165@x.example"},"ad":{"meta":{"device":"5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4165"}}}"#,
            ),
            (
                Kind::AccountId,
                "CUST-174-7731",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"ok174@x.example"},"custom":{"crm_ref":"CUST-174-7731"}}"#,
            ),
            (
                Kind::AccountId,
                "CUST-176-7731",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"ok176@x.example"},"context":{"customer_ref":"CUST-176-7731"}}"#,
            ),
            (
                Kind::DeviceId,
                "5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4170",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"ok170@x.example"},"context":{"app":{"device_id":"5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4170"}}}"#,
            ),
            (
                Kind::DeviceId,
                "5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4171",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"ok171@x.example"},"ext":{"ifa":"5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4171"}}"#,
            ),
            (
                Kind::DeviceId,
                "5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4172",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"ok172@x.example"},"imp":[{"ext":{"ifa":"5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4172"}}]}"#,
            ),
            (
                Kind::Email,
                "r10p177.target@mailbox.example",
                r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"device_id":"d-177","emails":{"r10p177.target@mailbox.example":{"primary":true}}}}"#,
            ),
        ] {
            let ev = Event::parse(json).unwrap();
            assert_eq!(policy.evaluate(&ev, &NoOptOuts).blocked, None, "{json}");
            let stopped = policy.evaluate(&ev, &listed(kind, raw));
            assert_eq!(
                stopped.blocked.map(|(r, _)| r),
                Some(DropReason::OptedOut),
                "{json}"
            );
        }
        // An all-zero advertising id is the device's refusal (ATT / LAT),
        // with or without another identifier, under its name or another.
        for user in [
            r#"{"device_id":"00000000-0000-0000-0000-000000000000","email":"z1@x.example"}"#,
            r#"{"device_id":"00000000000000000000000000000000","account_id":"A-32"}"#,
            r#"{"gaid":"00000000-0000-0000-0000-000000000000","account_id":"A-31"}"#,
            // Letters drawn for the zeros.
            r#"{"device_id":"OOOOOOOO-OOOO-OOOO-OOOO-OOOOOOOOOOOO","email":"z2@x.example"}"#,
        ] {
            let json = format!(
                r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{user}}}"#
            );
            let ev = Event::parse(&json).unwrap();
            assert_eq!(
                policy.evaluate(&ev, &NoOptOuts).blocked.map(|(r, _)| r),
                Some(DropReason::OptedOut),
                "{user}"
            );
        }
        let ev = Event::parse(r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"device_id":"00000000-0000-0000-0000-000000000001"}}"#).unwrap();
        assert_eq!(policy.evaluate(&ev, &NoOptOuts).blocked, None, "a real id");
        // Forget finds a record whose person is named under another name.
        let ev = Event::parse(r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email_address":"R8P020@x.example","device_id":"d-20"}}"#).unwrap();
        let subjects = policy.evaluate(&ev, &NoOptOuts).subjects;
        assert!(subjects.contains(&hasher.subject(Kind::Email, "r8p020@x.example")));
        // Forget finds the record: an address as the account id has the
        // address's subject hash among the record's subjects.
        let ev = Event::parse(r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"account_id":"P011@Mailbox.example"}}"#).unwrap();
        let subjects = policy.evaluate(&ev, &NoOptOuts).subjects;
        assert!(subjects.contains(&hasher.subject(Kind::Email, "p011@mailbox.example")));
        // An ordinary account id names nobody else.
        let ev = Event::parse(r#"{"event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"account_id":"A-77"}}"#).unwrap();
        assert_eq!(
            policy.evaluate(&ev, &NoOptOuts).subjects.as_slice().len(),
            1
        );
    }

    /// Tenth red-team pass: an identifier under another name in the ad's
    /// data is never forwarded, even when nobody opted out; the ad's own
    /// ids and words under the same names are.
    #[test]
    fn identifiers_in_the_ads_data_are_not_forwarded() {
        let cfg = config(r#"["ad.campaign_id", { path = "ad.meta", type = "object" }]"#);
        let base = r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"j@x.example"}"#;
        for meta in [
            r#"{"advertising_id":"5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4164"}"#,
            r#"{"loyalty":"CUST-175-7731"}"#,
            r#"{"device":"5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4165"}"#,
        ] {
            let out = outcomes(&cfg, &format!(r#"{{{base},"ad":{{"meta":{meta}}}}}"#));
            assert!(
                matches!(out[0], Outcome::Drop(DropReason::PiiGuard)),
                "{meta}: {:?}",
                out[0]
            );
        }
        // The ad's own ids and words under the same names go through.
        let meta =
            r#"{"ad_id":"cr-2026-11","device":"mobile","loyalty":"gold","loyalty_tier":"gold"}"#;
        let out = outcomes(&cfg, &format!(r#"{{{base},"ad":{{"meta":{meta}}}}}"#));
        let v = routed(&out[0]);
        assert_eq!(
            v["ad"]["meta"],
            serde_json::from_str::<serde_json::Value>(meta).unwrap(),
            "{v}"
        );
    }

    /// Tenth red-team pass: health topics, minors and the event's own
    /// identifiers in forms the earlier tables and digests missed.
    #[test]
    fn tenth_pass_health_minors_and_digest_forms_are_stopped() {
        let cfg = config(r#"["ad.campaign_id"]"#);
        let p = Policy::new(&cfg, SubjectHasher::new(&[9; 32]));
        let base =
            r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z""#;
        let blocked = |json: String| {
            let ev = Event::parse(&json).unwrap();
            p.evaluate(&ev, &NoOptOuts).blocked.map(|(r, _)| r)
        };
        for (extra, want) in [
            (
                r#""context":{"category":"Oncology"}"#,
                DropReason::Sensitive,
            ),
            (
                r#""context":{"category":"Erectile dysfunction"}"#,
                DropReason::Sensitive,
            ),
            (r#""context":{"category":"farmasi"}"#, DropReason::Sensitive),
            (
                r#""context":{"category":"books","content_group":"Pharmacy"}"#,
                DropReason::Sensitive,
            ),
            (
                r#""context":{"category":"books","dl":"https://shop.example/pharmacy/insulin-pens"}"#,
                DropReason::Sensitive,
            ),
            (
                r#""custom":{"condition":"diabetes"}"#,
                DropReason::Sensitive,
            ),
            (
                r#""context":{"screen_class":"PharmacyActivity"}"#,
                DropReason::Sensitive,
            ),
            (
                r#""user":{"email":"j@x.example","возраст":12}"#,
                DropReason::Minor,
            ),
            (
                r#""user":{"email":"j@x.example","未成年":true}"#,
                DropReason::Minor,
            ),
            (
                r#""user":{"email":"j@x.example","fødselsdato":"2012-04-01"}"#,
                DropReason::Minor,
            ),
            (
                r#""user":{"email":"j@x.example","minderjährig":true}"#,
                DropReason::Minor,
            ),
            (
                r#""user":{"email":"j@x.example","life_stage":"teen"}"#,
                DropReason::Minor,
            ),
        ] {
            assert_eq!(
                blocked(format!("{{{base},{extra}}}")),
                Some(want),
                "{extra}"
            );
        }
        for extra in [
            r#""context":{"category":"Books","industry":"books"}"#,
            r#""context":{"category":"Wealth management"}"#,
            r#""context":{"category":"Healthy snacks"}"#,
            r#""user":{"email":"j@x.example","age":34,"school_name":"Lincoln High","household_size":3}"#,
            r#""custom":{"condition":"new"}"#,
        ] {
            assert_eq!(blocked(format!("{{{base},{extra}}}")), None, "{extra}");
        }
    }

    /// Tenth red-team pass: the event's own identifiers and IP as .NET
    /// hashes them (UTF-16), an IDFA's bytes, and the IP's reverse-DNS
    /// name and base32 are stopped by the guard.
    #[test]
    fn tenth_pass_digest_and_ip_forms_are_stopped() {
        use sha2::Digest as _;
        let cfg =
            config(r#"["ad.campaign_id", { path = "ad.note", type = "text", max_len = 300 }]"#);
        let email = "r10p136.target@mailbox.example";
        let idfa = "5C2B91E4-7D3A-4F6B-8E1C-2A9D0F3B4159";
        let utf16le: Vec<u8> = email.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let idfa_bytes: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&idfa.replace('-', "")[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let base = format!(
            r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{{"email":"{email}","device_id":"{idfa}","ip":"203.0.113.96"}}"#
        );
        for note in [
            hex(&sha2::Sha256::digest(&utf16le)),
            hex(&md5::Md5::digest(&idfa_bytes)),
            "96.113.0.203.in-addr.arpa".to_string(),
            data_encoding::BASE32_NOPAD.encode(&[203, 0, 113, 96]),
            hex(&sha2::Sha256::digest(b"203.0.113.96/32")),
        ] {
            assert_note_is_stopped(&cfg, &base, &note);
        }
        let out = outcomes(
            &cfg,
            &format!(r#"{{{base},"ad":{{"note":"spring sale"}}}}"#),
        );
        assert_eq!(routed(&out[0])["ad"]["note"], "spring sale");
    }

    /// Fourteenth red-team pass: digests of the forms a person's address
    /// or number takes in other systems (a blank kept, a CRM's capitals, an
    /// MD5-keyed list re-hashed, Google's other domain, a UK number with
    /// its trunk 0), a search in the singular and an address with a
    /// sign-like letter for its dot are stopped.
    #[test]
    fn fourteenth_pass_digest_forms_are_stopped() {
        use sha2::Digest as _;
        let cfg =
            config(r#"["ad.campaign_id", { path = "ad.note", type = "text", max_len = 300 }]"#);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let sha = |s: &str| hex(&sha2::Sha256::digest(s.as_bytes()));
        let base = |email: &str, phone: &str| {
            format!(
                r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{{"email":"{email}","phone":"{phone}"}}"#
            )
        };
        let us = base("jane.doe@example.com", "+1 206 555 0100");
        for note in [
            sha("jane.doe@example.com "),
            sha(" jane.doe@example.com"),
            sha("Jane.Doe@example.com"),
            sha("Jane.doe@example.com"),
            sha(&hex(&md5::Md5::digest(b"jane.doe@example.com"))),
        ] {
            assert_note_is_stopped(&cfg, &us, &note);
        }
        let gmail = base("jane.doe@gmail.com", "+44 20 7946 0958");
        for note in [
            sha("janedoe@googlemail.com"),
            sha("jane.doe@googlemail.com"),
            sha("02079460958"),
        ] {
            assert_note_is_stopped(&cfg, &gmail, &note);
        }
        let out = outcomes(
            &cfg,
            &format!(r#"{{{gmail},"ad":{{"note":"spring sale"}}}}"#),
        );
        assert_eq!(routed(&out[0])["ad"]["note"], "spring sale");
        // A search copied one letter short, another person's address with
        // a sign-like letter for its dot.
        let searched = format!(r#"{us},"search":{{"query":"insulin pen needles"}}"#);
        assert_note_is_stopped(&cfg, &searched, "insulin pen needle");
        for note in ["kim.lee@contosoǀcom", "kim.lee@contoso一com"] {
            assert_note_is_stopped(&cfg, &us, note);
        }
    }

    /// What stops an event carrying `extra` beside an email, under a
    /// config forwarding `ad.campaign_id` (the red-team passes' rule
    /// tests): its drop reason, if any.
    fn rule_verdicts() -> impl Fn(&str) -> Option<DropReason> {
        let cfg = config(r#"["ad.campaign_id"]"#);
        let p = Policy::new(&cfg, SubjectHasher::new(&[9; 32]));
        move |extra| {
            let base = r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"j@x.example"}"#;
            let json = format!("{{{base},{extra}}}");
            let ev = Event::parse(&json).unwrap();
            p.evaluate(&ev, &NoOptOuts).blocked.map(|(r, _)| r)
        }
    }

    /// Fourteenth red-team pass (rt12): children named by the content's
    /// audience, a school or a guardian, refusals in a consent tool's
    /// purposes, Google's consent state or a permissions block, and health
    /// topics only a whole category names stop the event; their adult and
    /// benign look-alikes do not.
    #[test]
    fn fourteenth_pass_minors_refusals_and_health_are_stopped() {
        let blocked = rule_verdicts();
        use DropReason::{Minor, OptedOut, Sensitive};
        for (extra, want) in [
            (r#""context":{"audience":"kids"}"#, Minor),
            (
                r#""app":{"app_id":"a","designed_for_families":true}"#,
                Minor,
            ),
            (
                r#""app":{"app_id":"a","target_age_group":"Ages 6-8"}"#,
                Minor,
            ),
            (r#""context":{"traits":{"graduation_year":2033}}"#, Minor),
            (r#""context":{"traits":{"segments":["kids_club"]}}"#, Minor),
            (r#""context":{"traits":{"tags":["age:12"]}}"#, Minor),
            (r#""context":{"traits":{"grade_level":"7th grade"}}"#, Minor),
            (
                r#""context":{"traits":{"parent_email":"m@x.example"}}"#,
                Minor,
            ),
            (r#""context":{"age_gate":"under_13"}"#, Minor),
            (r#""context":{"cmp":{"purposes":{"4":false}}}"#, OptedOut),
            (r#""context":{"gcs":"G100"}"#, OptedOut),
            (r#""context":{"permissions":{"ads":false}}"#, OptedOut),
            (r#""context":{"category":"PrEP"}"#, Sensitive),
            (r#""context":{"category":"thuốc"}"#, Sensitive),
            (r#""context":{"meta":{"pharmacy":true}}"#, Sensitive),
            (r#""context":{"category":"surgery"}"#, Sensitive),
            (r#""context":{"category":"クリニック"}"#, Sensitive),
            (r#""app":{"bundle":"com.example.pharmacy"}"#, Sensitive),
        ] {
            assert_eq!(blocked(extra), Some(want), "{extra}");
        }
        for extra in [
            r#""context":{"audience":"adults 25-54","category":"Meal Prep"}"#,
            r#""context":{"traits":{"segments":["parents_with_kids"],"grade":"gold"}}"#,
            r#""app":{"app_id":"a","target_age_group":"Ages 18 and over"}"#,
            r#""context":{"cmp":{"purposes":[1,2,3,4]},"gcs":"G111"}"#,
            r#""app":{"app_id":"a","permissions":{"camera":true,"location":false}}"#,
            r#""context":{"meta":{"pharmacy":false,"books":true},"category":"Teaching Aids"}"#,
            r#""context":{"category":"パソコンクリニック"}"#,
            r#""context":{"category":"Beats Pill"}"#,
            r#""app":{"app_id":"com.example.game","bundle":"com.example.game"}"#,
        ] {
            assert_eq!(blocked(extra), None, "{extra}");
        }
    }

    /// Eleventh red-team pass (rt11): a minor, a refusal or a health topic
    /// under the names this pass found stops the event; the benign
    /// look-alikes its false-positive check found (a page's or an ad's
    /// nested `age`, a game's `player`, Android's ATT status, `RX7900`,
    /// `Beats Pill`, tree surgeons, a PC clinic, condiments) do not.
    #[test]
    fn eleventh_pass_minors_refusals_and_health_are_stopped() {
        let blocked = rule_verdicts();
        use DropReason::{Minor, OptedOut, Sensitive};
        for (extra, want) in [
            (r#""app":{"kids_mode":true}"#, Minor),
            (r#""context":{"is_kids_account":true}"#, Minor),
            (r#""context":{"age_gate_passed":false}"#, Minor),
            (r#""context":{"traits":{"segment":"under 13"}}"#, Minor),
            (r#""context":{"traits":{"role":"k12-student"}}"#, Minor),
            (r#""context":{"non_personalized_ads":true}"#, OptedOut),
            (r#""context":{"navigator_do_not_track":"1"}"#, OptedOut),
            (r#""context":{"allow_tracking":false}"#, OptedOut),
            (r#""context":{"idfa_status":"denied"}"#, OptedOut),
            (r#""context":{"is_lat_enabled":true}"#, OptedOut),
            (r#""context":{"gpc_enabled":true}"#, OptedOut),
            (r#""app":{"ad_personalization_enabled":false}"#, OptedOut),
            (r#""context":{"category":"Dermatologist"}"#, Sensitive),
            (r#""context":{"category":"Krankenhaus"}"#, Sensitive),
            (r#""context":{"category":"病院"}"#, Sensitive),
            (r#""context":{"category":"COVID-19 vaccine"}"#, Sensitive),
            (r#""context":{"category":"Apothecary"}"#, Sensitive),
            (r#""context":{"category":"😷 Masks"}"#, Sensitive),
            (r#""context":{"pathname":"/pharmacy/insulin"}"#, Sensitive),
            (r##""context":{"hash":"#/pharmacy"}"##, Sensitive),
            (r#""context":{"article_title":"Pharmacy hours"}"#, Sensitive),
            (r#""context":{"user_interests":["pharmacy"]}"#, Sensitive),
            (r#""context":{"utm_campaign":"pharmacy-spring"}"#, Sensitive),
            (
                r#""ad":{"campaign_id":"c","adomain":["pharmacy.example"]}"#,
                Sensitive,
            ),
            (
                r#""context":{"page_url":"https://pharmacy24.example/"}"#,
                Sensitive,
            ),
            (
                r#""context":{"page_url":"https://shop.example/?c=cGhhcm1hY3k="}"#,
                Sensitive,
            ),
            (r#""context":{"category":"aGVhbHRo"}"#, Sensitive),
            (
                r#""context":{"cookie":"OptanonConsent=groups%3DC0001%3A1%2CC0004%3A0; x=1"}"#,
                OptedOut,
            ),
            (
                r#""context":{"cookie":"a=1; __gpp=DBABLA~BVAUAAAAAWA.QA; __gpp_sid=7"}"#,
                OptedOut,
            ),
            (
                r#""context":{"consentManagement":{"deniedConsentIds":["C0004"]}}"#,
                OptedOut,
            ),
            (
                r#""context":{"CookieControl":{"optionalCookies":{"marketing":"revoked"}}}"#,
                OptedOut,
            ),
            (r#""context":{"cmplz":{"marketing":"deny"}}"#, OptedOut),
            (r#""context":{"osano":{"MARKETING":"DENY"}}"#, OptedOut),
            (r#""context":{"global_privacy":"on"}"#, OptedOut),
            (
                r#""context":{"request_headers":[["Sec-GPC","1"]]}"#,
                OptedOut,
            ),
            (
                r#""device":{"ifa":"００００００００-００００-００００-００００-０００００００００００００"}"#,
                OptedOut,
            ),
            (
                r#""context":{"page_url":"https://shop.example/p-h-a-r-m-a-c-y/1"}"#,
                Sensitive,
            ),
        ] {
            assert_eq!(blocked(extra), Some(want), "{extra}");
        }
        for extra in [
            r#""context":{"version":{"minor":3},"page":{"adult":false,"age":400}}"#,
            r#""ad":{"campaign_id":"c","meta":{"age":12},"kv":[["age","25-34"]]}"#,
            r#""context":{"idfa_status":"not_applicable","age_gate":"passed"}"#,
            r#""player":{"level":12,"opt_in_leaderboard":true}"#,
            r#""context":{"page_url":"https://shop.example/gpu/rx7900","utm_campaign":"beats_pill_launch"}"#,
            r#""context":{"category":"Tree Surgeons"}"#,
            r#""context":{"category":"パソコンクリニック"}"#,
            r#""context":{"category":"薬味"}"#,
            r#""search":{"query":"health potion"}"#,
            r#""ad":{"campaign_id":"c","age":30}"#,
            r#""properties":{"age_band":"3-5"}"#,
            r#""context":{"personalization":{"theme":"dark"}}"#,
            r#""context":{"cookie":"OptanonConsent=groups%3DC0001%3A1%2CC0004%3A1; x=1"}"#,
            r#""context":{"cookies":{"session":"abc"}}"#,
            r#""context":{"cookie":"a=1; __gpp=not-a-gpp-string"}"#,
            r#""context":{"consentManagement":{"deniedConsentIds":["C0002"]}}"#,
            r#""context":{"osano":{"ESSENTIAL":"ACCEPT","MARKETING":"ACCEPT"}}"#,
            r#""context":{"request_headers":[["Accept","text/html"]]}"#,
            r#""search":{"query":"running shoes"}"#,
            r#""context":{"page_url":"https://shop.example/books/24"}"#,
            r#""context":{"category":"Wealth management","screen":"HomeScreen"}"#,
        ] {
            assert_eq!(blocked(extra), None, "{extra}");
        }
    }

    /// Twelfth red-team pass: a health word cut by blanks or signs, or
    /// by its initials, stops the event, and so does the event's own phone
    /// number among letters or its email spelled out, in an allow-listed
    /// field; look-alikes do not.
    #[test]
    fn twelfth_pass_cut_words_phones_among_letters_and_spelled_emails() {
        let cfg = config(
            r#"["ad.campaign_id", "ad.tags", { path = "ad.note", type = "text", max_len = 300 }]"#,
        );
        let p = Policy::new(&cfg, SubjectHasher::new(&[9; 32]));
        let base = r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"jane.doe@example.com","phone":"+1 206 555 0100"}"#;
        let blocked = |extra: &str| {
            let json = format!("{{{base},{extra}}}");
            let ev = Event::parse(&json).unwrap();
            p.evaluate(&ev, &NoOptOuts).blocked.map(|(r, _)| r)
        };
        for category in [
            "heal th",
            "Phar-ma-cy",
            "STD",
            "Sexually Transmitted Infections",
        ] {
            let extra = format!(r#""context":{{"category":"{category}"}}"#);
            assert_eq!(blocked(&extra), Some(DropReason::Sensitive), "{category}");
        }
        for category in ["Stealth Mode", "Heal the World", "Tree Surgeons"] {
            let extra = format!(r#""context":{{"category":"{category}"}}"#);
            assert_eq!(blocked(&extra), None, "{category}");
        }
        for note in [
            "206x555x0100",
            "2O6-555-Ol00",
            "206-JKL-0100",
            "0010555602",
            "jane.doe at example dot com",
            "jane dot doe arobase example point com",
        ] {
            assert_note_is_stopped(&cfg, base, note);
        }
        for note in [
            "spring-2026-sale-b12",
            "jane at example",
            "Lollipop 2026 holiday",
        ] {
            let out = outcomes(&cfg, &format!(r#"{{{base},"ad":{{"note":"{note}"}}}}"#));
            assert_eq!(routed(&out[0])["ad"]["note"], note);
        }
    }

    /// Thirteenth red-team pass (rt12): base-85 and the other base32
    /// alphabets of identifiers and digests, letters drawn like signs
    /// between an identifier's parts, phones among words and look-alike
    /// letters, the email without its `+tag` or under Google's other
    /// domain, more health words; and the App Store ids the phone rule
    /// used to drop.
    #[test]
    fn thirteenth_pass_base85_sign_letters_phones_among_words_and_app_store_ids() {
        let cfg = config(
            r#"["ad.campaign_id", "app.app_id", { path = "ad.note", type = "text", max_len = 300 }]"#,
        );
        let base = r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{"email":"jane.doe@example.com","phone":"+1 206 555 0100","device_id":"6D92078A-8246-4BA4-AE5B-76104861E7DC"}"#;
        for note in [
            // Ascii85, RFC 1924 (Python's b85encode) and Z85 of the email.
            r"C12!k/nAm35\\51KD/a<&/n8g:",
            "YGH0=E@W?IKxKGgZE$R5E@N+P",
            "ygh0>e[w)ikXkgGze:r5e[n*p",
            // SHA-256 of the email in b85, the device id's bytes in b85.
            "hTys7Y!}Q;5;%StNw`o``{z5u&RP+OaXOta48{{Z",
            "ZITCyf<{ZEu3L5xNMYyP",
            // SHA-256 of the email in base32hex and Crockford's base32.
            "GRGBJPBC2V64Q4HOFOCKJE2GAFTUEEU3PPD1323H7AEJ03662CUG",
            "GVGBKSBC2Z64T4HRFRCMKE2GAFXYEEY3SSD1323H7AEK03662CYG",
            // Letters drawn like signs between the parts.
            "janeǀdoe@exampleǀcom",
            "janeㅡdoe@example一com",
            "206ǀ555ǀ0100",
            "206ⵏ555ⵏ0100",
            "206ا555ا0100",
            // The phone among words and look-alike letters.
            "206-home-555-top-0100",
            "206 oder 555 oder 0100",
            "206-5SS-OlOO",
            "ZO6 SSS OlOO",
        ] {
            assert_note_is_stopped(&cfg, base, note);
        }
        // The email as its mailbox reads it.
        for (email, note) in [
            (
                "mark.twain+newsletter@example.org",
                "mark.twain example.org",
            ),
            ("Jane.Doe+shop@gmail.com", "janedoe googlemail com"),
            ("Jane.Doe+shop@gmail.com", "jane doe"),
        ] {
            let base = format!(
                r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{{"email":"{email}"}}"#
            );
            assert_note_is_stopped(&cfg, &base, note);
        }
        // Benign look-alikes pass unchanged: random bytes in base-85 (their
        // hex holds digit runs shaped like phones), signs, app ids, words.
        for note in [
            "Qm9vay1DbHViLTIwMjY=xY!}Q;5;%",
            "50%-off! (today)",
            "newsletter spring",
            "Lollipop 2026 holiday",
            "spring-2026-sale-b12",
            "ǀxam ǀgaq",
        ] {
            let out = outcomes(&cfg, &format!(r#"{{{base},"ad":{{"note":"{note}"}}}}"#));
            assert_eq!(routed(&out[0])["ad"]["note"], note);
        }
        for app in ["id1444383602", "id6448311069", "id886445756"] {
            let out = outcomes(&cfg, &format!(r#"{{{base},"app":{{"app_id":"{app}"}}}}"#));
            assert_eq!(routed(&out[0])["app"]["app_id"], app);
        }
        // An App Store id that is a real US number is a phone.
        let out = outcomes(
            &cfg,
            &format!(r#"{{{base},"app":{{"app_id":"id2125550123"}}}}"#),
        );
        assert!(
            matches!(out[0], Outcome::Drop(DropReason::PiiGuard)),
            "{:?}",
            out[0]
        );
        let p = Policy::new(&cfg, SubjectHasher::new(&[9; 32]));
        for category in [
            "Diabetic Supplies",
            "Cold & Flu",
            "morning-after pill",
            "HSA/FSA Eligible",
            "OB-GYN",
            "妊娠検査薬",
            "Farmacy",
        ] {
            let json = format!(r#"{{{base},"context":{{"category":"{category}"}}}}"#);
            let ev = Event::parse(&json).unwrap();
            assert_eq!(
                p.evaluate(&ev, &NoOptOuts).blocked.map(|(r, _)| r),
                Some(DropReason::Sensitive),
                "{category}"
            );
        }
        // Where on the site and what was tried there, by the configured
        // words.
        for context in [
            r#""list_name":"pharmacy-best-sellers""#,
            r#""zone":"pharmacy""#,
            r#""experiment":"pharmacy_upsell_v2""#,
            // A category map names its categories by its keys.
            r#""categories":{"health":1}"#,
        ] {
            let json = format!(r#"{{{base},"context":{{{context}}}}}"#);
            let ev = Event::parse(&json).unwrap();
            assert_eq!(
                p.evaluate(&ev, &NoOptOuts).blocked.map(|(r, _)| r),
                Some(DropReason::Sensitive),
                "{context}"
            );
        }
        for category in ["Meal Prep", "Teaching Aids", "Plan B Coffee"] {
            let json = format!(r#"{{{base},"context":{{"category":"{category}"}}}}"#);
            let ev = Event::parse(&json).unwrap();
            assert_eq!(p.evaluate(&ev, &NoOptOuts).blocked, None, "{category}");
        }
        for context in [
            r#""categories":{"books":0.9,"toys":0.1}"#,
            r#""categories":[{"name":"Books","id":5}]"#,
            r#""timezone":"America/New_York","zone":"home""#,
        ] {
            let json = format!(r#"{{{base},"context":{{{context}}}}}"#);
            let ev = Event::parse(&json).unwrap();
            assert_eq!(p.evaluate(&ev, &NoOptOuts).blocked, None, "{context}");
        }
        // A minor or a refusal in a list of name/value objects about the
        // person (custom attributes, OpenRTB segments, key/value tags).
        let head =
            r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z""#;
        let blocked = |user: &str, extra: &str| {
            let json = format!(
                r#"{{{head},"user":{{"email":"j@x.example",{user}}},"ad":{{"campaign_id":"c"{extra}}}}}"#
            );
            let ev = Event::parse(&json).unwrap();
            p.evaluate(&ev, &NoOptOuts).blocked.map(|(r, _)| r)
        };
        for (user, want) in [
            (
                r#""attributes":[{"name":"age","value":12}]"#,
                DropReason::Minor,
            ),
            (
                r#""traits":[{"key":"birth_year","value":2015}]"#,
                DropReason::Minor,
            ),
            (
                r#""attributes":[{"Name":"do_not_sell","Value":true}]"#,
                DropReason::OptedOut,
            ),
            (
                r#""data":[{"id":"d","segment":[{"id":"1","name":"age","value":"12"}]}]"#,
                DropReason::Minor,
            ),
            // The person's segments as a list, a junior membership.
            (r#""segments":["sports","kids"]"#, DropReason::Minor),
            (r#""membership":"junior""#, DropReason::Minor),
        ] {
            assert_eq!(blocked(user, ""), Some(want), "{user}");
        }
        for (user, extra) in [
            (
                r#""attributes":[{"name":"age","value":34},{"name":"color","value":"blue"}]"#,
                "",
            ),
            (
                r#""tier":"gold""#,
                r#","targeting":[{"name":"age","value":12}]"#,
            ),
            (r#""segments":["sports","outdoor"],"membership":"gold""#, ""),
        ] {
            assert_eq!(blocked(user, extra), None, "{user} {extra}");
        }
    }

    /// Eleventh red-team pass (rt11): the event's own IP little-endian
    /// and padded, a base64 email behind a version tag, and digests the
    /// guard did not take (BLAKE3, BLAKE2b-128, HMAC-SHA1 under an empty
    /// key, SHA-256 of the email with a tab, of the packed IP bytes) are
    /// stopped by the guard.
    #[test]
    fn eleventh_pass_ip_encoding_and_digest_forms_are_stopped() {
        use base64::Engine as _;
        use hmac::Mac as _;
        use sha2::Digest as _;
        let cfg =
            config(r#"["ad.campaign_id", { path = "ad.note", type = "text", max_len = 300 }]"#);
        let email = "jane.doe@example.com";
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let base = format!(
            r#""event_id":"e","event_type":"ad_impression","timestamp":"2026-11-28T13:45:12Z","user":{{"email":"{email}","ip":"203.0.113.9"}}"#
        );
        let mut hmac_sha1 = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"").unwrap();
        hmac_sha1.update(email.as_bytes());
        for note in [
            "158400715".to_string(),
            "0203.0000.0113.0009".to_string(),
            format!(
                "V1{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(email)
            ),
            blake3::hash(email.as_bytes()).to_hex().to_string(),
            hex(&blake2::Blake2b::<blake2::digest::consts::U16>::digest(
                email,
            )),
            hex(&hmac_sha1.finalize().into_bytes()),
            hex(&sha2::Sha256::digest(format!("{email}\t"))),
            hex(&sha2::Sha256::digest([203, 0, 113, 9])),
        ] {
            assert_note_is_stopped(&cfg, &base, &note);
        }
        let out = outcomes(
            &cfg,
            &format!(r#"{{{base},"ad":{{"note":"V1 spring sale"}}}}"#),
        );
        assert_eq!(routed(&out[0])["ad"]["note"], "V1 spring sale");
    }

    #[test]
    fn names_of_personal_data_are_protected_under_allowed_objects() {
        for k in [
            "idfa",
            "GAID",
            "hashed_email",
            "emailHash",
            "phone_sha256",
            "birthdate",
            "dob",
            "user_age",
            "userAge",
            "client_ip",
            "client_ipv4",
            "ＵｓｅｒＡｇｅ",
        ] {
            assert!(is_protected_name(k), "{k}");
        }
        for k in [
            "campaign_id",
            "placement",
            "page",
            "stage",
            "usage",
            "tip",
            "image",
        ] {
            assert!(!is_protected_name(k), "{k}");
        }
    }

    /// A birth date is read at the event's time, but never at a time still
    /// to come: a timestamp years ahead does not make a child an adult.
    #[test]
    fn a_future_timestamp_does_not_age_a_child() {
        let cfg = config(r#"["ad.campaign_id"]"#);
        for ts in ["2031-04-02T10:00:00Z", "9999-12-31T23:00:00Z"] {
            let out = outcomes(
                &cfg,
                &format!(
                    r#"{{"event_id":"e","event_type":"ad_impression","timestamp":"{ts}","user":{{"account_id":"A1","birth_date":"2020-04-01"}}}}"#
                ),
            );
            assert!(matches!(out[0], Outcome::Drop(DropReason::Minor)), "{ts}");
        }
    }
}
