/**
 * Outbound.sign: the domain's DKIM keys are looked up once for many messages, but a key that
 * was missing is looked for again by the next message (a failed lookup is not kept).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Outbound } from "../../src/mail/outbound.ts";
import type { LocalDelivery } from "../../src/mail/local_delivery.ts";
import type { QueueStore } from "../../src/queue/queue_store.ts";
import { createDkimKeyPair } from "../../src/tls/dkim_keys.ts";
import { dkimVerify } from "mailauth";

const MESSAGE = new TextEncoder().encode(
  "From: <ann@sign.example>\r\nTo: <bob@far.example>\r\nSubject: hi\r\n\r\nhello\r\n",
);

Deno.test("Outbound.sign: keys found once, a missing key looked for again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-outbound-sign-" });
  try {
    // sign() needs neither the queue nor local delivery.
    const outbound = new Outbound({} as QueueStore, {} as LocalDelivery, {
      keysDir: () => dir,
      selector: () => "default",
      hostname: () => "mx.sign.example",
    });
    await assert.rejects(outbound.sign(MESSAGE, "ann@sign.example"), /dkim-private\.pem/);

    const pair = await createDkimKeyPair();
    await Deno.writeTextFile(join(dir, "dkim-private.pem"), pair.privatePem, { mode: 0o600 });
    const signed = await Promise.all(
      Array.from({ length: 5 }, () => outbound.sign(MESSAGE, "ann@sign.example")),
    );
    // mailauth verifies, with the key published at default._domainkey.sign.example.
    const p = pair.publicPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    const resolver = (name: string) =>
      name === "default._domainkey.sign.example"
        ? Promise.resolve([[`v=DKIM1; k=rsa; p=${p}`]])
        : Promise.reject(Object.assign(new Error(`no ${name}`), { code: "ENOTFOUND" }));
    for (const message of signed) {
      const { results } = await dkimVerify(new TextDecoder().decode(message), { resolver });
      assert.deepEqual(results.map((r) => [r.signingDomain, r.status.result]), [
        ["sign.example", "pass"],
      ]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
