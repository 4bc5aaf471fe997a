# Merges tetranomad's part of the Ops Agent configuration into the file on
# the VM, as tn_docker merges daemon.json: tetranomad owns one receiver, one
# processor and one pipeline (named in FRAGMENT); every other key stays.
#
# Usage: python3 merge.py CURRENT FRAGMENT OUT FORWARD_HOST FORWARD_PORT
# CURRENT may be missing. Exit status 2 with one line on stderr when CURRENT
# cannot be merged; nothing is written then.
#
# When CURRENT holds nothing but tetranomad's keys (or nothing at all, like
# the package's commented-out file), OUT is FRAGMENT byte for byte, so the
# file on the VM is the rendered one and a second run changes nothing. With
# other keys, OUT is YAML dumped by PyYAML: the user's comments are lost (the
# script keeps the original next to it, see tn_logging), their keys are not.
import sys

import yaml


def fail(msg):
    sys.stderr.write(msg + "\n")
    sys.exit(2)


def mapping(parent, key, where):
    v = parent.get(key)
    if v is None:
        v = parent[key] = {}
    if not isinstance(v, dict):
        fail("%s is a %s, not a mapping; fix it in %s" % (where, type(v).__name__, CURRENT))
    return v


def prune(d, path):
    """Removes the mapping at path when it is empty."""
    node = d
    for k in path[:-1]:
        node = node.get(k)
        if not isinstance(node, dict):
            return
    if node.get(path[-1]) == {}:
        del node[path[-1]]


CURRENT, FRAGMENT, OUT, HOST, PORT = sys.argv[1:6]

with open(FRAGMENT, encoding="utf-8") as f:
    fragment_text = f.read()
ours = yaml.safe_load(fragment_text)["logging"]

try:
    with open(CURRENT, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
except FileNotFoundError:
    doc = None
except yaml.YAMLError as e:
    fail("%s is not valid YAML (%s); fix or remove it" % (CURRENT, str(e).replace("\n", " ")))
if doc is None:
    doc = {}
if not isinstance(doc, dict):
    fail("%s is a YAML %s, not a mapping; fix or remove it" % (CURRENT, type(doc).__name__))

logging = mapping(doc, "logging", "logging")
receivers = mapping(logging, "receivers", "logging.receivers")
processors = mapping(logging, "processors", "logging.processors")
service = mapping(logging, "service", "logging.service")
pipelines = mapping(service, "pipelines", "logging.service.pipelines")

(rid,) = ours["receivers"]
(pid,) = ours["processors"]
(lid,) = ours["service"]["pipelines"]

# A second fluent_forward receiver on the same address could not bind: the
# agent would start without tetranomad's listener. Unset, listen_host is
# 127.0.0.1 and listen_port 24224 (GoogleCloudPlatform/ops-agent@2.70.0:
# confgenerator/logging_receivers.go, LoggingReceiverFluentForward).
for name, r in receivers.items():
    if name == rid or not isinstance(r, dict) or r.get("type") != "fluent_forward":
        continue
    if str(r.get("listen_port", 24224)) == PORT and r.get("listen_host", "127.0.0.1") in (HOST, "0.0.0.0"):
        fail(
            "receiver %s in %s is a fluent_forward receiver on %s:%s too, where tetranomad's %s must listen "
            "(logging.forward_address): remove it, or set logging.forward_address to another port"
            % (name, CURRENT, r.get("listen_host", "127.0.0.1"), PORT, rid)
        )

receivers.pop(rid, None)
processors.pop(pid, None)
pipelines.pop(lid, None)
for path in (["logging", "receivers"], ["logging", "processors"], ["logging", "service", "pipelines"], ["logging", "service"], ["logging"]):
    prune(doc, path)

with open(OUT, "w", encoding="utf-8") as f:
    if not doc:
        f.write(fragment_text)
    else:
        logging = mapping(doc, "logging", "logging")
        mapping(logging, "receivers", "logging.receivers")[rid] = ours["receivers"][rid]
        mapping(logging, "processors", "logging.processors")[pid] = ours["processors"][pid]
        mapping(mapping(logging, "service", "logging.service"), "pipelines", "logging.service.pipelines")[lid] = ours["service"]["pipelines"][lid]
        f.write("# Merged by tetranomad: its receiver %s, processor %s and pipeline %s;\n" % (rid, pid, lid))
        f.write("# every other key is yours. The file before the first merge is kept as\n")
        f.write("# config.yaml.before-tetranomad.\n")
        yaml.safe_dump(doc, f, default_flow_style=False, sort_keys=False, allow_unicode=True)
