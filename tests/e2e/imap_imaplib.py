"""Runs a list of IMAP commands with Python's imaplib, as a real third-party client would.

usage: imap_imaplib.py MODE PORT USER PASSWORD CAFILE < COMMANDS_JSON
MODE is "starttls" (IMAP4, then STARTTLS) or "ssl" (IMAP4_SSL, implicit TLS). The server's
certificate is verified against CAFILE for the name "mx.test.example" either way.

COMMANDS_JSON is a list of {"m": METHOD, "a": [ARG...], "literal": TEXT?}: each calls
client.METHOD(*ARGS) after LOGIN ("literal" is set as imaplib's pending literal first, for
non-ASCII search keys). Octet strings travel in JSON as latin1 text: each character is one
octet, so what the server sent comes back exactly. An argument {"octets": TEXT} is passed as
bytes (APPEND's message).

Prints one JSON object: the greeting, capabilities before and after TLS and after login, the
TLS version and, per command, {"typ": ..., "data": [...]} or {"error": ...}. When the login
is refused it prints {"login_error": ...} and exits 3.
"""
import imaplib
import json
import ssl
import sys

SERVER_NAME = "mx.test.example"

mode, port, user, password, cafile = sys.argv[1:6]
commands = json.load(sys.stdin)
context = ssl.create_default_context(cafile=cafile)


def text(octets):
    """Octets as JSON-safe text, one character per octet."""
    return octets.decode("latin1") if isinstance(octets, bytes) else octets


def plain(value):
    """imaplib's response data (bytes, tuples of bytes, None) as JSON values."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return text(value)


def argument(value):
    return value["octets"].encode("latin1") if isinstance(value, dict) else value


class NamedIMAP4_SSL(imaplib.IMAP4_SSL):
    """IMAP4_SSL that connects to 127.0.0.1 but checks the certificate for SERVER_NAME."""

    def _create_socket(self, timeout):
        sock = imaplib.IMAP4._create_socket(self, timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=SERVER_NAME)


out = {}
if mode == "ssl":
    client = NamedIMAP4_SSL("127.0.0.1", int(port), ssl_context=context, timeout=60)
else:
    client = imaplib.IMAP4("127.0.0.1", int(port), timeout=60)
out["welcome"] = text(client.welcome)
out["capabilities_before"] = list(client.capabilities)
if mode == "starttls":
    client.host = SERVER_NAME  # starttls() checks the certificate against self.host
    typ, data = client.starttls(ssl_context=context)
    out["starttls"] = [typ, plain(data)]
    out["capabilities_after_tls"] = list(client.capabilities)
out["tls"] = client.sock.version()

try:
    typ, data = client.login(user, password)
except imaplib.IMAP4.error as err:
    out["login_error"] = str(err)
    print(json.dumps(out))
    client.logout()
    sys.exit(3)
out["login"] = [typ, plain(data)]
# LOGIN's OK carries the new list as a response code; imaplib keeps the first one otherwise.
typ, data = client.capability()
out["capabilities_logged_in"] = text(data[0]).split()

results = []
for command in commands:
    if "literal" in command:
        client.literal = command["literal"].encode("latin1")
    try:
        typ, data = getattr(client, command["m"])(*[argument(a) for a in command.get("a", [])])
        results.append({"typ": typ, "data": plain(data)})
    except imaplib.IMAP4.error as err:
        results.append({"error": str(err)})
out["results"] = results
out["logout"] = plain(client.logout())
print(json.dumps(out))
