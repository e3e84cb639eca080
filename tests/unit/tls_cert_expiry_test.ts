import assert from "node:assert/strict";
import { join } from "node:path";
import {
  certificateExpiryWarning,
  certificateFileExpiryWarning,
  EXPIRY_WARNING_DAYS,
} from "../../src/tls/cert_expiry.ts";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";

const DAY_MS = 86_400_000;
const PATHS = { certPath: "env/keys/cert.pem", keyPath: "env/keys/key.pem" };

/** Runs `openssl` and returns its exit code and stderr. */
async function openssl(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
    .output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("certificate expiry warning", async (t) => {
  const made = new Date("2030-01-01T00:00:00Z");
  const { certPem } = await createSelfSignedCertificate("mail.example.org", { now: made });
  const notAfter = made.getTime() + 397 * DAY_MS;

  await t.step("silent while more than 30 days are left", () => {
    assert.equal(certificateExpiryWarning(certPem, PATHS, made), undefined);
    const before = new Date(notAfter - EXPIRY_WARNING_DAYS * DAY_MS - 1000);
    assert.equal(certificateExpiryWarning(certPem, PATHS, before), undefined);
  });

  await t.step("within 30 days a self-signed one says how to renew it", () => {
    const soon = new Date(notAfter - 10 * DAY_MS);
    const text = certificateExpiryWarning(certPem, PATHS, soon);
    assert.ok(text);
    assert.match(text, /self-signed TLS certificate env\/keys\/cert\.pem expires on 2031-02-02/);
    assert.match(text, /\(in 10 days\)/);
    assert.match(text, /not renewed automatically/);
    assert.match(text, /remove env\/keys\/cert\.pem and env\/keys\/key\.pem and restart/);
  });

  await t.step("after notAfter it says expired", () => {
    const text = certificateExpiryWarning(certPem, PATHS, new Date(notAfter + DAY_MS));
    assert.match(text ?? "", /expired on 2031-02-02T00:00:00\.000Z/);
  });

  await t.step("a CA-issued one is to be renewed with its CA", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const f = (name: string) => join(dir, name);
      const steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f("ca.key"), "-out"]
          .concat([f("ca.pem"), "-days", "30", "-subj", "/CN=Test CA"]),
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f("leaf.key"), "-out", f("leaf.csr")]
          .concat(["-subj", "/CN=mail.example.org"]),
        ["x509", "-req", "-in", f("leaf.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key")]
          .concat(["-CAcreateserial", "-out", f("leaf.pem"), "-days", "5"]),
      ];
      for (const args of steps) {
        const r = await openssl(args);
        assert.equal(r.code, 0, r.stderr);
      }
      const text = certificateExpiryWarning(await Deno.readTextFile(f("leaf.pem")), PATHS);
      assert.ok(text);
      assert.match(text, /^TLS certificate env\/keys\/cert\.pem expires on .* \(in 5 days\)/);
      assert.match(text, /renew it with its CA/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("garbage throws; the file variant stays silent on unreadable files", async () => {
    assert.throws(() => certificateExpiryWarning("not a certificate", PATHS));
    assert.equal(
      certificateFileExpiryWarning({ certPath: "/nonexistent/cert.pem", keyPath: "k" }),
      undefined,
    );
    const dir = await Deno.makeTempDir();
    try {
      const path = join(dir, "cert.pem");
      await Deno.writeTextFile(path, certPem);
      const soon = new Date(notAfter - DAY_MS);
      const text = certificateFileExpiryWarning({ certPath: path, keyPath: "k" }, soon);
      assert.match(text ?? "", /\(in 1 day\)/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
