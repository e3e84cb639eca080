/**
 * In-memory cache of unlocked user keys, so that clients which reconnect often (phones polling,
 * Thunderbird opening several connections) do not pay the ~150 ms password KDF every time.
 *
 * Entries are found by an HMAC of (address, password) under a per-process random secret: a hit
 * proves the same password unlocked the keys before, and neither the password nor anything an
 * attacker could test guesses against offline is kept. Nothing here ever touches disk.
 */

import { createHmac, randomBytes } from "node:crypto";
import type { UnlockedUserKeys } from "./user_keys.ts";

/** Options for {@link LoginCache}. */
export interface LoginCacheOptions {
  /** How long after a good login its keys stay usable without the KDF. Default 15 minutes. */
  ttlMs?: number;
  /** Entries kept at most; the oldest goes first. 0 disables the cache. Default 10,000. */
  maxEntries?: number;
  /** Clock in milliseconds; injectable for tests. */
  now?: () => number;
}

interface Entry {
  address: string;
  keys: UnlockedUserKeys;
  expiresAt: number;
}

/**
 * Keyed digest of a login, as a Map key. The address is length-prefixed so no pair of distinct
 * (address, password) inputs can produce the same message, whatever characters they contain.
 */
export function loginDigest(secret: Uint8Array, address: string, password: string): string {
  return createHmac("sha256", secret)
    .update(`${address.length}:${address}\0${password}`)
    .digest("base64");
}

/** Unlocked keys by (address, password), with a TTL measured from the login that stored them. */
export class LoginCache {
  readonly #secret = randomBytes(32);
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** Insertion order is expiry order (one TTL for all), so the first entry is the oldest. */
  readonly #entries = new Map<string, Entry>();
  /** address → digests, so {@link forget} needs no password. */
  readonly #byAddress = new Map<string, Set<string>>();

  /** Creates an empty cache. */
  constructor(opts: LoginCacheOptions = {}) {
    const { ttlMs = 15 * 60_000, maxEntries = 10_000, now = () => Date.now() } = opts;
    if (!(ttlMs >= 0)) throw new RangeError("ttlMs must be ≥ 0");
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) {
      throw new RangeError("maxEntries must be an integer ≥ 0");
    }
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  /** Number of entries held, expired ones included until they are evicted. */
  get size(): number {
    return this.#entries.size;
  }

  /** The keys a previous good login with this exact password stored, if still fresh. */
  get(address: string, password: string): UnlockedUserKeys | undefined {
    const digest = this.#digest(address, password);
    const entry = this.#entries.get(digest);
    if (!entry) return undefined;
    // No sliding expiry: a busy client must still run the real KDF once per TTL, so a cached
    // unlock can never outlive the TTL however often it is used.
    if (entry.expiresAt <= this.#now()) {
      this.#delete(digest, entry);
      return undefined;
    }
    return entry.keys;
  }

  /**
   * The keys of the user's latest fresh entry, whatever password stored it: for delivery,
   * which wraps a new message's content key under the mailbox key of a user logged in lately
   * (local_delivery.ts). Keeps nothing longer than {@link get} would.
   */
  freshFor(address: string): UnlockedUserKeys | undefined {
    const now = this.#now();
    let found: Entry | undefined;
    for (const digest of this.#byAddress.get(address.toLowerCase()) ?? []) {
      const entry = this.#entries.get(digest);
      if (entry && entry.expiresAt > now && (!found || entry.expiresAt > found.expiresAt)) {
        found = entry;
      }
    }
    return found?.keys;
  }

  /** Stores keys after a good login; replaces (and restarts the TTL of) an existing entry. */
  set(address: string, password: string, keys: UnlockedUserKeys): void {
    if (this.#maxEntries === 0) return;
    const now = this.#now();
    const digest = this.#digest(address, password);
    const old = this.#entries.get(digest);
    if (old) this.#delete(digest, old); // re-insert at the end to keep insertion = expiry order
    const key = address.toLowerCase();
    this.#entries.set(digest, { address: key, keys, expiresAt: now + this.#ttlMs });
    let digests = this.#byAddress.get(key);
    if (!digests) this.#byAddress.set(key, digests = new Set());
    digests.add(digest);
    this.#evict(now);
  }

  /** Drops every entry of a user: call on password change and on delete. */
  forget(address: string): void {
    const key = address.toLowerCase();
    for (const digest of this.#byAddress.get(key) ?? []) this.#entries.delete(digest);
    this.#byAddress.delete(key);
  }

  /** Drops everything. */
  clear(): void {
    this.#entries.clear();
    this.#byAddress.clear();
  }

  #digest(address: string, password: string): string {
    // Addresses are case-insensitive here so forget() cannot miss an entry stored as "Bob@…".
    return loginDigest(this.#secret, address.toLowerCase(), password);
  }

  /** Removes expired entries from the front, then the oldest ones past `maxEntries`. */
  #evict(now: number): void {
    for (const [digest, entry] of this.#entries) {
      if (entry.expiresAt > now && this.#entries.size <= this.#maxEntries) break;
      this.#delete(digest, entry);
    }
  }

  #delete(digest: string, entry: Entry): void {
    this.#entries.delete(digest);
    const digests = this.#byAddress.get(entry.address);
    digests?.delete(digest);
    if (digests?.size === 0) this.#byAddress.delete(entry.address);
  }
}
