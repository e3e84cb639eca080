import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultConfig } from "../../src/config/config.ts";
import { dkimSigningKeys, publishedDkimKeys } from "../../src/dkim/current_keys.ts";
import { newSelector, type RotatedKey, rotationPhase } from "../../src/dkim/rotation_schedule.ts";
import { readRotatedKeys, rotatedKeyPath, rotateDkimKeys } from "../../src/dkim/rotation_store.ts";
import { createDkimKeyPair } from "../../src/tls/dkim_keys.ts";

const times = { period: 100, publishAhead: 10, retireAfter: 50 };
const key = (selector: string, publishedAt: number): RotatedKey => ({
  selector,
  publishedAt,
  txt: `v=DKIM1; p=${selector}`,
});

Deno.test("dkim rotation: the schedule of keys, signing and retirement", () => {
  const a = key("a", 1000);
  const b = key("b", 1100);
  const selectors = (keys: RotatedKey[]) => keys.map((k) => k.selector);
  const at = (now: number) => rotationPhase([b, a], times, now);
  // Nothing yet: the fixed key signs and a key is due.
  assert.deepEqual(rotationPhase([], times, 0), {
    signing: undefined,
    fixedPublished: true,
    published: [],
    expired: [],
    due: true,
  });
  // a is published but not yet signing; the fixed key still signs.
  assert.equal(at(1005).signing, undefined);
  assert.ok(at(1005).fixedPublished);
  // a signs from 1010; the fixed key stays published until 1010 + 50.
  assert.equal(at(1010).signing?.selector, "a");
  assert.ok(at(1059).fixedPublished);
  assert.ok(!at(1060).fixedPublished);
  // b published at 1100, signs from 1110; a stays published until 1160, then expires.
  assert.equal(at(1109).signing?.selector, "a");
  assert.equal(at(1110).signing?.selector, "b");
  assert.deepEqual(selectors(at(1159).published), ["a", "b"]);
  assert.deepEqual(selectors(at(1160).published), ["b"]);
  assert.deepEqual(selectors(at(1160).expired), ["a"]);
  assert.ok(!at(1199).due);
  assert.ok(at(1200).due);
});

Deno.test("dkim rotation: dated selectors, unique", () => {
  const now = Date.UTC(2026, 10, 30, 8, 5, 9);
  assert.equal(newSelector(now, 86_400_000, new Set()), "fsmtp-20261130");
  assert.equal(newSelector(now, 86_400_000, new Set(["fsmtp-20261130"])), "fsmtp-20261130-080509");
  assert.equal(newSelector(now, 3000, new Set()), "fsmtp-20261130-080509");
  assert.equal(
    newSelector(now, 3000, new Set(["fsmtp-20261130-080509", "fsmtp-20261130-080509-2"])),
    "fsmtp-20261130-080509-3",
  );
});

Deno.test("dkim rotation: steps on disk, signing keys and published records", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-rotation-" });
  try {
    const fixed = await createDkimKeyPair();
    await Deno.writeTextFile(join(dir, "dkim-private.pem"), fixed.privatePem, { mode: 0o600 });
    const dkim = {
      ...defaultConfig().dkim,
      rotate: 100_000,
      publish_ahead: 10_000,
      retire_after: 50_000,
    };
    const t = { period: 100_000, publishAhead: 10_000, retireAfter: 50_000 };
    const t0 = Date.UTC(2026, 10, 30);

    // Three processes stepping at once create one key: the lock serialises them.
    const steps = await Promise.all([1, 2, 3].map(() => rotateDkimKeys(dir, t, t0)));
    assert.equal(steps.filter((s) => s.created).length, 1);
    const first = (await readRotatedKeys(dir))[0];
    assert.equal(first.selector, "fsmtp-20261130-000000");
    const info = await Deno.stat(rotatedKeyPath(dir, first.selector));
    assert.equal(info.mode! & 0o777, 0o600);

    // Before publish_ahead the fixed key signs and both are published; after it, the new one.
    const before = await dkimSigningKeys(dir, "example.org", dkim, t0 + 9_999);
    assert.equal(before[0].selector, undefined, "the fixed key, under [dkim] selector");
    const after = await dkimSigningKeys(dir, "example.org", dkim, t0 + 10_000);
    assert.equal(after[0].selector, first.selector);
    const published = await publishedDkimKeys(dir, "example.org", dkim, t0 + 10_000);
    assert.deepEqual(published.map((p) => p.selector), ["default", first.selector]);
    const later = await publishedDkimKeys(dir, "example.org", dkim, t0 + 60_000);
    assert.deepEqual(later.map((p) => p.selector), [first.selector]);
    // rotate off: the fixed key signs and alone is published, whatever the state says.
    const off = { ...dkim, rotate: 0 };
    assert.equal(
      (await dkimSigningKeys(dir, "example.org", off, t0 + 60_000))[0].selector,
      undefined,
    );
    assert.deepEqual(
      (await publishedDkimKeys(dir, "example.org", off, t0 + 60_000)).map((p) => p.selector),
      ["default"],
    );

    // Not due: nothing happens. Forced (--dkim-rotate): a second key the same second.
    assert.deepEqual(await rotateDkimKeys(dir, t, t0 + 50_000), {
      created: undefined,
      retired: [],
    });
    const forced = await rotateDkimKeys(dir, t, t0 + 50_000, true);
    assert.equal(forced.created?.selector, "fsmtp-20261130-000050");
    // The second signs from +60s; the first is withdrawn (and its file deleted) at +110s.
    assert.deepEqual((await rotateDkimKeys(dir, t, t0 + 109_999)).retired, []);
    const retired = await rotateDkimKeys(dir, t, t0 + 110_000);
    assert.deepEqual(retired.retired, [first.selector]);
    await assert.rejects(Deno.stat(rotatedKeyPath(dir, first.selector)), Deno.errors.NotFound);
    assert.deepEqual((await readRotatedKeys(dir)).map((k) => k.selector), [
      "fsmtp-20261130-000050",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dkim rotation: a state file naming paths is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-rotation-" });
  try {
    await Deno.mkdir(join(dir, "dkim-rotation"));
    await Deno.writeTextFile(
      join(dir, "dkim-rotation", "state.json"),
      JSON.stringify({ keys: [{ selector: "../../etc/x", publishedAt: 1, txt: "" }] }),
    );
    await assert.rejects(readRotatedKeys(dir), /not a list of keys/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
