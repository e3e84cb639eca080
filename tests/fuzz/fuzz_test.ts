/**
 * The short, seeded fuzz run of CI: every target of tests/fuzz/targets.ts with a few thousand
 * inputs per parser family. `deno task fuzz` runs the same properties for a million inputs.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type FuzzTarget, GROUPS, target } from "./harness.ts";
import { TARGETS } from "./targets.ts";

/** Inputs per group, shared among its targets; the seed is fixed so CI is repeatable. */
const INPUTS_PER_GROUP = 3000;
const SEED = 20240917;

function runs(t: FuzzTarget): number {
  const inGroup = TARGETS.filter((o) => o.group === t.group).length;
  return Math.ceil(INPUTS_PER_GROUP / inGroup);
}

for (const group of GROUPS) {
  const targets = TARGETS.filter((t) => t.group === group);
  if (targets.length === 0) continue;
  Deno.test(`fuzz ${group}`, async (t) => {
    for (const target of targets) {
      await t.step({
        name: target.knownBug ? `${target.name} (known bug: ${target.knownBug})` : target.name,
        ignore: target.knownBug !== undefined,
        fn: () => {
          const result = target.run(SEED, runs(target));
          assert.equal(
            result.failure,
            undefined,
            result.failure && `${target.name} failed: ${result.failure.error}\n` +
                `counterexample: ${result.failure.counterexample}\n` +
                `reproduce: deno task fuzz --target=${target.name} --seed=${result.failure.seed}` +
                ` --path=${result.failure.path}`,
          );
        },
      });
    }
  });
}

Deno.test("fuzz harness catches what it must", async (t) => {
  await t.step("a parser that throws on some input is reported with a replayable path", () => {
    const planted = target("smtp", "planted", [fc.uint8Array({ maxLength: 8 })], (bytes) => {
      if (bytes.includes(0x2a)) throw new TypeError("planted");
    });
    const result = planted.run(1, 2000);
    assert.ok(result.failure, "the planted exception was not found");
    assert.match(result.failure.error, /TypeError: planted/);
    const replay = planted.run(result.failure.seed, 1, result.failure.path);
    assert.ok(replay.failure, "the recorded path does not replay the failure");
  });
  await t.step("a passing property reports every input it ran", () => {
    const ok = target("dot", "ok", [fc.nat()], (n) => assert.ok(n >= 0));
    assert.deepEqual(ok.run(7, 500), { runs: 500 });
  });
});
