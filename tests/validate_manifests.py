#!/usr/bin/env python3
"""Parses every operator artefact in deploy/ and fails on the first problem.

- Kubernetes manifests (deploy/kubernetes/*.yaml and the scale-out
  deploy/kubernetes-jetstream/*.yaml, multi-document): valid YAML, every
  document has apiVersion, kind and metadata.name.
- Helm chart: Chart.yaml, values.yaml and values-jetstream.yaml are valid YAML
  with the required keys; the TOML embedded in both values files (`config:`)
  and in the ConfigMaps parse.
- Prometheus and alert files, the Grafana dashboard (JSON), the systemd unit
  (has [Service] ExecStart).
- Secret files: adgate refuses secret files its group or others can read, and
  a mounted Secret is group-readable under fsGroup; so every `*_file` of the
  Kubernetes and Helm configs (StatefulSet and scale-out Deployment alike)
  lies in the emptyDir the init container fills with owner-only (0400)
  copies, and no Secret volume is mounted into the adgate container itself.

Templates under deploy/helm/adgate/templates are Go templates, not YAML; they
are rendered by `helm template` where a helm client exists (none is packaged
for Debian here, see README).
"""
import json
import pathlib
import sys
import tomllib

import yaml

root = pathlib.Path(__file__).resolve().parent.parent / "deploy"
problems = []


def check(cond, msg):
    if not cond:
        problems.append(msg)


SECRETS_DIR = "/run/adgate/secrets/"
SECRET_KEYS = (
    "token_file",
    "secret_file",
    "signing_secret_file",
    "key_file",
    # [outbox] on JetStream
    "password_file",
    "internal_key_file",
    "creds_file",
    "tls_key_file",
)


def secret_paths(toml_text):
    """Every secret *_file value of a config, with its key."""
    out = []

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k in SECRET_KEYS and isinstance(x, str):
                    out.append((k, x))
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(tomllib.loads(toml_text))
    return out


def check_secret_copies(where, spec, toml_texts):
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    inits = {c["name"]: c for c in spec.get("initContainers", [])}
    init = inits.get("secrets")
    check(init is not None, f"{where}: no init container 'secrets' copying the Secret")
    if init:
        script = " ".join(init.get("args", []) + init.get("command", []))
        check("install -m 0400" in script, f"{where}: the init container does not copy with mode 0400")
    adgate = [c for c in spec.get("containers", []) if c["name"] == "adgate"]
    for c in adgate:
        for m in c.get("volumeMounts", []):
            v = vols.get(m["name"], {})
            check("secret" not in v and "projected" not in v,
                  f"{where}: a Secret is mounted into the adgate container ({m['name']}); it would be group-readable")
            if m["mountPath"].rstrip("/") + "/" == SECRETS_DIR:
                check("emptyDir" in v, f"{where}: {SECRETS_DIR} is not the emptyDir of copies")
    # The files the init container copies: the items of the Secret volume(s)
    # it reads (a plain secret, or a projected volume of several Secrets).
    copied = set()
    for m in (init or {}).get("volumeMounts", []):
        v = vols.get(m["name"], {})
        sources = [v["secret"]] if "secret" in v else [
            s["secret"] for s in v.get("projected", {}).get("sources", []) if "secret" in s
        ]
        for src in sources:
            copied.update(i["path"] for i in src.get("items", []))
    for text in toml_texts:
        for k, p in secret_paths(text):
            check(p.startswith(SECRETS_DIR), f"{where}: {k} = {p} is not under {SECRETS_DIR}")
            if p.startswith(SECRETS_DIR):
                check(p[len(SECRETS_DIR):] in copied,
                      f"{where}: {k} = {p} is not copied by the init container")


k8s_tomls, k8s_specs = [], []
k8s = sorted((root / "kubernetes").glob("*.yaml")) + sorted(
    (root / "kubernetes-jetstream").glob("*.yaml")
)
for path in k8s:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    check(docs, f"{path}: no YAML document")
    for d in docs:
        if d.get("kind") == "Kustomization":
            continue
        for key in ("apiVersion", "kind"):
            check(key in d, f"{path}: document without {key}")
        check(d.get("metadata", {}).get("name"), f"{path}: {d.get('kind')} without metadata.name")
        if d.get("kind") == "ConfigMap":
            for name, text in d.get("data", {}).items():
                if name.endswith(".toml"):
                    tomllib.loads(text)
                    k8s_tomls.append((path.parent.name, text))
                if name.endswith(".conf"):
                    check("jetstream" in text, f"{path}: {name} without jetstream")
        if d.get("kind") in ("StatefulSet", "Deployment") and "spec" in d and "template" in d["spec"]:
            k8s_specs.append((path, d["spec"]["template"]["spec"]))
adgate_specs = [
    (p, s) for p, s in k8s_specs if any(c["name"] == "adgate" for c in s.get("containers", []))
]
for path, spec in adgate_specs:
    check_secret_copies(str(path), spec, [t for d, t in k8s_tomls if d == path.parent.name])
check(adgate_specs, "deploy/kubernetes has no adgate workload")

chart = yaml.safe_load((root / "helm/adgate/Chart.yaml").read_text())
for key in ("apiVersion", "name", "version"):
    check(key in chart, f"Chart.yaml without {key}")
values = yaml.safe_load((root / "helm/adgate/values.yaml").read_text())
check(isinstance(values, dict), "values.yaml is not a mapping")


def check_helm_config(where, config, secret_files):
    """Every secret *_file of a values file's config is a copied secretFiles key."""
    for k, p in secret_paths(config):
        check(p.startswith(SECRETS_DIR), f"{where}: config {k} = {p} is not under {SECRETS_DIR}")
        check(p[len(SECRETS_DIR):] in secret_files,
              f"{where}: config {k} = {p} is not one of secretFiles")


if isinstance(values.get("config"), str):
    tomllib.loads(values["config"])
    check_helm_config("values.yaml", values["config"], values.get("secretFiles", []))
# The StatefulSet (default) and the scale-out Deployment (scaleOut.enabled)
# both mount the Secret only into the init container. Go templates, so the
# check is on the text.
for name in ("statefulset.yaml", "deployment.yaml"):
    tpl = (root / "helm/adgate/templates" / name).read_text()
    check("name: secrets\n" in tpl and "install -m 0400" in tpl,
          f"helm {name}: no init container 'secrets' copying the Secret with mode 0400")
    check("medium: Memory" in tpl and "mountPath: /run/adgate/secrets" in tpl,
          f"helm {name}: the copies are not in a memory emptyDir at {SECRETS_DIR}")
    check("projected:" not in tpl and "/etc/adgate/secrets" not in tpl,
          f"helm {name}: a Secret is projected next to the config; it would be group-readable")
check("scaleOut" in values, "values.yaml without scaleOut")
scale = yaml.safe_load((root / "helm/adgate/values-jetstream.yaml").read_text())
cfg = tomllib.loads(scale["config"])
check_helm_config("values-jetstream.yaml", scale["config"],
                  scale.get("secretFiles", values.get("secretFiles", [])))
check(cfg.get("outbox", {}).get("backend") == "jetstream", "values-jetstream.yaml: config not on jetstream")
check(scale.get("scaleOut", {}).get("enabled") is True, "values-jetstream.yaml: scaleOut not enabled")

for path in sorted((root / "prometheus").glob("*.yml")):
    check(yaml.safe_load(path.read_text()) is not None, f"{path}: empty")

dash = json.loads((root / "grafana/adgate.json").read_text())
exprs = [t.get("expr") for p in dash.get("panels", []) for t in p.get("targets", [])]
check(any(exprs), "dashboard without PromQL targets")

unit = (root / "systemd/adgate.service").read_text()
check("[Service]" in unit and "ExecStart=" in unit, "systemd unit without [Service] ExecStart")

tomllib.loads((root / "adgate.example.toml").read_text())

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"deploy/ artefacts parse: {len(k8s)} Kubernetes files, "
      f"Helm chart, {len(exprs)} dashboard queries, alerts, systemd unit, example config")
