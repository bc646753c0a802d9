#!/usr/bin/env python3
"""Fails when a config key, an HTTP route or a metric exists in the code but
is not documented under docs/.

The lists come from the code, not from a hand-kept list:

- config keys: the fields of the `Raw*` structs (and `Raw*` enums) in
  src/config/raw.rs, walked from `RawConfig` so each key has its full path
  (`server.listen`, `partners.delivery.mode`, `partners.fields[].type`);
  serde renames are honoured, skipped and flattened fields handled. Each
  must appear in docs/config.md as `` `path` `` (an index `[]` may be
  written, e.g. `partners.fields[].path`) or, for a table, as `[path]` or
  `[[path]]`.
- routes: the paths `route_of` in src/api/mod.rs recognises (`"/v1/events"`,
  and `starts_with`/`ends_with` patterns, shown as `/v1/feed/{…}/commit`),
  with the methods `dispatch` allows for each. Each "METHOD PATH" must
  appear in docs/http-api.md (a `{name}` there matches any placeholder),
  and each path with its method (GET for HEAD) in openapi.yaml.
- metrics: every `adgate_*` name registered in src/metrics/mod.rs, with its
  labels. Each name must appear in docs/metrics.md as `` `name` ``, and the
  table row naming it must list each of its labels.

Also checks that the worked examples of docs/policy.md (ad_id) and
docs/delivery.md (Adgate-Signature) still compute, and that no "SPEC §"
reference is left in README.md, docs/, openapi.yaml, deploy/ or tests/*.py,
and that the relative links of README.md and docs/ (with their #anchors)
resolve.

The other way round (a key, route or metric the docs describe but the code
does not have) is printed as NOTE lines, and is a failure with --both-ways.

Every run first proves on a scratch copy that it notices a planted
undocumented key, route, metric and label (so it cannot pass vacuously).

Usage: python3 scripts/check_docs.py [--both-ways] [REPO_ROOT]. Exit 0 when
all is documented, 1 with one line per missing item naming the item and the
page.
Standard library only.
"""

import base64
import hashlib
import hmac
import os
import re
import sys

_ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
ROOT = os.path.abspath(_ARGS[0] if _ARGS else os.path.join(os.path.dirname(__file__), ".."))


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def strip_comments(src):
    """Removes // comments (not inside string literals) and /* */ blocks."""
    out = []
    i, n = 0, len(src)
    in_str = False
    while i < n:
        c = src[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(src[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
            continue
        if c == '"':
            in_str = True
            out.append(c)
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif src.startswith("'", i) and re.match(r"'(\\.|[^\\'])'", src[i:i + 4]):
            # A char literal such as '"' must not open a string.
            m = re.match(r"'(\\.|[^\\'])'", src[i:i + 4])
            out.append(m.group(0))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def block_after(src, start):
    """The text between the `{` at or after `start` and its matching `}`."""
    i = src.index("{", start)
    depth = 0
    for j in range(i, len(src)):
        if src[j] == "{":
            depth += 1
        elif src[j] == "}":
            depth -= 1
            if depth == 0:
                return src[i + 1:j]
    raise ValueError("unbalanced braces")


def split_top(s, sep=","):
    """Splits on `sep` outside (), [], {}, <>."""
    parts, depth, cur = [], 0, []
    for c in s:
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    parts.append("".join(cur))
    return [p for p in (x.strip() for x in parts) if p]


def serde_args(attrs):
    """The `#[serde(...)]` arguments among a field's attributes."""
    args = []
    for a in re.findall(r"#\[serde\((.*?)\)\]", attrs, re.S):
        args += split_top(a)
    return args


# ---------------------------------------------------------------------------
# Config keys.

def raw_types(src):
    """{name: ("struct", [(key, type)]) | ("enum", [payload types])}."""
    types = {}
    for m in re.finditer(r"\bpub\s+(struct|enum)\s+(Raw\w*)\b", src):
        kind, name = m.group(1), m.group(2)
        body = block_after(src, m.end())
        if kind == "struct":
            fields = []
            for item in split_top(body):
                fm = re.match(r"((?:#\[.*?\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?(r#)?(\w+)\s*:\s*(.+)$", item, re.S)
                if not fm:
                    continue
                attrs, field, ty = fm.group(1), fm.group(3), fm.group(4)
                args = serde_args(attrs)
                if "skip" in args or "skip_deserializing" in args:
                    continue
                key = field
                for a in args:
                    r = re.match(r'rename\s*=\s*"([^"]+)"', a)
                    if r:
                        key = r.group(1)
                if "flatten" in args:
                    key = None  # its fields sit at this level
                fields.append((key, ty))
            types[name] = ("struct", fields)
        else:
            payloads = []
            for item in split_top(body):
                item = re.sub(r"#\[.*?\]\s*", "", item, flags=re.S)
                vm = re.match(r"\w+\s*(\((.*)\)|\{(.*)\})?$", item, re.S)
                if vm and vm.group(2):
                    payloads += split_top(vm.group(2))
                elif vm and vm.group(3):
                    # A struct variant: treat it as an anonymous struct.
                    anon = "Raw<variant of %s>" % name
                    sub = raw_types("pub struct %s {%s}" % (anon.replace("<", "_").replace(">", "_").replace(" ", "_"), vm.group(3)))
                    for k, v in sub.items():
                        types[k] = v
                        payloads.append(k)
            types[name] = ("enum", payloads)
    return types


def config_keys(src):
    types = raw_types(src)
    if "RawConfig" not in types:
        sys.exit("check_docs: no `pub struct RawConfig` in src/config/raw.rs; update scripts/check_docs.py")
    keys = []

    def raw_in(ty):
        return [t for t in re.findall(r"\b(Raw\w*)\b", ty) if t in types]

    def walk(name, prefix, seen):
        kind, items = types[name]
        if kind == "enum":
            for ty in items:
                for r in raw_in(ty):
                    if r not in seen:
                        walk(r, prefix, seen | {r})
            return
        for key, ty in items:
            path = prefix if key is None else (prefix + "." + key if prefix else key)
            if key is not None:
                keys.append(path)
            for r in raw_in(ty):
                if r in seen:
                    continue
                # A list of tables is written with [] in docs (fields[].path)
                # but its keys print without it in errors; accept both.
                walk(r, path, seen | {r})

    walk("RawConfig", "", {"RawConfig"})
    # A `fields` entry is read by src/contract.rs from the TOML value (path
    # string or inline table); its table keys are the ones `parse_entry`
    # accepts.
    contract = read("src/contract.rs")
    m = re.search(r'matches!\(\s*k\.as_str\(\),\s*((?:"[a-z_]+"\s*\|?\s*)+)\)', contract)
    if not m:
        sys.exit("check_docs: the key list of parse_entry in src/contract.rs moved; update scripts/check_docs.py")
    for k in re.findall(r'"([a-z_]+)"', m.group(1)):
        keys.append("partners.fields." + k)
    return sorted(set(keys))


def documented_config(doc):
    found = set()
    for tok in re.findall(r"`([^`\n]+)`", doc):
        found.add(tok.replace("[]", "").strip())
    for tok in re.findall(r"\[\[?([A-Za-z0-9_.]+)\]\]?", doc):
        found.add(tok)
    return found


# ---------------------------------------------------------------------------
# Routes.

def routes(src):
    src = strip_comments(src)
    m = re.search(r"fn\s+route_of\s*\(", src)
    if not m:
        sys.exit("check_docs: no `fn route_of` in src/api/mod.rs; update scripts/check_docs.py")
    body = block_after(src, m.end())
    label_path = {}
    for arm in re.finditer(r"([^,{}]*?)=>\s*\{?\s*\"([^\"]+)\"", body):
        pat, label = arm.group(1).strip(), arm.group(2)
        lit = re.fullmatch(r'"([^"]+)"', pat)
        if lit:
            label_path[label] = lit.group(1)
            continue
        sw = re.search(r'starts_with\("([^"]+)"\)', pat)
        ew = re.search(r'ends_with\("([^"]+)"\)', pat)
        if sw:
            path = sw.group(1).rstrip("/") + "/{…}" + (ew.group(1) if ew else "")
            label_path[label] = path
    m = re.search(r"fn\s+dispatch\s*\(", src)
    if not m:
        sys.exit("check_docs: no `fn dispatch` in src/api/mod.rs; update scripts/check_docs.py")
    body = block_after(src, m.end())
    mm = re.search(r"match\s+route\s*\{", body)
    arms = body[mm.end():]
    out = []
    pieces = re.split(r"((?:\"[^\"]+\"\s*\|\s*)*\"[^\"]+\"\s*(?:if\s+[\w\s&|!]+?)?=>)", arms)
    for i in range(1, len(pieces) - 1, 2):
        labels = re.findall(r'"([^"]+)"', pieces[i].split("=>")[0].split(" if ")[0])
        am = re.search(r"allow\(&\[([^\]]*)\]\)", pieces[i + 1])
        methods = re.findall(r"Method::([A-Z]+)", am.group(1)) if am else []
        for label in labels:
            path = label_path.get(label, label)
            for meth in methods or ["GET"]:
                out.append((meth, path, label))
    unrouted = sorted(set(label_path) - {l for _, _, l in out})
    for label in unrouted:
        out.append(("ANY", label_path[label], label))
    return out


def route_documented(doc, method, path):
    # `{…}` in the code's pattern matches any `{name}` in the docs.
    rx = re.escape(path).replace(re.escape("{…}"), r"\{[A-Za-z_]+\}")
    if method == "ANY":
        return re.search(rx + r"(?![A-Za-z0-9_/{])", doc) is not None
    return re.search(r"\b" + method + r"\s+" + rx + r"(?![A-Za-z0-9_/{])", doc) is not None


def openapi_operations(text):
    """{(METHOD, path)} of openapi.yaml, read line by line (no YAML library)."""
    ops, path = set(), None
    for line in text.splitlines():
        m = re.match(r"  (/\S*):\s*$", line)
        if m:
            path = m.group(1)
            continue
        if re.match(r"\S", line):
            path = None
        m = re.match(r"    (get|put|post|delete|patch|head|options):\s*$", line)
        if m and path:
            ops.add((m.group(1).upper(), path))
    return ops


def route_in_openapi(ops, method, path):
    rx = re.escape(path).replace(re.escape("{…}"), r"\{[A-Za-z_]+\}") + "$"
    # HEAD mirrors GET; OpenAPI documents the GET.
    want = "GET" if method == "HEAD" else method
    return any((m == want or method == "ANY") and re.match(rx, p) for m, p in ops)


# ---------------------------------------------------------------------------
# Metrics.

def metrics(src):
    src = strip_comments(src)
    found = {}
    # A name with its help text: counter(&r, "name", "help", &["a", "b"]),
    # IntCounterVec::new(Opts::new("name", "help"), &["a"]),
    # HistogramVec::new(HistogramOpts::new("name", "help").buckets(..), &["a"]).
    # The labels are the first &[...] of string literals before the next
    # metric name or `register(` call.
    named = list(re.finditer(r'"(adgate_[a-z0-9_]+)"\s*,\s*"(?:[^"\\]|\\.)*"', src))
    for i, m in enumerate(named):
        end = named[i + 1].start() if i + 1 < len(named) else len(src)
        reg = src.find("register(", m.end(), end)
        window = src[m.end():reg if reg >= 0 else end]
        lm = re.search(r'&\[\s*((?:"[^"]*"\s*,?\s*)+)\]', window)
        labels = re.findall(r'"([^"]+)"', lm.group(1)) if lm else []
        found.setdefault(m.group(1), set()).update(labels)
    # Any other adgate_* literal (a name given to a constructor some other way).
    for m in re.finditer(r'"(adgate_[a-z0-9_]+)"', src):
        found.setdefault(m.group(1), set())
    return found


def metric_rows(doc):
    """{metric: labels cell text} from table rows whose first cell names it."""
    rows = {}
    for line in doc.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        for name in re.findall(r"`(adgate_[a-z0-9_]+)`", cells[0]):
            rows[name] = rows.get(name, "") + " " + cells[1]
    return rows


# ---------------------------------------------------------------------------
# Worked examples.

def check_examples(problems):
    policy = read("docs/policy.md")
    m = re.search(r"<!-- ad_id example: key=(\S+) id=(\S+) kind=(\S+) normalized=(\S+) ad_id=(\S+) -->", policy)
    if not m:
        problems.append("docs/policy.md: the ad_id worked example marker is missing")
    else:
        key, kid, kind, norm, want = m.groups()
        mac = hmac.new(base64.b64decode(key), (kind + ":" + norm).encode(), hashlib.sha256).digest()
        got = kid + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        if got != want or want not in policy.replace(m.group(0), ""):
            problems.append("docs/policy.md: the ad_id worked example does not recompute (%s)" % got)
    delivery = read("docs/delivery.md")
    m = re.search(r"<!-- signature example: secret=(\S+) header=(\S+) body-sha256=([0-9a-f]{64}) -->", delivery)
    if not m:
        problems.append("docs/delivery.md: the signature worked example marker is missing")
        return
    secret, header, body_sha = m.groups()
    bm = re.search(r"```text\n(.*?)\n```\n<!-- /signature body -->", delivery, re.S)
    if not bm:
        problems.append("docs/delivery.md: the signature example body block is missing")
        return
    body = (bm.group(1) + "\n").encode()
    if hashlib.sha256(body).hexdigest() != body_sha:
        problems.append("docs/delivery.md: the signature example body changed (sha256 %s)" % hashlib.sha256(body).hexdigest())
    fields = dict(p.split("=", 1) for p in header.split(","))
    mac = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    if mac != fields["v1"]:
        problems.append("docs/delivery.md: the signature worked example does not verify (v1=%s)" % mac)
    # The Python snippet partners copy must accept the example and refuse a
    # changed body.
    pm = re.search(r"```python\n(.*?)\n```", delivery, re.S)
    if not pm:
        problems.append("docs/delivery.md: the Python verification snippet is missing")
        return
    scope = {}
    exec(compile(pm.group(1), "docs/delivery.md (Python snippet)", "exec"), scope)
    fn = scope.get("verify_adgate_signature")
    t = int(fields["t"])
    if fn is None:
        problems.append("docs/delivery.md: the Python snippet defines no verify_adgate_signature")
    elif not fn(secret.encode(), header, body, now=t + 1) or fn(secret.encode(), header, body + b" ", now=t + 1) \
            or fn(secret.encode(), header, body, now=t + 301):
        problems.append("docs/delivery.md: the Python snippet does not verify the worked example correctly")


def anchors(text):
    """GitHub's heading anchors of a Markdown text."""
    out = set()
    for line in text.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            h = m.group(1).strip().lower()
            h = re.sub(r"[^\w\- ]", "", h)
            out.add(h.replace(" ", "-"))
    return out


def check_links(problems):
    """Relative links (and their #anchors) of README.md and docs/*.md resolve."""
    pages = ["README.md"] + ["docs/" + f for f in sorted(os.listdir(os.path.join(ROOT, "docs"))) if f.endswith(".md")]
    for rel in pages:
        text = read(rel)
        text_wo_code = re.sub(r"```.*?```", "", text, flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text_wo_code):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(rel), path)) if path else rel
            if not os.path.exists(os.path.join(ROOT, dest)):
                problems.append("%s: link to %s: no such file" % (rel, target))
                continue
            if anchor and dest.endswith(".md") and anchor not in anchors(read(dest)):
                problems.append("%s: link to %s: no heading with that anchor in %s" % (rel, target, dest))


def spec_refs(problems):
    places = ["README.md", "openapi.yaml"]
    for top in ["docs", "deploy", "src", "benches", "fuzz/src", "fuzz/fuzz_targets"]:
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            places += [os.path.relpath(os.path.join(d, f), ROOT) for f in files]
    tests = os.path.join(ROOT, "tests")
    if os.path.isdir(tests):
        for d, _, files in os.walk(tests):
            places += [os.path.relpath(os.path.join(d, f), ROOT) for f in files if f.endswith((".py", ".rs"))]
    for rel in places:
        try:
            text = read(rel)
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if "SPEC §" in line:
                problems.append("%s:%d: refers to \"SPEC §\", a document that is not in the repository; point to a docs/ page" % (rel, n))


def coverage():
    """Code -> docs problems, docs -> code notes, and the counts."""
    problems = []

    keys = config_keys(strip_comments(read("src/config/raw.rs")))
    documented = documented_config(read("docs/config.md"))
    for k in keys:
        if k not in documented:
            problems.append("config key `%s` (src/config/raw.rs) is not documented in docs/config.md" % k)

    api = read("docs/http-api.md")
    rs = routes(read("src/api/mod.rs"))
    for method, path, label in rs:
        if not route_documented(api, method, path):
            shown = path.replace("{…}", "{name}")
            problems.append("route `%s %s` (src/api/mod.rs, route label %s) is not documented in docs/http-api.md" % (method, shown, label))

    ops = openapi_operations(read("openapi.yaml"))
    for method, path, label in rs:
        if not route_in_openapi(ops, method, path):
            shown = path.replace("{…}", "{name}")
            problems.append("route `%s %s` (src/api/mod.rs) is not documented in openapi.yaml" % (method, shown))

    mdoc = read("docs/metrics.md")
    ms = metrics(read("src/metrics/mod.rs"))
    rows = metric_rows(mdoc)
    for name, labels in sorted(ms.items()):
        if "`%s`" % name not in mdoc:
            problems.append("metric `%s` (src/metrics/mod.rs) is not documented in docs/metrics.md" % name)
            continue
        if name not in rows:
            problems.append("metric `%s` has no table row in docs/metrics.md (first cell: the name, second: its labels)" % name)
            continue
        for label in sorted(labels):
            if not re.search(r"\b%s\b" % re.escape(label), rows[name]):
                problems.append("metric `%s`: label `%s` (src/metrics/mod.rs) is not listed in its docs/metrics.md row" % (name, label))

    # The other way: what the docs promise that the code does not have.
    # Notes by default; failures with --both-ways.
    unimplemented = []
    sections = {k.split(".")[0] for k in keys}
    for line in read("docs/config.md").splitlines():
        cell = line.strip().strip("|").split("|")[0].strip() if line.startswith("|") else ""
        m = re.fullmatch(r"`([a-z_]+(?:\.[a-z_\[\]]+)+)`", cell)
        if m and m.group(1).split(".")[0] in sections and m.group(1).replace("[]", "") not in keys:
            unimplemented.append("config key `%s` is documented in docs/config.md but not in src/config/raw.rs" % m.group(1))
    for name in sorted(rows):
        if name not in ms:
            unimplemented.append("metric `%s` is documented in docs/metrics.md but not registered in src/metrics/mod.rs" % name)
    code_routes = {(m, re.sub(r"\{…\}", "{}", p)) for m, p, _ in rs}
    for line in api.splitlines():
        if not line.startswith("| `"):
            continue
        for meth, path in re.findall(r"`(GET|HEAD|POST|PUT|DELETE|PATCH) (/[^`\s?]*)`", line.split("|")[1]):
            if (meth, re.sub(r"\{[A-Za-z_]+\}", "{}", path)) not in code_routes:
                unimplemented.append("route `%s %s` is documented in docs/http-api.md but not served by src/api/mod.rs" % (meth, path))
    return problems, unimplemented, (len(keys), len(rs), len(ms))


def self_test():
    """Proves on a scratch copy that the check notices an undocumented
    config key, route, metric and label; returns what it failed to notice."""
    global ROOT
    import shutil
    import tempfile
    real = ROOT
    tmp = tempfile.mkdtemp(prefix="check_docs_")
    try:
        for rel in ["src/config/raw.rs", "src/contract.rs", "src/api/mod.rs", "src/metrics/mod.rs", "openapi.yaml", "docs"]:
            dst = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            src = os.path.join(real, rel)
            (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, dst)

        def edit(rel, old, new):
            p = os.path.join(tmp, rel)
            with open(p, encoding="utf-8") as f:
                text = f.read()
            if old not in text:
                return False
            with open(p, "w", encoding="utf-8") as f:
                f.write(text.replace(old, new, 1))
            return True

        ok = edit("src/config/raw.rs", "pub struct RawServer {", "pub struct RawServer {\n    pub selftest_knob: Option<u64>,")
        ok &= edit("src/api/mod.rs", "fn route_of(path: &str) -> &'static str {\n    match path {",
                   "fn route_of(path: &str) -> &'static str {\n    match path {\n        \"/v1/selftest\" => \"/v1/selftest\",")
        ok &= edit("src/api/mod.rs", "match route {", "match route {\n        \"/v1/selftest\" if main => match allow(&[Method::PUT]) { Some(r) => r, None => todo!() },")
        with open(os.path.join(tmp, "src/metrics/mod.rs"), "a", encoding="utf-8") as f:
            f.write('\nfn selftest(r: &Registry) {\n    counter(r, "adgate_selftest_total", "Self-test.", &["partner"]);\n'
                    '    counter(r, "adgate_panics_total", "Self-test.", &["selftest_label"]);\n}\n')
        if not ok:
            return ["the self-test could not plant its changes (src/config/raw.rs RawServer, src/api/mod.rs route_of/dispatch moved?)"]
        ROOT = tmp
        problems, _, _ = coverage()
    finally:
        ROOT = real
        shutil.rmtree(tmp, ignore_errors=True)
    expected = [
        "config key `server.selftest_knob` (src/config/raw.rs) is not documented in docs/config.md",
        "route `PUT /v1/selftest` (src/api/mod.rs, route label /v1/selftest) is not documented in docs/http-api.md",
        "route `PUT /v1/selftest` (src/api/mod.rs) is not documented in openapi.yaml",
        "metric `adgate_selftest_total` (src/metrics/mod.rs) is not documented in docs/metrics.md",
        "metric `adgate_panics_total`: label `selftest_label` (src/metrics/mod.rs) is not listed in its docs/metrics.md row",
    ]
    return ["self-test: a planted gap was not reported: " + e for e in expected if e not in problems]


def main():
    problems, unimplemented, (n_keys, n_routes, n_metrics) = coverage()
    check_examples(problems)
    check_links(problems)
    spec_refs(problems)
    problems += self_test()

    both_ways = "--both-ways" in sys.argv[1:]
    if both_ways:
        problems += unimplemented
    print("check_docs: %d config keys, %d routes (method and path), %d metrics found in the code" % (n_keys, n_routes, n_metrics))
    if not both_ways:
        for u in unimplemented:
            print("NOTE: " + u + " (a failure with --both-ways)")
    for p in problems:
        if "not documented" in p or "not listed" in p or "no table row" in p:
            print("MISSING: " + p)
        elif p in unimplemented:
            print("UNIMPLEMENTED: " + p)
        else:
            print("PROBLEM: " + p)
    if problems:
        print("check_docs: %d problem(s); document them (docs/README.md lists the pages)" % len(problems))
        return 1
    print("check_docs: every config key, route and metric is documented (and the check caught the gaps its self-test planted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
