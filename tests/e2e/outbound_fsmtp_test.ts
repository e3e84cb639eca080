/**
 * One fsmtp delivers to another (issue 5): the receiver is the MX of other.example and its
 * dnsmasq publishes the sender's DKIM key and SPF; the message arrives byte for byte under the
 * trace and signature fields, the receiver's Authentication-Results says dkim=pass, and the
 * sender's log names the TLS version of its opportunistic STARTTLS to the self-signed peer.
 * With `outbound.require_tls` a sender still delivers to a peer that offers STARTTLS.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RawClient } from "../helpers/raw_client.ts";
import { readMailbox } from "../helpers/read_mail.ts";
import { runProgram, TestServer } from "../helpers/test_server.ts";
import { dirsWithDkimKeys, waitFor } from "../helpers/outbound.ts";

const HERE = new URL(".", import.meta.url).pathname;
const SUBMIT = join(HERE, "submission_send.py");
const VERIFY = join(HERE, "dkim_verify.py");
const PYTHON = "/usr/bin/python3"; // Debian's, the one that sees python3-dkim
const IVY = "ivy@test.example";
const IVY_PW = "ivy's outbound password";
const REX = "rex@other.example";
const REX_PW = "rex's inbound password";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A message as the client means it, CRLF lines, ending with CRLF. */
function message(subject: string, body: string[], charset = "us-ascii"): Uint8Array {
  return enc.encode(
    [
      "From: Ivy <ivy@test.example>",
      "To: Rex <rex@other.example>",
      `Subject: ${subject}`,
      "Date: Fri, 27 Nov 2026 10:00:00 +0000",
      `Message-ID: <${subject.replace(/\W/g, ".")}@test.example>`,
      "MIME-Version: 1.0",
      `Content-Type: text/plain; charset=${charset}`,
      `Content-Transfer-Encoding: ${charset === "us-ascii" ? "7bit" : "8bit"}`,
      "",
      ...body,
    ].join("\r\n") + "\r\n",
  );
}

/** Lines that transport and canonicalization could get wrong. */
const TRICKY = [
  ".leading dot",
  "..two dots",
  "trailing white space \t ",
  "\ttab first,  two  spaces",
  "x".repeat(990),
  ".",
  "",
  "",
];
const ASCII = message("byte for byte", TRICKY);
const EIGHT_BIT = message("eight bit", ["caf\u00e9 \u2615 \u65e5\u672c", ...TRICKY], "utf-8");

/** Submits `content` over plain SMTP on loopback (AUTH PLAIN, BODY=8BITMIME). */
async function submitRaw(port: number, content: Uint8Array): Promise<void> {
  const c = await RawClient.connect(port);
  try {
    assert.equal((await c.reply()).code, 220);
    assert.equal((await c.command("EHLO client.test")).code, 250);
    const auth = btoa(`\0${IVY}\0${IVY_PW}`);
    assert.equal((await c.command(`AUTH PLAIN ${auth}`)).code, 235);
    const body = content.some((b) => b >= 0x80) ? " BODY=8BITMIME" : "";
    assert.equal((await c.command(`MAIL FROM:<${IVY}>${body}`)).code, 250);
    assert.equal((await c.command(`RCPT TO:<${REX}>`)).code, 250);
    assert.equal((await c.command("DATA")).code, 354);
    // Dot-stuffing (RFC 5321 §4.5.2) on the wire; the content itself ends with CRLF.
    const stuffed = dec.decode(content).split("\r\n").map((l) => l.startsWith(".") ? `.${l}` : l)
      .join("\r\n");
    await c.send(enc.encode(stuffed + ".\r\n"));
    const done = await c.reply();
    assert.equal(done.code, 250, done.text);
    await c.command("QUIT");
  } finally {
    c.close();
  }
}

/** The header fields of `block` (CRLF lines, folded ones joined) with their names. */
function fieldNames(block: string): string[] {
  return block.split(/\r\n(?![ \t])/).filter((f) => f !== "").map((f) => f.split(":")[0]);
}

Deno.test("fsmtp → fsmtp: byte-identical, dkim=pass, STARTTLS (also with require_tls)", async (t) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const { dirs, txt } = await dirsWithDkimKeys(2);
    for (const dir of dirs) cleanups.push(() => Deno.remove(dir, { recursive: true }));
    const receiver = await TestServer.start({
      hostname: "mx.other.example",
      domains: ["other.example"],
      dns: {
        txt: {
          "default._domainkey.test.example": txt,
          "test.example": "v=spf1 ip4:127.0.0.1 -all",
        },
      },
    });
    cleanups.push(async () => {
      await receiver.stop();
      await receiver.cleanup();
    });
    const toReceiver = (dir: string, requireTls: boolean) =>
      TestServer.start({
        dir,
        dns: {
          mx: { "other.example": [[10, "mx.other.example"]] },
          a: { "mx.other.example": "127.0.0.1" },
        },
        tables: { outbound: { port: receiver.smtpPort, require_tls: requireTls } },
      });
    const [sender, strict] = await Promise.all([
      toReceiver(dirs[0], false),
      toReceiver(dirs[1], true),
    ]);
    cleanups.push(() => sender.stop(), () => strict.stop());
    await receiver.addUser(REX, REX_PW);
    await Promise.all([sender.addUser(IVY, IVY_PW), strict.addUser(IVY, IVY_PW)]);
    /** The message with `subject` in Rex's INBOX, once it is there. */
    const received = (subject: string) =>
      waitFor(
        `"${subject}" at the receiver`,
        async () =>
          (await readMailbox(receiver.dbPath, REX, REX_PW)).find((m) =>
            new TextDecoder("latin1").decode(m).includes(`\r\nSubject: ${subject}\r\n`)
          ),
      );
    /** The fields above the content as sent; throws unless the content is there byte for byte. */
    const fieldsAbove = (got: Uint8Array, original: Uint8Array): string => {
      const head = got.length - original.length;
      assert.ok(head > 0);
      assert.deepEqual(got.subarray(head), original);
      const top = dec.decode(got.subarray(0, head));
      const names = fieldNames(top);
      // The receiver's check results come in no particular order.
      names.splice(1, 2, ...names.slice(1, 3).sort());
      assert.deepEqual(names, [
        "Return-Path",
        "Authentication-Results",
        "Received-SPF",
        "Received", // the receiver's
        "DKIM-Signature", // the sender's, over its own Received and the content
        "Received", // the sender's submission
      ]);
      return top;
    };

    await t.step("the message arrives intact; dkim=pass; the sender's log names TLS", async () => {
      await submitRaw(sender.submissionPort, ASCII);
      const top = fieldsAbove(await received("byte for byte"), ASCII);
      assert.match(top, /^Return-Path: <ivy@test\.example>\r\n/);
      assert.match(
        top,
        /Authentication-Results: mx\.other\.example;[^]*dkim=pass header\.i=@test\.example header\.s=default/,
      );
      assert.match(top, /spf=pass/);
      assert.match(top, /by mx\.other\.example \(fsmtp [^)]*\) with ESMTPS \(TLSv1\.3 /);
      assert.match(
        top,
        /DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=test\.example;\s+s=default;/,
      );
      // Opportunistic STARTTLS to a self-signed peer: the sender logs the version it got.
      await sender.waitForOutput(/outbound\.tls .*protocol=TLSv1\.3/);
      assert.match(sender.output.text, /outbound\.sent .*rcpt=rex@other\.example status=delivered/);
    });

    await t.step(
      "an 8-bit (UTF-8) body arrives intact, its signature valid (python3-dkim)",
      async () => {
        await submitRaw(sender.submissionPort, EIGHT_BIT);
        const got = await received("eight bit");
        fieldsAbove(got, EIGHT_BIT);
        const file = await Deno.makeTempFile({ prefix: "fsmtp-test-", suffix: ".eml" });
        try {
          await Deno.writeFile(file, got);
          const r = await runProgram(PYTHON, [VERIFY, String(receiver.dns.port), file]);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          const [verdict] = JSON.parse(r.stdout)[file];
          assert.equal(verdict.ok, true, JSON.stringify(verdict));
        } finally {
          await Deno.remove(file);
        }
      },
    );

    await t.step({
      name: "the receiving fsmtp says dkim=pass for that 8-bit message",
      // The checks must hash the message's bytes as they came, not a re-encoded string.
      fn: async () => {
        const top = dec.decode((await received("eight bit")).subarray(0, 1000));
        assert.match(top, /dkim=pass header\.i=@test\.example header\.s=default/);
      },
    });

    await t.step("require_tls and a peer offering STARTTLS: delivered over TLS", async () => {
      const r = await runProgram("python3", [
        SUBMIT,
        String(strict.submissionPort),
        "starttls",
        "PLAIN",
        IVY,
        IVY_PW,
        IVY,
        REX,
      ]);
      assert.equal(r.stdout.trim(), "OK", r.stdout + r.stderr);
      const mail = dec.decode(await received("submitted via starttls PLAIN"));
      assert.match(mail, /with ESMTPS \(TLSv1\.3 /);
      assert.match(mail, /dkim=pass header\.i=@test\.example/);
      await strict.waitForOutput(/outbound\.tls .*protocol=TLSv1\.3/);
      assert.doesNotMatch(strict.output.text, /4\.7\.10/);
      await waitFor(
        "the strict sender's queue to be empty",
        async () => /the queue is empty/.test((await strict.cli(["--queue"])).out) || undefined,
      );
    });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
});
