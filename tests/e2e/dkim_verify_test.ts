/**
 * DKIM signatures checked by verifiers someone else wrote, with the public keys published as
 * TXT records by a real DNS server (dnsmasq on 127.0.0.1): python3-dkim (dkimpy, through
 * dkim_verify.py) and OpenDKIM's opendkim-testmsg (through dkim_opendkim.py, which needs
 * private namespaces because libopendkim always asks /etc/resolv.conf's server on port 53).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createDkimKeyPair } from "../../src/tls/dkim_keys.ts";
import { createEd25519DkimKeyPair, dkimTxtRecord, loadDkimKeys } from "../../src/dkim/keys.ts";
import { type DkimSigningKey, signMessage } from "../../src/dkim/sign.ts";

const HERE = new URL(".", import.meta.url).pathname;
const PYTHON = "/usr/bin/python3"; // Debian's: the one that sees python3-dkim (DESIGN.md)
const DOMAIN = "example.org";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** `text` with every line end made CRLF. */
const crlf = (text: string) => enc.encode(text.replace(/\r?\n/g, "\r\n"));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

const HEAD = "From: Joe SixPack <joe@example.org>\nTo: Suzie Q <suzie@example.net>\n" +
  "Date: Fri, 11 Jul 2003 21:00:37 -0700\nMessage-ID: <e2e.1@example.org>\n";

/** Messages to sign, as they go on the wire (CRLF lines unless the case says otherwise). */
const CASES: Record<string, Uint8Array> = {
  plain: crlf(
    HEAD + "Subject: Is dinner ready?\nMIME-Version: 1.0\nContent-Type: text/plain\n\n" +
      "Hi.\n\nWe lost the game.  Are you hungry yet?\n\nJoe.\n",
  ),
  "empty-body": crlf(HEAD + "Subject: nothing\n\n"),
  "no-blank-line": crlf(HEAD + "Subject: header only\n"),
  "trailing-blank-lines": crlf(HEAD + "Subject: blanks\n\nHi  \t\n\n \n\t\n\n\n"),
  "no-final-crlf": enc.encode(HEAD.replace(/\n/g, "\r\n") + "Subject: x\r\n\r\nlast line"),
  "folded-headers": crlf(
    HEAD.replace(
      "To: Suzie Q <suzie@example.net>",
      "To: Suzie Q <suzie@example.net>,\n\tBob\n  <bob@example.net>",
    ) +
      "Subject: a subject\n  folded\tover\n\t three lines  \n" +
      "Content-Type: text/plain;\n charset=us-ascii\n\nbody\n",
  ),
  "repeated-header": crlf(
    "Received: from a by b; Fri, 11 Jul 2003 21:01:00 -0700\n" +
      "Received: from c by a; Fri, 11 Jul 2003 21:00:59 -0700\n" + HEAD +
      "Subject: first\nCc: one@example.net\nCc: two@example.net\nSubject: second\n\nbody\n",
  ),
  // Two instances of a signed field that opendkim's RFC 5322 §3.6 sanity check lets through.
  "repeated-mime-header": crlf(
    HEAD + "Subject: two types\nContent-Type: text/plain\nMIME-Version: 1.0\n" +
      "Content-Type: text/html\n\n<p>body</p>\n",
  ),
  "8bit-utf8": crlf(
    HEAD + "Subject: caf\u00e9 \u2615\nContent-Type: text/plain; charset=utf-8\n\n" +
      "\u00e9t\u00e9 \u00a0 \u65e5\u672c\n.leading dot\n" + "x".repeat(990) + "\n",
  ),
};

/** Splits a TXT value into the ≤255-octet strings of one record (RFC 6376 §3.6.2.2). */
function txtArg(name: string, value: string): string {
  assert.ok(!value.includes(","), "dnsmasq separates the strings with commas");
  const chunks = value.match(/.{1,255}/g) ?? [];
  return `--txt-record=${name},${chunks.join(",")}`;
}

/** Polls until dnsmasq answers for `name`; a short per-try timeout, since a query sent before it
 * was listening would otherwise wait out the resolver's 5 s retransmission. */
async function waitForDns(port: number, name: string, child: Deno.ChildProcess) {
  let exited = false;
  child.status.then(() => exited = true);
  for (let i = 0; i < 100 && !exited; i++) {
    try {
      await Deno.resolveDns(name, "TXT", {
        nameServer: { ipAddr: "127.0.0.1", port },
        signal: AbortSignal.timeout(200),
      });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`dnsmasq on port ${port} did not answer`);
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function run(cmd: string, args: string[]) {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

type PyResult = { a: string; s: string; d: string; ok: boolean; error: string };

Deno.test("DKIM signatures pass dkimpy and opendkim-testmsg against dnsmasq", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-dkim-" });
  const rsa = await createDkimKeyPair();
  const ed = await createEd25519DkimKeyPair();
  const wrong = await createDkimKeyPair();
  await Deno.writeTextFile(join(dir, "dkim-private.pem"), rsa.privatePem);
  await Deno.writeTextFile(join(dir, "dkim-ed25519.pem"), ed.privatePem);
  const keys = await loadDkimKeys(dir, DOMAIN);
  assert.deepEqual(keys.map((k) => k.algorithm), ["rsa-sha256", "ed25519-sha256"]);

  const records = [
    txtArg(`default._domainkey.${DOMAIN}`, dkimTxtRecord(rsa.publicPem, "rsa-sha256")),
    txtArg(`default-ed25519._domainkey.${DOMAIN}`, dkimTxtRecord(ed.publicPem, "ed25519-sha256")),
    txtArg(`wrong._domainkey.${DOMAIN}`, dkimTxtRecord(wrong.publicPem, "rsa-sha256")),
  ];
  const common = [
    "--no-resolv",
    "--no-hosts",
    "--conf-file=/dev/null",
    "--pid-file=",
    "--listen-address=127.0.0.1",
    "--bind-interfaces",
    ...records,
  ];
  const port = freePort();
  const dnsmasq = new Deno.Command("dnsmasq", {
    args: ["--keep-in-foreground", `--port=${port}`, "--log-facility=-", ...common],
    stdout: "null",
    stderr: "piped",
  }).spawn();

  const sign = async (message: Uint8Array, use: DkimSigningKey[]) =>
    concat(
      enc.encode(await signMessage(message, { domain: DOMAIN, selector: "default", keys: use })),
      message,
    );
  /** Runs dkim_verify.py on the messages; resolves to the per-signature results of each. */
  const dkimpy = async (messages: Record<string, Uint8Array>) => {
    const files: string[] = [];
    for (const [name, data] of Object.entries(messages)) {
      const file = join(dir, `py-${name}.msg`);
      await Deno.writeFile(file, data);
      files.push(file);
    }
    const out = await run(PYTHON, [join(HERE, "dkim_verify.py"), String(port), ...files]);
    assert.equal(out.code, 0, out.stderr);
    const parsed: Record<string, PyResult[]> = JSON.parse(out.stdout);
    return Object.fromEntries(Object.keys(messages).map((n, i) => [n, parsed[files[i]]]));
  };

  try {
    await waitForDns(port, `default._domainkey.${DOMAIN}`, dnsmasq);

    await t.step("the TXT records served are split into ≤255-octet strings", async () => {
      const answer = await Deno.resolveDns(`default._domainkey.${DOMAIN}`, "TXT", {
        nameServer: { ipAddr: "127.0.0.1", port },
      });
      assert.equal(answer.length, 1);
      assert.ok(answer[0].length >= 2 && answer[0].every((s) => s.length <= 255));
      assert.equal(answer[0].join(""), dkimTxtRecord(rsa.publicPem, "rsa-sha256"));
    });

    const signed: Record<string, Uint8Array> = {};
    for (const [name, message] of Object.entries(CASES)) signed[name] = await sign(message, keys);
    // Signed with bare LF lines, then sent as SMTP sends them: CRLF (RFC 5321 §2.3.8).
    const lf = enc.encode(HEAD + "Subject: bare LF\n\nline one\nline two  \n\n");
    signed["bare-lf-sent-as-crlf"] = crlf(dec.decode(await sign(lf, keys)));

    await t.step("dkimpy: rsa-sha256 and ed25519-sha256 both pass on every case", async () => {
      const results = await dkimpy(signed);
      for (const [name, sigs] of Object.entries(results)) {
        assert.deepEqual(
          sigs.map((s) => [s.a, s.s, s.d, s.ok, s.error]),
          [
            ["rsa-sha256", "default", DOMAIN, true, ""],
            ["ed25519-sha256", "default-ed25519", DOMAIN, true, ""],
          ],
          name,
        );
      }
    });

    await t.step("dkimpy: tampering, an added From and a wrong key all fail", async () => {
      const plain = signed.plain;
      const text = dec.decode(plain);
      const wrongKey = await sign(CASES.plain, [{ ...keys[0], selector: "wrong" }]);
      const results = await dkimpy({
        body: enc.encode(text.replace("hungry", "angry")),
        subject: enc.encode(text.replace("Is dinner ready?", "Is lunch ready?")),
        // Oversigning (h= names From once more than it occurs): a From added later breaks it.
        "added-from": enc.encode(text.replace("From: Joe", "From: evil@example.net\r\nFrom: Joe")),
        "wrong-key": wrongKey,
      });
      for (const [name, sigs] of Object.entries(results)) {
        assert.ok(sigs.length > 0 && sigs.every((s) => !s.ok), `${name}: ${JSON.stringify(sigs)}`);
      }
    });

    const unshare = await run("unshare", ["--mount", "--net", "true"]).catch(() => null);
    await t.step({
      name: "opendkim-testmsg: rsa-sha256 and ed25519-sha256 each pass; tampering fails",
      ignore: unshare?.code !== 0, // needs CAP_SYS_ADMIN for the namespaces
      fn: async () => {
        const odir = join(dir, "opendkim");
        await Deno.mkdir(odir);
        await Deno.writeTextFile(
          join(odir, "dnsmasq.json"),
          JSON.stringify([`default._domainkey.${DOMAIN}`, ...common]),
        );
        for (const [name, message] of Object.entries(CASES)) {
          await Deno.writeFile(join(odir, `${name}.rsa.eml`), await sign(message, [keys[0]]));
          await Deno.writeFile(join(odir, `${name}.ed25519.eml`), await sign(message, [keys[1]]));
        }
        const tamper = (data: Uint8Array) =>
          enc.encode(dec.decode(data).replace("hungry", "angry"));
        await Deno.writeFile(
          join(odir, "tampered.rsa.eml"),
          tamper(await sign(CASES.plain, [keys[0]])),
        );
        await Deno.writeFile(
          join(odir, "tampered.ed25519.eml"),
          tamper(await sign(CASES.plain, [keys[1]])),
        );
        const out = await run("unshare", [
          "--mount",
          "--net",
          PYTHON,
          join(HERE, "dkim_opendkim.py"),
          odir,
        ]);
        assert.equal(out.code, 0, out.stderr);
        const results: Record<string, { code: number; stderr: string }> = JSON.parse(out.stdout);
        assert.equal(Object.keys(results).length, 2 * Object.keys(CASES).length + 2);
        for (const [file, result] of Object.entries(results)) {
          if (file.startsWith("repeated-header.")) {
            // libopendkim refuses a message with two Subject or Cc fields (RFC 5322 §3.6 allows
            // one) before it looks at any signature: dkimpy covers that case above.
            assert.match(result.stderr, /dkim_chunk\(\): Syntax error/, file);
          } else if (file.startsWith("tampered.")) {
            assert.notEqual(result.code, 0, file);
            assert.match(result.stderr, /Bad signature/, file);
          } else {
            assert.deepEqual(result, { code: 0, stderr: "" }, file);
          }
        }
      },
    });
  } finally {
    try {
      dnsmasq.kill("SIGTERM");
    } catch {
      // already gone
    }
    const { stderr } = await dnsmasq.output();
    if (Deno.env.get("DKIM_E2E_DEBUG")) console.error(dec.decode(stderr));
    await Deno.remove(dir, { recursive: true });
  }
});
