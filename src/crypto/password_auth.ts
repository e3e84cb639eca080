/**
 * Password login: turns (address, password) into the user's unlocked keys, using the login
 * cache when it can and the slow KDF when it must, without revealing which addresses exist.
 */

import { randomBytes } from "node:crypto";
import { type LoginCache, loginDigest } from "./login_cache.ts";
import {
  DEFAULT_PBKDF2_ITERATIONS,
  spendUnlockWork,
  type UnlockedUserKeys,
  unlockUserKeys,
} from "./user_keys.ts";

/** Options for {@link UserUnlocker}. */
export interface UserUnlockerOptions {
  /** The user's sealed key material (`UserRecord.keys`), or undefined for an unknown address. */
  getKeys: (address: string) => Promise<Uint8Array | undefined>;
  cache: LoginCache;
  /**
   * PBKDF2 iterations of the stand-in work done for unknown addresses. Should match what real
   * records use: the default, unless tests create users with fewer.
   */
  dummyIterations?: number;
}

/** Unlocks users' keys by password, through a {@link LoginCache}. */
export class UserUnlocker {
  readonly #getKeys: (address: string) => Promise<Uint8Array | undefined>;
  readonly #cache: LoginCache;
  readonly #dummyIterations: number;
  readonly #secret = randomBytes(32);
  /**
   * Unlocks in progress by login digest: simultaneous connections with the same credentials
   * (Thunderbird opens several) share one KDF instead of each running its own.
   */
  readonly #inFlight = new Map<string, Promise<UnlockedUserKeys | undefined>>();
  /** Bumped by {@link forget}; an unlock that started before a forget must not fill the cache. */
  #epoch = 0;

  /** Creates an unlocker over a key lookup and a cache. */
  constructor(opts: UserUnlockerOptions) {
    this.#getKeys = opts.getKeys;
    this.#cache = opts.cache;
    this.#dummyIterations = opts.dummyIterations ?? DEFAULT_PBKDF2_ITERATIONS;
  }

  /**
   * The user's unlocked keys, or undefined when the address is unknown or the password wrong
   * (indistinguishable by result and, as far as the KDF goes, by timing). Throws only when the
   * stored key material is corrupt or the lookup fails.
   */
  unlock(address: string, password: string): Promise<UnlockedUserKeys | undefined> {
    const cached = this.#cache.get(address, password);
    if (cached) return Promise.resolve(cached);
    const digest = loginDigest(this.#secret, address.toLowerCase(), password);
    const pending = this.#inFlight.get(digest);
    if (pending) return pending;
    const started = this.#unlockSlow(address, password).finally(() => {
      // Only remove our own promise: forget() may have cleared it and a newer one taken its place.
      if (this.#inFlight.get(digest) === started) this.#inFlight.delete(digest);
    });
    this.#inFlight.set(digest, started);
    return started;
  }

  /**
   * The user's keys if this exact password unlocked them lately (a login-cache hit), else
   * undefined, which says nothing about the password. Never runs the KDF.
   */
  cached(address: string, password: string): UnlockedUserKeys | undefined {
    return this.#cache.get(address, password);
  }

  /**
   * Forgets a user's cached unlocks. Call it after a password change, a recovery reset or a
   * delete, so the old password stops working at once.
   */
  forget(address: string): void {
    this.#epoch++;
    this.#cache.forget(address);
    // In-flight unlocks keep running for whoever awaits them, but later logins must not join
    // one that may have read the old key material.
    this.#inFlight.clear();
  }

  async #unlockSlow(address: string, password: string): Promise<UnlockedUserKeys | undefined> {
    const epoch = this.#epoch;
    const keys = await this.#getKeys(address);
    if (!keys) {
      await spendUnlockWork(password, this.#dummyIterations);
      return undefined;
    }
    const unlocked = await unlockUserKeys(keys, password);
    if (unlocked && epoch === this.#epoch) this.#cache.set(address, password, unlocked);
    return unlocked;
  }
}
