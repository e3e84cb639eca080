/**
 * Real MTAs on loopback, names resolved through dnsmasq: fsmtp delivers a submitted message
 * to a real Postfix (DKIM verified by python3-dkim on what Postfix stored), Postfix delivers to
 * fsmtp, and one fsmtp delivers to another over opportunistic STARTTLS (the receiver's own
 * Authentication-Results says dkim=pass).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensurePostfix, PostfixPeer } from "../../bench/postfix_peer.ts";
import { freePort, runProgram, TestServer } from "../helpers/test_server.ts";
import { readMailboxText } from "../helpers/read_mail.ts";
import { dirsWithDkimKeys, waitFor } from "../helpers/outbound.ts";

const HERE = new URL(".", import.meta.url).pathname;
const SUBMIT = join(HERE, "submission_send.py");
const IVY = "ivy@test.example";
const IVY_PW = "ivy's password here";
const REX = "rex@other.example";
const REX_PW = "rex's password here";

async function maildirFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ["new", "cur"]) {
    for await (const e of Deno.readDir(join(dir, sub))) out.push(join(dir, sub, e.name));
  }
  return out;
}

Deno.test("fsmtp, Postfix and a second fsmtp deliver to each other", async (t) => {
  await ensurePostfix();
  const { dirs: [oneDir], txt: oneTxt } = await dirsWithDkimKeys();
  const { dirs: [twoDir], txt: twoTxt } = await dirsWithDkimKeys();
  const onePort = freePort();
  const second = await TestServer.start({
    dir: twoDir,
    hostname: "mx.other.example",
    domains: ["other.example"],
    dns: {
      mx: { "test.example": [[10, "mx.test.example"]] },
      a: { "mx.test.example": "127.0.0.1" },
    },
    tables: { outbound: { port: onePort } },
  });
  const postfix = await PostfixPeer.start({
    domain: "pf.example",
    users: ["paul"],
    relayTo: { "other.example": `127.0.0.1:${second.smtpPort}` },
  });
  const first = await TestServer.start({
    dir: oneDir,
    smtpPort: onePort,
    dns: {
      txt: {
        "default._domainkey.test.example": oneTxt,
        "default._domainkey.other.example": twoTxt,
        "other.example": "v=spf1 ip4:127.0.0.1 -all",
      },
      mx: { "pf.example": [[10, "mx.pf.example"]] },
      a: { "mx.pf.example": "127.0.0.1" },
    },
    tables: { outbound: { port: postfix.port } },
  });
  try {
    await first.addUser(IVY, IVY_PW);
    await second.addUser(REX, REX_PW);

    await t.step("a submitted message reaches Postfix, DKIM-signed and valid", async () => {
      const r = await runProgram("python3", [
        SUBMIT,
        String(first.submissionPort),
        "starttls",
        "PLAIN",
        IVY,
        IVY_PW,
        IVY,
        "paul@pf.example",
      ]);
      assert.equal(r.stdout.trim(), "OK", r.stdout + r.stderr);
      const [file] = await waitFor("Postfix to store the message", async () => {
        const files = await maildirFiles(postfix.maildir("paul"));
        return files.length > 0 ? files : undefined;
      });
      const stored = await Deno.readTextFile(file);
      assert.match(
        stored,
        /DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=test\.example;/,
      );
      assert.match(stored, /Subject: submitted via starttls PLAIN/);
      const verify = await runProgram("/usr/bin/python3", [
        join(HERE, "dkim_verify.py"),
        String(first.dns.port),
        file,
      ]);
      assert.equal(verify.code, 0, verify.stderr);
      const [result] = JSON.parse(verify.stdout)[file];
      assert.equal(result.ok, true, JSON.stringify(result));
      const sent = await readMailboxText(first.dbPath, IVY, IVY_PW, "Sent");
      assert.equal(sent.length, 1);
      const queue = await first.cli(["--queue"]);
      assert.match(queue.out, /the queue is empty/);
    });

    await t.step("Postfix delivers to fsmtp", async () => {
      const r = await runProgram("swaks", [
        "--server",
        `127.0.0.1:${postfix.port}`,
        "--from",
        "paul@pf.example",
        "--to",
        REX,
        "--header",
        "Subject: through postfix",
      ]);
      assert.equal(r.code, 0, r.stdout);
      const inbox = await waitFor("fsmtp to receive from Postfix", async () => {
        const mail = await readMailboxText(second.dbPath, REX, REX_PW);
        return mail.length > 0 ? mail : undefined;
      });
      assert.match(inbox[0], /Subject: through postfix/);
      assert.match(inbox[0], /Received: from postfix\.bench\.invalid/);
    });

    await t.step("fsmtp delivers to fsmtp over STARTTLS; the receiver sees dkim=pass", async () => {
      const r = await runProgram("python3", [
        SUBMIT,
        String(second.submissionsPort),
        "ssl",
        "LOGIN",
        REX,
        REX_PW,
        REX,
        IVY,
      ]);
      assert.equal(r.stdout.trim(), "OK", r.stdout + r.stderr);
      const inbox = await waitFor("the first fsmtp to receive", async () => {
        const mail = await readMailboxText(first.dbPath, IVY, IVY_PW);
        return mail.length > 0 ? mail : undefined;
      });
      assert.match(inbox[0], /dkim=pass header\.i=@other\.example header\.s=default/);
      assert.match(inbox[0], /spf=pass/);
      assert.match(inbox[0], /with ESMTPS \(TLSv1\.3/);
      assert.match(second.output.text, /outbound\.tls .*protocol=TLSv1\.[23]/);
    });
  } finally {
    await first.stop();
    await second.stop();
    await postfix.stop();
    await postfix.cleanup();
    await first.cleanup();
    await second.cleanup();
  }
});
