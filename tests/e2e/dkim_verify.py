#!/usr/bin/python3
"""Verifies each DKIM-Signature of a message with python3-dkim (dkimpy), fetching the keys
with dnspython from the DNS server at 127.0.0.1:PORT (not /etc/resolv.conf).

usage: /usr/bin/python3 dkim_verify.py PORT MESSAGE_FILE...
Prints a JSON object: file -> list of {"a", "s", "d", "ok", "error"}, one per signature, top
to bottom.
"""
import json
import sys

import dkim
import dns.resolver

port = int(sys.argv[1])
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ["127.0.0.1"]
resolver.port = port


def txt(name, timeout=5):
    """dkimpy's dnsfunc: the TXT record at `name`, its strings joined (RFC 6376 §3.6.2.2)."""
    if isinstance(name, bytes):
        name = name.decode("ascii")
    try:
        answer = resolver.resolve(name, "TXT", lifetime=timeout)
    except dns.resolver.NXDOMAIN:
        return None
    return b"".join(answer[0].strings)



def verify_all(message):
    """Verifies each DKIM-Signature of `message` on its own."""
    verifier = dkim.DKIM(message, minkey=1024)
    count = len([n for n, _ in verifier.headers if n.lower() == b"dkim-signature"])
    results = []
    for idx in range(count):
        error = ""
        try:
            ok = bool(verifier.verify(idx=idx, dnsfunc=txt))
        except dkim.DKIMException as err:
            ok = False
            error = str(err)
        sig = verifier.signature_fields or {}
        results.append({
            "a": sig.get(b"a", b"").decode(),
            "s": sig.get(b"s", b"").decode(),
            "d": sig.get(b"d", b"").decode(),
            "ok": ok,
            "error": error,
        })
    return results


out = {}
for path in sys.argv[2:]:
    with open(path, "rb") as f:
        out[path] = verify_all(f.read())
print(json.dumps(out))
