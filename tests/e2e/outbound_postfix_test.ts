/**
 * Outbound delivery against a real Postfix on loopback (issue 5), names resolved through the
 * fsmtp server's own dnsmasq: a message submitted like Thunderbird does reaches Postfix's
 * Maildir over STARTTLS, DKIM-signed so that python3-dkim verifies it; Postfix relays
 * `test.example` to fsmtp; `--mailtest --direct --verbose` prints the conversation with
 * Postfix and delivers a DKIM-valid message.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensurePostfix, PostfixPeer } from "../../bench/postfix_peer.ts";
import { createSelfSignedCertificate } from "../../src/tls/self_signed.ts";
import { readMailboxText } from "../helpers/read_mail.ts";
import { dirsWithDkimKeys, waitFor } from "../helpers/outbound.ts";
import { freePort, runProgram, TestServer } from "../helpers/test_server.ts";

const HERE = new URL(".", import.meta.url).pathname;
const SUBMIT = join(HERE, "submission_send.py");
const VERIFY = join(HERE, "dkim_verify.py");
const PYTHON = "/usr/bin/python3"; // Debian's, the one that sees python3-dkim
const USER = "ivy@test.example";
const PW = "ivy's outbound password";
const PAUL = "paul@pf.example";

/** The files of a Maildir's new/ and cur/ with their text. */
async function maildir(path: string): Promise<{ file: string; text: string }[]> {
  const out = [];
  for (const sub of ["new", "cur"]) {
    for await (const e of Deno.readDir(join(path, sub))) {
      const file = join(path, sub, e.name);
      out.push({ file, text: await Deno.readTextFile(file) });
    }
  }
  return out;
}

/** python3-dkim's verdict on each DKIM-Signature of `file`, keys from dnsmasq at `port`. */
async function dkimVerdicts(port: number, file: string) {
  const r = await runProgram(PYTHON, [VERIFY, String(port), file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout)[file] as { d: string; s: string; ok: boolean; error: string }[];
}

Deno.test("outbound with a real Postfix: submission, relay to fsmtp, --mailtest --direct", async (t) => {
  await ensurePostfix();
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const { dir, txt } = await oneDirWithDkimKeys();
    cleanups.push(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
    // fsmtp's MX port is chosen first: Postfix relays test.example to it.
    const smtpPort = freePort();
    const postfix = await PostfixPeer.start({
      domain: "pf.example",
      users: ["paul"],
      relayTo: { "test.example": `127.0.0.1:${smtpPort}` },
      smtpdTls: await createSelfSignedCertificate("postfix.bench.invalid"),
    });
    cleanups.push(async () => {
      await postfix.stop();
      await postfix.cleanup();
    });
    const server = await TestServer.start({
      dir,
      smtpPort,
      dns: {
        txt: { "default._domainkey.test.example": txt },
        mx: { "pf.example": [[10, "mx.pf.example"]] },
        a: { "mx.pf.example": "127.0.0.1" },
      },
      tables: { outbound: { port: postfix.port } },
    });
    cleanups.push(() => server.stop());
    await server.addUser(USER, PW);
    const queueEmpty = async () =>
      /the queue is empty/.test((await server.cli(["--queue"])).out) ? true : undefined;

    await t.step("submission (STARTTLS + AUTH PLAIN) → Postfix's Maildir, DKIM valid", async () => {
      const r = await runProgram("python3", [
        SUBMIT,
        String(server.submissionPort),
        "starttls",
        "PLAIN",
        USER,
        PW,
        USER,
        PAUL,
      ]);
      assert.equal(r.stdout.trim(), "OK", r.stdout + r.stderr);
      const [stored] = await waitFor("the message in Postfix's Maildir", async () => {
        const files = await maildir(postfix.maildir("paul"));
        return files.length > 0 ? files : undefined;
      });
      assert.match(stored.text, /^Subject: submitted via starttls PLAIN$/m);
      assert.match(stored.text, /^DKIM-Signature: v=1; a=rsa-sha256; .*d=test\.example;/m);
      // Postfix's own Received: fsmtp used the STARTTLS Postfix offers.
      assert.match(stored.text, /by postfix\.bench\.invalid \(Postfix\) with ESMTPS/);
      assert.match(stored.text, /\(using TLSv1\.[23] with cipher /);
      const verdicts = await dkimVerdicts(server.dns.port, stored.file);
      assert.equal(verdicts.length, 1, JSON.stringify(verdicts));
      assert.deepEqual(
        { d: verdicts[0].d, s: verdicts[0].s, ok: verdicts[0].ok, error: verdicts[0].error },
        { d: "test.example", s: "default", ok: true, error: "" },
      );
      const sent = await readMailboxText(server.dbPath, USER, PW, "Sent");
      assert.equal(sent.length, 1);
      assert.match(sent[0], /^Subject: submitted via starttls PLAIN\r$/m);
      await waitFor("fsmtp's queue to be empty", queueEmpty);
      assert.match(server.output.text, /queue\.delivered .*to=paul@pf\.example/);
    });

    await t.step("Postfix relays test.example to fsmtp; the user reads it back", async () => {
      const r = await runProgram("swaks", [
        "--server",
        `127.0.0.1:${postfix.port}`,
        "--from",
        "sender@pf.example",
        "--to",
        USER,
        "--header",
        "Subject: relayed by postfix",
        "--body",
        "through a real MTA\n",
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const [mail] = await waitFor("fsmtp to receive from Postfix", async () => {
        const inbox = await readMailboxText(server.dbPath, USER, PW);
        return inbox.length > 0 ? inbox : undefined;
      });
      assert.match(mail, /^Return-Path: <sender@pf\.example>\r\n/);
      assert.match(mail, /^Subject: relayed by postfix\r$/m);
      assert.match(mail, /through a real MTA/);
      // fsmtp's Received: Postfix's smtp client upgraded with STARTTLS (smtp_tls_security_level=may).
      assert.match(mail, /Received: from postfix\.bench\.invalid[^]*?with ESMTPS \(TLSv1\.[23]/);
    });

    await t.step(
      "--mailtest --direct --verbose prints the talk with Postfix, DKIM valid",
      async () => {
        const before = (await maildir(postfix.maildir("paul"))).length;
        const r = await server.cli([
          "--mailtest",
          "--direct",
          "--verbose",
          "--from",
          USER,
          "--to",
          PAUL,
          "--subject",
          "mailtest direct to postfix",
        ]);
        assert.equal(r.code, 0, r.out);
        const out = r.out;
        assert.match(out, /^S\s+220 postfix\.bench\.invalid ESMTP/m);
        assert.match(out, /^C\s+EHLO mx\.test\.example$/m);
        assert.match(out, /^C\s+STARTTLS$/m);
        assert.match(out, /^TLS\s+TLSv1\.[23] \S+, certificate not verified$/m);
        assert.match(out, /^C\s+MAIL FROM:<ivy@test\.example>/m);
        assert.match(out, /^C\s+RCPT TO:<paul@pf\.example>/m);
        // After DATA: 354, then Postfix's 250 for the message.
        const data = out.search(/^C\s+DATA$/m);
        const go = out.search(/^S\s+354 /m);
        const queued = out.search(/^S\s+250 2\.0\.0 Ok: queued as /m);
        assert.ok(data >= 0 && go > data && queued > go, out);
        assert.match(out, /^paul@pf\.example: delivered \(250 /m);
        const stored = await waitFor("the mailtest message in Postfix's Maildir", async () => {
          const files = await maildir(postfix.maildir("paul"));
          return files.length > before
            ? files.find((f) => /^Subject: mailtest direct to postfix$/m.test(f.text))
            : undefined;
        });
        assert.match(stored.text, /with ESMTPS/);
        const verdicts = await dkimVerdicts(server.dns.port, stored.file);
        assert.equal(verdicts.length, 1, JSON.stringify(verdicts));
        assert.equal(verdicts[0].ok, true, JSON.stringify(verdicts[0]));
        assert.equal(verdicts[0].d, "test.example");
      },
    );
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
});

async function oneDirWithDkimKeys(): Promise<{ dir: string; txt: string }> {
  const { dirs, txt } = await dirsWithDkimKeys();
  return { dir: dirs[0], txt };
}
