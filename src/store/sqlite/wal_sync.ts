/**
 * Making committed WAL transactions durable off the event loop. With `synchronous = FULL` a
 * commit in WAL mode fsyncs the WAL file inside COMMIT, and node:sqlite being synchronous, the
 * whole process waits for the disk (a few ms per commit here), every connection with it. A
 * commit made with `synchronous = NORMAL` writes the same WAL frames without the fsync (and
 * SQLite still syncs around checkpoints, so the file stays consistent); this then fsyncs the
 * WAL file on Deno's thread pool, and only after that are the transaction's writes reported
 * done (a 250 to DATA). fsync covers the file whatever descriptor it is asked through, so once
 * a sync that began after a COMMIT returns, that transaction is on disk, as with FULL. The WAL
 * file exists, the same file, for as long as a connection has the database open (SQLite's WAL
 * documentation), so the descriptor opened once stays the right one while the store is open.
 *
 * Syncs are coalesced: while one runs, every request waits for the next, which starts when the
 * running one ends and covers all of them, so a burst costs two fsyncs, not one per commit.
 */

/** fdatasync of one file, shared by the commits that need it. */
export class WalSync {
  #file: Deno.FsFile | undefined;
  #running: Promise<void> | undefined;
  #next: PromiseWithResolvers<void> | undefined;
  /** fsyncs done, for tests. */
  syncs = 0;

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /**
   * Opens `path` (the database's `-wal` file, which exists once the database is in WAL mode
   * and has been written); undefined when it cannot be opened, and then commits stay FULL.
   */
  static open(path: string): WalSync | undefined {
    try {
      return new WalSync(Deno.openSync(path, { read: true }));
    } catch {
      return undefined;
    }
  }

  /** Resolves once an fsync of the file that began after this call has finished. */
  request(): Promise<void> {
    if (!this.#file) return Promise.reject(new Error("the WAL file is closed"));
    if (!this.#running) {
      this.#running = this.#sync();
      return this.#running;
    }
    this.#next ??= Promise.withResolvers<void>();
    return this.#next.promise;
  }

  async #sync(): Promise<void> {
    try {
      await this.#file!.syncData();
      this.syncs++;
    } finally {
      const next = this.#next;
      this.#next = undefined;
      this.#running = undefined;
      if (next) {
        this.#running = this.#sync();
        this.#running.then(next.resolve, next.reject);
      }
    }
  }

  /** Waits for the syncs under way, then closes the file. */
  async close(): Promise<void> {
    while (this.#running) await this.#running.catch(() => {});
    this.#file?.close();
    this.#file = undefined;
  }
}
