/**
 * Durability without blocking the process on the disk. node:sqlite is synchronous: with
 * `synchronous = FULL` each COMMIT's fsync of the WAL stalls every connection of the server for
 * the disk's flush time, once per group commit. Group-committed batches therefore commit with
 * `synchronous = NORMAL` (the WAL frames are written, not flushed) and then wait for an
 * fdatasync of the WAL file that runs on Deno's blocking thread pool; their callers hear of
 * success only after it. Meanwhile the event loop serves connections and runs the next batch.
 *
 * Why this is as durable as FULL: a commit in WAL mode appends its frames to the `-wal` file;
 * once they are flushed, recovery replays them. If a checkpoint copied them into the database
 * first, SQLite (NORMAL or FULL alike) syncs the WAL before the checkpoint and the database file
 * after it, so they are on disk either way (https://sqlite.org/pragma.html#pragma_synchronous).
 * The other writes keep `synchronous = FULL` and flush in their COMMIT as before.
 *
 * One flush covers every commit made before it started: callers that arrive while one runs
 * share the next, so there is at most one running and one waiting.
 */
import type { DatabaseSync } from "node:sqlite";

/** How a group commit makes its batches durable (see GroupCommit). */
export interface Durability {
  /** Runs `fn` (one batch: BEGIN … COMMIT) with its commit written but not yet flushed. */
  unsynced<T>(fn: () => T): T;
  /** Resolves once every commit made before the call is on disk; rejects if the flush fails. */
  durable(): Promise<void>;
}

/** Flushes one SQLite connection's WAL file off the event loop. */
export class WalSync implements Durability {
  #db: DatabaseSync;
  #walPath: string | undefined;
  #file: Promise<Deno.FsFile> | undefined;
  #running: Promise<void> | undefined;
  #waiting: Promise<void> | undefined;
  /** Unflushed commits made so far, and how many of them the running flush covers. */
  #written = 0;
  #covered = 0;
  #closed = false;
  #flushes = 0;

  /**
   * @param db the connection, in WAL mode with `synchronous = FULL`
   * @param path its database file; ":memory:" has nothing to flush
   */
  constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.#walPath = path === ":memory:" || path === "" ? undefined : `${path}-wal`;
  }

  /** fdatasync calls made so far; shows in tests that flushes are shared. */
  get flushes(): number {
    return this.#flushes;
  }

  unsynced<T>(fn: () => T): T {
    if (this.#walPath === undefined) return fn();
    this.#db.exec("PRAGMA synchronous = NORMAL");
    // Counted first: a flush asked for from inside `fn`, after its COMMIT, covers it.
    this.#written++;
    try {
      return fn();
    } finally {
      this.#db.exec("PRAGMA synchronous = FULL");
    }
  }

  durable(): Promise<void> {
    if (this.#walPath === undefined) return Promise.resolve();
    // Nothing written since the running flush began: it covers the caller.
    if (this.#running && this.#covered === this.#written) return this.#running;
    // A flush already waiting starts after this commit: share it.
    if (this.#waiting) return this.#waiting;
    if (!this.#running) return this.#start();
    // The running flush may have begun before this commit was written: wait for the next.
    const next = this.#running.catch(() => {}).then(() => {
      this.#waiting = undefined;
      return this.#start();
    });
    this.#waiting = next;
    return next;
  }

  /** Waits for the flushes under way, then closes the WAL file (before the database). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#waiting?.catch(() => {});
    await this.#running?.catch(() => {});
    const file = await this.#file?.catch(() => undefined);
    this.#file = undefined;
    file?.close();
  }

  #start(): Promise<void> {
    this.#covered = this.#written;
    const run = this.#flush().finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  async #flush(): Promise<void> {
    if (this.#closed) throw new Error("the store is closed");
    // The WAL exists once a commit was written; SQLite keeps it while this connection is open.
    this.#file ??= Deno.open(this.#walPath!, { read: true, write: true });
    let file: Deno.FsFile;
    try {
      file = await this.#file;
    } catch (err) {
      this.#file = undefined;
      throw err;
    }
    this.#flushes++;
    await file.syncData();
  }
}
