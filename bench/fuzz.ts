/**
 * The long fuzz run (issue 9 item 6): every property of tests/fuzz/targets.ts for a million
 * inputs per parser family (or --inputs=N), in seeded batches inside a worker that is stopped
 * when a batch hangs. Prints inputs/s and crashes per target, each crash with the command that
 * replays it, and exits non-zero on any crash.
 *
 *   deno task fuzz [--inputs=N] [--only=smtp,imap,...] [--seed=S] [--batch=N] [--hang=SECONDS]
 *   deno task fuzz --known                         # also the targets of known, reported bugs
 *   deno task fuzz --target=NAME --seed=S [--path=P]   # replay one batch or one input
 *
 * A crash is an exception where a parser promises a typed result, a property violated, or a
 * batch that does not finish within --hang seconds.
 */
import { parseArgs } from "node:util";
import { type FuzzTarget, GROUPS } from "../tests/fuzz/harness.ts";
import { TARGETS } from "../tests/fuzz/targets.ts";
import type { Job, JobResult } from "../tests/fuzz/worker.ts";

const { values: opts } = parseArgs({
  args: Deno.args,
  options: {
    inputs: { type: "string", default: "1000000" },
    only: { type: "string" },
    target: { type: "string" },
    seed: { type: "string", default: "1" },
    path: { type: "string" },
    batch: { type: "string", default: "10000" },
    hang: { type: "string", default: "300" },
    known: { type: "boolean", default: false },
  },
});

/** One crash, with what replays it. */
interface Crash {
  target: string;
  seed: number;
  error: string;
  counterexample: string;
  replay: string;
}

/** Runs jobs in a worker, replacing the worker when a job outlives the hang limit. */
class Runner {
  #worker = this.#spawn();
  constructor(readonly hangMs: number) {}

  #spawn(): Worker {
    return new Worker(new URL("../tests/fuzz/worker.ts", import.meta.url), { type: "module" });
  }

  run(job: Job): Promise<JobResult | "hang" | Error> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#worker.terminate();
        this.#worker = this.#spawn();
        resolve("hang");
      }, this.hangMs);
      this.#worker.onmessage = (e: MessageEvent<JobResult>) => {
        clearTimeout(timer);
        resolve(e.data);
      };
      this.#worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        clearTimeout(timer);
        this.#worker.terminate();
        this.#worker = this.#spawn();
        resolve(new Error(e.message));
      };
      this.#worker.postMessage(job);
    });
  }

  close(): void {
    this.#worker.terminate();
  }
}

const replayCommand = (name: string, seed: number, path?: string) =>
  `deno task fuzz --target=${name} --seed=${seed}${path ? ` --path=${path}` : ""}`;

/** Runs `inputs` inputs of one target in batches; returns inputs run, seconds and crashes. */
async function fuzzTarget(
  runner: Runner,
  target: FuzzTarget,
  inputs: number,
  baseSeed: number,
  batch: number,
): Promise<{ runs: number; ms: number; crashes: Crash[] }> {
  let runs = 0;
  let ms = 0;
  const crashes: Crash[] = [];
  for (let i = 0; runs < inputs; i++) {
    // Each batch has its own seed, the first the one given, so a crash replays from its batch.
    const seed = (baseSeed + i * 1_000_003) >>> 0;
    const n = Math.min(batch, inputs - runs);
    const started = performance.now();
    const result = await runner.run({ name: target.name, seed, runs: n, path: opts.path });
    if (result === "hang" || result instanceof Error) {
      runs += n;
      ms += performance.now() - started;
      crashes.push({
        target: target.name,
        seed,
        error: result === "hang" ? `a batch ran longer than ${opts.hang} s` : result.message,
        counterexample: "(the whole batch)",
        replay: replayCommand(target.name, seed) + ` --inputs=${n}`,
      });
    } else {
      // A failed batch stops at its failure: count what ran, go on with the next seed.
      runs += result.runs;
      ms += result.ms;
      if (result.failure) {
        crashes.push({
          target: target.name,
          seed: result.failure.seed,
          error: result.failure.error.split("\n").slice(0, 6).join("\n"),
          counterexample: result.failure.counterexample.slice(0, 400),
          replay: replayCommand(target.name, result.failure.seed, result.failure.path),
        });
      }
    }
    if (opts.path !== undefined) break;
  }
  return { runs, ms, crashes };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

async function main(): Promise<number> {
  const inputs = Number(opts.inputs);
  const batch = Number(opts.batch);
  const baseSeed = Number(opts.seed);
  const only = opts.only?.split(",");
  if (only?.some((g) => !(GROUPS as readonly string[]).includes(g))) {
    console.error(`--only takes ${GROUPS.join(", ")}`);
    return 2;
  }
  const chosen = TARGETS.filter((t) =>
    opts.target !== undefined
      ? t.name === opts.target
      : (!only || only.includes(t.group)) && (opts.known || !t.knownBug)
  );
  if (chosen.length === 0) {
    console.error(`no target matches; targets: ${TARGETS.map((t) => t.name).join(", ")}`);
    return 2;
  }
  const skipped = TARGETS.filter((t) =>
    t.knownBug && !chosen.includes(t) && opts.target === undefined
  )
    .filter((t) => !only || only.includes(t.group));
  const runner = new Runner(Number(opts.hang) * 1000);
  const allCrashes: Crash[] = [];
  console.log(`fuzz: ${fmt(inputs)} inputs per family, seed ${baseSeed}, batches of ${fmt(batch)}`);
  for (const group of GROUPS) {
    const targets = chosen.filter((t) => t.group === group);
    if (targets.length === 0) continue;
    // A single --target runs its --inputs alone; a family shares them among its targets.
    const per = opts.target !== undefined ? inputs : Math.ceil(inputs / targets.length);
    let groupRuns = 0;
    let groupMs = 0;
    let groupCrashes = 0;
    for (const target of targets) {
      const { runs, ms, crashes } = await fuzzTarget(runner, target, per, baseSeed, batch);
      groupRuns += runs;
      groupMs += ms;
      groupCrashes += crashes.length;
      allCrashes.push(...crashes);
      console.log(
        `  ${target.name.padEnd(28)} ${fmt(runs).padStart(10)} inputs ${
          fmt(runs / (ms / 1000)).padStart(8)
        }/s  ${crashes.length} crashes`,
      );
    }
    console.log(
      `${group.padEnd(30)} ${fmt(groupRuns).padStart(10)} inputs ${
        fmt(groupRuns / (groupMs / 1000)).padStart(8)
      }/s  ${groupCrashes} crashes  (${(groupMs / 1000).toFixed(1)} s)`,
    );
  }
  runner.close();
  for (const t of skipped) {
    console.log(`skipped ${t.name} (known bug, --known runs it): ${t.knownBug}`);
  }
  for (const c of allCrashes) {
    console.log(`\nCRASH ${c.target} seed ${c.seed}\n  ${c.error.replaceAll("\n", "\n  ")}`);
    console.log(`  input: ${c.counterexample}\n  replay: ${c.replay}`);
  }
  console.log(`\n${allCrashes.length} crashes`);
  return allCrashes.length === 0 ? 0 : 1;
}

Deno.exit(await main());
