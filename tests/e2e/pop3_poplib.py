"""Reads a maildrop with Python's poplib, as a real third-party client would.

usage: pop3_poplib.py MODE PORT USER PASSWORD OUTDIR [--cafile PEM] [--auth-plain] [--dele N]...
MODE is "stls" (plain connection, then STLS) or "ssl" (POP3_SSL, implicit TLS). With --cafile
the server's certificate is verified for the name "mx.test.example"; without it, not at all.
Every message is fetched with RETR and written to OUTDIR/N.eml as the bytes poplib returned
(lines joined with CRLF, final CRLF added); TOP N 0 goes to OUTDIR/N.top. Messages named with
--dele are then deleted, and the session ends with QUIT. Prints one JSON object describing
the session. Exits 3 when the login is refused (the reply is in "error").
"""
import base64
import json
import os
import poplib
import ssl
import sys

SERVER_NAME = "mx.test.example"

mode, port, user, password, outdir = sys.argv[1:6]
rest = sys.argv[6:]
cafile = None
auth_plain = False
dele = []
while rest:
    arg = rest.pop(0)
    if arg == "--cafile":
        cafile = rest.pop(0)
    elif arg == "--auth-plain":
        auth_plain = True
    elif arg == "--dele":
        dele.append(int(rest.pop(0)))
    else:
        sys.exit("unknown argument " + arg)

if cafile:
    context = ssl.create_default_context(cafile=cafile)
else:
    context = ssl._create_unverified_context()


class NamedPOP3_SSL(poplib.POP3_SSL):
    """POP3_SSL that connects to 127.0.0.1 but checks the certificate for SERVER_NAME."""

    def _create_socket(self, timeout):
        sock = poplib.POP3._create_socket(self, timeout)
        return self.context.wrap_socket(sock, server_hostname=SERVER_NAME)


out = {}
if mode == "ssl":
    client = NamedPOP3_SSL("127.0.0.1", int(port), context=context, timeout=60)
else:
    client = poplib.POP3("127.0.0.1", int(port), timeout=60)
out["welcome"] = client.getwelcome().decode()
out["capa_before"] = sorted(client.capa().keys())
if mode == "stls":
    client.host = SERVER_NAME  # poplib checks the certificate against self.host
    out["stls"] = client.stls(context=context).decode()
    out["capa_after_tls"] = sorted(client.capa().keys())
out["tls"] = client.sock.version()

try:
    if auth_plain:
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        out["login"] = client._shortcmd("AUTH PLAIN " + token).decode()
    else:
        out["user"] = client.user(user).decode()
        out["login"] = client.pass_(password).decode()
except poplib.error_proto as err:
    out["error"] = err.args[0].decode()
    print(json.dumps(out))
    client.quit()
    sys.exit(3)

out["capa_logged_in"] = sorted(client.capa().keys())
count, octets = client.stat()
out["stat"] = [count, octets]
_, listing, _ = client.list()
out["list"] = [line.decode() for line in listing]
_, uidls, _ = client.uidl()
out["uidl"] = [line.decode() for line in uidls]
out["retr_octets"] = []
for n in range(1, count + 1):
    status, lines, _ = client.retr(n)
    data = b"\r\n".join(lines) + b"\r\n"
    with open(os.path.join(outdir, "%d.eml" % n), "wb") as f:
        f.write(data)
    out["retr_octets"].append([status.decode(), len(data)])
    _, top, _ = client.top(n, 0)
    with open(os.path.join(outdir, "%d.top" % n), "wb") as f:
        f.write(b"\r\n".join(top) + b"\r\n")
for n in dele:
    out.setdefault("dele", []).append(client.dele(n).decode())
out["quit"] = client.quit().decode()
print(json.dumps(out))
