"""Submits one message like a mail client (Thunderbird-style) with Python's smtplib.

usage: submission_send.py PORT MODE MECH USER PASSWORD FROM TO [HEADER_FROM]
MODE: starttls | ssl | plain. MECH: PLAIN | LOGIN.
Prints "OK" or the refusal as "CODE TEXT" (exit 3); a login failure prints "AUTH CODE TEXT".
"""
import smtplib
import ssl
import sys
from email.message import EmailMessage

port, mode, mech, user, password, sender, rcpt = sys.argv[1:8]
header_from = sys.argv[8] if len(sys.argv) > 8 else sender
ctx = ssl._create_unverified_context()
if mode == "ssl":
    client = smtplib.SMTP_SSL("127.0.0.1", int(port), context=ctx, timeout=30)
else:
    client = smtplib.SMTP("127.0.0.1", int(port), timeout=30)
client.ehlo("client.test")
if mode == "starttls":
    client.starttls(context=ctx)
    client.ehlo("client.test")
msg = EmailMessage()
msg["From"] = header_from
msg["To"] = rcpt
msg["Subject"] = f"submitted via {mode} {mech}"
msg.set_content("Hello from the submission test.\n")
try:
    if user:
        client.user, client.password = user, password
        auth = client.auth_plain if mech == "PLAIN" else client.auth_login
        try:
            client.auth(mech, auth)
        except smtplib.SMTPAuthenticationError as err:
            print("AUTH", err.smtp_code, err.smtp_error.decode())
            sys.exit(3)
    client.send_message(msg, from_addr=sender, to_addrs=[rcpt])
    print("OK")
except smtplib.SMTPResponseException as err:
    print(err.smtp_code, err.smtp_error.decode())
    sys.exit(3)
except smtplib.SMTPRecipientsRefused as err:
    for code, text in err.recipients.values():
        print(code, text.decode())
    sys.exit(3)
except smtplib.SMTPNotSupportedError as err:
    print("NOTSUPPORTED", err)
    sys.exit(3)
finally:
    try:
        client.quit()
    except smtplib.SMTPServerDisconnected:
        pass
