/**
 * Password logins for every protocol: the password unlocks the user's keys (through the
 * in-memory login cache when possible). A cache entry is honoured only while the user's stored
 * key material is unchanged, so a password changed by `--passwd` in another process, or a
 * user deleted and added again, invalidates it at once.
 */
import { createHash } from "node:crypto";
import { LoginCache } from "../crypto/login_cache.ts";
import { UserUnlocker } from "../crypto/password_auth.ts";
import type { UnlockedUserKeys } from "../crypto/user_keys.ts";
import type { MailStore } from "../store/mail_store.ts";

/** A successful login. */
export interface Login {
  address: string;
  keys: UnlockedUserKeys;
}

/** What a login attempt came to: "blocked" when the client's address failed too often. */
export type LoginResult = Login | "bad" | "blocked";

/** Checks passwords against the store. */
export class Authenticator {
  #unlocker: UserUnlocker;
  #cache = new LoginCache();
  #seen = new Map<string, string>();

  constructor(readonly store: MailStore, opts: { dummyIterations?: number } = {}) {
    this.#unlocker = new UserUnlocker({
      getKeys: async (address) => (await store.getUser(address))?.keys,
      cache: this.#cache,
      dummyIterations: opts.dummyIterations,
    });
  }

  /**
   * The login when this exact password logged in lately (a login-cache hit); undefined
   * otherwise, which says nothing about the password. Costs a lookup, never the KDF.
   */
  async cachedLogin(address: string, password: string): Promise<Login | undefined> {
    const user = await this.#current(address);
    const keys = this.#unlocker.cached(user, password);
    return keys ? { address: user, keys } : undefined;
  }

  /**
   * The keys a login of `address` left in the login cache, if one is fresh (no password
   * needed: for delivery to a user logged in lately, see UnlockedUsers).
   */
  cachedKeys(address: string): UnlockedUserKeys | undefined {
    return this.#cache.freshFor(address.trim().toLowerCase());
  }

  /** The login, or undefined for an unknown user or a wrong password. */
  async login(address: string, password: string): Promise<Login | undefined> {
    const user = await this.#current(address);
    const keys = await this.#unlocker.unlock(user, password);
    return keys ? { address: user, keys } : undefined;
  }

  /**
   * The normalised address, after dropping cached unlocks made with key material that is no
   * longer the stored one (password changed or user re-created by another process).
   */
  async #current(address: string): Promise<string> {
    const user = address.trim().toLowerCase();
    const record = await this.store.getUser(user);
    if (record) {
      const fingerprint = createHash("sha256").update(record.keys).digest("base64");
      if (this.#seen.get(user) !== fingerprint) {
        this.#unlocker.forget(user);
        this.#seen.set(user, fingerprint);
      }
    } else if (this.#seen.delete(user)) {
      this.#unlocker.forget(user);
    }
    return user;
  }
}
