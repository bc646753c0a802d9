#!/usr/bin/env python3
"""Writes the privacy corpora that tests/it/privacy_corpus.rs runs through
`adgate explain` and a served gateway:

- hostile.json: events that try to get personal data past the policy, one
  case per line, each with the exact event text (so duplicate keys, escapes
  and raw number spellings survive), its class, the strings that must not
  reach any partner ("must_not_leak") and, where the outcome is fixed, the
  expected outcome ("dropped", "rejected", "not_forwarded" = either,
  "field_omitted" with "omit_path"). Opt-out cases carry the opt-outs to
  post first ("optouts"; only a served gateway consults them). "people"
  holds every identifier the events carry and the hex unkeyed digests
  (SHA-256, SHA-1, MD5, SHA-512) of every normalization a partner could
  use, computed here with hashlib, independently of adgate's Rust code.
- benign.json: realistic events that must pass untouched: routed to every
  partner, every allow-listed field present and equal to the input.

Standard library only. Deterministic: run it again and the files are the
same. Usage: python3 tests/corpus/generate.py
"""

import base64
import hashlib
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
TS = "2026-11-28T13:45:12Z"

# ---------------------------------------------------------------------------
# People.

PEOPLE = {
    "jane": {
        "email": "Jane.Doe@Example.com",
        "phone": "+1 206 555 0100",
        "account_id": "ACCT-55812-XQ",
        "device_id": "3f2b9c1e-8a4d-4e21-9b6a-0d9c3e7f1a22",
        "ip": "198.51.100.23",
    },
    "omar": {
        "email": "omar.haddad+ads@gmail.com",
        "phone": "+44 20 7946 0958",
        "account_id": "u_99182734",
        "device_id": "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF",
        "ip": "203.0.113.77",
    },
    "li": {
        "email": "li.wei@mail.example.co.uk",
        "phone": "+86 138 0013 8000",
        "account_id": "cust:77120-b",
        "device_id": "f0e1d2c3-b4a5-9687-7869-5a4b3c2d1e0f",
        "ip": "192.0.2.144",
    },
}

# One person per opt-out case, so an opt-out touches nothing else.
OPTOUT_PEOPLE = [
    # (name, identifiers in the event, opt-out body)
    ("opt1", {"email": "opt.one@example.net", "phone": "(206) 555-0199"}, {"phone": "+1 206 555 0199"}),
    ("opt2", {"account_id": "OPT2-ACCOUNT-1", "phone": "206.555.0198"}, {"phone": "+12065550198"}),
    ("opt3", {"device_id": "0a1b2c3d-0000-4000-8000-00000000a003", "phone": "020 7946 0100"}, {"phone": "+44 20 7946 0100"}),
    ("opt4", {"email": "opttwo@googlemail.com"}, {"email": "Opt.Two+news@gmail.com"}),
    ("opt5", {"email": "OPT.THREE+promo@Example.org"}, {"email": "opt.three@example.org"}),
    ("opt6", {"email": "opt.four\uff20example.org", "account_id": "OPT6-ACCOUNT-1"}, {"email": "opt.four@example.org"}),
    ("opt7", {"device_id": "6b8e1f2a0c3d4e5f8a9b0c1d2e3f4a5b", "email": "opt.seven@example.net"}, {"device_id": "6B8E1F2A-0C3D-4E5F-8A9B-0C1D2E3F4A5B"}),
    ("opt8", {"account_id": "cust 000 4411", "email": "opt.eight@example.net"}, {"account_id": "CUST-000-4411"}),
    ("opt9", {"phone": "1-206-555-0197", "email": "opt.nine@example.net"}, {"phone": "+1 206 555 0197"}),
    ("opt10", {"device_id": "7c9e\u200b6679-7425-40de-944b-e07fc1f90ae7", "email": "opt.ten@example.net"}, {"device_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}),
    ("opt11", {"phone": "\uff08\uff12\uff10\uff16\uff09 555 0196", "email": "opt.eleven@example.net"}, {"phone": "+1 206 555 0196"}),
    ("opt12", {"email": "opt.twelve@Example.NET "}, {"email": "Opt.Twelve@example.net"}),
]

# Protected values every hostile event carries (taint sources).
SEARCH_Q = "orthopedic insoles size 44"
ITEM = "Lavender sleep spray 200ml"
PAGE_URL = "https://shop.example/checkout?order=88123&step=2"
REFERRER = "https://search.example/results?q=insoles"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
CONTEXT_IP = "192.0.2.201"
VIEW_NAME = "Memory foam knee pillow"
ORDER_NO = 884213377

STRANGER_EMAIL = "leak.target@mailbox.example"
STRANGER_EMAIL2 = "s.smith@contoso.example"
STRANGER_PHONE = "+1 415 555 0123"
CARDS = [
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
    "4012888888881881",
    "3530111333300000",
    "4000056655665556",
]


def digits(s):
    return "".join(c for c in s if c.isdigit())


def alnum_lower(s):
    return "".join(c for c in s.lower() if c.isalnum())


def email_norm(e):
    e = e.strip().lower()
    local, _, dom = e.partition("@")
    if dom in ("gmail.com", "googlemail.com"):
        local = local.split("+", 1)[0].replace(".", "")
    return local + "@" + dom


def email_forms(e):
    t = e.strip()
    local, _, dom = t.lower().partition("@")
    google = (local.replace(".", "") if dom in ("gmail.com", "googlemail.com") else local) + "@" + dom
    nosub = local.split("+", 1)[0] + "@" + dom
    return {e, t, t.lower(), email_norm(e), google, nosub, t.upper()}


def phone_forms(p):
    d = digits(p)
    e164 = "+" + d
    forms = {p, p.strip(), e164, d}
    # National significant number for the countries used here.
    for cc in ("1", "44", "86"):
        if d.startswith(cc):
            forms.add(d[len(cc):])
            forms.add("0" + d[len(cc):])
    return forms


def opaque_forms(v):
    return {v, v.strip(), v.lower(), v.upper(), alnum_lower(v), alnum_lower(v).upper()}


def digests_of(person):
    forms = set()
    for k, v in person.items():
        if k == "email":
            forms |= email_forms(v)
        elif k == "phone":
            forms |= phone_forms(v)
        else:
            forms |= opaque_forms(v)
    out = set()
    for f in forms:
        b = f.encode("utf-8")
        for algo in (hashlib.sha256, hashlib.sha1, hashlib.md5, hashlib.sha512):
            out.add(algo(b).hexdigest())
    return sorted(out)


def h(algo, s):
    return getattr(hashlib, algo)(s.encode("utf-8"))


def b64(b):
    return base64.b64encode(b).decode()


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def b32(b):
    return base64.b32encode(b).decode()


# ---------------------------------------------------------------------------
# Encoders, written here.


def pct_all(s):
    return "".join("%%%02X" % b for b in s.encode("utf-8"))


def fullwidth(s):
    return "".join(chr(ord(c) - 0x21 + 0xFF01) if "!" <= c <= "~" else c for c in s)


def arabic_indic(s):
    return "".join(chr(0x0660 + int(c)) if c.isdigit() and c.isascii() else c for c in s)


def persian(s):
    return "".join(chr(0x06F0 + int(c)) if c.isdigit() and c.isascii() else c for c in s)


def interleave(s, sep):
    return sep.join(s)


def json_escape_all(s):
    return "".join("\\u%04x" % ord(c) for c in s)


def groups(card, sep, size=4):
    return sep.join(card[i:i + size] for i in range(0, len(card), size))


EMAIL_ENCODINGS = [
    ("pct", lambda e: e.replace("@", "%40")),
    ("pct_double", lambda e: e.replace("@", "%2540")),
    ("pct_triple", lambda e: e.replace("@", "%252540").replace(".", "%252E")),
    ("pct_every_char", pct_all),
    ("entity_dec", lambda e: e.replace("@", "&#064;")),
    ("entity_hex", lambda e: e.replace("@", "&#x40;")),
    ("entity_named", lambda e: e.replace("@", "&commat;").replace(".", "&period;")),
    ("entity_dot", lambda e: e.replace("@", "&#64;").replace(".", "&#46;")),
    ("entity_double_escaped", lambda e: e.replace("@", "&amp;#64;")),
    ("fullwidth_at", lambda e: e.replace("@", "\uff20")),
    ("fullwidth_dot", lambda e: e.replace(".", "\uff0e")),
    ("fullwidth_all", fullwidth),
    ("small_commercial_at", lambda e: e.replace("@", "\ufe6b")),
    ("control_before_at", lambda e: e.replace("@", "\u0007@")),
    ("newline_before_at", lambda e: e.replace("@", "\n@")),
    ("quote_before_at", lambda e: e.replace("@", '"@')),
    ("quoted_local", lambda e: '"' + e.replace("@", '"@', 1)),
    ("digits_after", lambda e: e + "2026"),
    ("json_escape_in_string", lambda e: '{"contact":"' + e.replace("@", "\\u0040") + '"}'),
    ("json_escape_every_char", json_escape_all),
    ("at_dot_brackets", lambda e: e.replace("@", " (at) ").replace(".", " [dot] ")),
    ("at_dot_brackets_tight", lambda e: e.replace("@", "[at]").replace(".", "(dot)")),
    ("zero_width_between", lambda e: interleave(e, "\u200b")),
    ("soft_hyphen", lambda e: e.replace("@", "\u00ad@\u00ad").replace(".", "\u00ad.")),
    ("word_joiner", lambda e: e.replace("@", "\u2060@\u2060")),
    ("bidi_marks", lambda e: "\u202e" + e.replace("@", "\u200e@\u200f") + "\u202c"),
    ("bom_inside", lambda e: e.replace("@", "\ufeff@")),
    ("upper", lambda e: e.upper()),
    ("mailto", lambda e: "mailto:" + e.replace("@", "%40")),
    ("url_query", lambda e: "https://t.example/c?u=" + e.replace("@", "%40") + "&x=1"),
    ("in_sentence", lambda e: "Questions? Write to " + e + " anytime."),
    ("base64", lambda e: b64(e.encode())),
    ("base64_lower_email", lambda e: b64(e.lower().encode())),
    ("base64url_nopad", lambda e: b64url(e.encode())),
    ("hex_lower", lambda e: e.encode().hex()),
    ("hex_upper", lambda e: e.encode().hex().upper()),
    ("base32", lambda e: b32(e.encode())),
    ("base32_nopad", lambda e: b32(e.encode()).rstrip("=")),
    ("base64_in_sentence", lambda e: "ref " + b64(e.encode()) + " end"),
    ("base64_of_pct", lambda e: b64(e.replace("@", "%40").encode())),
    ("base64_of_base64", lambda e: b64(b64(e.encode()).encode())),
    ("hex_of_base64", lambda e: b64(e.encode()).encode().hex()),
    ("pct_of_base64", lambda e: b64(e.encode()).replace("=", "%3D").replace("+", "%2B")),
    ("fullwidth_and_entity", lambda e: fullwidth(e.split("@")[0]) + "&#64;" + e.split("@")[1]),
]

# Slots: where a hostile string is put. (name, function building the ad/app parts)


def slot_value(slot, v):
    """Returns (ad extras, app extras) placing v at `slot`."""
    if slot == "note":
        return {"creative_note": v}, {}
    if slot == "label":
        return {"labels": ["spring", v]}, {}
    if slot == "meta":
        return {"meta": {"variant": "b", "ref": v}}, {}
    if slot == "deep":
        return {"meta": {"x": [{"y": ["ok", [v]]}]}}, {}
    if slot == "key":
        return {"meta": {v: 1, "variant": "b"}}, {}
    if slot == "label_key":
        return {"labels": ["spring", {v: True}]}, {}
    if slot == "app":
        return {}, {"app_id": v}
    if slot == "campaign":
        return {"campaign_id": v}, {}
    if slot == "value":
        return {"value_estimate_micros": v}, {}
    raise ValueError(slot)


STRING_SLOTS = ["note", "label", "meta", "deep", "key", "app", "campaign", "label_key"]
NUMBER_SLOTS = ["meta", "label", "value", "campaign", "deep"]

RAW = "__RAW_NUMBER__"


def identifiers(person_name):
    if person_name in PEOPLE:
        return dict(PEOPLE[person_name])
    for name, ids, _ in OPTOUT_PEOPLE:
        if name == person_name:
            return dict(ids)
    raise KeyError(person_name)


def base_event(cid, person, ad_extra=None, app_extra=None, user_extra=None,
               context_extra=None, category="books", event_type="ad_impression"):
    user = identifiers(person)
    user["age"] = 34
    if user_extra:
        user.update(user_extra)
    ctx = {"category": category, "page_url": PAGE_URL, "referrer": REFERRER,
           "user_agent": UA, "ip": CONTEXT_IP}
    if context_extra:
        ctx.update(context_extra)
    ad = {"campaign_id": "c-77", "placement": "home-top", "currency": "USD",
          "value_estimate_micros": 1250}
    if ad_extra:
        ad.update(ad_extra)
    app = {"app_id": "com.example.game"}
    if app_extra:
        app.update(app_extra)
    return {
        "event_id": cid,
        "event_type": event_type,
        "timestamp": TS,
        "user": user,
        "consent": {"personalized_ads": True, "gpc": False},
        "context": ctx,
        "search": {"query": SEARCH_Q},
        "purchase": {"item_name": ITEM, "order_no": ORDER_NO, "price": 1999},
        "view": {"product_name": VIEW_NAME},
        "ad": ad,
        "app": app,
    }


def text(ev, raw_number=None):
    t = json.dumps(ev, ensure_ascii=False)
    if raw_number is not None:
        assert t.count(json.dumps(RAW)) == 1, t
        t = t.replace(json.dumps(RAW), raw_number)
    return t


CASES = []


def own_secrets(person):
    ids = identifiers(person)
    return [v for v in ids.values()]


def add(cls, person, event_text, must_not_leak, expect=None, **extra):
    cid = "h-%03d" % (len(CASES) + 1)
    event_text = event_text.replace("__CASE_ID__", cid)
    case = {"id": cid, "class": cls, "person": person, "event": event_text,
            "must_not_leak": sorted(set(must_not_leak + own_secrets(person)))}
    if expect:
        case["expect"] = expect
    case.update(extra)
    # The event must be valid JSON text (duplicate keys allowed).
    json.loads(event_text)
    CASES.append(case)


def place(cls, person, slot, value, must_not_leak, raw_number=None, **kw):
    ad, app = slot_value(slot, RAW if raw_number is not None else value)
    ev = base_event("__CASE_ID__", person, ad_extra=ad, app_extra=app, **kw)
    add(cls + "@" + slot, person, text(ev, raw_number), must_not_leak)


def plant_each(prefix, cases):
    """Each (name, slot, value) placed for the next person in turn; the
    value itself must not be forwarded."""
    for i, (name, slot, v) in enumerate(cases):
        place(prefix + name, rot(i, PEOPLE_ORDER), slot, v, [v])


def sensitive_each(cls, categories):
    """An event per category, each for the next person in turn; none may be
    forwarded."""
    for i, cat in enumerate(categories):
        person = rot(i, PEOPLE_ORDER)
        add(cls, person, text(base_event("__CASE_ID__", person, category=cat)), [], expect="dropped")


PEOPLE_ORDER = ["jane", "omar", "li"]


def rot(i, seq):
    return seq[i % len(seq)]


# 1. Sensitive category variants: never forwarded.
for cat in ["Health", "HEALTH", " health ", "health\n", "Health > Pharmacy", "health/vitamins",
            "Books > Health", "\uff28\uff45\uff41\uff4c\uff54\uff48", "Pharmacy", "PHARMACY | otc",
            "health\t", "\u00a0health\u00a0", "Health;Beauty", "health, wellness", "Shop:Health",
            "health\\drugs", "HeAlTh", "Beauty / PHARMACY / Skin", "\u3000health", "home|garden|health"]:
    person = rot(len(CASES), PEOPLE_ORDER)
    ev = base_event("__CASE_ID__", person, category=cat)
    add("sensitive_category", person, text(ev), [], expect="dropped")

# 2. Emails in encodings: the event's own and a stranger's.
for i, (name, enc) in enumerate(EMAIL_ENCODINGS):
    person = rot(i, PEOPLE_ORDER)
    own = PEOPLE[person]["email"]
    place("email_" + name + "_own", person, rot(i, STRING_SLOTS), enc(own), [own, enc(own)])
    place("email_" + name + "_stranger", person, rot(i + 3, STRING_SLOTS), enc(STRANGER_EMAIL),
          [STRANGER_EMAIL, enc(STRANGER_EMAIL)])

# 3. Digit runs: cards.
CARD_FORMS = [
    ("contiguous", lambda c: c),
    ("spaced", lambda c: groups(c, " ")),
    ("dashed", lambda c: groups(c, "-")),
    ("with_cvv", lambda c: c + "737"),
    ("with_cvv_spaced", lambda c: groups(c, " ") + " 737"),
    ("with_expiry", lambda c: c + " 12/28"),
    ("with_expiry_joined", lambda c: c + "12/28"),
    ("with_expiry_dashed", lambda c: groups(c, "-") + "-12/28"),
    ("underscore", lambda c: groups(c, "_")),
    ("comma", lambda c: groups(c, ",")),
    ("colon", lambda c: groups(c, ":")),
    ("pipe", lambda c: groups(c, "|")),
    ("dot", lambda c: groups(c, ".")),
    ("slash", lambda c: groups(c, "/")),
    ("soft_hyphen", lambda c: groups(c, "\u00ad")),
    ("word_joiner", lambda c: groups(c, "\u2060")),
    ("zero_width_space", lambda c: interleave(c, "\u200b")),
    ("zwnj", lambda c: groups(c, "\u200c")),
    ("nbsp", lambda c: groups(c, "\u00a0")),
    ("thin_space", lambda c: groups(c, "\u2009")),
    ("en_dash", lambda c: groups(c, "\u2013")),
    ("fullwidth", lambda c: fullwidth(c)),
    ("fullwidth_spaced", lambda c: fullwidth(groups(c, " "))),
    ("arabic_indic", arabic_indic),
    ("persian", persian),
    ("half_fullwidth", lambda c: c[:8] + fullwidth(c[8:])),
    ("pct_spaces", lambda c: groups(c, "%20")),
    ("in_sentence", lambda c: "card: " + groups(c, " ") + " exp 12/28 cvv 737"),
    ("pairs", lambda c: groups(c, " ", 2)),
    ("base64", lambda c: b64(c.encode())),
    ("hex", lambda c: c.encode().hex()),
]
for i, (name, f) in enumerate(CARD_FORMS):
    card = rot(i, CARDS)
    person = rot(i, PEOPLE_ORDER)
    place("card_" + name, person, rot(i, STRING_SLOTS), f(card), [card])
    if i % 2 == 0:
        place("card_" + name, person, rot(i + 5, STRING_SLOTS), f(rot(i + 1, CARDS)), [rot(i + 1, CARDS)])

# 3b. Digit runs: phones.
PHONE_FORMS = [
    ("e164", "+14155550123"),
    ("spaced", "+1 415 555 0123"),
    ("national_parens", "(415) 555-0123"),
    ("dots", "415.555.0123"),
    ("underscore", "415_555_0123"),
    ("pipe", "415|555|0123"),
    ("colon", "415:555:0123"),
    ("comma", "415,555,0123"),
    ("two_joined_slash", "+14155550123/+14155550124"),
    ("two_national_slash", "4155550123/4155550124"),
    ("intl_00", "0044 20 7946 0958"),
    ("uk_trunk_zero", "+44 (0)20 7946 0958"),
    ("tel_uri", "tel:+1-415-555-0123"),
    ("fullwidth", fullwidth("+1 415 555 0123")),
    ("arabic_indic", arabic_indic("+14155550123")),
    ("soft_hyphen", "415\u00ad555\u00ad0123"),
    ("word_joiner", "415\u2060555\u20600123"),
    ("pct_plus", "%2B14155550123"),
    ("in_sentence", "call 415 555 0123 today"),
    ("dashes_country", "1-415-555-0123"),
    ("base64", b64(b"+14155550123")),
    ("persian", persian("4155550123")),
]
for i, (name, v) in enumerate(PHONE_FORMS):
    person = rot(i, PEOPLE_ORDER)
    secret = "4155550123" if "415" in digits(v) or "415" in v or name in ("fullwidth", "arabic_indic", "base64", "persian") else "2079460958"
    place("phone_" + name, person, rot(i, STRING_SLOTS), v, [secret])
    if i % 3 == 0:
        place("phone_" + name, person, rot(i + 4, STRING_SLOTS), v, [secret])

# 4. Identifiers as JSON numbers (raw spelling kept).
NUMBERS = [
    ("phone_integer", "14155550123", "4155550123"),
    ("card_exponent", "4.111111111111111e15", "4111111111111111"),
    ("card_trailing_zero_fraction", "4111111111111111.0", "4111111111111111"),
    ("card_integer", "4111111111111111", "4111111111111111"),
    ("card_exponent_upper", "5.555555555554444E15", "5555555555554444"),
    ("card_negative_exponent", "41111111111111110e-1", "4111111111111111"),
    ("phone_exponent", "1.4155550123e10", "4155550123"),
    ("phone_float", "14155550123.0", "4155550123"),
    ("own_phone_digits", None, None),
]
for i, (name, raw, secret) in enumerate(NUMBERS):
    for j, slot in enumerate(NUMBER_SLOTS):
        if (i + j) % 5 == 4:
            continue
        person = rot(i + j, PEOPLE_ORDER)
        if raw is None:
            r = digits(PEOPLE[person]["phone"])
            s = [r]
        else:
            r, s = raw, [secret]
        place("number_" + name, person, slot, None, s, raw_number=r)

# 5. The event's own identifiers reshaped, and unkeyed digests of them.


def reshapes(p):
    e, ph, acc, dev, ip = p["email"], p["phone"], p["account_id"], p["device_id"], p["ip"]
    ne = email_norm(e)
    pd = digits(ph)
    return [
        ("device_no_dashes", dev.replace("-", "")),
        ("device_upper_no_dashes", dev.replace("-", "").upper()),
        ("device_zero_width", interleave(dev, "\u200b")),
        ("device_spaces", dev.replace("-", " ")),
        ("device_underscores", dev.replace("-", "_")),
        ("device_pct_dashes", dev.replace("-", "%2D")),
        ("device_in_url", "https://x.example/?d=" + dev),
        ("account_separator", acc.replace("-", "_").replace(":", "_").replace("_", "|")),
        ("account_spaced", interleave(acc, " ")),
        ("account_pct", pct_all(acc)),
        ("account_lower_plain", alnum_lower(acc)),
        ("account_fullwidth", fullwidth(acc)),
        ("account_soft_hyphen", interleave(acc, "\u00ad")),
        ("email_upper", e.upper()),
        ("email_normalized", ne),
        ("phone_national", "(%s) %s-%s" % (pd[-10:-7], pd[-7:-4], pd[-4:])),
        ("phone_digits", pd),
        ("phone_dashes", "+" + pd[:-10] + "-" + pd[-10:-7] + "-" + pd[-7:-4] + "-" + pd[-4:]),
        ("ip_plain", ip),
        ("ip_underscores", ip.replace(".", "_")),
        ("sha256_email_trunc16", h("sha256", ne).hexdigest()[:16]),
        ("sha256_email_trunc12", h("sha256", ne).hexdigest()[:12]),
        ("sha256_email_upper", h("sha256", ne).hexdigest().upper()),
        ("sha256_phone_digits_no_plus", h("sha256", pd).hexdigest()),
        ("sha256_phone_e164", h("sha256", "+" + pd).hexdigest()),
        ("sha256_raw_email", h("sha256", e).hexdigest()),
        ("sha256_trimmed_lower_email", h("sha256", e.strip().lower()).hexdigest()),
        ("sha1_email", h("sha1", ne).hexdigest()),
        ("md5_email", h("md5", ne).hexdigest()),
        ("sha512_email", h("sha512", ne).hexdigest()),
        ("sha256_email_base64", b64(h("sha256", ne).digest())),
        ("sha256_email_base64url", b64url(h("sha256", ne).digest())),
        ("md5_email_base64_trunc16", b64(h("md5", e.lower()).digest())[:16]),
        ("sha256_account_trunc20", h("sha256", acc).hexdigest()[:20]),
        ("md5_device", h("md5", dev).hexdigest()),
        ("sha1_phone_e164", h("sha1", "+" + pd).hexdigest()),
        ("sha512_device_base64", b64(h("sha512", dev).digest())),
        ("sha256_email_in_sentence", "uid=" + h("sha256", ne).hexdigest() + ";v=2"),
    ]


for i, person in enumerate(PEOPLE_ORDER):
    for j, (name, v) in enumerate(reshapes(PEOPLE[person])):
        if (i + j) % 3 != 0 and i > 0:
            continue
        place("own_" + name, person, rot(i + j, STRING_SLOTS), v, [v])

# 6. Protected detail echoed into allow-listed fields (taint).
TAINT = [
    ("search_query_note", "note", SEARCH_Q, SEARCH_Q),
    ("search_query_upper_note", "note", SEARCH_Q.upper(), SEARCH_Q),
    ("search_query_spaces_note", "note", "  " + SEARCH_Q.replace(" ", "   ") + " ", SEARCH_Q),
    ("search_query_zero_width_note", "note", SEARCH_Q.replace(" ", " \u200b"), SEARCH_Q),
    ("search_query_in_sentence", "note", "Because you searched for " + SEARCH_Q + "!", SEARCH_Q),
    ("search_query_label", "label", SEARCH_Q, SEARCH_Q),
    ("search_query_meta", "meta", SEARCH_Q, SEARCH_Q),
    ("page_url_meta", "meta", PAGE_URL, PAGE_URL),
    ("page_url_note", "note", "landing " + PAGE_URL, PAGE_URL),
    ("referrer_deep", "deep", REFERRER, REFERRER),
    ("user_ip_label", "label", None, None),
    ("context_ip_meta", "meta", CONTEXT_IP, CONTEXT_IP),
    ("user_agent_note", "note", UA, UA),
    ("user_agent_app", "app", UA, UA),
    ("item_name_meta", "meta", ITEM, ITEM),
    ("item_name_note", "note", "Bought: " + ITEM.lower(), ITEM),
    ("view_product_note", "note", VIEW_NAME, VIEW_NAME),
    ("item_name_fullwidth", "note", fullwidth(ITEM), ITEM),
]
for i, (name, slot, v, secret) in enumerate(TAINT):
    person = rot(i, PEOPLE_ORDER)
    if v is None:
        v = secret = PEOPLE[person]["ip"]
    place("taint_" + name, person, slot, v, [secret])
# Numbers from protected paths.
for i, slot in enumerate(["meta", "value", "label"]):
    place("taint_order_number", rot(i, PEOPLE_ORDER), slot, None, [str(ORDER_NO)], raw_number=str(ORDER_NO))
# A search-shaped (or user-shaped) object nested inside ad.meta.
for i, (meta, secret) in enumerate([
    ({"search": {"query": SEARCH_Q}}, SEARCH_Q),
    ({"Search": {"query": SEARCH_Q}}, SEARCH_Q),
    ({"q": {"search": {"query": SEARCH_Q}}}, SEARCH_Q),
    ({"ctx": {"page_url": PAGE_URL}}, PAGE_URL),
    ({"user": {"email": STRANGER_EMAIL2}}, STRANGER_EMAIL2),
    ({"purchase": {"item_name": ITEM}}, ITEM),
]):
    person = rot(i, PEOPLE_ORDER)
    ev = base_event("__CASE_ID__", person, ad_extra={"meta": meta})
    add("taint_object_in_meta", person, text(ev), [secret])

# 7. Protected names under an allow-listed object: left out of the copy.
for i, (key, val) in enumerate([
    ("birth_date", "1990-01-01"), ("age", 34), ("Email", "none"), ("\uff45\uff4d\uff41\uff49\uff4c", "n-a"),
    ("device_id", "none"), ("user", {"tier": "gold"}), ("search", {"page": 2}), ("view", {"dwell": 3}),
    ("page_url", "/home"), ("IP", "n-a"), ("user_agent", "bot"), ("Referrer", "direct"),
    ("account_id", "n-a"), ("phone", "n-a"), ("PURCHASE", {"n": 1}),
]):
    person = rot(i, PEOPLE_ORDER)
    ev = base_event("__CASE_ID__", person, ad_extra={"meta": {"variant": "b", key: val}})
    add("protected_name_in_meta", person, text(ev), [], expect="field_omitted",
        omit_key=key)

# 8. Opt-out bypass (a served gateway only: explain reads no opt-out list).
for name, ids, body in OPTOUT_PEOPLE:
    ev = base_event("__CASE_ID__", name)
    add("optout_bypass", name, text(ev), [], expect="dropped", optouts=[body])

# 9. Minors by birth date; malformed birth dates.
for i, (bd, age, expect) in enumerate([
    ("2014-05-01", None, "dropped"),
    ("2008-11-29", None, "dropped"),
    ("2012-01-01", 30, "dropped"),
    ("2010-06-15", 40, "dropped"),
    ("2014/05/01", None, "not_forwarded"),
    ("2010-02-30", None, "not_forwarded"),
    ("2014-05-01T00:00:00Z", None, "not_forwarded"),
    ("01.05.2014", None, "not_forwarded"),
]):
    person = rot(i, PEOPLE_ORDER)
    extra = {"birth_date": bd}
    ev = base_event("__CASE_ID__", person, user_extra=extra)
    if age is None:
        del ev["user"]["age"]
    else:
        ev["user"]["age"] = age
    add("minor_birth_date", person, text(ev), [], expect=expect)

# 10. Duplicate keys: rejected at ingest.
DUPS = [
    ('"age": 34', '"age": 12, "age": 30'),
    ('"category": "books"', '"category": "health", "category": "books"'),
    ('"personalized_ads": true', '"personalized_ads": false, "personalized_ads": true'),
    ('"gpc": false', '"gpc": true, "gpc": false'),
    ('"campaign_id": "c-77"', '"campaign_id": "c-77", "campaign_id": "c-78"'),
    ('"app_id": "com.example.game"', '"app_id": "com.example.game", "app_id": "com.other.game"'),
]
for i, (a, b) in enumerate(DUPS):
    person = rot(i, PEOPLE_ORDER)
    t = text(base_event("__CASE_ID__", person))
    assert t.count(a) == 1, a
    add("duplicate_key", person, t.replace(a, b), [], expect="rejected")
person = "jane"
t = text(base_event("__CASE_ID__", person))
u = json.dumps({"email": STRANGER_EMAIL2, "age": 12})
add("duplicate_key", person, t.replace('"user": ', '"user": ' + u + ', "user": ', 1), [STRANGER_EMAIL2], expect="rejected")
t = text(base_event("__CASE_ID__", person, ad_extra={"meta": {"a": 1}}))
add("duplicate_key", person, t.replace('"meta": {"a": 1}', '"meta": {"x": {"a": 1, "a": 2}}'), [], expect="rejected")
t = text(base_event("__CASE_ID__", "omar"))
add("duplicate_key", "omar", t.replace('"email": ', '"email": "' + STRANGER_EMAIL + '", "email": ', 1),
    [STRANGER_EMAIL], expect="rejected")

# 11. Case-variant protected blocks and keys: rejected at ingest.
VARIANTS = [
    ('"user": ', '"User": '),
    ('"consent": ', '"Consent": '),
    ('"context": ', '"CONTEXT": '),
    ('"search": ', '"Search": '),
    ('"user": ', '"uSeR": '),
    ('"age": 34', '"Age": 12'),
    ('"gpc": false', '"GPC": true'),
    ('"category": "books"', '"Category": "health"'),
    ('"purchase": ', '"PURCHASE": '),
    ('"ad": ', '"Ad": '),
]
for i, (a, b) in enumerate(VARIANTS):
    person = rot(i, PEOPLE_ORDER)
    t = text(base_event("__CASE_ID__", person))
    assert a in t, a
    add("case_variant_key", person, t.replace(a, b, 1), [], expect="rejected")
t = text(base_event("__CASE_ID__", "li"))
add("case_variant_key", "li", t.replace('"email": ', '"Email": ', 1), [], expect="rejected")

# 12. Mixed: PII as keys and deep in arrays, several layers.
MIXED = [
    ("email_key_in_label_object", "label_key", STRANGER_EMAIL, [STRANGER_EMAIL]),
    ("card_key", "key", "4111111111111111", ["4111111111111111"]),
    ("phone_key", "key", "+14155550123", ["4155550123"]),
    ("pct_email_key", "key", STRANGER_EMAIL.replace("@", "%40"), [STRANGER_EMAIL]),
    ("email_unicode_domain", "note", "jane@ex\u00e4mple.de", ["jane@ex\u00e4mple.de"]),
    ("email_punycode_domain", "meta", "jane@xn--exmple-cua.de", ["jane@xn--exmple-cua.de"]),
    ("email_subaddress_upper", "label", "LEAK.TARGET+ADS@MAILBOX.EXAMPLE", ["leak.target+ads@mailbox.example"]),
    ("email_in_json_in_base64", "note", b64(json.dumps({"e": STRANGER_EMAIL}).encode()), [STRANGER_EMAIL]),
    ("email_in_html", "note", "<a href=\"mailto:" + STRANGER_EMAIL.replace("@", "&#64;") + "\">mail</a>", [STRANGER_EMAIL]),
    ("card_in_json_in_string", "meta", json.dumps({"pan": "4111 1111 1111 1111"}), ["4111111111111111"]),
    ("phone_and_card", "note", "+1 415 555 0123 / 4111 1111 1111 1111", ["4155550123", "4111111111111111"]),
    ("stranger_email2_entity_fullwidth", "deep", fullwidth("s.smith") + "&#x40;contoso.example", [STRANGER_EMAIL2]),
]
for i, (name, slot, v, secrets) in enumerate(MIXED):
    place("mixed_" + name, rot(i, PEOPLE_ORDER), slot, v, secrets)

# 13. More ways to hide digits and names: NFKC-only digit forms, confusable
# letters, slugified or form-encoded protected values, encoded own ids.
MORE = [
    ("card_math_bold", "meta", "".join(chr(0x1D7CE + int(c)) for c in "4111111111111111"), ["4111111111111111"]),
    ("card_superscript", "note", "".join("⁰¹²³⁴⁵⁶⁷⁸⁹"[int(c)] for c in "4111111111111111"), ["4111111111111111"]),
    ("phone_circled", "label", "".join("⓪①②③④⑤⑥⑦⑧⑨"[int(c)] for c in "4155550123"), ["4155550123"]),
    ("phone_devanagari", "deep", "".join(chr(0x966 + int(c)) for c in "4155550123"), ["4155550123"]),
    ("email_cyrillic_letters", "note", "j\u0430ne.doe@ex\u0430mple.org", ["j\u0430ne.doe@ex\u0430mple.org"]),
    ("taint_query_slug_label", "label", SEARCH_Q.replace(" ", "-"), [SEARCH_Q]),
    ("taint_query_slug_campaign", "campaign", SEARCH_Q.replace(" ", "_"), [SEARCH_Q]),
    ("taint_query_form_encoded", "note", SEARCH_Q.replace(" ", "+"), [SEARCH_Q]),
    ("taint_query_pct", "meta", SEARCH_Q.replace(" ", "%20"), [SEARCH_Q]),
    ("taint_item_slug", "app", "com.shop." + ITEM.lower().replace(" ", "-"), [ITEM]),
]
for i, (name, slot, v, secrets) in enumerate(MORE):
    place("more_" + name, rot(i, PEOPLE_ORDER), slot, v, secrets)
for i, person in enumerate(PEOPLE_ORDER):
    p = PEOPLE[person]
    place("more_own_device_base64", person, rot(i, STRING_SLOTS), b64(p["device_id"].encode()), [p["device_id"]])
    place("more_own_account_hex", person, rot(i + 2, STRING_SLOTS), p["account_id"].encode().hex(), [p["account_id"]])
# Base64 digests (or their 16-character prefixes) that happen to hold no
# digit and no + or /: nothing but letters, like a word.
found = 0
for person in PEOPLE_ORDER:
    p = PEOPLE[person]
    for f in sorted(email_forms(p["email"]) | phone_forms(p["phone"]) | opaque_forms(p["account_id"])
                    | opaque_forms(p["device_id"])):
        for algo in ("md5", "sha1", "sha256", "sha512"):
            enc = b64(h(algo, f).digest()).rstrip("=")
            for v in (enc, enc[:16]):
                if found < 6 and v.isalpha() and len(v) >= 16:
                    place("more_own_digest_base64_letters_only", person, rot(found, STRING_SLOTS), v, [v])
                    found += 1
assert found >= 3, found
# Rules fooled by a type or an invisible character.
for i, cat in enumerate(["health\u200b", "\u200bPharmacy"]):
    person = rot(i, PEOPLE_ORDER)
    add("sensitive_category_invisible", person, text(base_event("__CASE_ID__", person, category=cat)), [],
        expect="dropped")
for i, (user_extra, consent) in enumerate([
    ({"age": "12"}, None),
    ({"age": 12.5}, None),
    (None, {"personalized_ads": "false", "gpc": False}),
    (None, {"personalized_ads": True, "gpc": "true"}),
]):
    person = rot(i, PEOPLE_ORDER)
    ev = base_event("__CASE_ID__", person, user_extra=user_extra)
    if consent:
        ev["consent"] = consent
    add("rule_value_of_another_type", person, text(ev), [], expect="not_forwarded")


# 14. The red team of 2026-12-05: encodings the guard now reads to the end
# (or refuses), blank-looking and dot-looking characters, digit groups
# across any punctuation, and the event's own identifiers in more shapes.
# Each planted string itself must not be forwarded.
E = STRANGER_EMAIL
DECOYS = " ".join(b64(("decoy%03d" % i).encode()) for i in range(40))
FILLERS = " ".join("zzzzzzz%d" % (i % 10) for i in range(70))
REDTEAM = [
    ("email_combining_mark", "note", E.replace("@", "\u0332@")),
    ("email_combining_mark_domain", "label", E.replace("@m", "@m\u0332")),
    ("email_loose_hex_entity", "note", E.replace("@", "&#x40")),
    ("email_loose_dec_entity", "meta", E.replace("@", "&#64")),
    ("email_quoted_printable", "note", E.replace("@", "=40").replace(".", "=2E")),
    ("email_braille_blank", "label", E.replace("@", "\u2800@\u2800")),
    ("email_html_tags", "note", E.replace("@", "<b></b>@")),
    ("email_html_comment", "deep", E.replace("@", "<!-- -->@")),
    ("email_octal_escape", "note", E.replace("@", "\\100")),
    ("email_python_u_escape", "meta", E.replace("@", "\\U00000040")),
    ("email_css_escape", "label", E.replace("@", "\\40 ")),
    ("email_angle_at_dot", "note", E.replace("@", "<at>").replace(".example", "<dot>example")),
    ("email_middle_dot_domain", "app", E.replace(".example", "\u00b7example")),
    ("email_bullet_domain", "campaign", E.replace(".example", "\u2022example")),
    ("email_triple_base64url", "campaign", b64url(b64url(b64url(E.encode()).encode()).encode())),
    ("email_four_base64", "note", b64(b64(b64(b64(E.encode()).encode()).encode()).encode())),
    ("email_base64_spaced_groups", "note", " ".join(b64(E.encode())[i:i + 4] for i in range(0, len(b64(E.encode())), 4))),
    ("email_base64_utf16le", "note", b64(E.encode("utf-16-le"))),
    ("email_base64_utf16be", "meta", b64(E.encode("utf-16-be"))),
    ("email_after_base64_decoys", "note", DECOYS + " " + b64(E.encode())),
    ("email_after_fillers", "note", FILLERS + " " + b64(E.encode())),
    ("phone_middle_dots", "note", "415\u00b7555\u00b70123"),
    ("phone_equals", "label", "415=555=0123"),
    ("card_bullets", "note", "4111\u20221111\u20221111\u20221111"),
    ("card_wide_gaps", "meta", "4111     1111     1111     1111"),
    ("phone_spaced_dashes", "note", "415  -  555  -  0123"),
    ("card_combining_marks", "label", "".join(c + "\u0332" for c in "4111111111111111")),
    ("phone_thousands_commas", "note", "4,155,550,123"),
]
plant_each("redteam_", REDTEAM)
for i, person in enumerate(PEOPLE_ORDER):
    p = PEOPLE[person]
    d = digits(p["phone"])
    cc = {"jane": "1", "omar": "44", "li": "86"}[person]
    national = d[len(cc):]
    ip = [int(x) for x in p["ip"].split(".")]
    ip_int = (ip[0] << 24) | (ip[1] << 16) | (ip[2] << 8) | ip[3]
    own = [
        ("own_phone_national_string", "note", national),
        ("own_ip_mapped_v6", "campaign", "::ffff:%02x%02x:%02x%02x" % tuple(ip)),
        ("own_ip_hex", "label", "%08x" % ip_int),
        ("own_ip_integer_string", "meta", str(ip_int)),
        ("own_email_sha256_newline", "note", h("sha256", p["email"] + "\n").hexdigest()),
        ("own_ip_sha256", "campaign", h("sha256", p["ip"]).hexdigest()),
        ("own_ip_md5", "label", h("md5", p["ip"]).hexdigest()),
        ("own_phone_sha256_00", "meta", h("sha256", "00" + d).hexdigest()),
        ("own_phone_sha256_tel", "note", h("sha256", "tel:+" + d).hexdigest()),
        ("own_device_tail", "campaign", p["device_id"].replace("-", "")[-12:]),
        ("own_device_head", "label", p["device_id"][:18]),
    ]
    for name, slot, v in own:
        place("redteam_" + name, person, slot, v, [v])
    place("redteam_own_phone_national_number", person, "value", None, [national], raw_number=national)
    place("redteam_own_ip_integer", person, "value", None, [str(ip_int)], raw_number=str(ip_int))
    # The event's phone sent as a JSON number: its plain SHA-256 must not go.
    ev = base_event("__CASE_ID__", person, ad_extra={"campaign_id": h("sha256", "+" + d).hexdigest()})
    ev["user"]["phone"] = RAW
    add("redteam_own_phone_as_number_digest", person, text(ev, d), [h("sha256", "+" + d).hexdigest()])

# The red team's rule cases: sensitive categories with punctuation, marks
# and lookalike letters; minors by the local date and by exact ages; rule
# keys padded or spelled with lookalike letters; protected values copied
# with lookalike letters.
sensitive_each("redteam_sensitive_category",
               ["Health.", "#health", '"Health"', "Beauty (Health)", "Beauty(Health)",
                "Books.Health", "Books+Health", "health%2E", "health\u0332",
                "he\u0301alth", "\u2800health", "H\u0435alth", "\u0397\u03b5\u03b1lth",
                "\u029c\u1d07\u1d00\u029f\u1d1b\u029c", "PHARMACY!"])
for i, (ts, user_extra) in enumerate([
    ("2026-11-28T23:30:00-05:00", {"birth_date": "2008-11-29"}),
    (TS, {"age": RAW}),
    (TS, {"age": RAW}),
]):
    person = rot(i, PEOPLE_ORDER)
    ev = base_event("__CASE_ID__", person, user_extra=user_extra)
    ev["timestamp"] = ts
    raw = [None, "17.9999999999999999", "1.79999999999999999e1"][i]
    if raw is None:
        del ev["user"]["age"]
    add("redteam_minor", person, text(ev, raw), [], expect="not_forwarded")
for i, (block, key, value) in enumerate([
    ("consent", "gpc ", True),
    ("consent", "personalized_ads ", False),
    ("consent", "g\u0440c", True),
    ("user", "age\t", 12),
    ("context", "category ", "health"),
]):
    person = rot(i, PEOPLE_ORDER)
    ev = base_event("__CASE_ID__", person)
    ev[block][key] = value
    add("redteam_rule_key_spelling", person, text(ev), [], expect="rejected")
plant_each("redteam_taint_lookalike_letters", [
    ("", "note", SEARCH_Q.replace("o", "\u043e")),
    ("", "label", ITEM.replace("a", "\u0430").replace("e", "\u0435")),
    ("", "meta", VIEW_NAME.replace("o", "\u03bf")),
])

# The second red-team pass (2026-12-05): smuggling in tag characters and
# variation selectors, more escape syntaxes, quoted-printable soft breaks,
# base64 and hex split by punctuation, binary envelopes, defanged and
# bracketed addresses, dots and dashes of other scripts, dingbat digits,
# categories with marks after the word, the own IP in inet_aton notations.
def tags(t):
    return "".join(chr(0xE0000 + ord(c)) for c in t)


def vs(t):
    return "".join(chr(0xFE00 + b) if b < 16 else chr(0xE0100 + b - 16) for b in t.encode())


B64E = b64(E.encode())
REDTEAM2 = [
    ("email_tag_characters", "note", "Winter sale" + tags(E)),
    ("phone_tag_characters", "label", "Call us" + tags("+14155550123")),
    ("email_variation_selectors", "note", "Winter sale \U0001F600" + vs(E)),
    ("email_css_escape_4", "note", E.replace("@", "\\0040 ")),
    ("email_css_escape_6", "meta", E.replace("@", "\\000040")),
    ("email_python_named_escape", "note", E.replace("@", "\\N{COMMERCIAL AT}")),
    ("email_brace_hex_escape", "label", E.replace("@", "\\x{40}")),
    ("email_short_octal", "note", E.replace("@", "\\100").replace(".example", "\\56example")),
    ("email_loose_entity_zeros", "meta", E.replace("@", "&#x0000040")),
    ("email_qp_soft_break", "note", E.replace("@mail", "@mail=\r\n")),
    ("email_qp_soft_break_and_code", "label", E.replace("@mail", "=40mail=\r\n").replace(".example", "=2Eexample")),
    ("email_base64_dot_pieces", "campaign", ".".join(B64E[i:i + 8] for i in range(0, len(B64E.rstrip("=")), 8))),
    ("email_base64_colon_groups", "campaign", ":".join(B64E.rstrip("=")[i:i + 4] for i in range(0, len(B64E.rstrip("=")), 4))),
    ("email_base64_comma_groups", "note", ",".join(B64E.rstrip("=")[i:i + 4] for i in range(0, len(B64E.rstrip("=")), 4))),
    ("email_hex_dot_pieces", "campaign", ".".join(E.encode().hex()[i:i + 8] for i in range(0, len(E.encode().hex()), 8))),
    ("email_hex_c_array", "note", ", ".join("0x%02x" % c for c in E.encode())),
    ("email_base64_msgpack", "note", b64(b"\x81\xa1e" + bytes([0xa0 + len(E)]) + E.encode())),
    ("email_base64_protobuf", "meta", b64(b"\n" + bytes([len(E)]) + E.encode() + b"\x10\x01\x18\x02")),
    ("email_base64_binary_tail", "note", b64(E.encode() + b"\x93\x11\x00\x00\xc0\xff")),
    ("email_defanged_dot", "note", E.replace(".example", "[.]example")),
    ("email_defanged_at", "label", E.replace("@", "[@]").replace(".example", "[.]example")),
    ("email_cjk_brackets", "note", E.replace("@", "\u3010at\u3011")),
    ("email_ipv6_literal", "meta", "leak.target@[IPv6:2001:db8::1]"),
    ("email_rfc_comment", "note", E.replace("@", "(work)@")),
    ("email_letter_dot", "label", E.replace(".example", "\ua78fexample")),
    ("email_dot_lookalikes", "note", E.replace(".example", "\u2e33example")),
    ("phone_long_vowel_dashes", "note", "090\u30fc1234\u30fc5678"),
    ("phone_armenian_hyphen", "label", "415\u058a555\u058a0123"),
    ("card_wave_dash", "note", "4111\u301c1111\u301c1111\u301c1111"),
    ("card_right_quote", "meta", "4111\u20191111\u20191111\u20191111"),
    ("card_fraction_slash", "note", "4111\u20441111\u20441111\u20441111"),
    ("phone_arabic_thousands", "label", "\u0664\u0661\u0665\u066c\u0665\u0665\u0665\u066c\u0660\u0661\u0662\u0663"),
    ("phone_dingbat_digits", "note", "\u2779\u2776\u277a\u277a\u277a\u277a\u24ff\u2776\u2777\u2778"),
    ("card_double_circled", "meta", "\u24f8" + "\u24f5" * 15),
]
plant_each("redteam2_", REDTEAM2)
sensitive_each("redteam2_sensitive_category",
               ["Health\u2122", "Pharmacy\u2120", "Books\u3164Health", "Books\u0085Health", "He\u0640alth"])
ev = base_event("__CASE_ID__", "jane")
ev["consent"]["gp\u03f2"] = True
add("redteam2_rule_key_lunate_sigma", "jane", text(ev), [], expect="rejected")
for i, person in enumerate(PEOPLE_ORDER):
    ip = [int(x) for x in PEOPLE[person]["ip"].split(".")]
    for name, v in [("own_ip_dotted_hex", ".".join("0x%02x" % o for o in ip)),
                    ("own_ip_dotted_octal", ".".join("0%o" % o for o in ip)),
                    ("own_ip_dotted_octal4", ".".join("%04o" % o for o in ip))]:
        place("redteam2_" + name, person, rot(i, STRING_SLOTS), v, [v])


# ---------------------------------------------------------------------------
# Benign events.

rng = random.Random(20261128)
CAMPAIGNS = ["cmp-2026-q4-017", "c-77", "summer_sale_2026", "brand.awareness.eu", "cmp:retarget:7",
             "q1-launch", "holiday.gifts.2026", "c-1203", "promo_bf_26", "always-on"]
PLACEMENTS = ["home-top", "sidebar-right", "feed_slot_3", "interstitial", "search-results-2",
              "article-inline", "footer", "video-preroll"]
APPS = ["com.example.game", "com.acme.weather", "io.sample.runner", "org.demo.news", "com.shop.app",
        "net.puzzle.daily"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY"]
NOTES = [
    "Winter sale banner, blue variant B",
    "Free shipping on orders over 50",
    "New arrivals: autumn jackets",
    "Up to 40% off selected lines",
    "Ends 2026-12-01",
    "Black Friday 2026 - doorbusters",
    "Only 4.99 EUR this week",
    "Free returns within 30 days",
    "Order by Dec 20 for Christmas delivery",
    "Model year 2027 now in stores",
    "App version 2.4.1 release notes teaser",
    "3 for 2 on all paperbacks",
    "Size 42 back in stock",
    "Pack of 6, limited edition",
    "Gate 12 lounge offer",
    "Rated 4.8 by 1200 readers",
    "Summer collection 2026",
    "Buy one, get one half price",
    "Weekend deal: Sat & Sun only",
    "Hand-made in Portugal since 1962",
    "Bright colours for rainy days",
    "Tap to play level 7",
    "Join 500 teams already on board",
    "Spring cleaning checklist inside",
    "Cosy reading nook ideas",
    "Fresh coffee beans, roasted weekly",
    "Compare plans from 9 per month",
    "Limited run: 250 pieces",
    "Open 24/7 online",
    "Video 0:30 cut, version C",
]
LABELS = ["sport", "outdoor", "q4", "retarget", "video", "banner", "en-US", "de-DE", "mobile",
          "desktop", "evergreen", "brand", "prospecting", "v2"]
CATEGORIES = ["books", "sports", "electronics", "travel", "garden", "toys", "home"]
QUERIES = ["waterproof hiking boots", "ceramic teapot set", "noise cancelling headphones",
           "kids bicycle helmet", "vegan cookbook", "oak dining table"]
ITEMS = ["Stainless bottle 750ml", "Wool socks, 3 pairs", "Garden hose reel", "Desk lamp LED",
         "Puzzle 1000 pieces"]


def uuidish():
    x = "%032x" % rng.getrandbits(128)
    return "-".join([x[:8], x[8:12], x[12:16], x[16:20], x[20:]])


BENIGN = []
for n in range(220):
    pid = n % 23
    user = {
        "email": "reader%02d@example.org" % pid,
        "account_id": "ACC-%04d" % (3000 + pid),
        "device_id": "dev-%02d-%s" % (pid, "%08x" % rng.getrandbits(32)),
        "ip": "198.51.100.%d" % (100 + pid),
        "age": rng.randint(19, 70),
    }
    if pid % 2 == 0:
        user["phone"] = "+1 312 555 01%02d" % pid
    meta = {"variant": rng.choice("abc"), "size": rng.choice(["300x250", "728x90", "320x50"]),
            "slot": rng.randint(1, 9), "premium": rng.random() < 0.5}
    if rng.random() < 0.5:
        meta["ratio"] = rng.choice([1.5, 0.75, 1.25])
    if rng.random() < 0.3:
        meta["lang"] = rng.choice(["en", "de", "fr"])
    ad = {
        "campaign_id": rng.choice(CAMPAIGNS),
        "placement": rng.choice(PLACEMENTS),
        "currency": rng.choice(CURRENCIES),
        "value_estimate_micros": rng.randint(0, 5_000_000),
        "creative_id": uuidish(),
        "creative_note": rng.choice(NOTES),
        "labels": rng.sample(LABELS, rng.randint(1, 4)),
        "meta": meta,
    }
    ev = {
        "event_id": "b-%03d" % n,
        "event_type": rng.choice(["ad_impression", "app_install", "ad_click"]),
        "timestamp": "2026-11-%02dT%02d:%02d:%02dZ" % (rng.randint(1, 28), rng.randint(0, 23),
                                                      rng.randint(0, 59), rng.randint(0, 59)),
        "user": user,
        "consent": {"personalized_ads": True, "gpc": False},
        "context": {"category": rng.choice(CATEGORIES), "page_url": "https://shop.example/p/%d" % rng.randint(1000, 9999),
                    "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15"},
        "ad": ad,
        "app": {"app_id": rng.choice(APPS)},
    }
    if rng.random() < 0.5:
        ev["search"] = {"query": rng.choice(QUERIES)}
    if rng.random() < 0.5:
        ev["purchase"] = {"item_name": rng.choice(ITEMS), "price": rng.randint(100, 99999)}
    # A benign event copies nothing from its protected paths.
    protected = [v for k, v in user.items() if isinstance(v, str)]
    protected += [ev["context"]["page_url"], ev["context"]["user_agent"]]
    protected += [ev.get("search", {}).get("query", ""), ev.get("purchase", {}).get("item_name", "")]
    allowed = json.dumps(ad).lower() + json.dumps(ev["app"]).lower()
    assert not any(len(p) >= 6 and p.lower() in allowed for p in protected), ev
    BENIGN.append({"id": ev["event_id"], "event": json.dumps(ev)})


def write(path, head, items):
    with open(path, "w", encoding="ascii") as f:
        f.write("{\n")
        for k, v in head.items():
            f.write(json.dumps(k) + ": " + json.dumps(v, sort_keys=True) + ",\n")
        f.write('"cases": [\n')
        f.write(",\n".join(json.dumps(c, sort_keys=True) for c in items))
        f.write("\n]}\n")


people = {}
for name in PEOPLE_ORDER:
    people[name] = dict(PEOPLE[name], digests=digests_of(PEOPLE[name]))
for name, ids, _ in OPTOUT_PEOPLE:
    people[name] = dict(ids, digests=digests_of(ids))
write(os.path.join(HERE, "hostile.json"),
      {"generated_by": "tests/corpus/generate.py", "people": people}, CASES)
write(os.path.join(HERE, "benign.json"), {"generated_by": "tests/corpus/generate.py"}, BENIGN)

if __name__ == "__main__":
    from collections import Counter
    classes = Counter(c["class"].split("@")[0].split("_")[0] for c in CASES)
    print("hostile cases: %d %s" % (len(CASES), dict(classes)))
    print("benign events: %d" % len(BENIGN))
