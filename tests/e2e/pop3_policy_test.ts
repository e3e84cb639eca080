/**
 * POP3 login policy against the real server: `auth.allow_plaintext = "never"` refuses USER,
 * PASS and AUTH on the plain port (and hides them from CAPA) while STLS and the pop3s port
 * work; `auth.max_failures_per_ip = 3` blocks an address after three failed logins, even with
 * the right password, while other addresses are still served.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runProgram } from "../helpers/test_server.ts";
import { Pop3Client, sendMail, startServer } from "../helpers/pop3_client.ts";

const POPLIB = new URL("./pop3_poplib.py", import.meta.url).pathname;
const USER = "strict@test.example";
const PASSWORD = "strict policy password";
const REFUSED = "-ERR [AUTH] Plaintext login is disabled: use STLS first, or port 995";
const BLOCKED = "-ERR [AUTH] Too many failed logins from your address; try again later";

Deno.test("pop3 login policy: plaintext never, failures per IP", async (t) => {
  const server = await startServer({
    auth: { allow_plaintext: "never", max_failures_per_ip: 3 },
  });
  const cert = await Deno.readTextFile(join(server.dir, "keys", "cert.pem"));
  const work = await Deno.makeTempDir({ prefix: "fsmtp-pop3-policy-" });
  try {
    await server.addUser(USER, PASSWORD);
    await sendMail(server.smtpPort, USER, "Subject: policy\r\n\r\nbody\r\n");

    await t.step("CAPA on the plain port: STLS, but no USER and no SASL", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        const capa = await c.commandMulti("CAPA");
        assert.ok(capa.lines.includes("STLS"));
        assert.ok(!capa.lines.includes("USER"));
        assert.ok(!capa.lines.some((l) => l.startsWith("SASL")));
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
    });

    await t.step("USER, PASS and AUTH PLAIN without TLS are refused from loopback", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        assert.equal(await c.command(`USER ${USER}`), REFUSED);
        assert.equal(await c.command(`PASS ${PASSWORD}`), REFUSED);
        const plain = btoa(`\0${USER}\0${PASSWORD}`);
        assert.equal(await c.command(`AUTH PLAIN ${plain}`), REFUSED);
        assert.equal(await c.command("STAT"), "-ERR Log in first (USER/PASS or AUTH)");
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
    });

    await t.step("STLS then works, with the certificate verified", async () => {
      const c = await Pop3Client.open(server.pop3Port);
      try {
        assert.equal(await c.command(`USER ${USER}`), REFUSED);
        await c.stls(cert);
        const capa = await c.commandMulti("CAPA");
        assert.ok(capa.lines.includes("USER"));
        assert.ok(capa.lines.includes("SASL PLAIN"));
        assert.ok(!capa.lines.includes("STLS"));
        assert.equal(await c.command("STLS"), "-ERR TLS is already active");
        assert.match(await c.login(USER, PASSWORD), /^\+OK Logged in, 1 messages/);
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
    });

    await t.step("poplib over STLS logs in too", async () => {
      const r = await runProgram("python3", [
        POPLIB,
        "stls",
        String(server.pop3Port),
        USER,
        PASSWORD,
        work,
        "--cafile",
        join(server.dir, "keys", "cert.pem"),
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const out = JSON.parse(r.stdout);
      assert.ok(!out.capa_before.includes("USER"));
      assert.ok(out.capa_after_tls.includes("USER"));
      assert.deepEqual(out.stat[0], 1);
    });

    await t.step("the pop3s port allows login", async () => {
      const c = await Pop3Client.open(server.pop3sPort, { tls: true, caCert: cert });
      try {
        const capa = await c.commandMulti("CAPA");
        assert.ok(capa.lines.includes("USER"));
        assert.ok(!capa.lines.includes("STLS"));
        assert.match(await c.login(USER, PASSWORD), /^\+OK Logged in/);
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
    });

    await t.step("three failures from 127.0.0.1 block its logins, right password too", async () => {
      for (let i = 0; i < 3; i++) {
        const c = await Pop3Client.open(server.pop3sPort, { tls: true });
        try {
          assert.equal(
            await c.login(USER, `wrong ${i}`),
            "-ERR [AUTH] Invalid user name or password",
          );
          assert.match(await c.command("QUIT"), /^\+OK/);
        } finally {
          c.close();
        }
      }
      const c = await Pop3Client.open(server.pop3sPort, { tls: true });
      try {
        assert.equal(await c.login(USER, PASSWORD), BLOCKED);
        assert.equal(await c.closedByServer(), true);
      } finally {
        c.close();
      }
      const d = await Pop3Client.open(server.pop3Port);
      try {
        await d.stls();
        const plain = btoa(`\0${USER}\0${PASSWORD}`);
        assert.equal(await d.command(`AUTH PLAIN ${plain}`), BLOCKED, "AUTH is blocked too");
      } finally {
        d.close();
      }
    });

    await t.step("another address (127.0.0.2) is still served", async () => {
      const c = await Pop3Client.open(server.pop3sPort, { tls: true, localAddress: "127.0.0.2" });
      try {
        assert.match(await c.login(USER, PASSWORD), /^\+OK Logged in, 1 messages/);
        assert.match(await c.command("STAT"), /^\+OK 1 /);
        assert.match(await c.command("QUIT"), /^\+OK/);
      } finally {
        c.close();
      }
    });
  } finally {
    await server.stop();
    await server.cleanup();
    await Deno.remove(work, { recursive: true });
  }
});
