#!/usr/bin/env python3
"""scripts/install.sh against a fake kubectl (fake_kubectl.py): the calls it makes, the Secrets
and caBundle it leaves, idempotence, --rotate, --dry-run and its errors.

Usage: install_test.py PEERGATE_BINARY
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
SCRIPT = os.path.join(REPO, "scripts", "install.sh")
NS = "peergate-system"
DNS_NAMES = ["peergate.peergate-system.svc", "peergate.peergate-system.svc.cluster.local"]

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


class Cluster:
    """A fake cluster: the fake kubectl on PATH, its state and call log, a private TMPDIR."""

    def __init__(self, root, peergate):
        self.root = root
        self.peergate = peergate
        self.state = os.path.join(root, "state")
        self.tmp = os.path.join(root, "tmp")
        self.bin = os.path.join(root, "bin")
        self.log = os.path.join(root, "calls.jsonl")
        for path in (self.state, self.tmp, self.bin):
            os.makedirs(path)
        os.symlink(os.path.join(HERE, "fake_kubectl.py"), os.path.join(self.bin, "kubectl"))

    def run(self, *args, **env):
        open(self.log, "w").close()
        environment = dict(os.environ, PATH=self.bin + ":" + os.environ["PATH"],
                           FAKE_KUBECTL_STATE=self.state, FAKE_KUBECTL_LOG=self.log,
                           TMPDIR=self.tmp, **env)
        result = subprocess.run(["bash", SCRIPT, "--peergate", self.peergate, *args],
                                env=environment, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            print(result.stdout + result.stderr)
        return result

    def calls(self):
        with open(self.log) as f:
            return [json.loads(line) for line in f]

    def objects(self):
        path = os.path.join(self.state, "objects.json")
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            return json.load(f)

    def secret(self, name):
        return self.objects().get("secret/%s/%s" % (NS, name))

    def bundles(self):
        """caBundle of every webhook of peergate's configurations, by configuration/webhook."""
        out = {}
        for key, obj in self.objects().items():
            if obj["kind"].endswith("WebhookConfiguration"):
                for webhook in obj["webhooks"]:
                    out[obj["metadata"]["name"] + "/" + webhook["name"]] = \
                        webhook["clientConfig"].get("caBundle")
        return out


def decoded(secret, field):
    return base64.b64decode(secret["data"][field]).decode()


def pem_certificates(text):
    marker = "-----END CERTIFICATE-----"
    return [part.strip() + "\n" + marker + "\n" for part in text.split(marker)[:-1]]


def openssl(root, args, stdin_pems):
    paths = []
    for i, pem in enumerate(stdin_pems):
        path = os.path.join(root, "pem%d.pem" % i)
        with open(path, "w") as f:
            f.write(pem)
        paths.append(path)
    return subprocess.run(["openssl", *[a.format(*paths) for a in args]],
                          capture_output=True, text=True)


def mutating(call):
    return any(verb in call["argv"] for verb in ("apply", "patch", "create", "delete", "replace"))


def verb_index(calls, predicate):
    return next((i for i, call in enumerate(calls) if predicate(call)), -1)


def test_errors(cluster):
    result = cluster.run("--kubectl", "/nonexistent/kubectl")
    check(result.returncode == 69 and "kubectl not found" in result.stderr,
          "a missing kubectl is exit 69 naming --kubectl")
    result = cluster.run(FAKE_KUBECTL_NO_CONTEXT="1")
    check(result.returncode == 69 and "no current context" in result.stderr,
          "no current context is exit 69 saying how to pick one")
    check([c["argv"] for c in cluster.calls()] == [["config", "current-context"]],
          "without a context nothing else is called")
    result = cluster.run("--namespace", "mesh-gate")
    check(result.returncode == 64 and "deploys into peergate-system" in result.stderr,
          "a --namespace the manifests do not deploy into is a usage error")
    result = cluster.run("--bogus")
    check(result.returncode == 64 and "unknown argument: --bogus" in result.stderr,
          "an unknown flag is a usage error")


def test_dry_run_on_empty_cluster(cluster):
    result = cluster.run("--dry-run")
    check(result.returncode == 0, "--dry-run succeeds on an empty cluster")
    check("would run: kubectl apply -k " + os.path.join(REPO, "manifests/base") in result.stdout,
          "--dry-run prints the apply it would run")
    check("would store a new CA in Secret peergate-system/peergate-ca" in result.stdout,
          "--dry-run says it would make a CA")
    check(not any(mutating(c) for c in cluster.calls()), "--dry-run makes no changing call")
    check(cluster.objects() == {}, "--dry-run leaves the cluster untouched")
    check("PRIVATE KEY" not in result.stdout + result.stderr, "--dry-run prints no key")


def test_install(cluster):
    result = cluster.run()
    check(result.returncode == 0, "install succeeds")
    calls = cluster.calls()
    ca_secret, tls_secret = cluster.secret("peergate-ca"), cluster.secret("peergate-tls")
    check(ca_secret is not None and tls_secret is not None,
          "Secrets peergate-ca and peergate-tls exist")
    if ca_secret is None or tls_secret is None:
        return
    check(tls_secret["type"] == "kubernetes.io/tls" and
          set(tls_secret["data"]) == {"tls.crt", "tls.key", "ca.crt"},
          "peergate-tls is a kubernetes.io/tls Secret with tls.crt, tls.key, ca.crt")
    ca = decoded(ca_secret, "tls.crt")
    serving = decoded(tls_secret, "tls.crt")
    verify = openssl(cluster.root, ["verify", "-CAfile", "{0}", "{1}"], [ca, serving])
    check(verify.returncode == 0, "the serving certificate chains to the CA in peergate-ca")
    sans = openssl(cluster.root, ["x509", "-in", "{0}", "-noout", "-ext", "subjectAltName"],
                   [serving]).stdout
    check(all("DNS:" + name in sans for name in DNS_NAMES),
          "the serving certificate names both Service DNS names")
    is_ca = openssl(cluster.root, ["x509", "-in", "{0}", "-noout", "-ext", "basicConstraints"],
                    [ca]).stdout
    check("CA:TRUE" in is_ca, "peergate-ca holds a real CA certificate")
    bundles = cluster.bundles()
    expected = base64.b64encode(ca.encode()).decode()
    check(len(bundles) >= 3 and all(b == expected for b in bundles.values()),
          "every webhook of peergate-validator and peergate-mutator has the CA as caBundle: %s"
          % sorted(bundles))
    apply_k = verb_index(calls, lambda c: c["argv"][:2] == ["apply", "-k"])
    secret_apply = verb_index(calls, lambda c: '"kind":"Secret"' in c["stdin"])
    first_patch = verb_index(calls, lambda c: c["argv"][0] == "patch")
    check(0 <= secret_apply < apply_k < first_patch,
          "Secrets before the manifests, caBundle after them")
    check(all("--server-side" in c["argv"] for c in calls if c["stdin"]),
          "Secrets are applied server-side (no key in last-applied-configuration)")
    key_b64 = tls_secret["data"]["tls.key"]
    check(not any("PRIVATE KEY" in a or key_b64 in a for c in calls for a in c["argv"]),
          "no private key on any kubectl command line")
    check(os.listdir(cluster.tmp) == [], "the temporary directory is removed")
    check(any("rollout" in c["argv"] and "deployment/peergate" in c["argv"] for c in calls),
          "waits for the rollout")


def test_rerun_keeps_everything(cluster):
    before = cluster.objects()
    result = cluster.run()
    check(result.returncode == 0, "a second run succeeds")
    check("CA: kept, serving certificate: kept" in result.stdout,
          "a second run keeps the CA and the serving certificate")
    check(cluster.objects() == before, "a second run changes nothing in the cluster")
    check(not any('"kind":"Secret"' in c["stdin"] for c in cluster.calls()),
          "a second run rewrites no Secret")


def test_serving_cert_missing_a_name_is_reissued(cluster):
    # A certificate from the right CA that names only the long DNS name (the short one is a
    # prefix of it, so a substring check would wrongly keep it).
    ca_dir, out = os.path.join(cluster.root, "ca"), os.path.join(cluster.root, "serving")
    os.makedirs(ca_dir)
    ca_secret = cluster.secret("peergate-ca")
    for field, name in (("tls.crt", "ca.pem"), ("tls.key", "ca-key.pem")):
        with open(os.path.join(ca_dir, name), "w") as f:
            f.write(decoded(ca_secret, field))
    subprocess.run([cluster.peergate, "certs", "serving", "--ca", ca_dir, "--dns", DNS_NAMES[1],
                    "--out", out], check=True, capture_output=True)
    objects = cluster.objects()
    with open(os.path.join(out, "cert.pem"), "rb") as f:
        objects["secret/%s/peergate-tls" % NS]["data"]["tls.crt"] = \
            base64.b64encode(f.read()).decode()
    with open(os.path.join(cluster.state, "objects.json"), "w") as f:
        json.dump(objects, f)
    shutil.rmtree(ca_dir)
    result = cluster.run()
    check(result.returncode == 0 and "CA: kept, serving certificate: new" in result.stdout,
          "a serving certificate without both DNS names is reissued from the kept CA")
    sans = openssl(cluster.root, ["x509", "-in", "{0}", "-noout", "-ext", "subjectAltName"],
                   [decoded(cluster.secret("peergate-tls"), "tls.crt")]).stdout
    check(all("DNS:" + name in sans for name in DNS_NAMES), "the reissued one names both")


def test_dry_run_after_install(cluster):
    before = cluster.objects()
    result = cluster.run("--dry-run")
    check(result.returncode == 0 and "CA: kept" in result.stdout,
          "--dry-run on an installed cluster reports the CA kept")
    check(not any(mutating(c) for c in cluster.calls()) and cluster.objects() == before,
          "--dry-run on an installed cluster changes nothing")


def test_failed_read_never_replaces_the_ca(cluster):
    before = cluster.objects()
    result = cluster.run(FAKE_KUBECTL_FAIL_GET="1")
    check(result.returncode == 1 and "cannot read Secret" in result.stderr,
          "an unreadable CA Secret stops the install")
    check(cluster.objects() == before and not any(mutating(c) for c in cluster.calls()),
          "an unreadable CA Secret is never replaced")


def test_rotate(cluster):
    old_ca = decoded(cluster.secret("peergate-ca"), "tls.crt")
    result = cluster.run("--rotate")
    check(result.returncode == 0 and "CA: new, serving certificate: new" in result.stdout,
          "--rotate makes a new CA and serving certificate")
    new_ca = decoded(cluster.secret("peergate-ca"), "tls.crt")
    check(new_ca != old_ca, "--rotate replaces the CA")
    bundle = base64.b64decode(next(iter(cluster.bundles().values()))).decode()
    check(pem_certificates(bundle) == pem_certificates(new_ca) + pem_certificates(old_ca),
          "after --rotate caBundle trusts the new and the old CA")
    serving = decoded(cluster.secret("peergate-tls"), "tls.crt")
    verify = openssl(cluster.root, ["verify", "-CAfile", "{0}", "{1}"], [new_ca, serving])
    check(verify.returncode == 0, "after --rotate the serving certificate chains to the new CA")
    result = cluster.run()
    expected = base64.b64encode(new_ca.encode()).decode()
    check(result.returncode == 0 and all(b == expected for b in cluster.bundles().values()),
          "the next run trusts the new CA only")


def test_overlay(cluster):
    result = cluster.run("--overlay", os.path.join(REPO, "manifests/overlays/injection"))
    check(result.returncode == 0, "the injection overlay installs")
    check("peergate-injector/namespace.sidecar-injector.peergate.io" in cluster.bundles(),
          "the overlay's own webhook configuration gets the caBundle too")
    result = cluster.run("--overlay", os.path.join(REPO, "manifests/overlays/cert-manager"))
    check(result.returncode == 64 and "manages its own certificates" in result.stderr,
          "the cert-manager overlay is refused")


def main():
    peergate = os.path.abspath(sys.argv[1])
    if shutil.which("openssl") is None:
        print("openssl is missing: skipped")
        return 77
    root = tempfile.mkdtemp(prefix="peergate-install-test.")
    try:
        cluster = Cluster(root, peergate)
        test_errors(cluster)
        test_dry_run_on_empty_cluster(cluster)
        test_install(cluster)
        test_rerun_keeps_everything(cluster)
        test_serving_cert_missing_a_name_is_reissued(cluster)
        test_dry_run_after_install(cluster)
        test_failed_read_never_replaces_the_ca(cluster)
        test_rotate(cluster)
        test_overlay(cluster)
    finally:
        shutil.rmtree(root)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
