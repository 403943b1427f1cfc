#!/usr/bin/env python3
"""A stand-in for kubectl, for the tests of scripts/install.sh.

Each call appends {"argv": [...], "stdin": "..."} to $FAKE_KUBECTL_LOG. The "cluster" is a JSON
file in $FAKE_KUBECTL_STATE, so a second run sees what the first stored. Only the calls the
install script makes are understood; anything else fails loudly, so a new call cannot slip in
untested. `apply -k DIR` stores the webhook configurations of DIR's YAML files (following
`resources`), keeping a caBundle already set, as a client-side apply of manifests without the
field does.

Knobs: FAKE_KUBECTL_NO_CONTEXT=1 (no current context), FAKE_KUBECTL_FAIL_GET=1 (every get
fails, as when the API server is unreachable).
"""
import json
import os
import re
import sys

import yaml

STATE = os.path.join(os.environ["FAKE_KUBECTL_STATE"], "objects.json")
WEBHOOK_KINDS = {
    "ValidatingWebhookConfiguration": "validatingwebhookconfiguration",
    "MutatingWebhookConfiguration": "mutatingwebhookconfiguration",
}


def fail(message):
    sys.stderr.write("error: " + message + "\n")
    sys.exit(1)


def load():
    if not os.path.exists(STATE):
        return {}
    with open(STATE) as f:
        return json.load(f)


def save(objects):
    with open(STATE, "w") as f:
        json.dump(objects, f, indent=1, sort_keys=True)


def key(kind, namespace, name):
    return "/".join([kind.lower(), namespace or "", name])


def option(args, *names):
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1:]
    return None


def kustomize_objects(directory):
    with open(os.path.join(directory, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f)
    objects = []
    for resource in kustomization.get("resources", []):
        path = os.path.normpath(os.path.join(directory, resource))
        if os.path.isdir(path):
            objects += kustomize_objects(path)
        else:
            with open(path) as f:
                objects += [doc for doc in yaml.safe_load_all(f) if doc]
    return objects


def apply_dir(objects, directory):
    for obj in kustomize_objects(directory):
        if obj.get("kind") not in WEBHOOK_KINDS:
            continue
        k = key(obj["kind"], "", obj["metadata"]["name"])
        old = {w["name"]: w for w in objects.get(k, {}).get("webhooks", [])}
        for webhook in obj.get("webhooks", []):
            bundle = old.get(webhook["name"], {}).get("clientConfig", {}).get("caBundle")
            if bundle:
                webhook["clientConfig"]["caBundle"] = bundle
        objects[k] = obj
        print(WEBHOOK_KINDS[obj["kind"]] + ".admissionregistration.k8s.io/" +
              obj["metadata"]["name"] + " configured")


def apply_stdin(objects, text):
    obj = json.loads(text)
    meta = obj["metadata"]
    objects[key(obj["kind"], meta.get("namespace"), meta["name"])] = obj
    print(obj["kind"].lower() + "/" + meta["name"] + " serverside-applied")


def jsonpath(obj, expression):
    data = re.fullmatch(r"\{\.data\.(.+)\}", expression)
    if data:
        return obj.get("data", {}).get(data.group(1).replace("\\.", "."), "")
    if expression == "{.webhooks[*].name}":
        return " ".join(w["name"] for w in obj.get("webhooks", []))
    fail("fake kubectl: unsupported jsonpath " + expression)


def labels_match(obj, selector):
    labels = obj.get("metadata", {}).get("labels", {})
    return all(labels.get(k) == v for k, v in (p.split("=", 1) for p in selector.split(",")))


def webhook_key(ref):
    kind, name = ref.split("/", 1)
    kind = kind.split(".")[0]
    for full, short in WEBHOOK_KINDS.items():
        if kind == short:
            return key(full, "", name)
    fail("fake kubectl: unsupported object " + ref)


def get(objects, args, namespace):
    if os.environ.get("FAKE_KUBECTL_FAIL_GET"):
        fail("Get \"https://10.0.0.1:6443\": dial tcp 10.0.0.1:6443: connect: connection refused")
    output = option(args, "-o")
    if args[0] == "secret":
        obj = objects.get(key("Secret", namespace, args[1]))
        if obj is None:
            if "--ignore-not-found" in args:
                return
            fail('secrets "%s" not found' % args[1])
        sys.stdout.write(jsonpath(obj, output[len("jsonpath="):]))
    elif args[0] == "validatingwebhookconfigurations,mutatingwebhookconfigurations":
        selector = option(args, "-l")
        for k, obj in sorted(objects.items()):
            if obj["kind"] in WEBHOOK_KINDS and labels_match(obj, selector) and output == "name":
                print(WEBHOOK_KINDS[obj["kind"]] + ".admissionregistration.k8s.io/" +
                      obj["metadata"]["name"])
    else:
        obj = objects.get(webhook_key(args[0])) or fail("not found: " + args[0])
        sys.stdout.write(jsonpath(obj, output[len("jsonpath="):]))


def patch(objects, args):
    if option(args, "--type") != "strategic":
        fail("fake kubectl: only strategic merge patches")
    obj = objects.get(webhook_key(args[0])) or fail("not found: " + args[0])
    by_name = {w["name"]: w for w in obj["webhooks"]}
    for change in json.loads(option(args, "-p"))["webhooks"]:
        webhook = by_name.get(change["name"]) or fail("no webhook " + change["name"])
        webhook["clientConfig"].update(change["clientConfig"])
    print(args[0] + " patched")


def without_namespace(argv):
    """argv without `-n NS`, and NS: kubectl takes the flag before or after the verb."""
    out, namespace, i = [], None, 0
    while i < len(argv):
        if argv[i] in ("-n", "--namespace") and i + 1 < len(argv):
            namespace = argv[i + 1]
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out, namespace


def main():
    raw = sys.argv[1:]
    argv, namespace = without_namespace(raw)
    stdin = sys.stdin.read() if argv[:1] == ["apply"] and "-f" in argv else ""
    with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
        log.write(json.dumps({"argv": raw, "stdin": stdin}) + "\n")
    objects = load()
    if argv == ["config", "current-context"]:
        if os.environ.get("FAKE_KUBECTL_NO_CONTEXT"):
            fail("current-context is not set")
        print("fake-cluster")
    elif argv[:1] == ["apply"] and option(argv, "-k"):
        apply_dir(objects, option(argv, "-k"))
    elif argv[:1] == ["apply"] and option(argv, "-f") == "-":
        apply_stdin(objects, stdin)
    elif argv[:1] == ["get"]:
        get(objects, argv[1:], namespace)
    elif argv[:1] == ["patch"]:
        patch(objects, argv[1:])
    elif argv[:2] == ["rollout", "status"]:
        print('deployment "peergate" successfully rolled out')
    else:
        fail("fake kubectl: unsupported call " + " ".join(argv))
    save(objects)


if __name__ == "__main__":
    main()
