/**
 * curl's IMAP client against the real server: imaps:// with the certificate verified
 * (--cacert, the name resolved with --resolve), imap:// upgraded with STARTTLS (--ssl-reqd).
 * A fetch by UID must return the stored message byte for byte, a listing must name every
 * folder, an upload (-T, APPEND) must come back unchanged, and a wrong password must fail
 * with curl's login-denied exit code.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readInbox, readMailbox } from "../helpers/read_mail.ts";
import { sendMail, startServer } from "../helpers/pop3_client.ts";

const USER = "curly@test.example";
const PASSWORD = "curl imap e2e password";
const HOST = "mx.test.example";
const enc = new TextEncoder();

const MESSAGES: Uint8Array[] = [
  enc.encode("Subject: plain\r\nFrom: a@remote.test\r\n\r\nhello\r\n"),
  new Uint8Array([
    ...enc.encode("Subject: 8bit Grüße ✉\r\nContent-Type: text/plain\r\n\r\n.\r\n..dots\r\n"),
    0xe9,
    0xff,
    0x80,
    ...enc.encode("\r\n日本語\r\n"),
  ]),
];

/** curl's exit code when the server refuses the login (CURLE_LOGIN_DENIED). */
const LOGIN_DENIED = 67;

Deno.test("curl imaps:// and imap:// with STARTTLS", async (t) => {
  const server = await startServer();
  const work = await Deno.makeTempDir({ prefix: "fsmtp-imap-curl-" });
  const cert = join(server.dir, "keys", "cert.pem");
  /** Runs curl against `url` (host and port filled in), verifying the certificate. */
  const curl = async (path: string, opts: { starttls?: boolean; extra?: string[] } = {}) => {
    const port = opts.starttls ? server.imapPort : server.imapsPort;
    const scheme = opts.starttls ? "imap" : "imaps";
    const out = await new Deno.Command("curl", {
      args: [
        "-sS",
        "--max-time",
        "60",
        "--cacert",
        cert,
        "--resolve",
        `${HOST}:${port}:127.0.0.1`,
        ...(opts.starttls ? ["--ssl-reqd"] : []),
        ...(opts.extra ?? ["-u", `${USER}:${PASSWORD}`]),
        `${scheme}://${HOST}:${port}${path}`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
  };
  try {
    await server.addUser(USER, PASSWORD);
    for (const m of MESSAGES) await sendMail(server.smtpPort, USER, m);
    const stored = await readInbox(server.dbPath, USER, PASSWORD);
    assert.equal(stored.length, MESSAGES.length);

    await t.step("imaps:// INBOX;UID=n is the stored message, byte for byte", async () => {
      for (const [i, m] of stored.entries()) {
        const r = await curl(`/INBOX;UID=${i + 1}`);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(r.stdout, m, `UID ${i + 1}`);
      }
    });

    await t.step("imap:// with --ssl-reqd (STARTTLS) fetches the same bytes", async () => {
      const r = await curl("/INBOX;UID=2", { starttls: true });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout, stored[1]);
    });

    await t.step("a section: ;SECTION=HEADER.FIELDS%20(SUBJECT)", async () => {
      const r = await curl("/INBOX;UID=2/;SECTION=HEADER.FIELDS%20(SUBJECT)");
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout, enc.encode("Subject: 8bit Grüße ✉\r\n\r\n"));
    });

    await t.step("listing imaps://…/ names every folder with its attributes", async () => {
      const r = await curl("/");
      assert.equal(r.code, 0, r.stderr);
      const lines = new TextDecoder().decode(r.stdout).trimEnd().split("\r\n");
      const names = lines.map((l) => /^\* LIST \(([^)]*)\) "\/" "?([^"]*)"?$/.exec(l));
      assert.ok(names.every((m) => m !== null), lines.join("\n"));
      assert.deepEqual(names.map((m) => m![2]).sort(), [
        "Archive",
        "Drafts",
        "INBOX",
        "Junk",
        "Sent",
        "Trash",
      ]);
      const trash = names.find((m) => m![2] === "Trash")!;
      assert.match(trash[1], /\\Trash/);
    });

    await t.step("UID SEARCH through -X", async () => {
      const r = await curl("/INBOX", {
        extra: ["-u", `${USER}:${PASSWORD}`, "-X", "UID SEARCH ALL"],
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(new TextDecoder().decode(r.stdout), "* SEARCH 1 2\r\n");
    });

    await t.step("upload with -T (APPEND) and fetch it back unchanged", async () => {
      const draft = new Uint8Array([
        ...enc.encode("From: curly@test.example\r\nSubject: uploaded\r\n\r\nbody "),
        0xfe,
        ...enc.encode("\r\n.\r\nlast\r\n"),
      ]);
      const file = join(work, "draft.eml");
      await Deno.writeFile(file, draft);
      const up = await curl("/Drafts", { extra: ["-u", `${USER}:${PASSWORD}`, "-T", file] });
      assert.equal(up.code, 0, up.stderr);
      assert.deepEqual(await readMailbox(server.dbPath, USER, PASSWORD, "Drafts"), [draft]);
      const down = await curl("/Drafts;UID=1");
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(down.stdout, draft);
    });

    await t.step("a UID that does not exist fails; a wrong password is denied", async () => {
      const missing = await curl("/INBOX;UID=99");
      assert.notEqual(missing.code, 0);
      assert.equal(missing.stdout.length, 0);
      const denied = await curl("/INBOX;UID=1", { extra: ["-u", `${USER}:not the password`] });
      assert.equal(denied.code, LOGIN_DENIED, denied.stderr);
      assert.equal(denied.stdout.length, 0);
    });

    await t.step("without the CA the certificate is refused (it really is verified)", async () => {
      const r = await new Deno.Command("curl", {
        args: [
          "-sS",
          "--resolve",
          `${HOST}:${server.imapsPort}:127.0.0.1`,
          "-u",
          `${USER}:${PASSWORD}`,
          `imaps://${HOST}:${server.imapsPort}/INBOX;UID=1`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(r.code, 60, "CURLE_PEER_FAILED_VERIFICATION");
    });
  } finally {
    await server.stop();
    await server.cleanup();
    await Deno.remove(work, { recursive: true });
  }
});
