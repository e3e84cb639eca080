#!/usr/bin/python3
"""Parses what fsmtp's autoconfig URLs answered with Python's own XML and plist parsers and
prints what a client would take from it, as JSON.

usage: autoconfig_check.py thunderbird|autodiscover|apple FILE
"""
import json
import plistlib
import sys
import xml.etree.ElementTree as ET

kind, path = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    data = f.read()

if kind == "thunderbird":
    root = ET.fromstring(data)
    assert root.tag == "clientConfig" and root.get("version") == "1.1", root.tag
    provider = root.find("emailProvider")
    servers = []
    for tag in ("incomingServer", "outgoingServer"):
        for s in provider.findall(tag):
            servers.append({
                "type": s.get("type"),
                "hostname": s.findtext("hostname"),
                "port": int(s.findtext("port")),
                "socketType": s.findtext("socketType"),
                "authentication": s.findtext("authentication"),
                "username": s.findtext("username"),
            })
    print(json.dumps({"id": provider.get("id"), "domain": provider.findtext("domain"),
                      "servers": servers}))
elif kind == "autodiscover":
    ns = {"a": "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
          "o": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
    root = ET.fromstring(data)
    account = root.find("o:Response/o:Account", ns)
    protocols = [{
        "type": p.findtext("o:Type", namespaces=ns),
        "server": p.findtext("o:Server", namespaces=ns),
        "port": int(p.findtext("o:Port", namespaces=ns)),
        "login": p.findtext("o:LoginName", namespaces=ns),
        "encryption": p.findtext("o:Encryption", namespaces=ns),
    } for p in account.findall("o:Protocol", ns)]
    print(json.dumps({"action": account.findtext("o:Action", namespaces=ns),
                      "protocols": protocols}))
else:
    profile = plistlib.loads(data)
    account = profile["PayloadContent"][0]
    print(json.dumps({"type": profile["PayloadType"], "account": account}))
