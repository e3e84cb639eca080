/**
 * The worker bench/fuzz.ts runs targets in, so that a hung parser can be stopped from outside:
 * one job in (a target, a seed, a number of inputs, maybe a path to replay), its result out.
 */
import type { TargetRun } from "./harness.ts";
import { TARGETS } from "./targets.ts";

/** A batch of inputs for one target. */
export interface Job {
  name: string;
  seed: number;
  runs: number;
  path?: string;
}

/** What the worker answers: the run and the time it took. */
export interface JobResult extends TargetRun {
  name: string;
  ms: number;
}

const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<Job>) => void) | null;
  postMessage(message: JobResult): void;
};

scope.onmessage = ({ data: job }) => {
  const target = TARGETS.find((t) => t.name === job.name);
  if (!target) throw new Error(`no fuzz target ${job.name}`);
  const start = performance.now();
  const run = target.run(job.seed, job.runs, job.path);
  scope.postMessage({ ...run, name: job.name, ms: performance.now() - start });
};
