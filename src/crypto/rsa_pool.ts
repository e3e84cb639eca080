/**
 * RSA-OAEP decryption in batches on worker threads, one per core: the bulk re-wrap of a login
 * (src/mail/content_keys.ts) sends its RSA-wrapped content keys here. A worker calls libcrypto
 * synchronously, so an operation costs what `openssl speed rsa2048` measures; one call at a
 * time on Deno's blocking thread pool (native_rsa.ts) pays a thread hop and a turn of the event
 * loop on top (the bench prints both: bench/rsa_speed.ts).
 *
 * The workers hold the process open only while they have work. Where they cannot run (no
 * libcrypto, no permission, a compiled binary without the worker module) a batch rejects and
 * callers decrypt one by one instead.
 */
import { Worker } from "node:worker_threads";
import type { NativeRsaKey } from "./native_rsa.ts";
import type { RsaReply, RsaRequest } from "./rsa_worker.ts";

interface Pending {
  resolve: (plaintexts: (Uint8Array | undefined)[]) => void;
  reject: (err: Error) => void;
  /** Keeps the key (and so its EVP_PKEY) alive while a worker uses it. */
  key: NativeRsaKey;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** A pool of RSA worker threads, started on first use. */
export class RsaPool {
  #slots: Slot[] = [];
  #next = 0;
  #ids = 0;
  #broken: Error | undefined;

  constructor(readonly size = Math.max(1, navigator.hardwareConcurrency || 2)) {}

  /**
   * Starts every worker now, idle (they hold nothing and keep no process open), so the first
   * login's re-wrap does not wait for threads to start. Never throws: a pool that cannot
   * start is marked broken and callers decrypt one by one.
   */
  warm(): void {
    try {
      while (this.#slots.length < this.size) this.#slot();
    } catch (err) {
      this.#broken = err as Error;
    }
  }

  /** True once a worker failed to start or died: batches then reject at once. */
  get broken(): boolean {
    return this.#broken !== undefined;
  }

  /**
   * Decrypts each ciphertext with `key` and `label`, in order; undefined for one that does not
   * open. Rejects when the workers cannot run here.
   */
  decryptMany(
    key: NativeRsaKey,
    ciphertexts: Uint8Array[],
    label: Uint8Array,
  ): Promise<(Uint8Array | undefined)[]> {
    if (this.#broken) return Promise.reject(this.#broken);
    let slot: Slot;
    try {
      slot = this.#slot();
    } catch (err) {
      this.#broken = err as Error;
      return Promise.reject(err);
    }
    const id = ++this.#ids;
    const request: RsaRequest = { id, pkey: key.address, label, ciphertexts };
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject, key });
      if (slot.pending.size === 1) slot.worker.ref();
      slot.worker.postMessage(request);
    });
  }

  #slot(): Slot {
    if (this.#slots.length < this.size) {
      const worker = new Worker(new URL("./rsa_worker.ts", import.meta.url));
      const slot: Slot = { worker, pending: new Map() };
      worker.on("message", (reply: RsaReply) => this.#reply(slot, reply));
      worker.on("error", (err: Error) => this.#fail(slot, err));
      worker.on("exit", () => this.#fail(slot, new Error("an RSA worker exited")));
      worker.unref();
      this.#slots.push(slot);
    }
    // Round robin; a worker takes its batches in order.
    return this.#slots[this.#next++ % this.#slots.length];
  }

  #reply(slot: Slot, reply: RsaReply): void {
    const pending = slot.pending.get(reply.id);
    if (!pending) return;
    slot.pending.delete(reply.id);
    if (slot.pending.size === 0) slot.worker.unref();
    if (reply.plaintexts) pending.resolve(reply.plaintexts.map((p) => p ?? undefined));
    else pending.reject(new Error(reply.error ?? "RSA worker failed"));
  }

  #fail(slot: Slot, err: Error): void {
    this.#broken ??= err;
    for (const pending of slot.pending.values()) pending.reject(err);
    slot.pending.clear();
    slot.worker.unref();
  }
}

/** The process's pool. */
export const rsaPool = new RsaPool();
