#!/usr/bin/python3
"""Runs opendkim-testmsg (OpenDKIM's own verifier) on every *.eml file of a directory, with
the keys served by a dnsmasq of our own.

opendkim-testmsg has no option to choose a DNS server: libopendkim asks the resolver named in
/etc/resolv.conf, on port 53. So this script must run inside fresh mount and network namespaces
(`unshare --mount --net /usr/bin/python3 dkim_opendkim.py DIR`): there it brings up a private
loopback, starts dnsmasq on 127.0.0.1:53 with the arguments in DIR/dnsmasq.json, bind-mounts a
resolv.conf naming 127.0.0.1 over /etc/resolv.conf (seen by this namespace only), verifies, and
leaves nothing behind when the namespaces go away.

Prints a JSON object: file name -> {"code": exit status, "stderr": text}.
"""
import json
import os
import subprocess
import sys
import time

import dns.resolver

directory = sys.argv[1]
with open(os.path.join(directory, "dnsmasq.json")) as f:
    dnsmasq_args = json.load(f)
probe_name = dnsmasq_args.pop(0)  # a TXT name to wait for

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
resolv = os.path.join(directory, "resolv.conf")
with open(resolv, "w") as f:
    f.write("nameserver 127.0.0.1\n")
subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)

dnsmasq = subprocess.Popen(["dnsmasq", "--keep-in-foreground", "--port=53", *dnsmasq_args])
try:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    for _ in range(100):
        try:
            resolver.resolve(probe_name, "TXT", lifetime=1)
            break
        except Exception:
            if dnsmasq.poll() is not None:
                sys.exit(f"dnsmasq exited with {dnsmasq.returncode}")
            time.sleep(0.05)
    results = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".eml"):
            continue
        with open(os.path.join(directory, name), "rb") as f:
            run = subprocess.run(["opendkim-testmsg", "-C"], stdin=f, capture_output=True)
        results[name] = {"code": run.returncode, "stderr": run.stderr.decode(errors="replace")}
    print(json.dumps(results))
finally:
    dnsmasq.terminate()
    dnsmasq.wait()
