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

/**
 * A full collection once the server goes quiet after new connections. A burst of handshakes
 * and logins grows V8's young generation to tens of MiB; V8 shrinks it back only when a
 * collection happens while little is allocated, and an idle server allocates nothing, so the
 * burst's size could stay for good (measured: 1,000 IMAP IDLE sessions, RSS 166 MiB right
 * after the burst, 128 MiB after one collection). Also run once after start-up.
 */
export class QuietCollector {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastActivity = 0;
  #lastCollection = -Infinity;
  #owed = false;

  /**
   * @param quietMs how long no connection must arrive before collecting
   * @param intervalMs the least time between two collections (a steady trickle of
   *   connections costs at most one collection per interval)
   */
  constructor(
    readonly quietMs: number,
    readonly intervalMs: number,
    readonly collect: (() => void) | undefined = fullCollection(),
    readonly now: () => number = Date.now,
  ) {}

  /** Notes a new connection (or start-up); a collection follows once it is quiet. */
  activity(): void {
    if (!this.collect) return;
    this.#lastActivity = this.now();
    this.#owed = true;
    if (this.#timer === undefined) this.#arm(this.quietMs);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#check(), ms);
    Deno.unrefTimer(this.#timer);
  }

  #check(): void {
    this.#timer = undefined;
    if (!this.#owed) return;
    const now = this.now();
    const wait = Math.max(
      this.#lastActivity + this.quietMs - now,
      this.#lastCollection + this.intervalMs - now,
    );
    if (wait > 0) return this.#arm(wait);
    this.#owed = false;
    this.#lastCollection = now;
    this.collect!();
  }

  /** Cancels a pending collection (shutdown, tests). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#owed = false;
  }
}
