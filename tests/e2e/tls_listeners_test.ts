/**
 * The implicit-TLS listeners (submissions, pop3s, imaps; RFC 8314) and the STARTTLS upgrade
 * share one handshake (tls_context.ts acceptTls). Checked with `openssl s_client`: TLS 1.2 and
 * 1.3 accepted and 1.1 refused on every implicit port, the greeting sent over TLS, the
 * certificate renewed by SIGHUP for new connections of both kinds, a refusal over the limits
 * sent over TLS, and a client that never starts its handshake dropped.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";
import { runProgram, TestServer } from "../helpers/test_server.ts";

/** What each implicit-TLS listener greets with, and how a client says goodbye. */
const IMPLICIT = [
  { name: "submissions", greeting: /^220 /m, quit: "QUIT\n" },
  { name: "pop3s", greeting: /^\+OK /m, quit: "QUIT\n" },
  { name: "imaps", greeting: /^\* OK /m, quit: "a LOGOUT\n" },
] as const;

function portOf(server: TestServer, name: string): number {
  if (name === "submissions") return server.submissionsPort;
  if (name === "pop3s") return server.pop3sPort;
  return server.imapsPort;
}

/** `openssl s_client` against 127.0.0.1:`port`, typing `input` (CRLF line ends). */
function sClient(port: number, input: string, ...extra: string[]) {
  return runProgram(
    "openssl",
    ["s_client", "-connect", `127.0.0.1:${port}`, "-crlf", "-ign_eof", ...extra],
    input,
  );
}

/** The server certificate block s_client printed. */
function certificateOf(output: string): string {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(output);
  assert.ok(m, `no certificate in ${output}`);
  return m[0];
}

Deno.test("TLS listeners: implicit TLS and STARTTLS", async (t) => {
  const server = await TestServer.start();
  try {
    for (const listener of IMPLICIT) {
      await t.step(`${listener.name}: TLS 1.2 and 1.3, the greeting over TLS`, async () => {
        for (const version of ["-tls1_2", "-tls1_3"]) {
          const r = await sClient(portOf(server, listener.name), listener.quit, version);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          assert.match(r.stdout, new RegExp(`New, TLSv1\\.${version.at(-1)}, Cipher is`));
          assert.match(r.stdout, listener.greeting);
        }
      });
      await t.step(`${listener.name}: TLS 1.1 refused`, async () => {
        // SECLEVEL=0 lets this OpenSSL offer 1.1 at all; the server must still refuse it.
        const r = await sClient(
          portOf(server, listener.name),
          listener.quit,
          "-tls1_1",
          "-cipher",
          "DEFAULT@SECLEVEL=0",
        );
        assert.notEqual(r.code, 0);
        assert.doesNotMatch(r.stdout, listener.greeting);
      });
    }

    await t.step("SIGHUP renews the certificate for implicit TLS and STARTTLS", async () => {
      const implicitBefore = certificateOf((await sClient(server.pop3sPort, "QUIT\n")).stdout);
      const starttlsBefore = certificateOf(
        (await sClient(server.pop3Port, "QUIT\n", "-starttls", "pop3")).stdout,
      );
      assert.equal(implicitBefore, starttlsBefore);
      const { certPem, keyPem } = await createSelfSignedCertificate("mx.test.example");
      await Deno.writeTextFile(join(server.dir, "keys", "cert.pem"), certPem);
      await Deno.writeTextFile(join(server.dir, "keys", "key.pem"), keyPem);
      server.process.kill("SIGHUP");
      await server.waitForOutput(/config\.reloaded/);
      const implicit = await sClient(server.pop3sPort, "QUIT\n");
      assert.equal(certificateOf(implicit.stdout), certPem.trim());
      assert.match(implicit.stdout, /^\+OK /m);
      const starttls = await sClient(server.pop3Port, "QUIT\n", "-starttls", "pop3");
      assert.equal(certificateOf(starttls.stdout), certPem.trim());
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});

Deno.test("TLS listeners: limits hold before and during the handshake", async (t) => {
  const server = await TestServer.start({
    limits: { max_connections_per_ip: 2, command_timeout: "2s" },
  });
  const held: Deno.Conn[] = [];
  try {
    await t.step("over the per-IP limit, the refusal comes over TLS", async () => {
      for (let i = 0; i < 2; i++) held.push(await Deno.connect({ port: server.pop3sPort }));
      const r = await sClient(server.pop3sPort, "");
      assert.match(r.stdout, /New, TLSv1\.[23], Cipher is/);
      assert.match(r.stdout, /^-ERR \[SYS\/TEMP\] Too many connections/m);
    });

    await t.step("a connection that never starts its handshake is closed", async () => {
      // The two held connections sent nothing: the handshake timeout (command_timeout) ends
      // them, which also gives their slots back.
      for (const conn of held) assert.equal(await conn.read(new Uint8Array(64)), null);
      const r = await sClient(server.pop3sPort, "QUIT\n");
      assert.match(r.stdout, /^\+OK /m);
    });
  } finally {
    for (const conn of held) {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    }
    await server.stop();
    await server.cleanup();
  }
});
