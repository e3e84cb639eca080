"""Sends one message with Python's smtplib, as a real third-party client would.

usage: smtplib_send.py PORT MODE FROM TO MESSAGE_FILE [MAIL_OPTION...]
MODE is "plain" or "starttls". Prints the server's final reply as "CODE TEXT" and exits 0,
or prints the refusal and exits 3.
"""
import smtplib
import ssl
import sys

port, mode, sender, rcpt, path = sys.argv[1:6]
options = sys.argv[6:]
data = open(path, "rb").read()

client = smtplib.SMTP("127.0.0.1", int(port), local_hostname="smtplib.test", timeout=60)
try:
    client.ehlo()
    if mode == "starttls":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        code, _ = client.starttls(context=ctx)
        assert code == 220, code
        client.ehlo()
        print("TLS", client.sock.version())
    try:
        client.sendmail(sender, [rcpt], data, mail_options=options)
    except smtplib.SMTPSenderRefused as err:
        print(err.smtp_code, err.smtp_error.decode())
        sys.exit(3)
    except smtplib.SMTPDataError as err:
        print(err.smtp_code, err.smtp_error.decode())
        sys.exit(3)
    except smtplib.SMTPRecipientsRefused as err:
        for code, text in err.recipients.values():
            print(code, text.decode())
        sys.exit(3)
    print("250 accepted")
finally:
    try:
        client.quit()
    except smtplib.SMTPServerDisconnected:
        pass
