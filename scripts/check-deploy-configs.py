#!/usr/bin/env python3
"""Every adgate config under deploy/ through the real loader (`adgate
check-config`), with dummy owner-only secret files: the example, the
Kubernetes ConfigMaps (single node and JetStream), the Helm values (both),
and the systemd variant. Called by .ci/run.

    python3 scripts/check-deploy-configs.py [path/to/adgate]

What is rewritten before the check, and why:
- secret paths (`/run/adgate/secrets/X`, `/run/credentials/adgate.service/X`)
  point to dummy files of the same name, mode 0400, in a temp dir: every
  value is fresh `adgate keygen` output (a valid key, and a distinct token);
- `data_dir` points into the temp dir (the loader creates it);
- JetStream: `servers` point to a local `nats-server -js` started here with
  the config's user and the dummy password, and `replicas` becomes 1 (one
  local server; the 3-node cluster config is checked with `nats-server -t`
  in .ci/run and exercised by tests/it/jetstream_cluster.rs).

Each secret a config names must also be delivered by its manifest: a key of
the Secret (Kubernetes), an entry of `secretFiles` (Helm), a LoadCredential=
line (systemd). Needs PyYAML and, for the JetStream variants, nats-server.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "adgate")
SECRET_DIRS = ("/run/adgate/secrets/", "/run/credentials/adgate.service/")


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def configmap_toml(path):
    for doc in yaml.safe_load_all(read(path)):
        if doc and doc.get("kind") == "ConfigMap":
            return doc["data"]["adgate.toml"]
    sys.exit(f"{path}: no ConfigMap with data.adgate.toml")


def secret_keys(path):
    """Keys of each Secret in the example file, by Secret name."""
    out = {}
    for doc in yaml.safe_load_all(read(path)):
        if doc and doc.get("kind") == "Secret":
            out[doc["metadata"]["name"]] = set(doc.get("stringData", {})) | set(doc.get("data", {}))
    return out


def k8s_delivered(workload, secret_example):
    """File names the workload's `secrets-in` volume puts in the pod: the
    items' paths, or every key of the (example) Secret without items."""
    secrets = secret_keys(secret_example)

    def files(src, name):
        items = src.get("items")
        return {i["path"] for i in items} if items else secrets.get(name, set())

    for doc in yaml.safe_load_all(read(workload)):
        if not doc or doc.get("kind") not in ("StatefulSet", "Deployment"):
            continue
        for vol in doc["spec"]["template"]["spec"].get("volumes", []):
            if vol["name"] != "secrets-in":
                continue
            if "secret" in vol:
                return files(vol["secret"], vol["secret"]["secretName"])
            out = set()
            for src in vol["projected"]["sources"]:
                out |= files(src["secret"], src["secret"]["name"])
            return out
    sys.exit(f"{workload}: no volume secrets-in")


def helm(values, base="deploy/helm/adgate/values.yaml"):
    v = yaml.safe_load(read(base))
    v.update(yaml.safe_load(read(values)) if values != base else {})
    return v["config"], set(v.get("secretFiles", []))


def systemd_credentials(path):
    return set(re.findall(r"^LoadCredential=([^:\s]+):", read(path), re.M))


def keygen():
    return subprocess.run([BIN, "keygen"], check=True, capture_output=True, text=True).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nats:
    """A local nats-server with JetStream and one user."""

    def __init__(self, tmp, user, password):
        self.port = free_port()
        exe = shutil.which("nats-server")
        if not exe:
            sys.exit("nats-server is not installed (apt-get install nats-server; scripts/test.sh does)")
        self.proc = subprocess.Popen(
            [exe, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", os.path.join(tmp, "nats"),
             "--user", user, "--pass", password],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    sys.exit("nats-server did not start")
                time.sleep(0.1)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def check(name, toml, delivered):
    """Writes `toml` with dummy secrets and runs check-config; returns the
    problems found."""
    problems = []
    tmp = tempfile.mkdtemp(prefix="adgate-deploy-check-")
    secrets = os.path.join(tmp, "secrets")
    os.makedirs(secrets, mode=0o700)
    env = dict(os.environ)
    values = {}

    def secret_file(m):
        setting, path = m.group(1), m.group(3)
        base = next((d for d in SECRET_DIRS if path.startswith(d)), None)
        if base is None:
            problems.append(f"{setting} = {path!r} is not under {' or '.join(SECRET_DIRS)}")
            return m.group(0)
        key = path[len(base):]
        if delivered is not None and key not in delivered:
            problems.append(f"{setting} names {key!r}, which the manifest does not deliver "
                            f"(delivered: {', '.join(sorted(delivered))})")
        local = os.path.join(secrets, key)
        if not os.path.exists(local):
            values[key] = keygen()
            fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            os.write(fd, values[key].encode())
            os.close(fd)
        return f'{m.group(1)}{m.group(2)}"{local}"'

    toml = re.sub(r'^(\s*\w+_file)(\s*=\s*)"([^"]*)"', secret_file, toml, flags=re.M)
    for m in re.finditer(r'^\s*(\w+_env)\s*=\s*"([^"]*)"', toml, re.M):
        env[m.group(2)] = values[m.group(2)] = keygen()
    toml = re.sub(r'^(\s*data_dir\s*=\s*)"[^"]*"', lambda m: f'{m.group(1)}"{tmp}/data"', toml, flags=re.M)
    nats = None
    if re.search(r'^\s*backend\s*=\s*"jetstream"', toml, re.M):
        user = re.search(r'^\s*user\s*=\s*"([^"]*)"', toml, re.M)
        password = values.get("nats-password")
        if not user or not password:
            problems.append("JetStream outbox without user and password_file: not checked against a server")
        else:
            nats = Nats(tmp, user.group(1), password)
            toml = re.sub(r'^(\s*servers\s*=\s*)\[[^\]]*\]',
                          lambda m: f'{m.group(1)}["nats://127.0.0.1:{nats.port}"]', toml, flags=re.M)
            toml = re.sub(r'^(\s*replicas\s*=\s*)\d+', r'\g<1>1', toml, flags=re.M)
    path = os.path.join(tmp, "adgate.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(toml)
    try:
        r = subprocess.run([BIN, "check-config", "--config", path], env=env, capture_output=True,
                           text=True, timeout=120)
    finally:
        if nats:
            nats.stop()
    if r.returncode != 0:
        problems.append(f"check-config exit {r.returncode}: {r.stderr.strip()}")
    for v in values.values():
        if v in r.stdout or v in r.stderr:
            problems.append("check-config printed a secret")
    shutil.rmtree(tmp, ignore_errors=True)
    status = "ok" if not problems else "FAILED"
    print(f"{name}: {status}", flush=True)
    for p in problems:
        print(f"  - {p}", flush=True)
    return problems


def main():
    k8s_secret = k8s_delivered("deploy/kubernetes/statefulset.yaml",
                               "deploy/kubernetes/secret.example.yaml")
    js_secret = k8s_delivered("deploy/kubernetes-jetstream/deployment.yaml",
                              "deploy/kubernetes-jetstream/secret.example.yaml")
    helm_single, helm_single_files = helm("deploy/helm/adgate/values.yaml")
    helm_js, helm_js_files = helm("deploy/helm/adgate/values-jetstream.yaml")
    cases = [
        ("deploy/adgate.example.toml (secrets from *_env)", read("deploy/adgate.example.toml"), None),
        ("deploy/kubernetes/configmap.yaml", configmap_toml("deploy/kubernetes/configmap.yaml"), k8s_secret),
        ("deploy/kubernetes-jetstream/configmap.yaml",
         configmap_toml("deploy/kubernetes-jetstream/configmap.yaml"), js_secret),
        ("deploy/helm/adgate/values.yaml (config)", helm_single, helm_single_files),
        ("deploy/helm/adgate/values-jetstream.yaml (config)", helm_js, helm_js_files),
        ("deploy/systemd/adgate.toml (with adgate.service)", read("deploy/systemd/adgate.toml"),
         systemd_credentials("deploy/systemd/adgate.service")),
    ]
    failed = sum(1 for name, toml, delivered in cases if check(name, toml, delivered))
    print(f"{len(cases) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
