/**
 * Group commit. node:sqlite is synchronous, so a commit's fsync blocks the whole process: one
 * fsync per delivered message would cap delivery at the disk's fsync rate and stall every
 * connection meanwhile. Instead, submissions are queued and run together on the next
 * `setImmediate`, in one transaction with one fsync. Everything submitted while the previous
 * batch ran (its callers were waiting on the event loop) lands in the next batch. With a
 * `durable` step (wal_sync.ts), the batch commits without waiting for the disk and its items
 * are settled once that step says it is on disk; the next batch runs meanwhile.
 */
import { setImmediate } from "node:timers";

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
  /** Batches run but waiting for `durable`. */
  #syncing = 0;

  /**
   * @param run runs one batch (one transaction).
   * @param maxBatch caps a batch so one transaction, and the event-loop stall it causes, stays
   *   short under a flood; the rest goes into the following batch.
   * @param durable resolves once the batch just run is on disk (called right after `run`);
   *   without it, `run` itself must leave the batch durable. A rejection fails the whole batch.
   */
  constructor(
    readonly run: BatchRunner<I, R>,
    readonly maxBatch = 500,
    readonly durable?: () => Promise<void>,
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

  /** Resolves once everything submitted so far has been run (used before closing). */
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

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue.splice(0, this.maxBatch);
    let outcomes: Outcome<R>[];
    try {
      outcomes = this.run(batch.map((p) => p.item));
    } catch (error) {
      outcomes = batch.map(() => ({ ok: false, error }));
    }
    const durable = this.durable && outcomes.some((o) => o.ok) ? this.durable() : undefined;
    if (durable) {
      this.#syncing++;
      durable.then(
        () => this.#settle(batch, outcomes),
        (error) => this.#settle(batch, batch.map(() => ({ ok: false, error }))),
      ).finally(() => {
        this.#syncing--;
        this.#checkDrained();
      });
    } else {
      this.#settle(batch, outcomes);
    }
    if (this.#queue.length > 0) this.#schedule();
    this.#checkDrained();
  }

  #settle(batch: Pending<I, R>[], outcomes: Outcome<R>[]): void {
    batch.forEach((p, i) => {
      const outcome = outcomes[i] ??
        { ok: false, error: new Error(`the batch runner gave no outcome for item ${i}`) };
      if (outcome.ok) p.resolve(outcome.value);
      else p.reject(outcome.error);
    });
  }

  get #idle(): boolean {
    return !this.#scheduled && this.#queue.length === 0 && this.#syncing === 0;
  }

  #checkDrained(): void {
    if (this.#idle) { for (const resolve of this.#drained.splice(0)) resolve(); }
  }
}
