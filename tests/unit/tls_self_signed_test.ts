import assert from "node:assert/strict";
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import type { AddressInfo } from "node:net";
import * as tls from "node:tls";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";

/** Runs `openssl` with `input` on stdin and returns its exit code and output. */
async function openssl(args: string[], input: string) {
  const child = new Deno.Command("openssl", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** What the client saw of one TLS round trip. */
interface Exchange {
  reply: string;
  authorized: boolean;
  authorizationError: string | null;
  peerSubjectCN: string;
}

/**
 * Serves `cert`/`key` over node:tls on 127.0.0.1 with an ephemeral port, connects with
 * `clientOpts`, sends one line and waits for the echoed line; everything is closed before it
 * returns so the test sanitizers see no leaked resources.
 */
async function exchangeLine(
  certPem: string,
  keyPem: string,
  clientOpts: tls.ConnectionOptions,
): Promise<Exchange> {
  const server = tls.createServer({ cert: certPem, key: keyPem }, (socket) => {
    socket.setEncoding("utf8");
    let buffer = "";
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      const eol = buffer.indexOf("\n");
      if (eol >= 0) socket.end(`echo ${buffer.slice(0, eol)}\n`);
    });
    socket.on("error", () => {}); // a client that rejects the certificate resets the socket
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<Exchange>((resolve, reject) => {
      let reply = "";
      let result: Omit<Exchange, "reply"> | undefined;
      let failure: Error | undefined;
      const client = tls.connect({ host: "127.0.0.1", port, ...clientOpts }, () => {
        const peer = client.getPeerCertificate();
        result = {
          authorized: client.authorized,
          authorizationError: client.authorizationError ? String(client.authorizationError) : null,
          peerSubjectCN: String(peer.subject?.CN ?? ""),
        };
        client.write("hello over tls\n");
      });
      client.setEncoding("utf8");
      client.on("data", (chunk: string) => (reply += chunk));
      client.on("error", (err: Error) => (failure = err));
      // Settle on close, not end, so the socket is fully released before the server closes.
      client.on("close", () => {
        if (failure) reject(failure);
        else if (!result) reject(new Error("closed before the handshake completed"));
        else resolve({ reply, ...result });
      });
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

Deno.test("createSelfSignedCertificate", async (t) => {
  const localhost = await createSelfSignedCertificate("localhost");
  const mail = await createSelfSignedCertificate("mail.example.org");

  await t.step("node:crypto parses subject, issuer, SAN and the self-signature", () => {
    const cert = new X509Certificate(mail.certPem);
    assert.equal(cert.subject, "CN=mail.example.org");
    assert.equal(cert.issuer, "CN=mail.example.org");
    assert.equal(cert.subjectAltName, "DNS:mail.example.org");
    assert.equal(cert.ca, false);
    assert.equal(cert.verify(cert.publicKey), true);
    assert.equal(cert.checkPrivateKey(createPrivateKey(mail.keyPem)), true);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    // A different key must not verify it, or the verify() check above would prove nothing.
    assert.equal(cert.verify(new X509Certificate(localhost.certPem).publicKey), false);

    const local = new X509Certificate(localhost.certPem);
    assert.equal(local.subject, "CN=localhost");
    assert.equal(local.subjectAltName, "DNS:localhost, IP Address:127.0.0.1");
    assert.equal(local.verify(local.publicKey), true);
  });

  await t.step("serial is 16 random bytes and positive", () => {
    const a = new X509Certificate(localhost.certPem).serialNumber;
    const b = new X509Certificate(mail.certPem).serialNumber;
    assert.match(a, /^[0-7][0-9A-F]{31}$/i);
    assert.match(b, /^[0-7][0-9A-F]{31}$/i);
    assert.notEqual(a, b);
  });

  await t.step("PEM shapes: 64-character lines, PKCS#8 key", () => {
    for (const pem of [mail.certPem, mail.keyPem]) {
      const body = pem.trim().split("\n").slice(1, -1);
      assert.ok(body.slice(0, -1).every((l) => l.length === 64));
      assert.ok(body.at(-1)!.length <= 64);
    }
    assert.match(
      mail.certPem,
      /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/,
    );
    assert.match(
      mail.keyPem,
      /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/,
    );
  });

  await t.step("validity runs from now-1h to now+days", async () => {
    const now = new Date("2030-06-15T12:00:00Z");
    const { certPem } = await createSelfSignedCertificate("mail.example.org", { now, days: 10 });
    const cert = new X509Certificate(certPem);
    assert.equal(new Date(cert.validFrom).toISOString(), "2030-06-15T11:00:00.000Z");
    assert.equal(new Date(cert.validTo).toISOString(), "2030-06-25T12:00:00.000Z");

    const defaults = new X509Certificate(mail.certPem);
    const span = Date.parse(defaults.validTo) - Date.parse(defaults.validFrom);
    assert.equal(span, 397 * 86_400_000 + 3_600_000);
    // testssl and the CA/Browser Forum rule: at most 398 days from notBefore to notAfter.
    assert.ok(span <= 398 * 86_400_000, `validity ${span / 86_400_000} days`);
    assert.ok(Math.abs(Date.parse(defaults.validFrom) - (Date.now() - 3_600_000)) < 60_000);
  });

  await t.step("a notAfter from 2050 on is a GeneralizedTime that openssl accepts", async () => {
    const now = new Date("2049-06-01T00:00:00Z");
    const { certPem } = await createSelfSignedCertificate("mail.example.org", { now });
    const parsed = await openssl(["asn1parse"], certPem);
    assert.equal(parsed.code, 0, parsed.stderr);
    assert.match(parsed.stdout, /UTCTIME\s+:490531230000Z/);
    assert.match(parsed.stdout, /GENERALIZEDTIME\s+:20500703000000Z/);
    assert.equal(new Date(new X509Certificate(certPem).validTo).getUTCFullYear(), 2050);
  });

  await t.step("openssl x509 -text shows the expected extensions", async () => {
    const text = await openssl(["x509", "-noout", "-text"], localhost.certPem);
    assert.equal(text.code, 0, text.stderr);
    const out = text.stdout;
    assert.match(out, /Version: 3 \(0x2\)/);
    assert.match(out, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(out, /Public-Key: \(2048 bit\)/);
    assert.match(out, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(out, /Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    assert.match(out, /Extended Key Usage: *\s+TLS Web Server Authentication\n/);
    assert.match(out, /Subject Alternative Name: *\s+DNS:localhost, IP Address:127\.0\.0\.1\n/);

    // SubjectKeyIdentifier must be SHA-1 of the PKCS#1 public key (RFC 5280 method 1).
    const pkcs1 = createPublicKey(localhost.keyPem).export({ type: "pkcs1", format: "der" });
    const expected = createHash("sha1").update(pkcs1).digest("hex").match(/../g)!.join(":");
    const ski = /Subject Key Identifier: *\s+([0-9A-F:]+)/.exec(out);
    assert.equal(ski?.[1].toLowerCase(), expected);
  });

  await t.step("openssl verifies it strictly as its own trust anchor for sslserver", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/cert.pem`;
      await Deno.writeTextFile(path, localhost.certPem);
      const args = ["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", path, path];
      const res = await openssl(args, "");
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.match(res.stdout, /: OK/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("a real node:tls server serves it (rejectUnauthorized: false)", async () => {
    const res = await exchangeLine(mail.certPem, mail.keyPem, { rejectUnauthorized: false });
    assert.equal(res.reply, "echo hello over tls\n");
    assert.equal(res.peerSubjectCN, "mail.example.org");
    assert.equal(res.authorized, false);
    assert.equal(res.authorizationError, "DEPTH_ZERO_SELF_SIGNED_CERT");
  });

  await t.step("a client trusting the cert verifies chain and hostname", async () => {
    const res = await exchangeLine(localhost.certPem, localhost.keyPem, {
      ca: localhost.certPem,
      servername: "localhost",
    });
    assert.equal(res.reply, "echo hello over tls\n");
    assert.equal(res.authorized, true);
    assert.equal(res.authorizationError, null);

    const byName = await exchangeLine(mail.certPem, mail.keyPem, {
      ca: mail.certPem,
      servername: "mail.example.org",
    });
    assert.equal(byName.authorized, true);
    assert.equal(byName.reply, "echo hello over tls\n");
  });

  await t.step("verification still fails for a wrong name or an untrusted cert", async () => {
    await assert.rejects(
      exchangeLine(mail.certPem, mail.keyPem, { ca: mail.certPem, servername: "other.example" }),
      (err: NodeJS.ErrnoException) => err.code === "ERR_TLS_CERT_ALTNAME_INVALID",
    );
    await assert.rejects(
      exchangeLine(mail.certPem, mail.keyPem, { servername: "mail.example.org" }),
      (err: NodeJS.ErrnoException) => err.code === "DEPTH_ZERO_SELF_SIGNED_CERT",
    );
  });

  await t.step("an IPv4 hostname becomes an iPAddress SAN", async () => {
    const { certPem } = await createSelfSignedCertificate("192.0.2.7", { days: 1 });
    const cert = new X509Certificate(certPem);
    assert.equal(cert.subject, "CN=192.0.2.7");
    assert.equal(cert.subjectAltName, "IP Address:192.0.2.7");
  });

  await t.step("rejects unusable hostnames and options", async () => {
    for (const bad of ["", "mail example.org", "mail.exämple.org", "::1", "a".repeat(254)]) {
      await assert.rejects(createSelfSignedCertificate(bad), SyntaxError, JSON.stringify(bad));
    }
    await assert.rejects(createSelfSignedCertificate("x.org", { days: 0 }), RangeError);
    // Longer than 398 days in all (with the hour before now) is refused, 825 included.
    await assert.rejects(createSelfSignedCertificate("x.org", { days: 398 }), RangeError);
    await assert.rejects(createSelfSignedCertificate("x.org", { days: 825 }), RangeError);
    await assert.rejects(createSelfSignedCertificate("x.org", { now: new Date("?") }), RangeError);
  });
});
