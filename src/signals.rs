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
    /// `limit_ad_tracking`, `lmt`: true is an opt-out.
    LimitAdTracking,
    /// `lat`: Limit Ad Tracking when it is a flag (true is an opt-out), a
    /// latitude when it is any other number (`device.geo.lat`): ignored.
    Lat,
    /// `att_status`, `att`, `atts`: anything but "authorized" (3) is an opt-out.
    Att,
    /// `do_not_sell`, `do_not_share`, `ccpa_opt_out`, `opt_out`, `rdp`, `ldu`:
    /// true is an opt-out.
    DoNotSell,
    /// `dnt`, `do_not_track`: true is an opt-out.
    DoNotTrack,
    /// `allow_personalized_ads`, `advertiser_tracking_enabled`,
    /// `ads_personalization`: false is an opt-out.
    AllowFlag,
    /// `age_years`, `user_age`: a number below `minor_age` is a minor.
    Age,
    /// Meta's `data_processing_options`: `["LDU"]` is an opt-out.
    DataProcessingOptions,
    /// `ccpa`, `us_privacy` outside `consent`: an IAB US Privacy string
    /// (`1YYN`); a `Y` third character is an opt-out of sale.
    UsPrivacy,
    /// A TC or GPP string where adgate does not decode one (`regs.gpp`,
    /// `user.consent`): unreadable.
    ConsentString,
    /// Any member of `consent` adgate does not read: it could be a refusal.
    UnknownConsent,
    /// A member named like a minor or opt-out signal ([`names_a_signal`])
    /// that is none of the above: unreadable.
    SignalName,
    /// Google Consent Mode's `ad_user_data` / `ad_personalization` outside
    /// `consent`: anything but `"granted"` (or `true`) is a refusal.
    ConsentMode,
    /// A member of a block about the person whose name says it classifies
    /// the person (`account_type`, `profile_type`, `family_role`,
    /// `segment`): a value naming a child (`"child"`, `"kids"`) is a minor.
    PersonType,
    /// OneTrust's `OptanonConsent` cookie (`…&groups=C0001:1,C0004:0`):
    /// its targeting group C0004 says whether ads may be personalized.
    OneTrust,
    /// A raw `Cookie` header or `document.cookie` string (`cookie`,
    /// `cookies`): its OneTrust `OptanonConsent` and `usprivacy` cookies
    /// are read as those members are.
    Cookies,
    /// A member named like a signal in a consent tool's block
    /// (`cookieconsent.marketing`, Usercentrics' `"Google Ads": true`): an
    /// answer, granted or refused.
    ConsentAnswer,
    /// A school grade in a block about the person (`grade_level: "7th
    /// grade"`, `school_year: 9`, `grade: "K"`): grade 12 or below, or a
    /// kindergarten, is a minor; anything else (a loyalty `grade: "gold"`)
    /// says nothing.
    SchoolGrade,
    /// The year the person graduates (`graduation_year`, `class_of`): five
    /// or more years after the event's, the person is a minor whatever the
    /// school (graduating from college at 22 or from high school at 18).
    GraduationYear,
    /// The person's school (`school_name`): an elementary, primary, middle
    /// or junior high school, a kindergarten or preschool is a minor's.
    SchoolName,
    /// A parent's or guardian's contact or consent on the person's record
    /// (`parent_email`, `guardian_name`, `parental_consent`): set, the
    /// person is a minor.
    Guardian,
    /// A consent tool's map of IAB TCF purposes (`cmp.purposes: {"1":
    /// true, "4": false}`, or the list of the purposes consented to:
    /// `[1, 2, 3, 4]`): purpose 1 (store and access information), 3
    /// (create a personalized ads profile) or 4 (select personalized ads)
    /// refused is an opt-out.
    Purposes,
    /// The consent categories a tool reports refused (RudderStack's
    /// `consentManagement.deniedConsentIds`, whatever tool fills it): the
    /// targeting group (OneTrust's `C0004`) or a marketing, advertising,
    /// targeting or personalization category refused is an opt-out.
    DeniedConsents,
    /// The result of an age gate (`age_gate: "under_13"`): an age range
    /// below `minor_age`, or a failed gate (`"failed"`, `"underage"`), is
    /// a minor; a passed one lets the event on, and so does anything else
    /// (a gate's name is no age).
    AgeGate,
    /// Google's consent state (`gcs`, as gtag sends it: `G1` then one
    /// character for `ad_storage` and one for `analytics_storage`):
    /// `ad_storage` denied (`G100`, `G101`) is an opt-out.
    Gcs,
    /// An object or array nested deeper than [`MAX_DEPTH`] levels: what
    /// it holds is not read, so it could say either (unreadable).
    TooDeep,
    /// gtag's consent default string (`gcd`, `11p1p1p1p5`): a letter per
    /// consent type (ad_storage, analytics_storage, ad_user_data,
    /// ad_personalization) saying its default and update; any of the ads
    /// types denied in the end (`p`, `q`, `m`, `u`) is an opt-out.
    Gcd,
    /// What the person is (`life_stage`, `occupation`, `school_type`,
    /// `student_type`): a child as [`OtherSignal::PersonType`] reads one, a
    /// pupil of a school for children, or a school kind alone (`"high
    /// school"`), is a minor.
    LifeStage,
    /// The person's occupation (`occupation`, `job_title`): a pupil of a
    /// school for children (`"middle school student"`) is a minor; words
    /// about children in a job (`"Youth Pastor"`, `"Kids Tennis Coach"`)
    /// are not.
    Occupation,
    /// Captured request headers as one raw text (`headers: "Accept:
    /// */*\r\nSec-GPC: 1"`): each `Name: value` line read as that member
    /// (an object or a list of pairs is walked instead).
    Headers,
}

/// What a member name (lowercase, without `_`, `-`, `.` or blanks) says.
fn lookup(name: &[u8]) -> Option<OtherSignal> {
    Some(match name {
        b"birthyear" | b"yearofbirth" | b"yob" | b"dob" | b"dateofbirth" | b"birthday" => {
            OtherSignal::BirthYear
        }
        b"agerange" | b"agegroup" | b"agebracket" | b"agebucket" | b"agecategory" => {
            OtherSignal::AgeRange
        }
        b"isminor"
        | b"minor"
        | b"ischild"
        | b"child"
        | b"underage"
        | b"isunderage"
        | b"coppa"
        | b"iscoppa"
        | b"childdirected"
        | b"tfcd"
        | b"tagforchilddirectedtreatment"
        | b"tfua"
        | b"tagforunderageofconsent" => OtherSignal::MinorFlag,
        b"isadult" | b"adult" => OtherSignal::AdultFlag,
        b"limitadtracking" | b"islimitadtrackingenabled" | b"limitadtrackingenabled" | b"lmt" => {
            OtherSignal::LimitAdTracking
        }
        b"lat" => OtherSignal::Lat,
        b"att"
        | b"atts"
        | b"attstatus"
        | b"trackingauthorizationstatus"
        | b"apptrackingtransparency" => OtherSignal::Att,
        b"donotsell"
        | b"donotshare"
        | b"donotsellorshare"
        | b"dns"
        | b"optoutofsale"
        | b"optoutsale"
        | b"saleoptout"
        | b"ccpaoptout"
        | b"optout"
        | b"optedout"
        | b"isoptedout"
        | b"adsoptout"
        | b"rdp"
        | b"restricteddataprocessing"
        | b"ldu"
        | b"limiteddatause" => OtherSignal::DoNotSell,
        b"dnt" | b"donottrack" => OtherSignal::DoNotTrack,
        b"gpc"
        | b"secgpc"
        | b"globalprivacycontrol"
        | b"npa"
        | b"restrictdataprocessing"
        | b"sharingoptout"
        | b"targetedadvertisingoptout"
        | b"optoutoftargetedadvertising"
        | b"optoutofsharing"
        | b"donotsellmypersonalinformation"
        | b"donotsellmyinfo" => OtherSignal::DoNotSell,
        b"iskid"
        | b"kid"
        | b"isteen"
        | b"teen"
        | b"madeforkids"
        | b"coppaapplies"
        | b"childdirectedtreatment"
        | b"ischilddirected"
        | b"under13"
        | b"under16"
        | b"under18"
        | b"isunder13"
        | b"isunder16"
        | b"isunder18" => OtherSignal::MinorFlag,
        b"birthyr" => OtherSignal::BirthYear,
        b"trackingstatus" => OtherSignal::Att,
        b"allowpersonalizedads"
        | b"allowpersonalisedads"
        | b"adspersonalization"
        | b"adspersonalisation"
        | b"advertisertrackingenabled"
        | b"advertisingtrackingenabled"
        | b"isadvertisingtrackingenabled"
        | b"trackingenabled"
        | b"personalizedadsallowed" => OtherSignal::AllowFlag,
        b"ageyears" | b"ageinyears" | b"userage" | b"yearsold" => OtherSignal::Age,
        // Age and date of birth in the languages of the sensitive-category
        // table (es, de, pt, it, nl, pl, fr), and shorthand.
        b"edad" | b"alter" | b"idade" | b"eta" | b"leeftijd" | b"wiek" | b"years" | b"yrs" => {
            OtherSignal::Age
        }
        b"bday" | b"fechanacimiento" | b"fechadenacimiento" | b"geburtsdatum" | b"geburtstag"
        | b"datenaissance" | b"datedenaissance" | b"datanascimento" | b"datadenascimento"
        | b"datadinascita" | b"geboortedatum" | b"dataurodzenia" => OtherSignal::BirthYear,
        b"u13" | b"u16" | b"u18" => OtherSignal::MinorFlag,
        // The same in more languages (da/no/sv, fi, tr, cs, ro, hu, id/ms,
        // ca, hr/sr/sl), read in blocks about the person only.
        b"alder" | b"ika" | b"yas" | b"vek" | b"varsta" | b"eletkor" | b"umur" | b"usia"
        | b"edat" | b"starost" | b"vozrast" => OtherSignal::Age,
        // The twentieth pass: vi, sw, lt, lv, et, is, cy, af.
        b"tuoi" | b"umri" | b"amzius" | b"vecums" | b"vanus" | b"aldur" | b"oed" | b"ouderdom" => {
            OtherSignal::Age
        }
        b"ngaysinh" | b"tareheyakuzaliwa" | b"gimimodata" | b"sunniaeg" | b"dzimsanasdatums" => {
            OtherSignal::BirthYear
        }
        b"kidsapp"
        | b"iskidsapp"
        | b"directedtochildren"
        | b"isdirectedtochildren"
        | b"childdirectedcontent" => OtherSignal::MinorFlag,
        // (Not `age_band`: a toy's or a book's, `"3-5"`.)
        b"targetagegroups" | b"targetagebucket" | b"demobucket" => OtherSignal::AgeRange,
        b"yeargroup" | b"gradeband" => OtherSignal::SchoolGrade,
        b"maturitylevel" => OtherSignal::PersonType,
        b"fodselsdato" | b"fodselsdag" | b"fodelsedatum" | b"fodelsedag" | b"syntymaaika"
        | b"syntymapaiva" | b"dogumtarihi" | b"tanggallahir" | b"tarikhlahir"
        | b"datumrodjenja" | b"datumnarozeni" | b"szuletesidatum" | b"datadenaixement"
        | b"datarozhdeniya" => OtherSignal::BirthYear,
        b"menor" | b"menordeedad" | b"minderjaehrig" | b"minderjahrig" | b"minderjarig"
        | b"mineur" | b"minorenne" | b"nino" | b"enfant" | b"jugendlich" | b"mindrearig"
        | b"minderarig" | b"alaikainen" | b"nezletily" | b"maloletni" | b"kiskoru" => {
            OtherSignal::MinorFlag
        }
        // Shopify's Customer Privacy API and other consent tools' answers.
        b"marketingallowed"
        | b"saleofdataallowed"
        | b"advertisingallowed"
        | b"adsallowed"
        | b"marketingconsent"
        | b"advertisingconsent"
        | b"adconsent" => OtherSignal::AllowFlag,
        b"optanonconsent" => OtherSignal::OneTrust,
        b"cookie" | b"cookies" | b"cookieheader" | b"documentcookie" | b"rawcookie" => {
            OtherSignal::Cookies
        }
        b"headers" | b"httpheaders" | b"requestheaders" | b"rawheaders" | b"reqheaders" => {
            OtherSignal::Headers
        }
        // Consent Mode's storage answers (`ad_storage: "denied"`).
        b"adstorage" | b"personalizationstorage" => OtherSignal::ConsentMode,
        // Shopify's customer flag and other marketing opt-ins.
        b"acceptsmarketing" | b"acceptmarketing" | b"marketingoptin" | b"marketingoptedin"
        | b"agreedtomarketing" => OtherSignal::AllowFlag,
        b"ageverified" | b"isageverified" => OtherSignal::AdultFlag,
        // The SPEC's own names of `user` and `consent`, wherever else they
        // are found (Segment's `context.traits.age`, `customer.birth_date`,
        // `app.personalized_ads`); bare `age` and `birth_date` only in
        // blocks about the person (see recognize_in).
        b"age" => OtherSignal::Age,
        b"birthdate" => OtherSignal::BirthYear,
        b"personalizedads"
        | b"personalisedads"
        | b"interestbasedads"
        | b"interestbasedadvertising"
        | b"crosscontextbehavioraladvertising"
        | b"adtargeting"
        | b"allowads"
        | b"adsenabled"
        | b"sharewithpartners" => OtherSignal::AllowFlag,
        b"aduserdata" | b"adpersonalization" | b"adpersonalisation" => OtherSignal::ConsentMode,
        b"supervised"
        | b"issupervised"
        | b"parentalcontrols"
        | b"parentalcontrol"
        | b"hasparentalcontrols"
        | b"parentalcontrolsenabled" => OtherSignal::MinorFlag,
        b"isover18" | b"over18" | b"isover21" | b"over21" | b"isage18plus" => {
            OtherSignal::AdultFlag
        }
        // The eleventh red-team pass: refusals and children under the names
        // SDKs and tag managers give them.
        b"nonpersonalizedads"
        | b"nonpersonalisedads"
        | b"gpcenabled"
        | b"isgpcenabled"
        | b"navigatorglobalprivacycontrol" => OtherSignal::DoNotSell,
        b"navigatordonottrack" | b"donottrackenabled" | b"dntenabled" => OtherSignal::DoNotTrack,
        b"adtrackingenabled"
        | b"isadtrackingenabled"
        | b"allowtracking"
        | b"trackingallowed"
        | b"trackingconsent"
        | b"personalizationenabled"
        | b"personalisationenabled"
        | b"targetedads"
        | b"targetedadvertising"
        | b"adpersonalizationenabled"
        | b"adpersonalisationenabled"
        | b"adspersonalizationenabled" => OtherSignal::AllowFlag,
        b"idfastatus" | b"idfaauthorization" | b"trackingauthorization" => OtherSignal::Att,
        b"limittracking" | b"islatenabled" | b"latenabled" | b"islat" | b"limitedadtracking" => {
            OtherSignal::LimitAdTracking
        }
        b"agegatepassed" | b"passedagegate" | b"isadultaccount" => OtherSignal::AdultFlag,
        b"kidprofile" | b"kidsprofile" | b"iskidprofile" | b"iskidsprofile" | b"kidsaccount"
        | b"iskidsaccount" | b"kidaccount" | b"iskidaccount" | b"childaccount"
        | b"ischildaccount" | b"childprofile" | b"ischildprofile" | b"teenaccount"
        | b"isteenaccount" | b"forkids" | b"kidsmode" | b"iskidsmode" | b"kidmode"
        | b"childmode" | b"kidsafe" | b"familymode" => OtherSignal::MinorFlag,
        b"useragemonths" | b"ageinmonths" | b"agemonths" | b"ageindays" => OtherSignal::SignalName,
        // The fourteenth red-team pass: content made for children (Google
        // Play's Designed for Families, a target age group, an audience),
        // read in every block: an ad shown in a child-directed app or page
        // is shown to a child.
        b"designedforfamilies"
        | b"isdesignedforfamilies"
        | b"familiesprogram"
        | b"familyprogram"
        | b"primarilychilddirected"
        | b"childdirectedapp"
        | b"isforkids"
        | b"forchildren"
        | b"madeforchildren"
        | b"kidscontent"
        | b"childrenscontent"
        | b"kidscategory" => OtherSignal::MinorFlag,
        b"targetagegroup" | b"targetage" | b"targetages" | b"targetagerange" | b"audienceage"
        | b"audienceagerange" | b"audienceagegroup" | b"intendedagegroup" | b"intendedage" => {
            OtherSignal::AgeRange
        }
        b"audience" | b"targetaudience" | b"intendedaudience" | b"contentaudience"
        | b"audiencetype" | b"primaryaudience" | b"appaudience" => OtherSignal::PersonType,
        // Read in blocks about the person only (see recognize_in).
        b"grade" | b"gradelevel" | b"schoolgrade" | b"gradeinschool" | b"schoolyear"
        | b"yearlevel" | b"classlevel" | b"currentgrade" => OtherSignal::SchoolGrade,
        b"graduationyear"
        | b"gradyear"
        | b"yearofgraduation"
        | b"classof"
        | b"expectedgraduationyear"
        | b"expectedgraduation"
        | b"highschoolgraduationyear"
        | b"hsgradyear"
        | b"hsgraduationyear" => OtherSignal::GraduationYear,
        b"school" | b"schoolname" | b"currentschool" | b"schoolattending" => {
            OtherSignal::SchoolName
        }
        b"agegate"
        | b"agegateresult"
        | b"agegatestatus"
        | b"agecheck"
        | b"agecheckresult"
        | b"ageverification"
        | b"ageverificationresult" => OtherSignal::AgeGate,
        b"personalization" | b"personalisation" | b"optin" | b"optedin" | b"isoptedin"
        | b"adsoptin" | b"advertisingoptin" => OtherSignal::AllowFlag,
        // Google's consent state parameter (`gcs=G100`).
        b"gcs" | b"googleconsentstate" => OtherSignal::Gcs,
        b"gcd" | b"googleconsentdefault" => OtherSignal::Gcd,
        b"lifestage" | b"schooltype" | b"studenttype" | b"schoollevel" => OtherSignal::LifeStage,
        b"occupation" | b"jobtitle" => OtherSignal::Occupation,
        b"dataprocessingoptions" => OtherSignal::DataProcessingOptions,
        // The twentieth pass: refusals under more names.
        b"deniedconsentids" | b"deniedconsents" | b"deniedcategories" => {
            OtherSignal::DeniedConsents
        }
        b"gpcsignal" | b"globalprivacy" | b"limiteddatauseflag" => OtherSignal::DoNotSell,
        b"apptracking" | b"apptrackingstatus" => OtherSignal::Att,
        b"ccpa" | b"usprivacy" | b"usprivacystring" | b"uspstring" | b"usp" => {
            OtherSignal::UsPrivacy
        }
        b"tcf" | b"tcstring" | b"gdprconsent" | b"euconsent" | b"euconsentv2" | b"gpp"
        | b"gppstring" | b"consent" | b"consentstring" => OtherSignal::ConsentString,
        _ => return None,
    })
}

/// The longest name [`lookup`] knows: a longer member is none of them.
const LONGEST: usize = 40;

/// Words that name a minor or an opt-out signal: a member whose name holds
/// one of them as a whole word (`age_years`, `isKid`, `made_for_kids`,
/// `tracking_status`) in a block that carries such signals is read as one.
const SIGNAL_WORDS: &[&str] = &[
    "age",
    "ages",
    "aged",
    "birth",
    "birthday",
    "born",
    "dob",
    "yob",
    "minor",
    "minors",
    "child",
    "children",
    "kid",
    "kids",
    "teen",
    "teens",
    "teenager",
    "youth",
    "juvenile",
    "underage",
    "under",
    "coppa",
    "tfcd",
    "tfua",
    "adult",
    "adults",
    "gpc",
    "privacy",
    "consent",
    "consents",
    "optout",
    "opt",
    "sell",
    "sale",
    "sharing",
    "track",
    "tracking",
    "personalized",
    "personalised",
    "personalization",
    "personalisation",
    "dnt",
    "lat",
    "lmt",
    "att",
    "atts",
    "npa",
    "ldu",
    "rdp",
    "ccpa",
    "cpra",
    "gdpr",
    "tcf",
    "gpp",
    "usp",
    "restrict",
    "restricted",
    "targeted",
    "targeting",
    "over",
    "supervised",
    "supervision",
    "parental",
    "guardian",
    "guardians",
    "share",
    "advertising",
    "ads",
    "interest",
    "behavioral",
    "behavioural",
    "iba",
    "marketing",
    // Age and birth in other languages, and shorthand.
    "edad",
    "idade",
    "leeftijd",
    "wiek",
    "nacimiento",
    "geburtsdatum",
    "geburtstag",
    "naissance",
    "nascimento",
    "nascita",
    "geboortedatum",
    "bday",
];

/// Words that make a block of content or context a consent tool's answers
/// (`customerPrivacy`, `google_consent`, `cookieconsent`, OneTrust's
/// `OptanonConsent`): read as a block about the person, so every member
/// named like a signal in it is one ([`member`]); a scalar so named is a
/// signal adgate does not read.
const CONSENT_BLOCK_WORDS: &[&str] = &[
    "consent",
    "consents",
    "privacy",
    "cookieconsent",
    "cmp",
    "optanon",
    "onetrust",
    "didomi",
    "cookiebot",
    "usercentrics",
    "permissions",
    "permission",
    // The twentieth pass: more consent tools, by their names.
    "klaro",
    "cmplz",
    "complianz",
    "cookieyes",
    "trustarc",
    "iubenda",
    "termly",
    "osano",
    "sourcepoint",
    "borlabs",
    "axeptio",
];

/// Consent tools whose names are two words to the splitter
/// (`CookieControl`), compared whole, lowercase, without separators.
const CONSENT_TOOL_NAMES: &[&[u8]] = &[
    b"cookiecontrol",
    b"cookiefirst",
    b"cookiehub",
    b"cookiescript",
];

/// Words that make such a member something else (`privacy_policy_url`).
const NOT_CONSENT_WORDS: &[&str] = &["url", "uri", "link", "href", "policy", "version", "text"];

/// Does the ASCII name hold, in any case, the start of one of
/// [`CONSENT_BLOCK_WORDS`]? Each position is looked at only for the words
/// that start with its letter.
fn may_hold_consent_word(name: &[u8]) -> bool {
    let at = |i: usize, w: &[u8]| {
        name.get(i..i + w.len())
            .is_some_and(|x| x.eq_ignore_ascii_case(w))
    };
    (0..name.len()).any(|i| match name[i].to_ascii_lowercase() {
        b'c' => at(i, b"consent") || at(i, b"cookie") || at(i, b"cmp") || at(i, b"complianz"),
        b'p' => at(i, b"privacy") || at(i, b"permission"),
        b'o' => at(i, b"optanon") || at(i, b"onetrust") || at(i, b"osano"),
        b'd' => at(i, b"didomi"),
        b'u' => at(i, b"usercentrics"),
        b'k' => at(i, b"klaro"),
        b't' => at(i, b"trustarc") || at(i, b"termly"),
        b'i' => at(i, b"iubenda"),
        b's' => at(i, b"sourcepoint"),
        b'b' => at(i, b"borlabs"),
        b'a' => at(i, b"axeptio"),
        _ => false,
    })
}

/// Does a consent tool's member so named hold its answer (`…Consent`), not
/// only its name (`cmp: "OneTrust"`)?
fn consent_answer(key: &str) -> bool {
    let form = name_form(key);
    any_name_word(&form, |w| matches!(w, "consent" | "consents"))
}

/// Is `key` the name of a consent tool's block ([`CONSENT_BLOCK_WORDS`])?
fn consent_block(key: &str) -> bool {
    // Most names hold none of the words: passed over on their letters
    // (this runs for every member a walk reads).
    if key.is_ascii() && !may_hold_consent_word(key.as_bytes()) {
        return false;
    }
    let form = name_form(key);
    (any_name_word(&form, |w| CONSENT_BLOCK_WORDS.contains(&w))
        || canon::fold_alnum::<24>(&form).is_some_and(|w| CONSENT_TOOL_NAMES.contains(&&*w)))
        && !any_name_word(&form, |w| {
            NOT_CONSENT_WORDS.contains(&w) || IDENTIFIER_WORDS.contains(&w)
        })
}

/// Words that make a member name an identifier's (`advertising_id`,
/// `consent_id`): such a member is not read as a signal.
const IDENTIFIER_WORDS: &[&str] = &["id", "ids", "identifier", "uuid", "guid"];

/// A member name as the word tables read it: as written when it is ASCII
/// (no decoding: names are compared by their words), else its
/// [`canon::word_form`] (`ｍｉｎｏｒ`, lookalike letters).
fn name_form(key: &str) -> Cow<'_, str> {
    if key.is_ascii() {
        Cow::Borrowed(key)
    } else {
        canon::word_form(key)
    }
}

/// Does the member name hold one of [`SIGNAL_WORDS`] as a whole word? Words
/// are split at separators, at lowercase-to-uppercase and at letter-digit
/// changes (`isUnder13` is `is`, `under`, `13`).
pub fn names_a_signal(key: &str) -> bool {
    let form = name_form(key);
    if says_nothing(&form) {
        return false;
    }
    any_name_word(&form, |w| {
        w.bytes().all(|b| b.is_ascii_alphabetic()) && SIGNAL_WORDS.contains(&w)
    }) && !any_name_word(&form, |w| IDENTIFIER_WORDS.contains(&w))
}

/// Names that hold a signal's word but say nothing of age or of consent to
/// advertising: a birthday's month or day alone, where one was born,
/// Consent Mode's storages other than for ads, consent to newsletters by
/// email or text (Shopify's `email_marketing_consent: {"state": …}`).
/// Such a member, and what is inside it, is not read as a signal.
fn says_nothing(key: &str) -> bool {
    // Every one of them has ten letters or more and starts with one of
    // these (this runs for every member a walk reads).
    let first = key.bytes().find(u8::is_ascii_alphanumeric);
    if key.len() < 10
        || !matches!(
            first.map(|b| b.to_ascii_lowercase()),
            Some(b'b' | b'a' | b'f' | b's' | b'e' | b'n')
        )
    {
        return false;
    }
    canon::fold_alnum::<32>(key).is_some_and(|f| {
        matches!(
            &*f,
            b"birthmonth"
                | b"birthdaymonth"
                | b"birthdayday"
                | b"birthplace"
                | b"birthcountry"
                | b"analyticsstorage"
                | b"functionalitystorage"
                | b"securitystorage"
                | b"emailmarketingconsent"
                | b"smsmarketingconsent"
                | b"newsletterconsent"
        )
    })
}

/// Words that make a member of a block about the person a classification
/// of the person (`account_type`, `family_role`, `user_segment`).
const TYPE_WORDS: &[&str] = &[
    "type",
    "role",
    "roles",
    "profile",
    "segment",
    "segments",
    "group",
    "groups",
    "membership",
    "audiences",
    "cohorts",
    "kind",
    "status",
    "tier",
    "class",
    "audience",
    "cohort",
    "category",
    "stage",
    "lifestage",
    "persona",
    "generation",
    "tag",
    "tags",
    "label",
    "labels",
    "flags",
];

/// Is `key` the name of a block that describes the person, read as `user`
/// is wherever it is found: Segment's `traits` (`context.traits`), a
/// `customer`, `profile`, `member`, GA4's `user_properties`, a nested
/// `user` (`context.user`)?
pub fn person_block(key: &str) -> bool {
    let Some((buf, n)) = fold_name(key) else {
        return false;
    };
    matches!(
        &buf[..n],
        b"user"
            | b"users"
            | b"traits"
            | b"usertraits"
            | b"customer"
            | b"customers"
            | b"profile"
            | b"userprofile"
            | b"customerprofile"
            | b"person"
            | b"member"
            | b"visitor"
            | b"userproperties"
            | b"identity"
            | b"contact"
            | b"subscriber"
            | b"shopper"
            | b"consumer"
            | b"buyer"
            | b"userdata"
            | b"userinfo"
            | b"customerinfo"
            | b"account"
    )
}

/// Whether `hit` holds for a word of the member name `name`: its runs of
/// ASCII letters and digits, split at lowercase-to-uppercase and at
/// letter-digit changes (`isUnder13` is `is`, `under`, `13`), lowercase.
/// Anything else separates words; a word longer than 24 bytes is skipped.
/// No allocation.
pub fn any_name_word(name: &str, mut hit: impl FnMut(&str) -> bool) -> bool {
    let b = name.as_bytes();
    let mut start = 0;
    let mut word = [0u8; 24];
    for i in 0..=b.len() {
        let boundary = i == b.len()
            || !b[i].is_ascii_alphanumeric()
            || (i > start
                && ((b[i - 1].is_ascii_lowercase() && b[i].is_ascii_uppercase())
                    || (b[i - 1].is_ascii_digit() != b[i].is_ascii_digit())));
        if !boundary {
            continue;
        }
        let w = &b[start..i];
        if !w.is_empty() && w.len() <= word.len() {
            let lw = &mut word[..w.len()];
            lw.copy_from_slice(w);
            lw.make_ascii_lowercase();
            if std::str::from_utf8(lw).is_ok_and(&mut hit) {
                return true;
            }
        }
        start = if i < b.len() && !b[i].is_ascii_alphanumeric() {
            i + 1
        } else {
            i
        };
    }
    false
}

/// How deep [`walk`] looks into nested objects and arrays; a non-empty
/// one nested deeper makes the event unreadable ([`OtherSignal::TooDeep`]).
pub const MAX_DEPTH: usize = 32;

/// What a block is about, which decides how its members are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// About content (`context`, `app`, `ad`): the table's names, but not
    /// those that may describe the content (see [`recognize_in`]).
    Content,
    /// Another top-level block (`properties`, `custom`): the table's names.
    Other,
    /// About the person (`user`, OpenRTB's `regs`/`device`, a
    /// [`person_block`] anywhere): the table's names, names that
    /// [`names_a_signal`], and values that classify the person as a child.
    Person,
    /// A consent tool's block ([`consent_block`]): the table's names, and
    /// names that [`names_a_signal`] read as answers
    /// ([`OtherSignal::ConsentAnswer`]).
    ConsentTool,
}

/// Collects the signals in the members of the object or array `raw`, and
/// in its nested objects and arrays (see [`member`]).
pub fn walk<'a>(raw: Raw<'a>, place: Place, out: &mut Vec<(OtherSignal, Raw<'a>)>) {
    walk_at(raw, place, out, 0)
}

fn walk_at<'a>(raw: Raw<'a>, place: Place, out: &mut Vec<(OtherSignal, Raw<'a>)>, depth: usize) {
    if depth >= MAX_DEPTH {
        let holds = match kind_of(raw) {
            JsonKind::Object => crate::json::object_members(raw).is_none_or(|m| !m.is_empty()),
            JsonKind::Array => crate::json::array_items(raw).is_none_or(|a| !a.is_empty()),
            _ => false,
        };
        if holds {
            out.push((OtherSignal::TooDeep, raw));
        }
        return;
    }
    match kind_of(raw) {
        JsonKind::Object => {
            let members = crate::json::object_members(raw).unwrap_or_default();
            // A version (`{"major": 2, "minor": 13, "patch": 0}`): its
            // `minor` is no person's.
            let version = members
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("major") && kind_of(*v) == JsonKind::Number);
            for (k, v) in members {
                if version && k.eq_ignore_ascii_case("minor") {
                    continue;
                }
                member(&k, v, place, out, depth);
            }
        }
        JsonKind::Array => {
            for item in crate::json::array_items(raw).unwrap_or_default() {
                // A list of `[name, value]` pairs (captured request headers,
                // `[["Sec-GPC", "1"]]`): each pair read as a member.
                if let Some([name, value]) = name_value_pair(item) {
                    if let Some(name) = as_str(name) {
                        member(&name, value, place, out, depth + 1);
                        continue;
                    }
                }
                // A list of `{"name": …, "value": …}` objects (custom
                // attributes, OpenRTB's `data[].segment[]`, key/value
                // tags): each read as the member it names, and walked.
                if let Some([name, value]) = named_value_object(item) {
                    if let Some(name) = as_str(name) {
                        member(&name, value, place, out, depth + 1);
                    }
                }
                walk_at(item, place, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// `item` when it is an array of two, the first a string: a name and its
/// value.
fn name_value_pair(item: Raw<'_>) -> Option<[Raw<'_>; 2]> {
    if kind_of(item) != JsonKind::Array {
        return None;
    }
    let pair: [Raw<'_>; 2] = crate::json::array_items(item)?.try_into().ok()?;
    (kind_of(pair[0]) == JsonKind::String).then_some(pair)
}

/// `item` when it is an object naming a value: a string member `name`,
/// `key`, `attribute`, `field` or `trait`, and a member `value` or `val`.
fn named_value_object(item: Raw<'_>) -> Option<[Raw<'_>; 2]> {
    if kind_of(item) != JsonKind::Object {
        return None;
    }
    let members = crate::json::object_members(item)?;
    let find = |names: &[&str]| {
        members
            .iter()
            .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .map(|(_, v)| *v)
    };
    let name = find(&["name", "key", "attribute", "field", "trait"])?;
    let value = find(&["value", "val"])?;
    (kind_of(name) == JsonKind::String).then_some([name, value])
}

/// One member `key: v` of a block adgate walks, in a block about `place`:
/// recognized, named like a signal or classifying the person (in a block
/// about the person), or looked into (a [`person_block`] inside it is
/// about the person).
pub fn member<'a>(
    key: &str,
    v: Raw<'a>,
    place: Place,
    out: &mut Vec<(OtherSignal, Raw<'a>)>,
    depth: usize,
) {
    let name = NameReading::remembered(key, place);
    if name.says_nothing {
        return;
    }
    let person = place == Place::Person;
    let kind = kind_of(v);
    // A `cookies` object is walked (its `OptanonConsent` member is read by
    // name); so is an object under a name that is a flag only when it
    // holds one (`personalization: {"theme": "dark"}` is a setting).
    let container = matches!(kind, JsonKind::Object | JsonKind::Array);
    if let Some(s) = name.recognized.filter(|s| {
        (!matches!(s, OtherSignal::Cookies | OtherSignal::Headers) || kind == JsonKind::String)
            && !(container && name.flag_only)
    }) {
        out.push((s, v));
    } else if person && name.names_a_signal {
        out.push((OtherSignal::SignalName, v));
    } else if place == Place::ConsentTool
        && !matches!(kind, JsonKind::Object | JsonKind::Array)
        && name.names_a_signal
    {
        out.push((OtherSignal::ConsentAnswer, v));
    } else if place == Place::ConsentTool
        && matches!(kind, JsonKind::Object | JsonKind::Array)
        && purposes_name(key)
    {
        out.push((OtherSignal::Purposes, v));
    } else if person && kind == JsonKind::Array && name.classifies_person {
        // A list of the person's segments or roles (`segments: ["kids"]`):
        // each string read as one.
        for item in crate::json::array_items(v).unwrap_or_default() {
            if kind_of(item) == JsonKind::String {
                out.push((OtherSignal::PersonType, item));
            }
        }
        walk_at(v, place, out, depth + 1);
    } else if matches!(kind, JsonKind::Object | JsonKind::Array) {
        let inner = if name.person_block {
            Place::Person
        } else if place != Place::Person && name.consent_block {
            Place::ConsentTool
        } else {
            place
        };
        walk_at(v, inner, out, depth + 1);
    } else if person && kind == JsonKind::String && name.classifies_person {
        out.push((OtherSignal::PersonType, v));
    } else if !person && name.consent_block && name.consent_answer {
        // A consent tool's answer as one string (OneTrust's
        // `OptanonConsent: "groups=C0001:1,C0004:0"`).
        out.push((OtherSignal::SignalName, v));
    }
}

/// What [`member`] reads in a member's name, in a block about a place: a
/// function of the two alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameReading {
    says_nothing: bool,
    recognized: Option<OtherSignal>,
    names_a_signal: bool,
    person_block: bool,
    consent_block: bool,
    classifies_person: bool,
    consent_answer: bool,
    /// A name that is a signal only when its value is a flag
    /// (`personalization`, `opt_in`): an object under it is walked.
    flag_only: bool,
}

impl NameReading {
    fn of(key: &str, place: Place) -> NameReading {
        NameReading {
            says_nothing: says_nothing(key),
            recognized: recognize_in(key, place),
            names_a_signal: names_a_signal(key),
            person_block: person_block(key),
            consent_block: consent_block(key),
            classifies_person: classifies_person(key),
            consent_answer: consent_answer(key),
            flag_only: fold_name(key).is_some_and(|(b, n)| {
                matches!(
                    &b[..n],
                    b"personalization"
                        | b"personalisation"
                        | b"optin"
                        | b"optedin"
                        | b"isoptedin"
                        | b"adsoptin"
                        | b"advertisingoptin"
                )
            }),
        }
    }

    /// [`NameReading::of`], remembered per thread and place: an event's
    /// member names are nearly all the names of the events before it (one
    /// producer's schema), and each name was folded and looked up in
    /// several word tables for every event (~5 % of ingest).
    fn remembered(key: &str, place: Place) -> NameReading {
        use crate::policy::guard::{self, StrCache};
        thread_local! {
            static CONTENT: StrCache<NameReading> = StrCache::default();
            static OTHER: StrCache<NameReading> = StrCache::default();
            static PERSON: StrCache<NameReading> = StrCache::default();
            static CONSENT_TOOL: StrCache<NameReading> = StrCache::default();
        }
        let cache = match place {
            Place::Content => &CONTENT,
            Place::Other => &OTHER,
            Place::Person => &PERSON,
            Place::ConsentTool => &CONSENT_TOOL,
        };
        guard::cached(
            cache,
            key,
            (guard::NAME_CACHE_MAX_BYTES, guard::NAME_CACHE_ENTRIES),
            |_| true,
            |k| NameReading::of(k, place),
            |_| true,
            |r| *r,
        )
    }
}

/// A top-level member of the event that the event format does not name:
/// read as [`member`] reads one in a block about `place`, and refused
/// when its own name is a signal's (`consent_state`, `gdpr`).
pub fn top_member<'a>(key: &str, v: Raw<'a>, place: Place, out: &mut Vec<(OtherSignal, Raw<'a>)>) {
    let name = NameReading::remembered(key, Place::Other);
    if name.recognized.is_none() && name.names_a_signal {
        out.push((OtherSignal::SignalName, v));
    } else {
        let place = if name.person_block {
            Place::Person
        } else {
            place
        };
        member(key, v, place, out, 0);
    }
}

/// Does the member name hold one of [`TYPE_WORDS`]?
fn classifies_person(key: &str) -> bool {
    let form = name_form(key);
    any_name_word(&form, |w| TYPE_WORDS.contains(&w))
}

/// The member name `key` as [`lookup`] reads it: lowercase ASCII letters
/// and digits, without `_`, `-`, `.` or blanks, after [`canon::word_form`]
/// for anything but plain ASCII (`ＩｓＭｉｎｏｒ`, `is\u{200b}_minor`);
/// `None` when it holds anything else or is longer than any known name.
/// A plain ASCII key is folded without allocating.
fn fold_name(key: &str) -> Option<([u8; LONGEST], usize)> {
    let mut buf = [0u8; LONGEST];
    let mut n = 0;
    let mut push = |c: u8| {
        if n == LONGEST {
            return false;
        }
        buf[n] = c.to_ascii_lowercase();
        n += 1;
        true
    };
    // Plain ASCII, the path of nearly every member: bytes, no decoding.
    if key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b' '))
    {
        for b in key.bytes().filter(u8::is_ascii_alphanumeric) {
            if !push(b) {
                return None;
            }
        }
    } else {
        let form: Cow<'_, str> = if key.is_ascii() && !key.contains(['%', '&', '\\']) {
            Cow::Borrowed(key)
        } else {
            canon::word_form(key)
        };
        for c in form.chars() {
            if matches!(c, '_' | '-' | '.' | ' ') || canon::is_blank(c) {
                continue;
            }
            if !c.is_ascii_alphanumeric() || !push(c as u8) {
                return None;
            }
        }
    }
    Some((buf, n))
}

/// What the member named `key` says, if it is one of [`lookup`]'s names in
/// any case, with any separators, or in another Unicode form.
pub fn recognize(key: &str) -> Option<OtherSignal> {
    let (buf, n) = fold_name(key)?;
    lookup(&buf[..n])
}

/// [`recognize`], for a member of a block about the person (`user`,
/// `consent`, OpenRTB's `regs`/`device`), about content (`context`,
/// `app`, `ad`), or another block (`properties`, `items`): in content a
/// bare `minor`, `child`, `kid`, `teen`, `adult`, `age` or `birth_date`
/// describes the content or a version (`"adult": false` is not adult
/// content, `"version": {"minor": 1}`, a page's `age`), not the person; and
/// the age and birth names of other languages and shorthand (`edad`,
/// `alter`, `eta`, `years`, `u13`) are read in blocks about the person
/// only, since elsewhere they name a warranty's years, a delivery's ETA,
/// an alteration service or a size.
fn recognize_in(key: &str, place: Place) -> Option<OtherSignal> {
    let Some((buf, n)) = fold_name(key) else {
        return (place == Place::Person)
            .then(|| other_script_name(key))
            .flatten();
    };
    let name = &buf[..n];
    let bare = matches!(
        name,
        b"minor" | b"child" | b"kid" | b"teen" | b"adult" | b"isadult" | b"age" | b"birthdate"
    );
    let other_tongue = matches!(
        name,
        b"edad"
            | b"alter"
            | b"idade"
            | b"eta"
            | b"leeftijd"
            | b"wiek"
            | b"years"
            | b"yrs"
            | b"bday"
            | b"fechanacimiento"
            | b"fechadenacimiento"
            | b"geburtsdatum"
            | b"geburtstag"
            | b"datenaissance"
            | b"datedenaissance"
            | b"datanascimento"
            | b"datadenascimento"
            | b"datadinascita"
            | b"geboortedatum"
            | b"dataurodzenia"
            | b"u13"
            | b"u16"
            | b"u18"
            | b"alder"
            | b"ika"
            | b"yas"
            | b"vek"
            | b"varsta"
            | b"eletkor"
            | b"umur"
            | b"usia"
            | b"edat"
            | b"starost"
            | b"vozrast"
            | b"fodselsdato"
            | b"fodselsdag"
            | b"fodelsedatum"
            | b"fodelsedag"
            | b"syntymaaika"
            | b"syntymapaiva"
            | b"dogumtarihi"
            | b"tanggallahir"
            | b"tarikhlahir"
            | b"datumrodjenja"
            | b"datumnarozeni"
            | b"szuletesidatum"
            | b"datadenaixement"
            | b"datarozhdeniya"
            | b"menor"
            | b"menordeedad"
            | b"minderjaehrig"
            | b"minderjahrig"
            | b"minderjarig"
            | b"mineur"
            | b"minorenne"
            | b"nino"
            | b"enfant"
            | b"jugendlich"
            | b"mindrearig"
            | b"minderarig"
            | b"alaikainen"
            | b"nezletily"
            | b"maloletni"
            | b"kiskoru"
    );
    if (bare && place == Place::Content) || (other_tongue && place != Place::Person) {
        return None;
    }
    match lookup(name) {
        // A product's grade, a school's name or year in an ad or a page
        // says nothing about the person.
        Some(
            OtherSignal::SchoolGrade
            | OtherSignal::GraduationYear
            | OtherSignal::SchoolName
            | OtherSignal::LifeStage
            | OtherSignal::Occupation,
        ) if place != Place::Person => None,
        None if place == Place::Person && guardian_name(key) => Some(OtherSignal::Guardian),
        found => found,
    }
}

/// Is `key` the name of a consent tool's TCF purposes (`purposes`,
/// `purpose_consents`, `consented_purposes`)?
fn purposes_name(key: &str) -> bool {
    fold_name(key).is_some_and(|(b, n)| {
        matches!(
            &b[..n],
            b"purposes"
                | b"purpose"
                | b"purposeconsents"
                | b"purposeconsent"
                | b"consentedpurposes"
                | b"purposesconsent"
                | b"purposesconsented"
                | b"tcfpurposes"
        )
    })
}

/// The verdict of a consent tool's TCF purposes ([`OtherSignal::Purposes`]).
fn purposes(raw: Raw<'_>) -> Option<Verdict> {
    const REFUSED: Verdict = Verdict::OptedOut(
        "a consent tool refuses TCF purpose 1, 3 or 4 (storage, personalized ads profile or selection)",
    );
    const NEEDED: [&str; 3] = ["1", "3", "4"];
    match kind_of(raw) {
        JsonKind::Object => {
            let members = crate::json::object_members(raw).unwrap_or_default();
            for (k, v) in &members {
                let k = k.trim();
                // Didomi's `{"disabled": ["select_personalized_ads"]}`:
                // the purposes refused, by name or number.
                if ["disabled", "denied", "rejected", "refused", "declined"]
                    .iter()
                    .any(|r| k.eq_ignore_ascii_case(r))
                {
                    let items = crate::json::array_items(*v).unwrap_or_default();
                    let refuses_ads = items.iter().any(|i| {
                        let t = match kind_of(*i) {
                            JsonKind::Number => i.get().to_string(),
                            _ => as_str(*i).unwrap_or_default().to_lowercase(),
                        };
                        NEEDED.contains(&t.trim())
                            || any_name_word(&t, |w| {
                                matches!(
                                    w,
                                    "ad" | "ads"
                                        | "advertising"
                                        | "personalized"
                                        | "personalised"
                                        | "personalization"
                                        | "personalisation"
                                        | "marketing"
                                        | "targeting"
                                        | "cookies"
                                )
                            })
                    });
                    if refuses_ads {
                        return Some(REFUSED);
                    }
                    continue;
                }
                if !NEEDED.contains(&k) {
                    continue;
                }
                match flag(*v) {
                    Ok(false) => return Some(REFUSED),
                    Ok(true) => {}
                    Err(()) => {
                        return Some(Verdict::Unreadable(
                            "a consent tool's TCF purpose is not a boolean",
                        ))
                    }
                }
            }
            None
        }
        JsonKind::Array => {
            let items = crate::json::array_items(raw).unwrap_or_default();
            let listed: Vec<String> = items
                .iter()
                .filter_map(|i| match kind_of(*i) {
                    JsonKind::Number => Some(i.get().to_string()),
                    JsonKind::String => as_str(*i).map(|s| s.trim().to_string()),
                    _ => None,
                })
                .collect();
            // A list of the purposes consented to; one of other things
            // (objects, names) is read by their names.
            if listed.len() != items.len() {
                return None;
            }
            (!NEEDED.iter().all(|p| listed.iter().any(|l| l == p))).then_some(REFUSED)
        }
        _ => None,
    }
}

/// Does the member name speak of the person's parent or guardian and of
/// their contact or consent (`parent_email`, `guardianPhone`,
/// `parental_consent`, `legal_guardian`)? Not a hierarchy's
/// `parent_id`, nor a `parental_consent_required` that may be false.
fn guardian_name(key: &str) -> bool {
    const WHO: &[&str] = &["parent", "parents", "parental", "guardian", "guardians"];
    const WHAT: &[&str] = &[
        "email",
        "mail",
        "phone",
        "mobile",
        "name",
        "consent",
        "contact",
        "approval",
        "approved",
        "verified",
        "signature",
        "address",
    ];
    const NOT: &[&str] = &[
        "required", "needed", "requires", "id", "account", "category",
    ];
    let form = name_form(key);
    if any_name_word(&form, |w| NOT.contains(&w)) || !any_name_word(&form, |w| WHO.contains(&w)) {
        return false;
    }
    let whole = fold_name(key);
    let alone = whole.is_some_and(|(b, n)| {
        matches!(
            &b[..n],
            b"guardian" | b"guardians" | b"legalguardian" | b"parentguardian"
        )
    });
    alone || any_name_word(&form, |w| WHAT.contains(&w))
}

/// Children's words in a value classifying the person or the content's
/// audience (`kids_club`, `Teen Members`): read word by word.
const CHILD_WORDS: &[&str] = &[
    "child",
    "children",
    "kid",
    "kids",
    "minor",
    "minors",
    "teen",
    "teens",
    "teenager",
    "teenagers",
    "tween",
    "tweens",
    "preteen",
    "preteens",
    "underage",
    "youth",
    "toddler",
    "toddlers",
    "pupil",
    "pupils",
    "schoolchild",
    "schoolchildren",
    "schoolkid",
    "schoolkids",
    "coppa",
    "u13",
    "u16",
    "u18",
];

/// Words that make such a value about an adult with children or about
/// what is bought for them (`parents_of_kids`, `kids_toys_buyers`).
const ADULT_CONTEXT: &[&str] = &[
    "parent",
    "parents",
    "parenting",
    "mom",
    "moms",
    "mum",
    "mums",
    "dad",
    "dads",
    "mother",
    "mothers",
    "father",
    "fathers",
    "guardian",
    "guardians",
    "grandparent",
    "grandparents",
    "with",
    "has",
    "have",
    "having",
    "of",
    "for",
    "buyer",
    "buyers",
    "shopper",
    "shoppers",
    "shopping",
    "clothing",
    "apparel",
    "toys",
    "toy",
    "gifts",
    "gift",
    "books",
    "furniture",
    "free",
    "no",
    "non",
    "not",
    "adult",
    "adults",
];

/// Whole values (letters and digits, lowercase) that name a child.
const CHILD_VALUES: &[&str] = &[
    "generationalpha",
    "genalpha",
    "junior",
    "juniors",
    "childaccount",
    "kidsaccount",
    "kidsprofile",
    "childprofile",
    "teenaccount",
    "supervised",
    "under13",
    "under16",
    "under18",
    "u13",
    "u16",
    "u18",
    "kinder",
    "k12",
    "k12student",
    "kidsmode",
    "childdirected",
];

/// Words of a school's name that make it a children's school.
const CHILD_SCHOOLS: &[&str] = &[
    "elementary",
    "primary",
    "middle",
    "intermediate",
    "kindergarten",
    "preschool",
    "nursery",
    "grundschule",
    "ecole",
    "k8",
    "prek",
    "montessori",
];

/// Does a value classifying the person or the content's audience name a
/// child? A string is read item by item (`"vip, kids"`); an item
/// `name:value` or `name=value` (a tag: `"age:12"`, `"is_minor=true"`) is
/// read as the member it names; any other names a child when it is one
/// of [`CHILD_VALUES`], or holds one of [`CHILD_WORDS`] and none of
/// [`ADULT_CONTEXT`]. An array is read string by string.
fn person_type(raw: Raw<'_>, event_year: i64, minor_age: u64) -> Option<Verdict> {
    const NAMES_A_CHILD: Verdict =
        Verdict::Minor("a member classifying the person or the content's audience names a child");
    match kind_of(raw) {
        JsonKind::Array => crate::json::array_items(raw)
            .unwrap_or_default()
            .into_iter()
            .filter(|item| kind_of(*item) == JsonKind::String)
            .find_map(|item| person_type(item, event_year, minor_age)),
        JsonKind::String => {
            let text = as_str(raw).unwrap_or_default();
            let text = canon::word_form(&text).into_owned();
            for item in text.split([',', ';', '|']) {
                if let Some(v) = tag_verdict(item, event_year, minor_age) {
                    return Some(v);
                }
                let folded = letters_and_digits(item);
                let child = CHILD_VALUES.contains(&folded.as_str())
                    || (any_name_word(item, |w| CHILD_WORDS.contains(&w))
                        && !any_name_word(item, |w| ADULT_CONTEXT.contains(&w)));
                if child {
                    return Some(NAMES_A_CHILD);
                }
            }
            None
        }
        _ => None,
    }
}

/// A tag `name:value` or `name=value` whose name is a signal's (read as
/// in a block about the person): that member's verdict.
fn tag_verdict(item: &str, event_year: i64, minor_age: u64) -> Option<Verdict> {
    let (name, value) = item.split_once([':', '='])?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || name.len() > LONGEST {
        return None;
    }
    let signal = recognize_in(name, Place::Person).filter(|s| {
        !matches!(
            s,
            OtherSignal::PersonType
                | OtherSignal::Cookies
                | OtherSignal::ConsentString
                | OtherSignal::Headers
        )
    })?;
    let plain = matches!(value, "true" | "false" | "null")
        || (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) && value.len() < 16);
    let text = if plain {
        value.to_string()
    } else {
        serde_json::to_string(value).ok()?
    };
    let raw = Raw::parse(&text).ok()?;
    verdict(signal, raw, event_year, minor_age)
}

/// Does `raw` name a pupil (`student`, `pupil`, `schoolchild`) of a school
/// for children: `"high school student"`, `"middle school pupil"`, a
/// kindergarten's (not `"elementary education student"`, a college's)?
fn pupil_of_a_school(raw: Raw<'_>) -> bool {
    let text = canon::word_form(&as_str(raw).unwrap_or_default()).to_lowercase();
    let pupil = any_name_word(&text, |w| {
        matches!(
            w,
            "student" | "students" | "pupil" | "pupils" | "schoolchild" | "schoolkid"
        )
    });
    let school = [
        "high school",
        "highschool",
        "middle school",
        "junior high",
        "elementary school",
        "primary school",
        "grade school",
        "kindergarten",
        "preschool",
    ]
    .iter()
    .any(|k| text.contains(k));
    pupil && school
}

/// Does a school grade read as 12th grade or below, or a kindergarten?
/// (`7`, `"7th grade"`, `"Grade 7"`, `"K"`, `"kindergarten"`, `"year 9"`)
fn school_grade(raw: Raw<'_>) -> bool {
    let text = match kind_of(raw) {
        JsonKind::Number => raw.get().to_string(),
        JsonKind::String => canon::word_form(as_str(raw).unwrap_or_default().trim()).to_lowercase(),
        _ => return false,
    };
    if matches!(text.as_str(), "k" | "pk" | "tk" | "prek" | "pre-k") {
        return true;
    }
    if any_name_word(&text, |w| {
        matches!(
            w,
            "kindergarten" | "preschool" | "elementary" | "primary" | "middle" | "grade"
        )
    }) && !any_name_word(&text, |w| {
        matches!(w, "a" | "b" | "c" | "d" | "f" | "premium")
    }) {
        let number = text
            .split(|c: char| !c.is_ascii_digit())
            .find(|r| !r.is_empty())
            .and_then(|r| r.parse::<u32>().ok());
        return number.is_none_or(|n| n <= 12);
    }
    // A bare number or an ordinal (`7`, `"7th"`, `"year 9"`).
    let rest = text
        .strip_prefix("year")
        .or_else(|| text.strip_prefix("yr"))
        .unwrap_or(&text)
        .trim();
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if digits_end == 0 || digits_end > 2 {
        return false;
    }
    let suffix = rest[digits_end..].trim();
    matches!(suffix, "" | "th" | "st" | "nd" | "rd")
        && rest[..digits_end].parse::<u32>().is_ok_and(|n| n <= 12)
}

/// Age, birth-date and minor names in scripts other than Latin
/// (`возраст`, `年齢`, `생년월일`, `未成年`), lowercase and without
/// separators: read in blocks about the person only, like
/// [`recognize_in`]'s other-language names.
const OTHER_SCRIPT_NAMES: &[(&str, OtherSignal)] = &[
    ("возраст", OtherSignal::Age),
    ("вік", OtherSignal::Age),
    ("ηλικία", OtherSignal::Age),
    ("ηλικια", OtherSignal::Age),
    ("年齢", OtherSignal::Age),
    ("年龄", OtherSignal::Age),
    ("年齡", OtherSignal::Age),
    ("나이", OtherSignal::Age),
    ("연령", OtherSignal::Age),
    ("العمر", OtherSignal::Age),
    ("عمر", OtherSignal::Age),
    ("גיל", OtherSignal::Age),
    ("आयु", OtherSignal::Age),
    ("उम्र", OtherSignal::Age),
    ("อายุ", OtherSignal::Age),
    ("датарождения", OtherSignal::BirthYear),
    ("датанародження", OtherSignal::BirthYear),
    ("ημερομηνίαγέννησης", OtherSignal::BirthYear),
    ("生年月日", OtherSignal::BirthYear),
    ("誕生日", OtherSignal::BirthYear),
    ("出生日期", OtherSignal::BirthYear),
    ("生日", OtherSignal::BirthYear),
    ("생년월일", OtherSignal::BirthYear),
    ("생일", OtherSignal::BirthYear),
    ("تاريخالميلاد", OtherSignal::BirthYear),
    ("תאריךלידה", OtherSignal::BirthYear),
    ("जन्मतिथि", OtherSignal::BirthYear),
    ("วันเกิด", OtherSignal::BirthYear),
    ("未成年", OtherSignal::MinorFlag),
    ("未成年者", OtherSignal::MinorFlag),
    ("미성년자", OtherSignal::MinorFlag),
    ("미성년", OtherSignal::MinorFlag),
    ("несовершеннолетний", OtherSignal::MinorFlag),
    ("неповнолітній", OtherSignal::MinorFlag),
    ("ανήλικος", OtherSignal::MinorFlag),
    ("قاصر", OtherSignal::MinorFlag),
];

/// [`OTHER_SCRIPT_NAMES`]' signal for `key`, written in any case and with
/// any separators.
fn other_script_name(key: &str) -> Option<OtherSignal> {
    if key.is_ascii() {
        return None;
    }
    let form: String = canon::canonical(key)
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' ') && !canon::is_blank(*c))
        .flat_map(char::to_lowercase)
        .collect();
    OTHER_SCRIPT_NAMES
        .iter()
        .find(|(n, _)| *n == form)
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
pub(crate) fn flag(raw: Raw<'_>) -> Result<bool, ()> {
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

/// The verdict of a flag: `stops` when it reads `when` (a `null` reads as
/// not set, so it never stops an adult flag), unreadable with `unreadable`
/// when it is not a flag ([`flag`]).
fn on_flag(raw: Raw<'_>, when: bool, stops: Verdict, unreadable: &'static str) -> Option<Verdict> {
    match flag(raw) {
        Ok(v) if v == when && (when || kind_of(raw) != JsonKind::Null) => Some(stops),
        Ok(_) => None,
        Err(()) => Some(Verdict::Unreadable(unreadable)),
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
/// as one. Only these forms are read: `N-M` (any dash, `to`, optional
/// `years`), `N+`, `N and over` (`older`, `up`, `above`), `over N`, and
/// `adult`; a range written from below (`-18`, `<18`, `U18`, `under 18`,
/// `unter 18`, `moins de 18`, `menos de 18`, `18歳未満`, `not yet 18`,
/// `pre-18`), one in months, or one that names minors (`teen`, `kids`) is
/// 0. Anything else is unreadable.
fn range_floor(raw: Raw<'_>) -> Option<i64> {
    if kind_of(raw) != JsonKind::String {
        return None;
    }
    let s = as_str(raw)?;
    let text = canon::word_form(s.trim()).to_lowercase();
    // Google Play's target age groups say `Ages 6-8`, `Ages 18 and over`.
    let t = text.trim();
    let t = t
        .strip_prefix("ages")
        .or_else(|| t.strip_prefix("age"))
        .unwrap_or(t)
        .trim();
    const YOUNG: &[&str] = &[
        "under", "below", "less", "<", "≤", "younger", "minor", "child", "kid", "teen", "junior",
        "youth", "unter", "moins", "menos", "meno", "未満", "以下", "month", "mo.", "not yet",
        "pre", "infant", "baby", "toddler",
    ];
    if YOUNG.iter().any(|w| t.contains(w)) || t.starts_with(['-', '–', '—', 'u']) {
        return Some(0);
    }
    if matches!(t, "adult" | "adults") {
        return Some(18);
    }
    // The leading number, then what follows it.
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits_end == 0 {
        let rest = t
            .strip_prefix("over")
            .or_else(|| t.strip_prefix("above"))
            .or_else(|| t.strip_prefix('>'))?
            .trim();
        return (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
            .then(|| rest.parse::<i64>().ok().map(|n| n + 1))?;
    }
    let n: i64 = t[..digits_end].parse().ok()?;
    let rest = t[digits_end..].trim();
    let rest = rest
        .strip_suffix("years")
        .or_else(|| rest.strip_suffix("yrs"))
        .or_else(|| rest.strip_suffix("y"))
        .unwrap_or(rest)
        .trim();
    if rest.is_empty() || rest == "+" {
        return Some(n);
    }
    if matches!(
        rest,
        "and over" | "and older" | "and up" | "and above" | "or over" | "or older" | "or more"
    ) {
        return Some(n);
    }
    let upper = rest
        .strip_prefix(['-', '–', '—', '~'])
        .or_else(|| rest.strip_prefix("to"))?
        .trim();
    let upper = upper
        .strip_suffix("years")
        .or_else(|| upper.strip_suffix("yrs"))
        .unwrap_or(upper)
        .trim();
    let m: i64 = upper.parse().ok()?;
    (m >= n).then_some(n)
}

/// A string value's letters and digits, lowercase, after
/// [`canon::word_form`] (`"Not Determined"` is `notdetermined`); empty for
/// anything but a string.
fn folded_value(raw: Raw<'_>) -> String {
    let s = as_str(raw).unwrap_or_default();
    letters_and_digits(&canon::word_form(s.trim()))
}

/// `text`'s letters and digits, lowercase (of a [`canon::word_form`]).
fn letters_and_digits(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// OneTrust's `OptanonConsent` cookie value: its `groups=` list says
/// whether the targeting group C0004 is allowed (percent-encoded as a
/// cookie string carries it, or decoded).
fn onetrust(text: &str) -> Option<Verdict> {
    let text = canon::percent_decode(text).map_or(Cow::Borrowed(text), Cow::Owned);
    let groups = text
        .split('&')
        .find_map(|p| p.trim().strip_prefix("groups="))
        .unwrap_or("");
    let targeting = groups
        .split(',')
        .find_map(|g| g.trim().strip_prefix("C0004:"))
        .map(str::trim);
    match targeting {
        Some("1") => None,
        Some("0") => Some(Verdict::OptedOut(
            "OneTrust's OptanonConsent refuses the targeting group (C0004)",
        )),
        _ => Some(Verdict::Unreadable(
            "OneTrust's OptanonConsent does not say whether the targeting group (C0004) is allowed",
        )),
    }
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
    // GA4's user properties wrap a value: `{"value": 12}`.
    let raw = match kind_of(raw) {
        JsonKind::Object => crate::json::object_members(raw)
            .and_then(|m| m.iter().find(|(k, _)| k == "value").map(|(_, v)| *v))
            .unwrap_or(raw),
        _ => raw,
    };
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
        OtherSignal::MinorFlag => on_flag(raw, true, Verdict::Minor("a minor flag in user or consent is set"), "a minor flag in user or consent is not a boolean"),
        OtherSignal::AdultFlag => on_flag(raw, false, Verdict::Minor("an adult flag in user or consent is false"), "an adult flag in user or consent is not a boolean"),
        OtherSignal::LimitAdTracking => on_flag(raw, true, Verdict::OptedOut("a Limit Ad Tracking flag in user or consent is set"), "a Limit Ad Tracking flag in user or consent is not a boolean"),
        OtherSignal::DoNotSell => on_flag(raw, true, Verdict::OptedOut("a do-not-sell or opt-out flag in user or consent is set"), "a do-not-sell or opt-out flag in user or consent is not a boolean"),
        OtherSignal::DoNotTrack => on_flag(raw, true, Verdict::OptedOut("a Do Not Track flag in user or consent is set"), "a Do Not Track flag in user or consent is not a boolean"),
        OtherSignal::AllowFlag => on_flag(raw, false, Verdict::OptedOut("a flag allowing personalized ads or tracking is false"), "a flag allowing personalized ads or tracking is not a boolean"),
        OtherSignal::Lat => flag(raw).ok().filter(|set| *set).map(|_| {
            Verdict::OptedOut("a Limit Ad Tracking flag (lat) in user or consent is set")
        }),
        OtherSignal::Age => match crate::event::as_decimal_or_text(raw) {
            Some(a) if a.negative || a.is_above(150) => Some(Verdict::Unreadable(
                "an age under another name is negative or above 150",
            )),
            Some(a) if a.is_below(minor_age as u64) => Some(Verdict::Minor(
                "an age under another name is below privacy.minor_age",
            )),
            Some(_) => None,
            None if kind_of(raw) == JsonKind::Null => None,
            None => Some(Verdict::Unreadable(
                "an age under another name is not a number",
            )),
        },
        OtherSignal::DataProcessingOptions => {
            let items: Vec<Raw<'_>> = match kind_of(raw) {
                JsonKind::Array => crate::json::array_items(raw).unwrap_or_default(),
                JsonKind::Null => Vec::new(),
                _ => vec![raw],
            };
            let mut refused = false;
            for item in items {
                match as_str(item) {
                    Some(t) if t.trim().eq_ignore_ascii_case("ldu") => refused = true,
                    Some(t) if t.trim().is_empty() => {}
                    _ => {
                        return Some(Verdict::Unreadable(
                            "data processing options hold something other than \"LDU\"",
                        ))
                    }
                }
            }
            refused.then_some(Verdict::OptedOut(
                "data processing options ask for Limited Data Use (LDU)",
            ))
        }
        OtherSignal::UsPrivacy => match kind_of(raw) {
            JsonKind::Null => None,
            JsonKind::String => {
                let s = as_str(raw).unwrap_or_default();
                match crate::consent::us_privacy_opts_out(&s) {
                    Some(true) => Some(Verdict::OptedOut(
                        "a US Privacy string outside consent opts out of sale",
                    )),
                    Some(false) => None,
                    None => Some(Verdict::Unreadable(
                        "a US Privacy string outside consent does not read as one",
                    )),
                }
            }
            _ => Some(Verdict::Unreadable(
                "a US Privacy member outside consent is not a US Privacy string",
            )),
        },
        OtherSignal::ConsentString => (kind_of(raw) != JsonKind::Null).then_some(Verdict::Unreadable(
            "a TC, GPP or consent string outside consent: adgate reads them only as consent.tcf and consent.gpp",
        )),
        OtherSignal::UnknownConsent => (kind_of(raw) != JsonKind::Null).then_some(Verdict::Unreadable(
            "consent has a member adgate does not read: it could be a refusal (docs/policy.md lists the members read)",
        )),
        OtherSignal::SignalName => (kind_of(raw) != JsonKind::Null).then_some(Verdict::Unreadable(
            "a member named like a minor or opt-out signal that adgate does not read",
        )),
        OtherSignal::Headers => {
            let text = as_str(raw)?;
            text.lines().find_map(|line| {
                let line = line.trim_end_matches('\r');
                // A `Cookie:` line is read as a cookie string.
                match line.split_once(':') {
                    Some((name, value))
                        if recognize_in(name.trim(), Place::Person) == Some(OtherSignal::Cookies) =>
                    {
                        let value = serde_json::to_string(value.trim()).ok()?;
                        verdict(OtherSignal::Cookies, Raw::parse(&value).ok()?, event_year, minor_age as u64)
                    }
                    // Only the headers that carry a refusal (`Age: 0` is a
                    // cache's).
                    Some((name, _))
                        if matches!(
                            crate::canon::fold_alnum::<24>(name.trim()).as_deref(),
                            Some(b"secgpc" | b"dnt" | b"xdonottrack" | b"donottrack")
                        ) =>
                    {
                        tag_verdict(line, event_year, minor_age as u64)
                    }
                    _ => None,
                }
            })
        }
        OtherSignal::TooDeep => Some(Verdict::Unreadable(
            "a block nested deeper than the 32 levels adgate reads for minor and opt-out signals",
        )),
        OtherSignal::OneTrust => {
            let Some(text) = as_str(raw) else {
                return (kind_of(raw) != JsonKind::Null).then_some(Verdict::Unreadable(
                    "OneTrust's OptanonConsent is not a string",
                ));
            };
            onetrust(&text)
        }
        OtherSignal::Cookies => {
            let text = as_str(raw)?;
            text.split(';').find_map(|cookie| {
                let (name, value) = cookie.split_once('=')?;
                let name = name.trim();
                if name.eq_ignore_ascii_case("OptanonConsent") {
                    onetrust(value)
                } else if name.eq_ignore_ascii_case("usprivacy") || name.eq_ignore_ascii_case("us_privacy") {
                    (crate::consent::us_privacy_opts_out(value.trim()) == Some(true)).then_some(
                        Verdict::OptedOut("a usprivacy cookie in a cookie string opts out of sale"),
                    )
                } else if name.eq_ignore_ascii_case("__gpp") {
                    // The cookie a CMP keeps its GPP string in: a US
                    // section's opt-out (sale, sharing, targeted
                    // advertising) or a known child refuses, as in
                    // `consent.gpp`; a value that does not decode is a
                    // cookie like any other.
                    crate::consent::cache::gpp(value.trim())
                        .ok()
                        .and_then(|g| crate::consent::gpp_verdict(&g, || false))
                        .map(|_| {
                            Verdict::OptedOut(
                                "a __gpp cookie in a cookie string refuses (a US section's opt-out or a known child)",
                            )
                        })
                } else {
                    None
                }
            })
        }
        OtherSignal::DeniedConsents => {
            let items: Vec<String> = match kind_of(raw) {
                JsonKind::Array => crate::json::array_items(raw)
                    .unwrap_or_default()
                    .into_iter()
                    .map(folded_value)
                    .collect(),
                JsonKind::String => as_str(raw)
                    .unwrap_or_default()
                    .split([',', ';', '|', ' '])
                    .map(|w| letters_and_digits(&canon::word_form(w)))
                    .collect(),
                _ => Vec::new(),
            };
            items
                .iter()
                .any(|i| {
                    matches!(
                        i.as_str(),
                        "c0004"
                            | "marketing"
                            | "advertising"
                            | "ads"
                            | "targeting"
                            | "personalization"
                            | "personalisation"
                            | "adstorage"
                            | "adpersonalization"
                            | "aduserdata"
                    )
                })
                .then_some(Verdict::OptedOut(
                    "a consent tool lists the advertising or targeting category as refused",
                ))
        }
        OtherSignal::ConsentAnswer => {
            let t = match kind_of(raw) {
                JsonKind::String => folded_value(raw),
                _ => raw.get().to_string(),
            };
            match t.as_str() {
                "" | "null" | "true" | "1" | "yes" | "y" | "on" | "granted" | "accepted" | "allow"
                | "allowed" | "optin" | "optedin" | "consented" | "enabled" | "given"
                | "agreed" | "accept" => None,
                "false" | "0" | "no" | "n" | "off" | "denied" | "rejected" | "deny" | "declined"
                | "optout" | "optedout" | "refused" | "revoked" | "withdrawn" | "disabled"
                | "blocked" | "disallowed" => Some(Verdict::OptedOut(
                    "a consent tool's answer refuses (marketing, advertising or personalization)",
                )),
                _ => Some(Verdict::Unreadable(
                    "a consent tool's answer adgate cannot read as granted or refused",
                )),
            }
        }
        OtherSignal::ConsentMode => match kind_of(raw) {
            JsonKind::Null => None,
            JsonKind::Bool if raw.get() == "true" => None,
            JsonKind::String
                if as_str(raw).is_some_and(|s| s.trim().eq_ignore_ascii_case("granted")) =>
            {
                None
            }
            _ => Some(Verdict::OptedOut(
                "a Consent Mode signal outside consent is not \"granted\"",
            )),
        },
        OtherSignal::PersonType => person_type(raw, event_year, minor_age as u64),
        OtherSignal::Purposes => purposes(raw),
        OtherSignal::AgeGate => {
            let t = folded_value(raw);
            let failed = matches!(
                t.as_str(),
                "failed" | "fail" | "underage" | "blocked" | "denied" | "rejected" | "minor"
            );
            let below = kind_of(raw) == JsonKind::String
                && range_floor(raw).is_some_and(|f| f < minor_age);
            (failed || below).then_some(Verdict::Minor(
                "an age gate's result says the person is below privacy.minor_age",
            ))
        }
        OtherSignal::Gcs => {
            let t = as_str(raw).unwrap_or_default();
            let t = t.trim();
            match t.strip_prefix("G1").map(|r| r.as_bytes()) {
                Some([b'0', _]) => Some(Verdict::OptedOut(
                    "Google's consent state (gcs) denies ad_storage",
                )),
                Some([b'1' | b'-', _]) => None,
                _ if kind_of(raw) == JsonKind::Null => None,
                _ => Some(Verdict::Unreadable(
                    "Google's consent state (gcs) does not read as G1 and two characters",
                )),
            }
        }
        OtherSignal::Gcd => {
            let t = as_str(raw).unwrap_or_default();
            let letters: Vec<u8> = t.trim().bytes().filter(u8::is_ascii_alphabetic).collect();
            let known = |c: &u8| b"lpqtrmnuv".contains(&c.to_ascii_lowercase());
            if kind_of(raw) == JsonKind::Null {
                None
            } else if letters.is_empty() || !letters.iter().all(known) {
                Some(Verdict::Unreadable(
                    "gtag's consent default string (gcd) does not read as its letters",
                ))
            } else {
                // ad_storage, ad_user_data, ad_personalization: the 1st,
                // 3rd and 4th letters.
                let denied = |i: usize| {
                    letters
                        .get(i)
                        .is_some_and(|c| b"pqmu".contains(&c.to_ascii_lowercase()))
                };
                (denied(0) || denied(2) || denied(3)).then_some(Verdict::OptedOut(
                    "gtag's consent default string (gcd) denies ad storage, ad user data or ad personalization",
                ))
            }
        }
        OtherSignal::Occupation => pupil_of_a_school(raw).then_some(Verdict::Minor(
            "the person's occupation is a pupil of a school for children",
        )),
        OtherSignal::LifeStage => {
            // A value naming a child (`teen`, `kid`) as a person type does.
            if let Some(v) = person_type(raw, event_year, minor_age as u64) {
                return Some(v);
            }
            let text = canon::word_form(&as_str(raw).unwrap_or_default()).to_lowercase();
            let text = text.trim();
            let school_kind = matches!(
                text,
                "high school"
                    | "highschool"
                    | "middle school"
                    | "junior high"
                    | "elementary school"
                    | "primary school"
                    | "kindergarten"
                    | "preschool"
                    | "k-12"
                    | "k12"
            );
            (pupil_of_a_school(raw) || school_kind).then_some(Verdict::Minor(
                "the person is a pupil of a school for children (life stage, occupation or school type)",
            ))
        }
        OtherSignal::SchoolGrade => school_grade(raw).then_some(Verdict::Minor(
            "a school grade in a block about the person is 12th grade or below",
        )),
        OtherSignal::GraduationYear => match year(raw) {
            Some(y) if y >= event_year + 5 => Some(Verdict::Minor(
                "the person graduates five or more years after the event: a minor",
            )),
            _ => None,
        },
        OtherSignal::SchoolName => {
            let text = canon::word_form(&as_str(raw).unwrap_or_default()).to_lowercase();
            let young = any_name_word(&text, |w| CHILD_SCHOOLS.contains(&w))
                || text.contains("junior high");
            young.then_some(Verdict::Minor(
                "the person's school is one for children (elementary, middle, kindergarten)",
            ))
        }
        OtherSignal::Guardian => {
            let empty = match kind_of(raw) {
                JsonKind::Null => true,
                JsonKind::String => as_str(raw).is_some_and(|t| t.trim().is_empty()),
                _ => false,
            };
            (!empty).then_some(Verdict::Minor(
                "a parent's or guardian's contact or consent is on the person's record",
            ))
        }
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
                    let t = folded_value(raw);
                    match t.as_str() {
                        // Android has no ATT prompt: nothing was refused.
                        "authorized" | "authorised" | "3" | "notapplicable" => None,
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

    #[test]
    fn a_remembered_name_is_read_for_its_place() {
        // `age` is an age in a block about the person, a content's rating
        // elsewhere: remembering the name keeps the two apart, in either
        // order.
        for order in [
            [Place::Content, Place::Person],
            [Place::Person, Place::Content],
        ] {
            for place in order {
                assert_eq!(
                    NameReading::remembered("age", place),
                    NameReading::of("age", place)
                );
            }
        }
        assert_eq!(
            NameReading::remembered("age", Place::Person).recognized,
            Some(OtherSignal::Age)
        );
        assert_eq!(
            NameReading::remembered("age", Place::Content).recognized,
            None
        );
        // Past the bound the memory is emptied, and still right.
        for i in 0..crate::policy::guard::NAME_CACHE_ENTRIES + 10 {
            let k = format!("member_{i}");
            assert_eq!(
                NameReading::remembered(&k, Place::Other),
                NameReading::of(&k, Place::Other)
            );
        }
        assert_eq!(
            NameReading::remembered("is_minor", Place::Person).recognized,
            NameReading::of("is_minor", Place::Person).recognized
        );
    }

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
        // The SPEC's names, read as signals wherever else they are found.
        for (k, want) in [
            ("age", OtherSignal::Age),
            ("birth_date", OtherSignal::BirthYear),
            ("personalized_ads", OtherSignal::AllowFlag),
            ("adUserData", OtherSignal::ConsentMode),
        ] {
            assert_eq!(recognize(k), Some(want), "{k:?}");
        }
        for k in [
            "email",
            "page_views",
            "latitude",
            "minority_report",
            "a_very_long_member_name_that_is_nothing_we_read",
        ] {
            assert_eq!(recognize(k), None, "{k:?}");
        }
    }

    #[test]
    fn bare_person_words_are_not_read_in_content_blocks() {
        for k in ["minor", "Adult", "ｍｉｎｏｒ", "is-adult", "kid"] {
            assert_eq!(recognize_in(k, Place::Content), None, "{k}");
            assert!(recognize_in(k, Place::Person).is_some(), "{k}");
        }
        assert_eq!(
            recognize_in("child_directed", Place::Content),
            Some(OtherSignal::MinorFlag)
        );
        // Other tongues' and shorthand age names: about the person only.
        for k in ["edad", "eta", "years", "u13", "Alter"] {
            assert_eq!(recognize_in(k, Place::Other), None, "{k}");
            assert!(recognize_in(k, Place::Person).is_some(), "{k}");
        }
    }

    #[test]
    fn a_consent_tools_tcf_purposes_are_read() {
        use Verdict::*;
        let mut out = Vec::new();
        let cmp = Raw::parse(r#"{"purposes": {"4": false}}"#).unwrap();
        walk(cmp, Place::ConsentTool, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, OtherSignal::Purposes);
        let p = |json| v(OtherSignal::Purposes, json);
        assert!(matches!(p(r#"{"4": false}"#), Some(OptedOut(_))));
        assert!(matches!(p(r#"{"1": "no", "4": true}"#), Some(OptedOut(_))));
        assert!(matches!(p(r#"{"3": "maybe"}"#), Some(Unreadable(_))));
        assert_eq!(p(r#"{"1": true, "3": true, "4": true, "7": false}"#), None);
        assert!(matches!(p("[1, 2, 7]"), Some(OptedOut(_))));
        assert_eq!(p(r#"[1, 2, 3, "4", 7]"#), None);
        assert_eq!(p(r#"[{"id": "x"}]"#), None);
        // Outside a consent tool's block a member named `purposes` is
        // nobody's answer.
        let mut out = Vec::new();
        walk(cmp, Place::Content, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn age_gates_google_consent_states_and_permissions_are_read() {
        use Verdict::*;
        for place in [Place::Content, Place::Other, Place::Person] {
            assert_eq!(recognize_in("age_gate", place), Some(OtherSignal::AgeGate));
            assert_eq!(recognize_in("gcs", place), Some(OtherSignal::Gcs));
            assert_eq!(recognize_in("opt_in", place), Some(OtherSignal::AllowFlag));
            assert_eq!(
                recognize_in("personalization", place),
                Some(OtherSignal::AllowFlag)
            );
        }
        for minor in ["\"under_13\"", "\"failed\"", "\"13-17\""] {
            assert!(
                matches!(v(OtherSignal::AgeGate, minor), Some(Minor(_))),
                "{minor}"
            );
        }
        for adult in ["\"passed\"", "\"18+\"", "true", "\"v2\""] {
            assert_eq!(v(OtherSignal::AgeGate, adult), None, "{adult}");
        }
        assert!(matches!(v(OtherSignal::Gcs, "\"G100\""), Some(OptedOut(_))));
        assert!(matches!(v(OtherSignal::Gcs, "\"G101\""), Some(OptedOut(_))));
        assert_eq!(v(OtherSignal::Gcs, "\"G111\""), None);
        assert_eq!(v(OtherSignal::Gcs, "\"G1--\""), None);
        assert!(matches!(v(OtherSignal::Gcs, "\"x\""), Some(Unreadable(_))));
        // gtag's consent default string: a letter per type, the ads ones
        // denied in the end (default or update) opt out.
        for denied in [
            "\"11p1p1p1p5\"",
            "\"13q3q3q2q5\"",
            "\"11m1m1m1m5\"",
            "\"11t1t1u1t5\"",
        ] {
            assert!(
                matches!(v(OtherSignal::Gcd, denied), Some(OptedOut(_))),
                "{denied}"
            );
        }
        for granted in ["\"11t1t1t1t5\"", "\"11r1p1r1v5\"", "\"11l1l1l1l5\"", "null"] {
            assert_eq!(v(OtherSignal::Gcd, granted), None, "{granted}");
        }
        assert!(matches!(
            v(OtherSignal::Gcd, "\"11z1z5\""),
            Some(Unreadable(_))
        ));
        // What the person is.
        for pupil in [
            "\"high school student\"",
            "\"Middle School Student\"",
            "\"high school\"",
            "\"K-12\"",
        ] {
            assert!(
                matches!(v(OtherSignal::LifeStage, pupil), Some(Minor(_))),
                "{pupil}"
            );
        }
        for adult in [
            "\"middle school teacher\"",
            "\"college student\"",
            "\"retired\"",
            "\"Lincoln High School alumni\"",
        ] {
            assert_eq!(v(OtherSignal::LifeStage, adult), None, "{adult}");
        }
        // An occupation: a pupil only, not a job about children.
        assert!(matches!(
            v(OtherSignal::Occupation, "\"middle school student\""),
            Some(Minor(_))
        ));
        for job in [
            "\"Youth Pastor\"",
            "\"Kids Tennis Coach\"",
            "\"Elementary education student\"",
            "\"teen librarian\"",
        ] {
            assert_eq!(v(OtherSignal::Occupation, job), None, "{job}");
        }
        // Captured headers: the consent ones only.
        assert!(matches!(
            v(OtherSignal::Headers, "\"Accept: */*\\r\\nSec-GPC: 1\""),
            Some(OptedOut(_))
        ));
        assert_eq!(v(OtherSignal::Headers, "\"Age: 0\\r\\nAccept: */*\""), None);
        // A version's minor is no person's; a student's major and minor are.
        let mut out = Vec::new();
        let version = Raw::parse(r#"{"version": {"major": 2, "minor": 13}}"#).unwrap();
        walk(version, Place::Other, &mut out);
        assert!(out.is_empty(), "{out:?}");
        let study = Raw::parse(r#"{"profile": {"major": "Biology", "minor": true}}"#).unwrap();
        walk(study, Place::Person, &mut out);
        assert_eq!(out.len(), 1);
        // A `permissions` block is a consent tool's: its `ads` is an answer,
        // its `camera` nothing.
        let mut out = Vec::new();
        let perms = Raw::parse(r#"{"permissions": {"ads": false, "camera": true}}"#).unwrap();
        walk(perms, Place::Content, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, OtherSignal::ConsentAnswer);
        // Didomi's refused purposes, by name.
        let p = |json| v(OtherSignal::Purposes, json);
        assert!(matches!(
            p(r#"{"disabled": ["cookies", "select_personalized_ads"]}"#),
            Some(OptedOut(_))
        ));
        assert_eq!(p(r#"{"enabled": ["cookies"], "disabled": []}"#), None);
        assert_eq!(p(r#"{"disabled": ["analytics"]}"#), None);
    }

    #[test]
    fn children_are_read_in_audiences_schools_guardians_and_tags() {
        use Verdict::*;
        let minor = |s, raw| matches!(v(s, raw), Some(Minor(_)));
        // The content's audience, in any block; a target age group.
        for place in [Place::Content, Place::Other, Place::Person] {
            assert_eq!(
                recognize_in("audience", place),
                Some(OtherSignal::PersonType)
            );
            assert_eq!(
                recognize_in("designed_for_families", place),
                Some(OtherSignal::MinorFlag)
            );
            assert_eq!(
                recognize_in("targetAgeGroup", place),
                Some(OtherSignal::AgeRange)
            );
        }
        assert!(minor(OtherSignal::PersonType, "\"kids\""));
        assert!(minor(OtherSignal::PersonType, "\"Children\""));
        assert!(minor(OtherSignal::PersonType, "[\"vip\", \"kids_club\"]"));
        assert!(minor(OtherSignal::PersonType, "\"Teen Members\""));
        for adult in [
            "\"adults 25-54\"",
            "\"parents_with_kids\"",
            "\"kids toys buyers\"",
            "[\"vip\", \"loyal\"]",
            "\"gold\"",
        ] {
            assert_eq!(v(OtherSignal::PersonType, adult), None, "{adult}");
        }
        assert!(minor(OtherSignal::AgeRange, "\"Ages 6-8\""));
        assert!(minor(OtherSignal::AgeRange, "\"Ages 5 & Under\""));
        assert_eq!(v(OtherSignal::AgeRange, "\"Ages 18 and over\""), None);
        // Tags that name a signal are read as that member.
        assert!(minor(OtherSignal::PersonType, "[\"age:12\", \"vip\"]"));
        assert!(minor(OtherSignal::PersonType, "\"vip,is_minor=true\""));
        assert_eq!(v(OtherSignal::PersonType, "[\"vip\", \"age:40\"]"), None);
        assert_eq!(recognize_in("tags", Place::Person), None);
        assert!(classifies_person("tags"));
        // School grades, graduation years and schools: about the person only.
        for name in ["grade_level", "school_name", "graduation_year", "class_of"] {
            assert!(recognize_in(name, Place::Person).is_some(), "{name}");
            assert_eq!(recognize_in(name, Place::Content), None, "{name}");
        }
        for grade in [
            "7",
            "\"7th grade\"",
            "\"Grade 3\"",
            "\"K\"",
            "\"kindergarten\"",
            "\"year 9\"",
        ] {
            assert!(minor(OtherSignal::SchoolGrade, grade), "{grade}");
        }
        for other in [
            "\"gold\"",
            "\"A\"",
            "\"grade A\"",
            "\"college\"",
            "13",
            "\"2025-2026\"",
        ] {
            assert_eq!(v(OtherSignal::SchoolGrade, other), None, "{other}");
        }
        // v reads the event as of 2026: five or more years on is a minor's.
        assert!(minor(OtherSignal::GraduationYear, "2032"));
        assert!(minor(OtherSignal::GraduationYear, "\"Class of 2031\""));
        assert_eq!(v(OtherSignal::GraduationYear, "2028"), None);
        assert_eq!(v(OtherSignal::GraduationYear, "2010"), None);
        assert!(minor(OtherSignal::SchoolName, "\"Lincoln Middle School\""));
        assert!(minor(OtherSignal::SchoolName, "\"Oak Elementary\""));
        assert_eq!(v(OtherSignal::SchoolName, "\"State University\""), None);
        // A parent's or guardian's contact on the person's record.
        for name in [
            "parent_email",
            "guardianPhone",
            "parental_consent",
            "legal_guardian",
        ] {
            assert_eq!(
                recognize_in(name, Place::Person),
                Some(OtherSignal::Guardian),
                "{name}"
            );
        }
        for name in ["parent_id", "parent_account", "parental_consent_required"] {
            assert_ne!(
                recognize_in(name, Place::Person),
                Some(OtherSignal::Guardian),
                "{name}"
            );
        }
        assert_eq!(recognize_in("parent_email", Place::Content), None);
        assert!(minor(OtherSignal::Guardian, "\"mom@example.org\""));
        assert!(minor(OtherSignal::Guardian, "false"));
        assert_eq!(v(OtherSignal::Guardian, "null"), None);
        assert_eq!(v(OtherSignal::Guardian, "\"  \""), None);
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
            "\"-18\"",
            "\"U-18\"",
            "\"unter 18\"",
            "\"moins de 18 ans\"",
            "\"menos de 18\"",
            "\"18歳未満\"",
            "\"not yet 18\"",
            "\"36-48 months\"",
            "\"pre-18\"",
            "\"13 to 17 years\"",
        ] {
            assert!(
                matches!(v(OtherSignal::AgeRange, minor), Some(Minor(_))),
                "{minor}"
            );
        }
        for adult in [
            "\"18-24\"",
            "\"25-34\"",
            "\"65+\"",
            "\"18+\"",
            "\"Adult\"",
            "\"18 and over\"",
            "\"over 17\"",
            "\"25 to 34 years\"",
        ] {
            assert_eq!(v(OtherSignal::AgeRange, adult), None, "{adult}");
        }
        for unreadable in ["3", "\"18 ish\"", "\"24-18\"", "\"senior\"", "\"18-\""] {
            assert!(
                matches!(v(OtherSignal::AgeRange, unreadable), Some(Unreadable(_))),
                "{unreadable}"
            );
        }

        // A US Privacy string outside consent reads as consent.us_privacy does.
        for sale_refused in ["\"1YYN\"", "\" 1nyy \"", "\"1-Y-\""] {
            assert!(
                matches!(v(OtherSignal::UsPrivacy, sale_refused), Some(OptedOut(_))),
                "{sale_refused}"
            );
        }
        for allowed in ["\"1YNN\"", "\"1---\"", "null"] {
            assert_eq!(v(OtherSignal::UsPrivacy, allowed), None, "{allowed}");
        }
        for unreadable in ["\"1XYZ\"", "\"2YNN\"", "\"1YN\"", "1", "\"\""] {
            assert!(
                matches!(v(OtherSignal::UsPrivacy, unreadable), Some(Unreadable(_))),
                "{unreadable}"
            );
        }

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
