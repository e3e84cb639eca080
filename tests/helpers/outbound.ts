/** Shared pieces of the outbound end-to-end tests. */
import { join } from "node:path";
import { createDkimKeyPair } from "../../src/tls/dkim_keys.ts";
import { dkimTxtRecord } from "../../src/dkim/keys.ts";

/** Polls `probe` until it gives a value (condition-based; bounded by `ms`). */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `count` server folders holding one DKIM pair already (so the test's DNS can publish it before
 * the servers start), and the pair's TXT value.
 */
export async function dirsWithDkimKeys(count = 1): Promise<{ dirs: string[]; txt: string }> {
  const pair = await createDkimKeyPair();
  const dirs = [];
  for (let i = 0; i < count; i++) {
    const dir = await Deno.makeTempDir({ prefix: "fsmtp-test-" });
    await Deno.mkdir(join(dir, "keys"), { mode: 0o700 });
    await Deno.writeTextFile(join(dir, "keys", "dkim-private.pem"), pair.privatePem, {
      mode: 0o600,
    });
    await Deno.writeTextFile(join(dir, "keys", "dkim-public.pem"), pair.publicPem);
    dirs.push(dir);
  }
  return { dirs, txt: dkimTxtRecord(pair.publicPem, "rsa-sha256") };
}
