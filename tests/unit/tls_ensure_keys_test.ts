import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { dkimDnsRecordValue } from "../../src/tls/dkim_keys.ts";
import { ensureKeys, type EnsureKeysOptions } from "../../src/tls/ensure_keys.ts";

/** Permission bits of `path`. */
async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

/** Content and mtime of every file in `dir`, to prove a call changed nothing. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    const stat = await Deno.stat(path);
    const body = entry.isFile ? await Deno.readTextFile(path) : "<dir>";
    out.set(entry.name, `${stat.mtime?.getTime()} ${stat.mode} ${body}`);
  }
  return out;
}

/** Names in `dir`, sorted. */
async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

Deno.test("ensureKeys", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "fsmtp_keys_" });
  const keysDir = join(root, "env", "keys");
  const opts: EnsureKeysOptions = {
    keysDir,
    certPath: join(keysDir, "cert.pem"),
    keyPath: join(keysDir, "key.pem"),
    hostname: "mail.example.org",
  };
  const dkimPrivate = join(keysDir, "dkim-private.pem");
  const dkimPublic = join(keysDir, "dkim-public.pem");

  try {
    await t.step("first call creates the directory and four files with tight modes", async () => {
      const lines = await ensureKeys(opts);
      assert.deepEqual(await names(keysDir), [
        "cert.pem",
        "dkim-private.pem",
        "dkim-public.pem",
        "key.pem",
      ]);
      assert.equal(await mode(keysDir), 0o700);
      assert.equal(await mode(opts.keyPath), 0o600);
      assert.equal(await mode(dkimPrivate), 0o600);
      assert.equal(await mode(opts.certPath), 0o644);
      assert.equal(await mode(dkimPublic), 0o644);

      assert.ok(lines.includes(`created keys directory ${keysDir}`), lines.join("\n"));
      assert.ok(lines.includes(
        `created self-signed certificate ${opts.certPath} for mail.example.org ` +
          `(replace it with a real one: see README)`,
      ));
      const publicPem = await Deno.readTextFile(dkimPublic);
      const dkimLine = lines.find((l) => l.startsWith("created DKIM key pair"));
      assert.ok(dkimLine?.endsWith(dkimDnsRecordValue(publicPem)), dkimLine);

      const cert = new X509Certificate(await Deno.readTextFile(opts.certPath));
      assert.equal(cert.subject, "CN=mail.example.org");
      const key = createPrivateKey(await Deno.readTextFile(opts.keyPath));
      assert.equal(cert.checkPrivateKey(key), true);
      const dkimKey = createPrivateKey(await Deno.readTextFile(dkimPrivate));
      assert.equal(createPublicKey(dkimKey).export({ type: "spki", format: "pem" }), publicPem);
    });

    await t.step("second call returns [] and changes nothing", async () => {
      const before = await snapshot(keysDir);
      assert.deepEqual(await ensureKeys(opts), []);
      assert.deepEqual(await snapshot(keysDir), before);
    });

    await t.step("half a TLS pair is refused, naming the missing file", async () => {
      const keyPem = await Deno.readTextFile(opts.keyPath);
      await Deno.remove(opts.keyPath);
      await assert.rejects(() => ensureKeys(opts), (err: Error) => {
        assert.match(err.message, /tls\.key .* is missing but tls\.cert/);
        return true;
      });
      await Deno.writeTextFile(opts.keyPath, keyPem, { mode: 0o600 });
    });

    await t.step("a missing DKIM public key is re-derived, keeping the published key", async () => {
      const publicPem = await Deno.readTextFile(dkimPublic);
      const privatePem = await Deno.readTextFile(dkimPrivate);
      await Deno.remove(dkimPublic);
      const lines = await ensureKeys(opts);
      assert.deepEqual(lines, [`recreated DKIM public key ${dkimPublic} from ${dkimPrivate}`]);
      assert.equal(await Deno.readTextFile(dkimPublic), publicPem);
      assert.equal(await Deno.readTextFile(dkimPrivate), privatePem);
    });

    await t.step("a missing DKIM private key creates a new pair", async () => {
      const publicPem = await Deno.readTextFile(dkimPublic);
      await Deno.remove(dkimPrivate);
      const lines = await ensureKeys(opts);
      assert.equal(lines.length, 1);
      assert.match(lines[0], /^created DKIM key pair /);
      assert.notEqual(await Deno.readTextFile(dkimPublic), publicPem);
      assert.equal(await mode(dkimPrivate), 0o600);
      assert.deepEqual(await ensureKeys(opts), []);
    });

    await t.step("no temporary files are left behind", async () => {
      assert.deepEqual(await names(keysDir), [
        "cert.pem",
        "dkim-private.pem",
        "dkim-public.pem",
        "key.pem",
      ]);
    });

    await t.step("certificate paths outside keysDir get their directories created", async () => {
      const other: EnsureKeysOptions = {
        keysDir,
        certPath: join(root, "tls", "chain.pem"),
        keyPath: join(root, "tls", "private", "server.key"),
        hostname: "localhost",
      };
      const lines = await ensureKeys(other);
      assert.ok(lines.includes(`created directory ${join(root, "tls", "private")}`));
      assert.equal(await mode(other.keyPath), 0o600);
      assert.equal(
        new X509Certificate(await Deno.readTextFile(other.certPath)).subjectAltName,
        "DNS:localhost, IP Address:127.0.0.1",
      );
      assert.deepEqual(await ensureKeys(other), []);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
