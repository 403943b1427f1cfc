#!/usr/bin/env python3
"""The admission part of the demo: a real `peergate webhook` on loopback, real AdmissionReviews
sent with curl over HTTPS, the verdicts printed the way kubectl prints them.

    python3 scripts/demo_admission.py PEERGATE_BINARY CLUSTER_STATE_DIR

Uses only the standard library and curl; cleans up its certificates and the webhook process.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BOLD, RESET = "\033[1m", "\033[0m"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def review(uid, kind, group, resource, namespace, name, obj, operation="CREATE", old=None):
    gvk = {"group": group, "version": "v1", "kind": kind}
    gvr = {"group": group, "version": "v1", "resource": resource}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid, "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
            "name": name, "namespace": namespace, "operation": operation,
            "userInfo": {"username": "alice@example.com", "groups": ["system:authenticated"]},
            "object": obj, "oldObject": old, "dryRun": False,
        },
    }


def policy(namespace, mode, selector=None, name="default"):
    spec = {"mtls": {"mode": mode}}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def pod(namespace, app):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": app + "-6d8f7c9b5-", "namespace": namespace,
                         "labels": {"app": app}},
            "spec": {"serviceAccountName": app,
                     "containers": [{"name": app, "image": "docker.io/kennethreitz/httpbin",
                                     "ports": [{"containerPort": 8000}],
                                     "readinessProbe": {"httpGet": {"path": "/status/200",
                                                                    "port": 8000}}}]}}


class Webhook:
    def __init__(self, peergate, state, certs):
        self.port, self.admin = free_port(), free_port()
        self.certs = certs
        self.log = open(os.path.join(certs, "webhook.log"), "w")
        self.proc = subprocess.Popen(
            [peergate, "webhook", "--port", str(self.port), "--admin-port", str(self.admin),
             "--bind-address", "127.0.0.1", "--tls-cert", os.path.join(certs, "serving", "cert.pem"),
             "--tls-key", os.path.join(certs, "serving", "key.pem"), "--cluster-state", state,
             "--log-format", "text", "--shutdown-delay", "0"],
            stdout=self.log, stderr=self.log)

    def wait_ready(self, seconds=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("the webhook exited; see its log:\n" + open(self.log.name).read())
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/readyz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the webhook was not ready within {seconds} s")

    def post(self, route, body):
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "10", "--cacert", os.path.join(self.certs, "serving", "ca.pem"),
             "-H", "Content-Type: application/json", "--data-binary", "@-",
             f"https://localhost:{self.port}{route}"],
            input=json.dumps(body).encode(), capture_output=True, check=True)
        return json.loads(out.stdout)["response"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def kubectl_verdict(response, what, webhook_name, created):
    """What `kubectl apply` prints for this AdmissionResponse."""
    for warning in response.get("warnings", []):
        print(f"Warning: {warning}")
    if response["allowed"]:
        print(created)
        return
    status = response.get("status", {})
    reason = {403: "Forbidden", 400: "BadRequest"}.get(status.get("code"), "InternalError")
    print(f'Error from server ({reason}): error when creating "{what}": admission webhook '
          f'"{webhook_name}" denied the request: {status.get("message", "")}')


def show_injection(response):
    if not response["allowed"]:
        kubectl_verdict(response, "pod.yaml", "inject.peergate.io", "")
        return
    patch = json.loads(base64.b64decode(response["patch"])) if "patch" in response else []
    print("pod/httpbin-6d8f7c9b5-x7k2p created; the webhook's JSONPatch:")
    for op in patch:
        value = op.get("value")
        detail = ""
        if isinstance(value, dict) and "name" in value:
            detail = f" (container {value['name']}, image {value.get('image', '?')})"
        elif isinstance(value, list) and value and isinstance(value[0], dict) and "name" in value[0]:
            detail = " (" + ", ".join(v["name"] for v in value) + ")"
        elif isinstance(value, (str, int)):
            detail = f" = {value}"
        print(f"  {op['op']:<8}{op['path']}{detail}")


def make_certs(peergate, certs):
    """A CA and the webhook's serving certificate, made by `peergate certs`."""
    ca, serving = os.path.join(certs, "ca"), os.path.join(certs, "serving")
    commands = [[peergate, "certs", "ca", "--out", ca],
                [peergate, "certs", "serving", "--ca", ca, "--dns", "localhost",
                 "--dns", "peergate.peergate-system.svc", "--ip", "127.0.0.1", "--out", serving]]
    for command in commands:
        here = os.getcwd() + os.sep
        print("$ " + " ".join(c[len(here):] if c.startswith(here) else c for c in command))
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def step(title, command):
    print(f"\n{BOLD}== {title}{RESET}\n$ {command}")


def main():
    peergate, state = sys.argv[1], sys.argv[2]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    certs = tempfile.mkdtemp(prefix="peergate-demo-")
    webhook = None
    try:
        make_certs(peergate, certs)
        webhook = Webhook(peergate, state, certs)
        webhook.wait_ready()
        print(f"peergate webhook serving https://localhost:{webhook.port} "
              f"(state: {state}; admin http://127.0.0.1:{webhook.admin}/metrics)")

        step("kubectl apply a namespace STRICT policy on foo (every workload has a proxy)",
             "POST /validate  PeerAuthentication foo/default mode STRICT")
        r = webhook.post("/validate", review("a1", "PeerAuthentication", "security.istio.io",
                                             "peerauthentications", "foo", "default",
                                             policy("foo", "STRICT")))
        kubectl_verdict(r, "foo-strict.yaml", "validate.peergate.io",
                        "peerauthentication.security.istio.io/default created")

        step("kubectl apply a mesh-wide DISABLE policy",
             "POST /validate  PeerAuthentication istio-system/default mode DISABLE")
        r = webhook.post("/validate", review("a2", "PeerAuthentication", "security.istio.io",
                                             "peerauthentications", "istio-system", "default",
                                             policy("istio-system", "DISABLE")))
        kubectl_verdict(r, "mesh-disable.yaml", "validate.peergate.io", "")

        step("kubectl apply STRICT on legacy (no sidecars there)",
             "POST /validate  PeerAuthentication legacy/default mode STRICT")
        r = webhook.post("/validate", review("a3", "PeerAuthentication", "security.istio.io",
                                             "peerauthentications", "legacy", "default",
                                             policy("legacy", "STRICT")))
        kubectl_verdict(r, "legacy-strict.yaml", "validate.peergate.io", "")

        step("kubectl apply a workload policy whose selector matches nothing (a warning)",
             "POST /validate  PeerAuthentication foo/reviews selector app=reviews mode STRICT")
        r = webhook.post("/validate", review("a4", "PeerAuthentication", "security.istio.io",
                                             "peerauthentications", "foo", "reviews",
                                             policy("foo", "STRICT", {"app": "reviews"},
                                                    name="reviews")))
        kubectl_verdict(r, "reviews.yaml", "validate.peergate.io",
                        "peerauthentication.security.istio.io/reviews created")

        step("A pod created in foo (istio-injection=enabled) is injected",
             "POST /inject  Pod foo/httpbin-6d8f7c9b5-*")
        r = webhook.post("/inject", review("a5", "Pod", "", "pods", "foo", "",
                                           pod("foo", "httpbin")))
        show_injection(r)

        with urllib.request.urlopen(f"http://127.0.0.1:{webhook.admin}/metrics", timeout=5) as m:
            lines = [l for l in m.read().decode().splitlines()
                     if l.startswith(("peergate_admission_requests_total",
                                      "peergate_injections_total"))]
        step("What the webhook counted", f"curl http://127.0.0.1:{webhook.admin}/metrics")
        print("\n".join(lines))
    finally:
        if webhook:
            webhook.stop()
        shutil.rmtree(certs, ignore_errors=True)


if __name__ == "__main__":
    main()
