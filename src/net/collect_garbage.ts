/**
 * Returning the memory of large messages promptly. A message's buffers are plain
 * ArrayBuffers: once it is stored they are garbage, but V8 frees them only at its next
 * collection, and a server that goes quiet after a burst may not collect for minutes — its RSS
 * then stays at the burst's peak. So after large octet counts are given back, a full
 * collection is scheduled, at most once per interval.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** A full garbage collection, or undefined where the runtime does not offer one. */
function findCollector(): (() => void) | undefined {
  try {
    // V8 makes `gc` available to contexts created after the flag is set.
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc");
    return typeof gc === "function" ? gc as () => void : undefined;
  } catch {
    return undefined;
  }
}

let collector: (() => void) | undefined | null = null;

/** The process's collector (looked up once). */
export function fullCollection(): (() => void) | undefined {
  if (collector === null) collector = findCollector();
  return collector;
}

/** Schedules collections after large releases, no more than one per `intervalMs`. */
export class CollectionScheduler {
  #pending: ReturnType<typeof setTimeout> | undefined;
  #last = 0;
  #released = 0;

  constructor(
    readonly threshold: number,
    readonly intervalMs: number,
    readonly collect: (() => void) | undefined = fullCollection(),
    readonly now: () => number = Date.now,
  ) {}

  /** Notes `octets` given back; a collection follows once enough has been released. */
  released(octets: number): void {
    if (!this.collect) return;
    this.#released += octets;
    if (this.#released < this.threshold || this.#pending !== undefined) return;
    const wait = Math.max(0, this.#last + this.intervalMs - this.now());
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      this.#released = 0;
      this.#last = this.now();
      this.collect!();
    }, wait);
    Deno.unrefTimer(this.#pending);
  }

  /** Cancels a scheduled collection (tests, shutdown). */
  cancel(): void {
    clearTimeout(this.#pending);
    this.#pending = undefined;
  }
}
