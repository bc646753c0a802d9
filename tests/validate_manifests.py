#!/usr/bin/env python3
"""Parses every operator artefact in deploy/ and fails on the first problem.

- Kubernetes manifests (deploy/kubernetes/*.yaml, multi-document): valid YAML,
  every document has apiVersion, kind and metadata.name.
- Helm chart: Chart.yaml and values.yaml are valid YAML with the required
  keys; the TOML embedded in values.yaml (`config:`) and in the ConfigMap parse.
- Prometheus and alert files, the Grafana dashboard (JSON), the systemd unit
  (has [Service] ExecStart).

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
                if name.endswith(".conf"):
                    check("jetstream" in text, f"{path}: {name} without jetstream")

chart = yaml.safe_load((root / "helm/adgate/Chart.yaml").read_text())
for key in ("apiVersion", "name", "version"):
    check(key in chart, f"Chart.yaml without {key}")
values = yaml.safe_load((root / "helm/adgate/values.yaml").read_text())
check(isinstance(values, dict), "values.yaml is not a mapping")
if isinstance(values.get("config"), str):
    tomllib.loads(values["config"])
check("scaleOut" in values, "values.yaml without scaleOut")
scale = yaml.safe_load((root / "helm/adgate/values-jetstream.yaml").read_text())
cfg = tomllib.loads(scale["config"])
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
