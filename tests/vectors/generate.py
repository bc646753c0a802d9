#!/usr/bin/env python3
"""Known-answer test vectors for adgate identifier normalization and ad_id derivation.

Writes tests/vectors/identity.json, which tests/it/vectors.rs checks against the
`adgate::identity` API.

How the values are computed
---------------------------
Independently of the Rust code, with the Python 3 standard library only
(hmac, hashlib, base64, json, subprocess), following docs/policy.md:

    ad_id    = KEY_ID + "." + base64url_nopad(HMAC-SHA256(key_bytes, KIND + ":" + normalized))
    event_id = KEY_ID + "." + base64url_nopad(HMAC-SHA256(key_bytes, "event_id:" + raw_event_id))

KIND is email | phone | account_id | device_id; the message is UTF-8 encoded.
key_bytes is the standard-alphabet, padded base64 decoding of `secret_b64`.

Normalization rules, re-implemented below (normalize_*):

  * "Unicode whitespace" is the Unicode White_Space property, i.e. exactly what
    Rust's char::is_whitespace / str::trim use. It is spelled out in WHITE_SPACE
    instead of using Python's str.strip()/str.isspace(), which differ (Python
    also treats U+001C..U+001F as space).
  * email: trim; lowercase (str.lower(); the cases avoid characters where it
    differs from Rust's str::to_lowercase: no sigma, no dotted/dotless I);
    exactly one '@', non-empty local part and domain, no whitespace inside,
    else invalid. If the domain is gmail.com or googlemail.com: remove every
    '.' from the local part and drop everything from the first '+'; the
    domain is kept as written; an empty local part is then invalid. Other
    domains keep dots and +tags. No IDN/punycode conversion, no Unicode
    normalization (NFC/NFKC).
  * phone: trim; remove ' ', '-', '.', '(' and ')'; a leading "00" becomes
    "+"; the result must match ^\\+[0-9]{8,15}$ (ASCII digits), else invalid.
    No default country.
  * account_id / device_id: trim, case kept; empty after trimming is invalid.
  * event_id: the raw string, not normalized at all.

Every case also carries a hand-written expected normalization; the script
asserts that the Python rules reproduce it (two independent statements of the
rules must agree), and that normalization is idempotent.

Cross-checks
------------
  * Python's HMAC-SHA256 is checked against RFC 4231 test cases 1 and 6.
  * Every ad_id and event_id in the file is recomputed with the openssl CLI
    (`openssl dgst -sha256 -mac HMAC -macopt hexkey:...`, and additionally
    `openssl dgst -sha256 -hmac KEY` for the printable-ASCII key k2) and
    asserted equal. If openssl is not installed this step is skipped with a
    message on stderr.

Regenerate
----------
    python3 tests/vectors/generate.py

The output is deterministic: fixed keys, cases in the order listed here,
object keys sorted, ASCII-only JSON (non-ASCII and whitespace characters are
written as \\uXXXX escapes so nothing invisible hides in the file).
"""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "identity.json")

# --------------------------------------------------------------------------
# Keys: fixed values, never random.
#   k1: 32 arbitrary bytes (contains 0x00; its base64 contains '+' and '/',
#       so decoding with the URL-safe alphabet by mistake would fail).
#   k2: 32 printable ASCII bytes, so openssl's plain `-hmac KEY` form can be
#       used as a second cross-check.
#   k3: 100 bytes, longer than the SHA-256 block size (64), so HMAC hashes it
#       first (RFC 2104); exercises the long-key path.
# --------------------------------------------------------------------------
KEYS = [
    ("k1", bytes.fromhex("3a02135db08e36117ce9713b6200f06e2cb5b80cb25ae019e3dfeefb5d7424b8")),
    ("k2", b"adgate-test-vector-key-2-32bytes"),
    ("k3", bytes((i * 7 + 3) % 256 for i in range(100))),
]

# Unicode White_Space (Rust char::is_whitespace, str::trim).
WHITE_SPACE = frozenset(
    [chr(c) for c in range(0x09, 0x0E)]
    + ["\u0020", "\u0085", "\u00a0", "\u1680"]
    + [chr(c) for c in range(0x2000, 0x200B)]
    + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
)

GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
E164 = re.compile(r"\+[0-9]{8,15}")  # used with fullmatch; [0-9] is ASCII only


def trim(s):
    """Strip Unicode White_Space at both ends (like Rust str::trim)."""
    i, j = 0, len(s)
    while i < j and s[i] in WHITE_SPACE:
        i += 1
    while j > i and s[j - 1] in WHITE_SPACE:
        j -= 1
    return s[i:j]


def normalize_email(raw):
    s = trim(raw).lower()
    if s.count("@") != 1 or any(c in WHITE_SPACE for c in s):
        return None
    local, domain = s.split("@")
    if not local or not domain:
        return None
    if domain in GMAIL_DOMAINS:
        local = local.replace(".", "").split("+", 1)[0]
        if not local:
            return None
    return local + "@" + domain


def normalize_phone(raw):
    s = trim(raw)
    for c in " -.()":
        s = s.replace(c, "")
    if s.startswith("00"):
        s = "+" + s[2:]
    return s if E164.fullmatch(s) else None


def normalize_id(raw):
    s = trim(raw)
    return s or None


NORMALIZERS = {
    "email": normalize_email,
    "phone": normalize_phone,
    "account_id": normalize_id,
    "device_id": normalize_id,
}


def b64url_nopad(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def mac(key, message):
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def derive(key_id, key, kind, value):
    return key_id + "." + b64url_nopad(mac(key, kind + ":" + value))


# --------------------------------------------------------------------------
# Cases: (kind, input, expected normalized value written by hand or None, note)
# --------------------------------------------------------------------------
N = None
CASES = [
    # ---- email: valid, generic domains -------------------------------------
    ("email", "jane.doe@example.com", "jane.doe@example.com", "already normalized; baseline"),
    ("email", "Jane.Doe@Example.COM", "jane.doe@example.com", "local part and domain lowercased"),
    ("email", "  jane.doe@example.com  ", "jane.doe@example.com", "surrounding ASCII spaces trimmed"),
    ("email", "\tJane.Doe@Example.com\n", "jane.doe@example.com", "leading tab, trailing newline trimmed"),
    ("email", "\r\n jane@example.com \t\r\n", "jane@example.com", "CR/LF/tab/space mix trimmed"),
    ("email", "\u00a0jane@example.com\u3000", "jane@example.com", "NO-BREAK SPACE and IDEOGRAPHIC SPACE trimmed (Unicode whitespace)"),
    ("email", "\u2003jane@example.com\u2028\u0085", "jane@example.com", "EM SPACE, LINE SEPARATOR, NEL trimmed (Unicode whitespace)"),
    ("email", "Jane.Doe+News@Example.com", "jane.doe+news@example.com", "non-gmail: +tag kept"),
    ("email", "j.a.n.e@example.org", "j.a.n.e@example.org", "non-gmail: dots kept"),
    ("email", "+tag@example.com", "+tag@example.com", "non-gmail: local part starting with '+' is kept and valid"),
    ("email", "jane.doe@mail.gmail.com", "jane.doe@mail.gmail.com", "subdomain of gmail.com is not gmail: dots kept"),
    ("email", "Jane.Doe+x@gmail.co", "jane.doe+x@gmail.co", "look-alike domain gmail.co is not gmail"),
    ("email", "jane.doe+x@gmail.com.example", "jane.doe+x@gmail.com.example", "gmail.com as a prefix of the domain is not gmail"),
    ("email", "Jane.Doe+x@GMAIL.com.", "jane.doe+x@gmail.com.", "trailing-dot domain 'gmail.com.' is not gmail; no domain syntax check"),
    ("email", "jane.doe@outlook.com", "jane.doe@outlook.com", "only gmail/googlemail get dot/+tag rules"),
    # ---- email: gmail / googlemail ------------------------------------------
    ("email", "Jane.Doe@gmail.com", "janedoe@gmail.com", "gmail: dots removed from local part"),
    ("email", "jane.doe+ads@gmail.com", "janedoe@gmail.com", "gmail: +tag dropped and dots removed"),
    ("email", "J.A.N.E.D.O.E@GMAIL.COM", "janedoe@gmail.com", "gmail: uppercase domain recognized after lowercasing; all dots removed"),
    ("email", "Jane.Doe+Promo@Gmail.COM", "janedoe@gmail.com", "gmail: mixed-case domain Gmail.COM, +tag dropped"),
    ("email", "jane.doe+a+b@gmail.com", "janedoe@gmail.com", "gmail: everything from the FIRST '+' dropped"),
    ("email", "jane+x.y.z@gmail.com", "jane@gmail.com", "gmail: dots after the '+' go with the tag"),
    ("email", "jane..doe.@gmail.com", "janedoe@gmail.com", "gmail: consecutive and trailing dots removed"),
    ("email", ".jane@gmail.com", "jane@gmail.com", "gmail: leading dot removed"),
    ("email", "Jane.Doe+x@GoogleMail.com", "janedoe@googlemail.com", "googlemail: same rules; domain kept as googlemail.com"),
    ("email", "janedoe@googlemail.com", "janedoe@googlemail.com", "googlemail is NOT rewritten to gmail.com"),
    ("email", "\t Jane.Doe+spam@Gmail.com \n", "janedoe@gmail.com", "gmail: trim + lowercase + dots + tag together"),
    ("email", "\u00d6.Z+x@Gmail.com", "\u00f6z@gmail.com", "gmail rules applied to a non-ASCII local part"),
    # ---- email: unicode / IDN -------------------------------------------------
    ("email", "J\u00d6RG@B\u00fccher.example", "j\u00f6rg@b\u00fccher.example", "unicode local part and IDN domain lowercased, kept as Unicode (no punycode)"),
    ("email", "J\u00f6rg.M\u00fcller+Tag@B\u00dcCHER.example", "j\u00f6rg.m\u00fcller+tag@b\u00fccher.example", "unicode, non-gmail: dots and +tag kept"),
    ("email", "\u00c9LODIE@Exemple.FR", "\u00e9lodie@exemple.fr", "Latin-1 uppercase \u00c9 lowercased"),
    ("email", "\u00c5SA@Exempel.SE", "\u00e5sa@exempel.se", "Latin-1 uppercase \u00c5 lowercased"),
    ("email", "\u041f\u041e\u0427\u0422\u0410@\u041f\u0440\u0438\u043c\u0435\u0440.\u0420\u0424", "\u043f\u043e\u0447\u0442\u0430@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "Cyrillic local part and domain lowercased"),
    ("email", "jane@xn--bcher-kva.example", "jane@xn--bcher-kva.example", "punycode domain kept as is (not decoded)"),
    # ---- email: invalid -------------------------------------------------------
    ("email", "+only@gmail.com", N, "gmail: local part empty after dropping the +tag"),
    ("email", "...@gmail.com", N, "gmail: local part empty after removing dots"),
    ("email", ".+tag@googlemail.com", N, "googlemail: local part empty after dots and +tag"),
    ("email", "jane.example.com", N, "missing '@'"),
    ("email", "jane@doe@example.com", N, "two '@'"),
    ("email", "jane@@example.com", N, "two adjacent '@'"),
    ("email", "@example.com", N, "empty local part"),
    ("email", "  @example.com  ", N, "empty local part after trimming"),
    ("email", "jane@", N, "empty domain"),
    ("email", "@", N, "'@' alone"),
    ("email", "", N, "empty string"),
    ("email", " \t\r\n\u00a0", N, "whitespace only"),
    ("email", "jane doe@example.com", N, "space inside the local part"),
    ("email", "jane@exa mple.com", N, "space inside the domain"),
    ("email", "jane\t@example.com", N, "tab inside"),
    ("email", "jane\u00a0doe@example.com", N, "NO-BREAK SPACE inside (Unicode whitespace)"),
    ("email", "jane@example.com\njohn@example.com", N, "two lines: newline inside, two '@'"),
    # ---- phone: valid -----------------------------------------------------------
    ("phone", "+12065550100", "+12065550100", "already E.164"),
    ("phone", "+1 206 555 0100", "+12065550100", "spaces stripped"),
    ("phone", "+1-206-555-0100", "+12065550100", "dashes stripped"),
    ("phone", "+1.206.555.0100", "+12065550100", "dots stripped"),
    ("phone", "+1 (206) 555-0100", "+12065550100", "parentheses, spaces and dashes stripped"),
    ("phone", "  +1 206 555 0100\t\n", "+12065550100", "surrounding whitespace trimmed"),
    ("phone", "\u00a0+12065550100\u3000", "+12065550100", "Unicode whitespace trimmed at the ends"),
    ("phone", "0012065550100", "+12065550100", "leading 00 becomes +"),
    ("phone", "00 44 20 7946 0958", "+442079460958", "leading 00 with spaces"),
    ("phone", "00-49-30-1234567", "+49301234567", "leading 00 with dashes"),
    ("phone", "(0044) 20 7946 0958", "+442079460958", "00 is checked after stripping parentheses"),
    ("phone", "+12345678", "+12345678", "exactly 8 digits: minimum valid"),
    ("phone", "+123456789012345", "+123456789012345", "exactly 15 digits: maximum valid"),
    ("phone", "00123456789012345", "+123456789012345", "00 + 15 digits: valid"),
    ("phone", "0012345678", "+12345678", "00 + 8 digits: valid"),
    # ---- phone: invalid -----------------------------------------------------------
    ("phone", "+1234567", N, "7 digits: too short"),
    ("phone", "+1234567890123456", N, "16 digits: too long"),
    ("phone", "2065550100", N, "no '+': no default country"),
    ("phone", "206 555 0100", N, "national format without '+': no default country"),
    ("phone", "0 206 555 0100", N, "single leading 0 (trunk prefix) is not 00"),
    ("phone", "+1 206 555 CALL", N, "letters"),
    ("phone", "+1 206 555 0100 ext 5", N, "extension text"),
    ("phone", "+", N, "'+' alone"),
    ("phone", "00", N, "'00' alone becomes '+' alone"),
    ("phone", "001234567", N, "00 then 7 digits: too short"),
    ("phone", "++12065550100", N, "double '+'"),
    ("phone", "+1/206/555/0100", N, "slashes are not stripped"),
    ("phone", "+\uff11\uff12\uff10\uff16\uff15\uff15\uff15\uff10\uff11\uff10\uff10", N, "fullwidth digits are not ASCII [0-9]"),
    ("phone", "", N, "empty string"),
    ("phone", " \t ", N, "whitespace only"),
    # ---- account_id -----------------------------------------------------------------
    ("account_id", "A123", "A123", "baseline"),
    ("account_id", "  A123  ", "A123", "surrounding spaces trimmed"),
    ("account_id", "\tA123\r\n", "A123", "tab and CRLF trimmed"),
    ("account_id", "\u00a0A123\u2003", "A123", "Unicode whitespace trimmed"),
    ("account_id", "a123", "a123", "case kept: differs from A123"),
    ("account_id", "Acct 42", "Acct 42", "inner whitespace kept"),
    ("account_id", "Kunde-\u00c4123-\u00df", "Kunde-\u00c4123-\u00df", "Unicode kept, case kept"),
    ("account_id", "\u7528\u623712345", "\u7528\u623712345", "CJK kept"),
    ("account_id", "Jane.Doe+x@Gmail.com", "Jane.Doe+x@Gmail.com", "email-looking account_id gets no email normalization"),
    ("account_id", "", N, "empty string"),
    ("account_id", "   ", N, "spaces only"),
    ("account_id", "\u3000\u00a0\t\n", N, "Unicode whitespace only"),
    # ---- device_id ------------------------------------------------------------------
    ("device_id", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "IDFA-style uppercase UUID kept"),
    ("device_id", "6d92078a-8246-4ba4-ae5b-76104861e7dc", "6d92078a-8246-4ba4-ae5b-76104861e7dc", "case kept: lowercase UUID is a different id"),
    ("device_id", " 6D92078A-8246-4BA4-AE5B-76104861E7DC\n", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "trimmed"),
    ("device_id", "38400000-8cf0-11bd-b23e-10b96e40000d", "38400000-8cf0-11bd-b23e-10b96e40000d", "GAID-style lowercase UUID"),
    ("device_id", "\u2029abc-DEF\u0085", "abc-DEF", "PARAGRAPH SEPARATOR and NEL trimmed"),
    ("device_id", "ger\u00e4t:\u00c4\u00d6\u00dc", "ger\u00e4t:\u00c4\u00d6\u00dc", "Unicode kept, case kept"),
    ("device_id", "A123", "A123", "same value as account_id A123: ad_id differs (KIND is in the MAC input)"),
    ("device_id", "", N, "empty string"),
    ("device_id", "\t\r\n ", N, "whitespace only"),
    ("device_id", "\u2000\u205f", N, "Unicode whitespace only"),
]

EVENT_IDS = [
    "0b6f3c1e-9a4d-4f2b-8c7e-1d2a3b4c5d6e",
    "0B6F3C1E-9A4D-4F2B-8C7E-1D2A3B4C5D6E",  # case matters: not normalized
    " evt-1 ",  # not trimmed: raw string
    "\u00e9v\u00e8nement-\u00fc-1",  # non-ASCII
    "evt:with:colons/and+plus=",
    "x" * 200,  # long
]


# --------------------------------------------------------------------------
# Self-checks
# --------------------------------------------------------------------------
def check_hmac_rfc4231():
    tc1 = hmac.new(b"\x0b" * 20, b"Hi There", hashlib.sha256).hexdigest()
    assert tc1 == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", tc1
    tc6 = hmac.new(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
                   hashlib.sha256).hexdigest()
    assert tc6 == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", tc6


def openssl_hex(args, message):
    out = subprocess.run(["openssl", "dgst", "-sha256"] + args, input=message.encode("utf-8"),
                         capture_output=True, check=True).stdout.decode("ascii")
    # "HMAC-SHA2-256(stdin)= <hex>" (3.x) or "(stdin)= <hex>" (1.1)
    return out.strip().rsplit("= ", 1)[1].strip()


def cross_check_openssl(doc, keys):
    if shutil.which("openssl") is None:
        print("openssl not found: skipping the openssl cross-check", file=sys.stderr)
        return 0
    checked = 0
    todo = []
    for case in doc["cases"]:
        if case["ad_ids"] is not None:
            for kid, value in case["ad_ids"].items():
                todo.append((kid, case["kind"] + ":" + case["normalized"], value))
    for ev in doc["event_ids"]:
        for kid, value in ev["ids"].items():
            todo.append((kid, "event_id:" + ev["input"], value))
    for kid, message, expected in todo:
        key = keys[kid]
        forms = [["-mac", "HMAC", "-macopt", "hexkey:" + key.hex()]]
        if all(0x20 < b < 0x7F for b in key):
            forms.append(["-hmac", key.decode("ascii")])
        for args in forms:
            got = kid + "." + b64url_nopad(bytes.fromhex(openssl_hex(args, message)))
            assert got == expected, (kid, message, args[0], got, expected)
            checked += 1
    return checked


# --------------------------------------------------------------------------
def build():
    check_hmac_rfc4231()
    keys = dict(KEYS)
    for kid, key in KEYS:
        assert len(key) >= 32, kid
        assert base64.b64decode(base64.b64encode(key), validate=True) == key

    seen = set()
    cases = []
    for kind, raw, expected, note in CASES:
        assert (kind, raw) not in seen, ("duplicate case", kind, raw)
        seen.add((kind, raw))
        got = NORMALIZERS[kind](raw)
        assert got == expected, ("rules disagree with hand-written expectation", kind, raw, got, expected)
        if got is not None:
            assert NORMALIZERS[kind](got) == got, ("not idempotent", kind, raw, got)
        cases.append({
            "kind": kind,
            "input": raw,
            "normalized": got,
            "ad_ids": None if got is None else {kid: derive(kid, key, kind, got) for kid, key in KEYS},
            "note": note,
        })

    assert len(set(EVENT_IDS)) == len(EVENT_IDS)
    event_ids = [{"input": e, "ids": {kid: derive(kid, key, "event_id", e) for kid, key in KEYS}}
                 for e in EVENT_IDS]

    doc = {
        "comment": (
            "Generated by tests/vectors/generate.py (Python stdlib hmac/hashlib/base64, independent of the "
            "Rust code; regenerate with `python3 tests/vectors/generate.py`). "
            "ad_id = KEY_ID + '.' + base64url_nopad(HMAC-SHA256(key_bytes, KIND + ':' + normalized)); "
            "event id = KEY_ID + '.' + base64url_nopad(HMAC-SHA256(key_bytes, 'event_id:' + raw_event_id)); "
            "key_bytes = standard base64 decoding of secret_b64; messages are UTF-8. "
            "normalized/ad_ids null = identifier invalid (treated as absent). "
            "Every ad_id and event id was cross-checked with `openssl dgst -sha256 -mac HMAC -macopt hexkey:...` "
            "(and `-hmac` for the ASCII key k2)."
        ),
        "keys": [{"id": kid, "secret_b64": base64.b64encode(key).decode("ascii")} for kid, key in KEYS],
        "cases": cases,
        "event_ids": event_ids,
    }
    return doc, keys


def main():
    doc, keys = build()
    checked = cross_check_openssl(doc, keys)
    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
    with open(OUT, "w", encoding="ascii", newline="\n") as f:
        f.write(text)
    counts = {}
    for c in doc["cases"]:
        valid, invalid = counts.get(c["kind"], (0, 0))
        counts[c["kind"]] = (valid + (c["normalized"] is not None), invalid + (c["normalized"] is None))
    for kind, (valid, invalid) in counts.items():
        print(f"{kind:>10}: {valid + invalid} cases ({valid} valid, {invalid} invalid)")
    print(f"  event_id: {len(doc['event_ids'])} cases")
    print(f"keys: {', '.join(k for k, _ in KEYS)}; openssl cross-checks: {checked}")
    print(f"wrote {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
