//! Signals adgate honours although the event format does not name them:
//! the other names producers give a minor flag, a birth year, an age range,
//! an opt-out of sale or sharing, Limit Ad Tracking, Apple's App Tracking
//! Transparency status and Do Not Track, in `user` or `consent`
//! (docs/policy.md "Other names for the same signals").
//!
//! The SPEC's own members (`user.age`, `user.birth_date`, `consent.gpc`,
//! ...) stay the contract. A person whose event says "minor" or "opted out"
//! under another name is still a minor or opted out: such a member only
//! ever stops an event, never lets one through, and one that cannot be read
//! stops it too (`invalid`), as `consent.gpc` of the wrong type does.

use std::borrow::Cow;

use crate::canon;
use crate::event::{as_str, kind_of, JsonKind};
use crate::json::Raw;

/// What a member under another name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherSignal {
    /// `birth_year`, `year_of_birth`, `yob`; and `dob`, `date_of_birth`,
    /// `birthday` (their year is read: `"2012-04-01"`, `"01/04/2012"`).
    BirthYear,
    /// `age_range`, `age_group`, `age_bracket`: `"13-17"`, `"under 18"`, `"65+"`.
    AgeRange,
    /// `is_minor`, `child`, `coppa`, Google's `tfcd` / `tfua`: true is a minor.
    MinorFlag,
    /// `is_adult`, `adult`: false is a minor.
    AdultFlag,
    /// `limit_ad_tracking`, `lat`, `lmt`: true is an opt-out.
    LimitAdTracking,
    /// `att_status`, `att`, `atts`: anything but "authorized" (3) is an opt-out.
    Att,
    /// `do_not_sell`, `do_not_share`, `ccpa_opt_out`, `opt_out`, `rdp`, `ldu`:
    /// true is an opt-out.
    DoNotSell,
    /// `dnt`, `do_not_track`: true is an opt-out.
    DoNotTrack,
}

/// Member names (lowercase, without `_`, `-`, `.` or blanks) and what they say.
const NAMES: &[(&str, OtherSignal)] = &[
    ("birthyear", OtherSignal::BirthYear),
    ("yearofbirth", OtherSignal::BirthYear),
    ("yob", OtherSignal::BirthYear),
    ("dob", OtherSignal::BirthYear),
    ("dateofbirth", OtherSignal::BirthYear),
    ("birthday", OtherSignal::BirthYear),
    ("agerange", OtherSignal::AgeRange),
    ("agegroup", OtherSignal::AgeRange),
    ("agebracket", OtherSignal::AgeRange),
    ("agebucket", OtherSignal::AgeRange),
    ("agecategory", OtherSignal::AgeRange),
    ("isminor", OtherSignal::MinorFlag),
    ("minor", OtherSignal::MinorFlag),
    ("ischild", OtherSignal::MinorFlag),
    ("child", OtherSignal::MinorFlag),
    ("underage", OtherSignal::MinorFlag),
    ("isunderage", OtherSignal::MinorFlag),
    ("coppa", OtherSignal::MinorFlag),
    ("iscoppa", OtherSignal::MinorFlag),
    ("childdirected", OtherSignal::MinorFlag),
    ("tfcd", OtherSignal::MinorFlag),
    ("tagforchilddirectedtreatment", OtherSignal::MinorFlag),
    ("tfua", OtherSignal::MinorFlag),
    ("tagforunderageofconsent", OtherSignal::MinorFlag),
    ("isadult", OtherSignal::AdultFlag),
    ("adult", OtherSignal::AdultFlag),
    ("limitadtracking", OtherSignal::LimitAdTracking),
    ("islimitadtrackingenabled", OtherSignal::LimitAdTracking),
    ("limitadtrackingenabled", OtherSignal::LimitAdTracking),
    ("lat", OtherSignal::LimitAdTracking),
    ("lmt", OtherSignal::LimitAdTracking),
    ("att", OtherSignal::Att),
    ("atts", OtherSignal::Att),
    ("attstatus", OtherSignal::Att),
    ("trackingauthorizationstatus", OtherSignal::Att),
    ("apptrackingtransparency", OtherSignal::Att),
    ("donotsell", OtherSignal::DoNotSell),
    ("donotshare", OtherSignal::DoNotSell),
    ("donotsellorshare", OtherSignal::DoNotSell),
    ("dns", OtherSignal::DoNotSell),
    ("optoutofsale", OtherSignal::DoNotSell),
    ("optoutsale", OtherSignal::DoNotSell),
    ("saleoptout", OtherSignal::DoNotSell),
    ("ccpaoptout", OtherSignal::DoNotSell),
    ("optout", OtherSignal::DoNotSell),
    ("optedout", OtherSignal::DoNotSell),
    ("isoptedout", OtherSignal::DoNotSell),
    ("adsoptout", OtherSignal::DoNotSell),
    ("rdp", OtherSignal::DoNotSell),
    ("restricteddataprocessing", OtherSignal::DoNotSell),
    ("ldu", OtherSignal::DoNotSell),
    ("limiteddatause", OtherSignal::DoNotSell),
    ("dnt", OtherSignal::DoNotTrack),
    ("donottrack", OtherSignal::DoNotTrack),
];

/// The longest name of [`NAMES`]: a longer member is none of them.
const LONGEST: usize = 32;

/// What the member named `key` says, if it is one of [`NAMES`] in any case,
/// with any separators, or in another Unicode form ([`canon::word_form`]).
/// A plain ASCII key is read without allocating.
pub fn recognize(key: &str) -> Option<OtherSignal> {
    let form: Cow<'_, str> = if key.is_ascii() && !key.contains(['%', '&', '\\']) {
        Cow::Borrowed(key)
    } else {
        canon::word_form(key)
    };
    let mut buf = [0u8; LONGEST];
    let mut n = 0;
    for c in form.chars() {
        if matches!(c, '_' | '-' | '.' | ' ') || canon::is_blank(c) {
            continue;
        }
        if !c.is_ascii_alphanumeric() || n == LONGEST {
            return None;
        }
        buf[n] = c.to_ascii_lowercase() as u8;
        n += 1;
    }
    let name = &buf[..n];
    NAMES
        .iter()
        .find(|(k, _)| k.as_bytes() == name)
        .map(|(_, s)| *s)
}

/// What a member stops an event for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    OptedOut(&'static str),
    Minor(&'static str),
    /// The member cannot be read; it could say either.
    Unreadable(&'static str),
}

/// A flag written as a boolean, 0/1, or a word (`"yes"`, `"Y"`, `"on"`);
/// `Err` when it is none of these.
fn flag(raw: Raw<'_>) -> Result<bool, ()> {
    match kind_of(raw) {
        JsonKind::Bool => Ok(raw.get() == "true"),
        JsonKind::Null => Ok(false),
        JsonKind::Number => match raw.get() {
            "1" | "1.0" => Ok(true),
            "0" | "0.0" | "-0" => Ok(false),
            _ => Err(()),
        },
        JsonKind::String => {
            let s = as_str(raw).ok_or(())?;
            match canon::word_form(s.trim()).to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "y" | "on" | "t" => Ok(true),
                "false" | "0" | "no" | "n" | "off" | "f" | "" => Ok(false),
                _ => Err(()),
            }
        }
        _ => Err(()),
    }
}

/// A year: a JSON whole number, or the one run of four digits in a string
/// (`"2012"`, `"2012-04-01"`, `"01/04/2012"`).
fn year(raw: Raw<'_>) -> Option<i64> {
    match kind_of(raw) {
        JsonKind::Number => raw.get().parse().ok(),
        JsonKind::String => {
            let s = as_str(raw)?;
            let t = canon::word_form(s.trim()).into_owned();
            let mut runs = t
                .split(|c: char| !c.is_ascii_digit())
                .filter(|r| r.len() == 4);
            let y = runs.next()?;
            runs.next().is_none().then(|| y.parse().ok())?
        }
        _ => None,
    }
}

/// The lowest age an age range can hold, or `None` if it does not read
/// as one. `"13-17"` is 13, `"18+"` 18, `"under 18"`, `"<18"`, `"teen"` 0,
/// `"adult"` 18.
fn range_floor(raw: Raw<'_>) -> Option<i64> {
    if kind_of(raw) != JsonKind::String {
        return None;
    }
    let s = as_str(raw)?;
    let text = canon::word_form(s.trim()).to_lowercase();
    const YOUNG: &[&str] = &[
        "under", "below", "less", "<", "≤", "younger", "minor", "child", "kid", "teen", "junior",
        "u1", "u2",
    ];
    if YOUNG.iter().any(|w| text.contains(w)) {
        return Some(0);
    }
    let digits: String = text
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    if digits.is_empty() {
        return matches!(text.as_str(), "adult" | "adults").then_some(18);
    }
    digits.parse().ok()
}

/// The verdict of one member: `None` if it lets the event go on.
/// `event_year` is the year of the event's time (never in the future).
pub fn verdict(
    signal: OtherSignal,
    raw: Raw<'_>,
    event_year: i64,
    minor_age: u64,
) -> Option<Verdict> {
    let minor_age = minor_age as i64;
    match signal {
        OtherSignal::BirthYear => match year(raw) {
            Some(y) if y > event_year || event_year - y > 150 => Some(Verdict::Unreadable(
                "a birth year in user is not a past year within 150 years",
            )),
            // Born in December of that year, the person is one year younger
            // than the difference of the years until then.
            Some(y) if event_year - y - 1 < minor_age => Some(Verdict::Minor(
                "a birth year in user makes the person possibly younger than privacy.minor_age",
            )),
            Some(_) => None,
            None if kind_of(raw) == JsonKind::Null => None,
            None => Some(Verdict::Unreadable(
                "a birth year or date in user does not hold one year",
            )),
        },
        OtherSignal::AgeRange => match range_floor(raw) {
            Some(f) if f < minor_age => Some(Verdict::Minor(
                "an age range in user reaches below privacy.minor_age",
            )),
            Some(_) => None,
            None if kind_of(raw) == JsonKind::Null => None,
            None => Some(Verdict::Unreadable(
                "an age range in user does not read as one (e.g. \"18-24\")",
            )),
        },
        OtherSignal::MinorFlag => match flag(raw) {
            Ok(true) => Some(Verdict::Minor("a minor flag in user or consent is set")),
            Ok(false) => None,
            Err(()) => Some(Verdict::Unreadable(
                "a minor flag in user or consent is not a boolean",
            )),
        },
        OtherSignal::AdultFlag => match flag(raw) {
            Ok(false) if kind_of(raw) != JsonKind::Null => {
                Some(Verdict::Minor("an adult flag in user or consent is false"))
            }
            Ok(_) => None,
            Err(()) => Some(Verdict::Unreadable(
                "an adult flag in user or consent is not a boolean",
            )),
        },
        OtherSignal::LimitAdTracking => match flag(raw) {
            Ok(true) => Some(Verdict::OptedOut(
                "a Limit Ad Tracking flag in user or consent is set",
            )),
            Ok(false) => None,
            Err(()) => Some(Verdict::Unreadable(
                "a Limit Ad Tracking flag in user or consent is not a boolean",
            )),
        },
        OtherSignal::DoNotSell => match flag(raw) {
            Ok(true) => Some(Verdict::OptedOut(
                "a do-not-sell or opt-out flag in user or consent is set",
            )),
            Ok(false) => None,
            Err(()) => Some(Verdict::Unreadable(
                "a do-not-sell or opt-out flag in user or consent is not a boolean",
            )),
        },
        OtherSignal::DoNotTrack => match flag(raw) {
            Ok(true) => Some(Verdict::OptedOut(
                "a Do Not Track flag in user or consent is set",
            )),
            Ok(false) => None,
            Err(()) => Some(Verdict::Unreadable(
                "a Do Not Track flag in user or consent is not a boolean",
            )),
        },
        OtherSignal::Att => {
            // Apple's ATTrackingManager.AuthorizationStatus: 0 not
            // determined, 1 restricted, 2 denied, 3 authorized (OpenRTB
            // `atts` uses the same numbers).
            const REFUSED: &str =
                "an App Tracking Transparency status in user or consent is not \"authorized\"";
            match kind_of(raw) {
                JsonKind::Null => None,
                JsonKind::Number => match raw.get() {
                    "3" => None,
                    "0" | "1" | "2" => Some(Verdict::OptedOut(REFUSED)),
                    _ => Some(Verdict::Unreadable(
                        "an App Tracking Transparency status in user or consent is not 0 to 3",
                    )),
                },
                JsonKind::String => {
                    let s = as_str(raw).unwrap_or_default();
                    let t: String = canon::word_form(s.trim())
                        .chars()
                        .filter(|c| c.is_alphanumeric())
                        .flat_map(char::to_lowercase)
                        .collect();
                    match t.as_str() {
                        "authorized" | "authorised" | "3" => None,
                        "denied" | "restricted" | "notdetermined" | "unknown" | "0" | "1"
                        | "2" => Some(Verdict::OptedOut(REFUSED)),
                        _ => Some(Verdict::Unreadable(
                            "an App Tracking Transparency status in user or consent does not read as one",
                        )),
                    }
                }
                _ => Some(Verdict::Unreadable(
                    "an App Tracking Transparency status in user or consent does not read as one",
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(signal: OtherSignal, json: &str) -> Option<Verdict> {
        verdict(signal, Raw::parse(json).unwrap(), 2026, 18)
    }

    #[test]
    fn names_are_read_in_any_case_with_any_separators() {
        for (k, want) in [
            ("birth_year", OtherSignal::BirthYear),
            ("birthYear", OtherSignal::BirthYear),
            ("Year-Of-Birth", OtherSignal::BirthYear),
            ("age_range", OtherSignal::AgeRange),
            ("ageGroup", OtherSignal::AgeRange),
            ("is_minor", OtherSignal::MinorFlag),
            ("ＩｓＭｉｎｏｒ", OtherSignal::MinorFlag),
            ("is\u{200b}_minor", OtherSignal::MinorFlag),
            ("COPPA", OtherSignal::MinorFlag),
            ("limit_ad_tracking", OtherSignal::LimitAdTracking),
            ("LMT", OtherSignal::LimitAdTracking),
            ("att_status", OtherSignal::Att),
            ("do_not_sell", OtherSignal::DoNotSell),
            ("doNotShare", OtherSignal::DoNotSell),
            ("DNT", OtherSignal::DoNotTrack),
        ] {
            assert_eq!(recognize(k), Some(want), "{k:?}");
        }
        for k in [
            "email",
            "age",
            "birth_date",
            "page_views",
            "latitude",
            "minority_report",
            "a_very_long_member_name_that_is_nothing_we_read",
        ] {
            assert_eq!(recognize(k), None, "{k:?}");
        }
    }

    #[test]
    fn minor_signals_stop_only_minors() {
        use Verdict::*;
        assert!(matches!(v(OtherSignal::BirthYear, "2012"), Some(Minor(_))));
        assert!(matches!(
            v(OtherSignal::BirthYear, "\"2012\""),
            Some(Minor(_))
        ));
        // 2026 − 2008 = 18, but born in December the person is 17 until then.
        assert!(matches!(v(OtherSignal::BirthYear, "2008"), Some(Minor(_))));
        assert_eq!(v(OtherSignal::BirthYear, "2007"), None);
        assert_eq!(v(OtherSignal::BirthYear, "1960"), None);
        assert!(matches!(
            v(OtherSignal::BirthYear, "2031"),
            Some(Unreadable(_))
        ));
        assert!(matches!(
            v(OtherSignal::BirthYear, "\"x\""),
            Some(Unreadable(_))
        ));
        assert_eq!(v(OtherSignal::BirthYear, "null"), None);
        assert!(matches!(
            v(OtherSignal::BirthYear, "\"2012-04-01\""),
            Some(Minor(_))
        ));
        assert!(matches!(
            v(OtherSignal::BirthYear, "\"01/04/2012\""),
            Some(Minor(_))
        ));
        assert_eq!(v(OtherSignal::BirthYear, "\"1980-04-01\""), None);
        assert!(matches!(
            v(OtherSignal::BirthYear, "\"04-01\""),
            Some(Unreadable(_))
        ));

        for minor in [
            "\"13-17\"",
            "\"under 18\"",
            "\"<18\"",
            "\"0-17\"",
            "\"Teens\"",
            "\"１３–１７\"",
        ] {
            assert!(
                matches!(v(OtherSignal::AgeRange, minor), Some(Minor(_))),
                "{minor}"
            );
        }
        for adult in ["\"18-24\"", "\"25-34\"", "\"65+\"", "\"18+\"", "\"Adult\""] {
            assert_eq!(v(OtherSignal::AgeRange, adult), None, "{adult}");
        }
        assert!(matches!(v(OtherSignal::AgeRange, "3"), Some(Unreadable(_))));

        for set in ["true", "1", "\"yes\"", "\"TRUE\"", "\"Y\""] {
            assert!(
                matches!(v(OtherSignal::MinorFlag, set), Some(Minor(_))),
                "{set}"
            );
        }
        for unset in ["false", "0", "\"no\"", "null"] {
            assert_eq!(v(OtherSignal::MinorFlag, unset), None, "{unset}");
        }
        assert!(matches!(
            v(OtherSignal::MinorFlag, "\"maybe\""),
            Some(Unreadable(_))
        ));
        assert!(matches!(v(OtherSignal::AdultFlag, "false"), Some(Minor(_))));
        assert_eq!(v(OtherSignal::AdultFlag, "true"), None);
    }

    #[test]
    fn refusals_under_other_names_opt_out() {
        use Verdict::*;
        for s in [
            OtherSignal::LimitAdTracking,
            OtherSignal::DoNotSell,
            OtherSignal::DoNotTrack,
        ] {
            assert!(matches!(v(s, "true"), Some(OptedOut(_))));
            assert!(matches!(v(s, "\"1\""), Some(OptedOut(_))));
            assert_eq!(v(s, "false"), None);
            assert!(matches!(v(s, "[true]"), Some(Unreadable(_))));
        }
        for refused in [
            "\"denied\"",
            "\"Restricted\"",
            "\"not_determined\"",
            "2",
            "0",
        ] {
            assert!(
                matches!(v(OtherSignal::Att, refused), Some(OptedOut(_))),
                "{refused}"
            );
        }
        for ok in ["\"authorized\"", "3", "\"AUTHORIZED\""] {
            assert_eq!(v(OtherSignal::Att, ok), None, "{ok}");
        }
        assert!(matches!(v(OtherSignal::Att, "true"), Some(Unreadable(_))));
    }
}
