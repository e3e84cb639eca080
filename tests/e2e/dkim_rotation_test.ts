/**
 * DKIM key rotation in seconds, checked by dkimpy (python3-dkim, through dkim_verify.py) with
 * the keys fetched from fsmtp's own DNS server (`fsmtp --run=dns`, which also runs the
 * rotation): a mail signed before a rotation still verifies after it, a mail signed after it
 * carries the new selector, and once retire_after has passed the old selector is NXDOMAIN and
 * its private key file is gone. Mail is signed the way Outbound.sign does it: the keys
 * dkimSigningKeys picks now, then signMessage. A second test submits mail to a running
 * `fsmtp --run=all` with smtplib and checks what reaches the next MTA.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultConfig } from "../../src/config/config.ts";
import { dkimSigningKeys } from "../../src/dkim/current_keys.ts";
import { rotatedKeyPath } from "../../src/dkim/rotation_store.ts";
import { signMessage } from "../../src/dkim/sign.ts";
import { waitFor } from "../helpers/outbound.ts";
import { FakePeer } from "../helpers/smtp_peer.ts";
import { freePort, runProgram, serverEnv, TestServer } from "../helpers/test_server.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const VERIFY = new URL("./dkim_verify.py", import.meta.url).pathname;
const SUBMIT = new URL("./submission_send.py", import.meta.url).pathname;
const DOMAIN = "rot.example";
const dec = new TextDecoder();

/** Delays of the test: a new key every 3 s, signing 2 s after it appears, withdrawn 8 s later. */
const DKIM = { selector: "default", rotate: 3000, publish_ahead: 2000, retire_after: 8000 };

type Verdict = { s: string; ok: boolean; error: string };

async function verify(port: number, file: string): Promise<Verdict> {
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [VERIFY, String(port), file],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return JSON.parse(dec.decode(out.stdout))[file][0];
}

async function digStatus(port: number, name: string): Promise<string> {
  const out = await new Deno.Command("dig", {
    args: ["+norec", "+time=2", "+tries=1", "-p", String(port), "@127.0.0.1", name, "TXT"],
    stdout: "piped",
  }).output();
  return /status: (\w+)/.exec(dec.decode(out.stdout))?.[1] ?? "";
}

/** Signs a message from the domain with the keys that sign now; returns it and its selector. */
async function signNow(keysDir: string, dir: string, name: string) {
  const message = new TextEncoder().encode(
    `From: a@${DOMAIN}\r\nTo: b@example.net\r\nSubject: ${name}\r\n` +
      `Message-ID: <${name}@${DOMAIN}>\r\n\r\nsigned as ${name}\r\n`,
  );
  const keys = await dkimSigningKeys(keysDir, DOMAIN, { ...defaultConfig().dkim, ...DKIM });
  const signature = await signMessage(message, { domain: DOMAIN, selector: DKIM.selector, keys });
  const file = join(dir, `${name}.eml`);
  await Deno.writeTextFile(file, signature + dec.decode(message));
  return { file, selector: /s=([^;]+);/.exec(signature)![1] };
}

Deno.test("dkim rotation: mail signed before a rotation verifies after it against fsmtp's DNS", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-rotation-" });
  const keysDir = join(dir, "keys");
  const port = freePort();
  const configPath = join(dir, "fsmtp.toml");
  await Deno.writeTextFile(
    configPath,
    [
      `hostname = "mx.${DOMAIN}"`,
      `domains = ["${DOMAIN}"]`,
      `data_dir = "${join(dir, "data")}"`,
      `keys_dir = "${keysDir}"`,
      `[tls]`,
      `cert = "${join(keysDir, "cert.pem")}"`,
      `key = "${join(keysDir, "key.pem")}"`,
      `[dns]`,
      `listen = "127.0.0.1:${port}"`,
      `ttl = "1s"`,
      `[dkim]`,
      `rotate = "3s"`,
      `publish_ahead = "2s"`,
      `retire_after = "8s"`,
    ].join("\n") + "\n",
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "--run=dns", "--config", configPath],
    clearEnv: true,
    env: serverEnv(),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = { text: "" };
  for (const stream of [child.stdout, child.stderr]) {
    (async () => {
      for await (const chunk of stream) output.text += dec.decode(chunk);
    })();
  }
  try {
    await waitFor("the DNS server", () => output.text.includes("listening dns") || undefined);
    // The first rotated key signs once it has been published for publish_ahead.
    const before = await waitFor("a rotated key signing", async () => {
      const signed = await signNow(keysDir, dir, "before");
      return signed.selector.startsWith("fsmtp-") ? signed : undefined;
    });
    assert.equal((await verify(port, before.file)).ok, true);
    // Then the next one takes over: mail signed now carries the new selector…
    const after = await waitFor("the next key signing", async () => {
      const signed = await signNow(keysDir, dir, "after");
      return signed.selector !== before.selector ? signed : undefined;
    });
    assert.match(after.selector, /^fsmtp-\d{8}-\d{6}(-\d+)?$/);
    // …and both mails verify against fsmtp's DNS: the old key is still published.
    const oldVerdict = await verify(port, before.file);
    assert.deepEqual([oldVerdict.s, oldVerdict.ok], [before.selector, true], oldVerdict.error);
    const newVerdict = await verify(port, after.file);
    assert.deepEqual([newVerdict.s, newVerdict.ok], [after.selector, true], newVerdict.error);
    // retire_after later the old selector is withdrawn and its private key deleted.
    const name = `${before.selector}._domainkey.${DOMAIN}`;
    await waitFor(
      "the old selector withdrawn",
      async () => (await digStatus(port, name)) === "NXDOMAIN" || undefined,
    );
    // The DNS answer follows the clock; the file goes at the rotation timer's next step.
    await waitFor(
      "the old private key deleted",
      () =>
        Deno.stat(rotatedKeyPath(keysDir, before.selector)).then(
          () => undefined,
          (err) => err instanceof Deno.errors.NotFound || undefined,
        ),
    );
    assert.equal((await verify(port, before.file)).ok, false, "its key is gone from DNS");
    assert.match(output.text, new RegExp(`dkim\\.rotate\\.retired selector=${before.selector}`));
    // SIGHUP (systemctl reload) re-reads the config; the server keeps answering.
    child.kill("SIGHUP");
    await waitFor("the reload", () => output.text.includes("config.reloaded") || undefined);
    assert.equal(await digStatus(port, `_dmarc.${DOMAIN}`), "NOERROR");
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dkim rotation: fsmtp --run=all signs submitted mail with the rotated keys it serves", async () => {
  const peer = await FakePeer.start();
  const port = freePort();
  const server = await TestServer.start({
    dns: {
      mx: { "peer.example": [[10, "mx.peer.example"]] },
      a: { "mx.peer.example": "127.0.0.1" },
    },
    tables: {
      outbound: { port: peer.port },
      dns: { listen: `127.0.0.1:${port}`, ttl: "1s" },
      dkim: { rotate: "4s", publish_ahead: "2s", retire_after: "30s" },
    },
  });
  const keysDir = join(server.dir, "keys");
  const ivy = "ivy@test.example";
  const dkim = { ...defaultConfig().dkim, rotate: 4000, publish_ahead: 2000, retire_after: 30_000 };
  /** Submits a mail like a client would and returns the delivered copy's file and selector. */
  const send = async (name: string) => {
    const before = peer.transactions.length;
    const r = await runProgram("python3", [
      SUBMIT,
      String(server.submissionPort),
      "starttls",
      "PLAIN",
      ivy,
      "ivy's rotation password",
      ivy,
      "rex@peer.example",
    ]);
    assert.equal(r.stdout.trim(), "OK", r.stdout + r.stderr);
    const delivered = await waitFor("the delivery", () => peer.transactions[before]?.content);
    const file = join(server.dir, `${name}.eml`);
    await Deno.writeFile(file, delivered);
    return { file, selector: /\bs=([^;]+);/.exec(dec.decode(delivered))![1] };
  };
  const signingNow = async () => (await dkimSigningKeys(keysDir, "test.example", dkim))[0].selector;
  try {
    await server.addUser(ivy, "ivy's rotation password");
    await waitFor("a rotated key signing", async () => await signingNow());
    const one = await send("one");
    assert.match(one.selector, /^fsmtp-/);
    // Keys only move forward: once another one signs here, the server signs with it too.
    await waitFor("the next key signing", async () => {
      const now = await signingNow();
      return now !== one.selector ? now : undefined;
    });
    const two = await send("two");
    assert.match(two.selector, /^fsmtp-/);
    assert.notEqual(two.selector, one.selector);
    for (const mail of [one, two]) {
      const verdict = await verify(port, mail.file);
      assert.deepEqual([verdict.s, verdict.ok], [mail.selector, true], verdict.error);
    }
  } finally {
    await server.stop();
    await server.cleanup();
    await peer.close();
  }
});
