#!/usr/bin/env python3
"""Known-answer vectors for the partner profiles (docs/profiles.md).

Writes tests/vectors/profiles.json, which tests/it/profile_vectors.rs checks
against `adgate::profile` (every profile's normalization, the hash it sends,
and where its encoder puts it) and `adgate::identity` (the adgate profile's
ad_id).

How the values are computed
---------------------------
Independently of the Rust code, with the Python 3 standard library only
(hashlib, hmac, base64, json, re), from each partner's published rules:

  * meta_capi (Meta Conversions API, customer information parameters):
      email: trim, lowercase.
      phone: digits only, country code first, no '+'.
  * google_ads (Google Ads enhanced conversions):
      email: trim, lowercase; for gmail.com / googlemail.com remove every '.'
      before the '@' (a '+suffix' is kept: Google does not say to drop it).
      phone: E.164 with '+'.
  * tiktok_events (TikTok Events API 2.0):
      email: trim, lowercase.      phone: E.164 with '+'.
  * adgate (keyed, not linkable): adgate's own rules (docs/policy.md), then
      ad_id = KEY_ID "." base64url_nopad(HMAC-SHA256(key, KIND ":" normalized)).

Shared input rules (the gateway's, so every profile reads the same input the
same way): an email must have exactly one '@', both sides non-empty, no
whitespace inside; a phone is read by stripping ' ', '-', '.', '(' and ')',
turning a leading "00" into '+', and must then be '+' and 8 to 15 ASCII
digits. No default country is assumed, so a national number ("(650)
555-1212") or one written without '+' or "00" ("16505551212") is refused by
every profile rather than guessed. Trimming here removes ASCII whitespace
only, and the cases use no other whitespace (Rust's trim also removes Unicode
spaces; the cases stay where both agree).

The hash each profile sends is lowercase hex SHA-256 of the UTF-8 normalized
value. external_id (Meta, TikTok) is the SHA-256 of the trimmed account id,
case kept. A pre-hashed value (64 hex digits, surrounding spaces trimmed) is
forwarded lower-cased, never hashed again; anything else is ignored.

Every case carries hand-written expected normalizations where the profiles
differ; the script asserts its rules reproduce them (two independent
statements must agree), checks Meta's two published examples, and checks that
the vectors contain cases where the profiles disagree.

The adgate matching recipe printed in docs/profiles.md is the block between
the RECIPE markers below, byte for byte (tests/it/profile_vectors.rs checks
that), and it computes the adgate ad_ids in the JSON file.

Regenerate
----------
    python3 tests/vectors/profiles.py

Deterministic output: fixed key, cases in the order listed, sorted keys,
ASCII-only JSON.
"""

import base64
import hashlib
import hmac
import json
import os
import re

# --- RECIPE BEGIN ---
import base64, hashlib, hmac

def normalize_email(email):  # adgate's rule (docs/policy.md)
    local, _, domain = email.strip().lower().partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        local = local.split("+", 1)[0].replace(".", "")
    return local + "@" + domain

def ad_id(key_id, key_b64, kind, normalized):
    mac = hmac.new(base64.b64decode(key_b64), (kind + ":" + normalized).encode(), hashlib.sha256)
    return key_id + "." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
# --- RECIPE END ---

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles.json")

KEY_ID = "k1"
KEY_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # bytes 0..31

ASCII_WS = " \t\n\r\x0b\x0c"
PROFILES = ("meta_capi", "google_ads", "tiktok_events")


def sha256_hex(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def email_shape(raw):
    """Trim + lowercase, or None when it cannot be an address."""
    t = raw.strip(ASCII_WS)
    if "@" not in t:
        return None
    local, domain = t.split("@", 1)
    if not local or not domain or "@" in domain:
        return None
    if any(c.isspace() for c in t):
        return None
    return t.lower()


def email_for(profile, raw):
    e = email_shape(raw)
    if e is None:
        return None
    if profile in ("meta_capi", "tiktok_events"):
        return e
    if profile == "google_ads":
        local, domain = e.split("@", 1)
        if domain in ("gmail.com", "googlemail.com"):
            local = local.replace(".", "")
            if not local:
                return None
        return local + "@" + domain
    if profile == "adgate":
        local, domain = e.split("@", 1)
        if domain in ("gmail.com", "googlemail.com"):
            local = local.split("+", 1)[0].replace(".", "")
            if not local:
                return None
        n = local + "@" + domain
        # The recipe (what a partner runs) must agree on every valid input.
        assert normalize_email(raw) == n, (raw, normalize_email(raw), n)
        return n
    raise ValueError(profile)


E164 = re.compile(r"^\+[0-9]{8,15}$")


def phone_e164(raw):
    t = raw.strip(ASCII_WS)
    t = "".join(c for c in t if c not in " -.()")
    if t.startswith("00"):
        t = "+" + t[2:]
    return t if E164.match(t) else None


def phone_for(profile, raw):
    e = phone_e164(raw)
    if e is None:
        return None
    if profile == "meta_capi":
        return e[1:]
    return e  # google_ads, tiktok_events, adgate


# (input, note, {profile: expected normalization written by hand}); a
# profile missing from the dict expects the trim+lowercase form (email) or
# the E.164 form (phone) as computed, and None means "refused".
EMAILS = [
    ("jane.doe@example.com", "plain", {}),
    (" Jane.Doe@Example.COM ", "spaces around, uppercase", {"google_ads": "jane.doe@example.com"}),
    ("John_Smith@gmail.com", "Meta's documented example", {"google_ads": "john_smith@gmail.com"}),
    ("JOHN_SMITH@GMAIL.COM", "uppercase domain is gmail.com once lowercased", {}),
    ("jane.doe@gmail.com", "gmail dots: only Google and adgate drop them",
     {"meta_capi": "jane.doe@gmail.com", "google_ads": "janedoe@gmail.com", "adgate": "janedoe@gmail.com"}),
    ("j.a.n.e.d.o.e@gmail.com", "many gmail dots",
     {"meta_capi": "j.a.n.e.d.o.e@gmail.com", "google_ads": "janedoe@gmail.com"}),
    ("Jane.Doe@GoogleMail.com", "googlemail: dots dropped, domain kept",
     {"tiktok_events": "jane.doe@googlemail.com", "google_ads": "janedoe@googlemail.com"}),
    ("jane.doe+ads@gmail.com", "+suffix: only adgate drops it",
     {"meta_capi": "jane.doe+ads@gmail.com", "google_ads": "janedoe+ads@gmail.com", "adgate": "janedoe@gmail.com"}),
    ("Jane.Doe+Promo@GoogleMail.COM", "+suffix, googlemail, uppercase",
     {"google_ads": "janedoe+promo@googlemail.com", "adgate": "janedoe@googlemail.com"}),
    ("x.y+z@googlemail.com", "short googlemail with tag", {"google_ads": "xy+z@googlemail.com"}),
    ("First.M.Last@Gmail.com ", "gmail, uppercase, trailing space",
     {"meta_capi": "first.m.last@gmail.com", "google_ads": "firstmlast@gmail.com"}),
    ("jane+newsletter@example.com", "+suffix on another domain: everyone keeps it",
     {"adgate": "jane+newsletter@example.com"}),
    ("jane.doe@gmail.com.au", "not gmail.com: dots kept by all", {"google_ads": "jane.doe@gmail.com.au"}),
    ("jane.doe@mail.gmail.com", "gmail subdomain: dots kept", {"google_ads": "jane.doe@mail.gmail.com"}),
    ("\tjane@example.org\n", "tab and newline around", {}),
    ("first.last@sub.example.co.uk", "dots on another domain", {}),
    ("o'brien@example.ie", "apostrophe", {}),
    ("JÖRG@Example.de", "non-ASCII uppercase", {"meta_capi": "jörg@example.de"}),
    ("a@b.c", "shortest", {}),
    ("..@gmail.com", "only dots before gmail: Google and adgate refuse",
     {"meta_capi": "..@gmail.com", "google_ads": None, "adgate": None}),
    ("+ads@gmail.com", "only a tag: adgate refuses, Google keeps it",
     {"google_ads": "+ads@gmail.com", "adgate": None}),
    ("no-at-sign.example.com", "no @", {"meta_capi": None}),
    ("two@@example.com", "two @", {"google_ads": None}),
    ("jane doe@example.com", "inner space", {"tiktok_events": None}),
    ("@example.com", "empty local part", {"adgate": None}),
    ("jane@", "empty domain", {"meta_capi": None}),
    ("   ", "only spaces", {"google_ads": None}),
]

PHONES = [
    ("+1 206 555 0100", "spaces", {"meta_capi": "12065550100", "google_ads": "+12065550100"}),
    ("+12065550100", "already E.164", {"meta_capi": "12065550100", "tiktok_events": "+12065550100"}),
    ("+1 (650) 555-1212", "Meta's example number, international", {"meta_capi": "16505551212"}),
    ("001 650 555 1212", "00 prefix", {"meta_capi": "16505551212", "google_ads": "+16505551212"}),
    ("00 1 206 555 0100", "00 then a space", {"tiktok_events": "+12065550100"}),
    ("0044 20 7946 0000", "00 prefix, UK", {"meta_capi": "442079460000", "google_ads": "+442079460000"}),
    ("+44 (0)20 7946 0000", "trunk (0) is not removed by the shared input rule",
     {"meta_capi": "4402079460000"}),
    ("+33.1.23.45.67.89", "dots", {"meta_capi": "33123456789"}),
    ("+49-30-1234567", "dashes", {"google_ads": "+49301234567"}),
    ("  +81 3-1234-5678  ", "spaces around", {"tiktok_events": "+81312345678"}),
    ("+61 4 1234 5678", "mobile", {"meta_capi": "61412345678"}),
    ("+12345678", "8 digits: shortest accepted", {"meta_capi": "12345678"}),
    ("+123456789012345", "15 digits: longest accepted", {"google_ads": "+123456789012345"}),
    ("+1234567", "7 digits: refused", {"meta_capi": None}),
    ("+1234567890123456", "16 digits: refused", {"google_ads": None}),
    ("(650) 555-1212", "national, no country code: refused (no default country)", {"meta_capi": None}),
    ("16505551212", "digits without + or 00: refused, country code not assumed", {"meta_capi": None}),
    ("0 20 7946 0000", "national with trunk 0: refused", {"tiktok_events": None}),
    ("+1 206 CALL NOW", "letters", {"google_ads": None}),
    ("+1 206 555 0100 ext. 5", "extension", {"meta_capi": None}),
    ("+1/206/555/0100", "slashes are not stripped", {"tiktok_events": None}),
]

EXTERNAL_IDS = ["A123", " A123 ", "a123", "user-42", "Ünïcode-ID", "   ", ""]

H = sha256_hex("someone@example.org")
PREHASHED = [
    (H, H),
    (H.upper(), H),
    (H[:32].upper() + H[32:], H),
    ("  " + H.upper() + " ", H),
    (H[:-1], None),
    (H + "0", None),
    (H[:-1] + "g", None),
    ("sha256:" + H, None),
]


def build(cases, normalize_for, kind):
    out = []
    for raw, note, expected in cases:
        case = {"input": raw, "note": note}
        for p in PROFILES + ("adgate",):
            n = normalize_for(p, raw)
            if p in expected:
                assert expected[p] == n, (kind, raw, p, expected[p], n)
            if p == "adgate":
                case[p] = None if n is None else {
                    "normalized": n,
                    "ad_id": ad_id(KEY_ID, KEY_B64, kind, n),
                }
            else:
                case[p] = None if n is None else {"normalized": n, "sha256": sha256_hex(n)}
        out.append(case)
    return out


def disagreements(cases):
    """Cases where the linkable profiles do not all send the same hash."""
    n = 0
    for c in cases:
        hashes = {json.dumps(c[p]) for p in PROFILES}
        if len(hashes) > 1:
            n += 1
    return n


def main():
    # Meta's published examples (customer information parameters page).
    assert sha256_hex(email_for("meta_capi", "John_Smith@gmail.com")) == \
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    assert sha256_hex(phone_for("meta_capi", "+1 (650)555-1212")) == \
        "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    # HMAC-SHA256 against RFC 4231 test case 2.
    assert hmac.new(b"Jefe", b"what do ya want for nothing?", hashlib.sha256).hexdigest() == \
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

    emails = build(EMAILS, email_for, "email")
    phones = build(PHONES, phone_for, "phone")
    assert len(emails) >= 20 and len(phones) >= 15
    assert disagreements(emails) >= 8, disagreements(emails)
    assert disagreements(phones) >= 10, disagreements(phones)

    doc = {
        "adgate_key": {"id": KEY_ID, "secret_b64": KEY_B64},
        "emails": emails,
        "phones": phones,
        "external_ids": [
            {"input": a, "sha256": sha256_hex(a.strip(ASCII_WS)) if a.strip(ASCII_WS) else None}
            for a in EXTERNAL_IDS
        ],
        "prehashed": [{"input": i, "forwarded": f} for i, f in PREHASHED],
    }
    with open(OUT, "w", encoding="ascii") as f:
        json.dump(doc, f, indent=1, sort_keys=True, ensure_ascii=True)
        f.write("\n")
    print(f"wrote {OUT}: {len(emails)} emails, {len(phones)} phones "
          f"({disagreements(emails)} / {disagreements(phones)} where the profiles disagree)")


if __name__ == "__main__":
    main()
