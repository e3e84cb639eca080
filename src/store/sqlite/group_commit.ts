/**
 * Group commit. node:sqlite is synchronous, so a commit's fsync blocks the whole process: one
 * fsync per delivered message would cap delivery at the disk's fsync rate and stall every
 * connection meanwhile. Instead, submissions are queued and run together on the next
 * `setImmediate`, in one transaction with one fsync. Everything submitted while the previous
 * batch ran (its callers were waiting on the event loop) lands in the next batch.
 *
 * With a {@link Durability} (`wal_sync.ts`), a batch commits without waiting for the disk and
 * its items settle once the flush that covers it is done, off the event loop: the next batch
 * does not wait for it.
 */
import { setImmediate } from "node:timers";
import type { Durability } from "./wal_sync.ts";

/** What became of one item of a batch. */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * Runs a whole batch synchronously and reports one outcome per item, in order. Throwing means
 * the batch as a whole failed (nothing of it was committed), and every item is rejected.
 */
export type BatchRunner<I, R> = (items: I[]) => Outcome<R>[];

interface Pending<I, R> {
  item: I;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

/** A queue that runs what was submitted in batches, one batch per event-loop turn. */
export class GroupCommit<I, R> {
  #queue: Pending<I, R>[] = [];
  #scheduled = false;
  #drained: Array<() => void> = [];
  /** Batches committed whose flush has not finished. */
  #flushing = 0;

  /**
   * @param run runs one batch (one transaction).
   * @param maxBatch caps a batch so one transaction, and the event-loop stall it causes, stays
   *   short under a flood; the rest goes into the following batch.
   * @param durability when given, batches commit unflushed and settle after its flush;
   *   without it, `run` must leave its transaction durable when it returns.
   */
  constructor(
    readonly run: BatchRunner<I, R>,
    readonly maxBatch = 500,
    readonly durability?: Durability,
  ) {}

  /** Items waiting for a batch. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Queues `item`; resolves with its outcome once its batch has run. */
  submit(item: I): Promise<R> {
    const { promise, resolve, reject } = Promise.withResolvers<R>();
    this.#queue.push({ item, resolve, reject });
    this.#schedule();
    return promise;
  }

  /** Resolves once everything submitted so far has been run and flushed (before closing). */
  drain(): Promise<void> {
    if (this.#idle) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#drained.push(resolve);
    return promise;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  get #idle(): boolean {
    return !this.#scheduled && this.#queue.length === 0 && this.#flushing === 0;
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue.splice(0, this.maxBatch);
    const items = batch.map((p) => p.item);
    let outcomes: Outcome<R>[];
    try {
      outcomes = this.durability
        ? this.durability.unsynced(() => this.run(items))
        : this.run(items);
    } catch (error) {
      outcomes = batch.map(() => ({ ok: false, error }));
    }
    const settle = (flushError?: unknown) => {
      batch.forEach((p, i) => {
        const outcome = outcomes[i] ??
          { ok: false, error: new Error(`the batch runner gave no outcome for item ${i}`) };
        if (!outcome.ok) p.reject(outcome.error);
        else if (flushError !== undefined) p.reject(flushError);
        else p.resolve(outcome.value);
      });
    };
    if (this.durability && outcomes.some((o) => o.ok)) {
      this.#flushing++;
      this.durability.durable().then(() => settle(), (error) => settle(error ?? "flush failed"))
        .finally(() => {
          this.#flushing--;
          this.#wakeDrained();
        });
    } else {
      settle();
    }
    if (this.#queue.length > 0) this.#schedule();
    else this.#wakeDrained();
  }

  #wakeDrained(): void {
    if (this.#idle) { for (const resolve of this.#drained.splice(0)) resolve(); }
  }
}
