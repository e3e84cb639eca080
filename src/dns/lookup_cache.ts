/**
 * A bounded cache in front of a DNS lookup in node's `dns.resolve` shape (what mailauth calls):
 * a burst of mail from one domain costs one query per name and type, however many sessions ask
 * at once (they share the query in flight).
 *
 * What is kept, and for how long (RFC 1035 §7.4 caching, RFC 2308 negative caching):
 * - answers, and "no such name / no such record" (ENOTFOUND, ENODATA), for at most
 *   `answerMs`. `Deno.resolveDns` does not expose the records' TTL, so this cap stands in for
 *   it; keep it short (a minute) next to the TTLs mail domains publish (an hour is usual), so a
 *   changed record is seen soon.
 * - temporary failures (timeouts, SERVFAIL, a resolver that never answers) for `failureMs`,
 *   as RFC 2308 §7 allows for server failures and dead servers (at most five minutes): while
 *   the resolver is down, every message is not made to wait for its own timeout.
 *
 * Pure apart from the lookup it wraps; the clock is injectable for tests.
 */

/** A lookup in node's `dns.resolve(name, rrtype)` shape; errors carry node's `code`. */
export type DnsLookup = (name: string, rrtype: string) => Promise<unknown>;

/** Error codes that mean "no such record": a definite answer, cached like one. */
const ABSENT = new Set(["ENOTFOUND", "ENODATA"]);

/** Options of a {@link LookupCache}. */
export interface LookupCacheOptions {
  /** Milliseconds an answer (records, or none) is kept. */
  answerMs: number;
  /** Milliseconds a temporary failure is kept. */
  failureMs: number;
  /** Names × types kept at most; the oldest go first. */
  maxEntries: number;
  /** The clock, in milliseconds. */
  now?: () => number;
}

interface Entry {
  /** Settles as the lookup did; shared by every caller until `expires`. */
  result: Promise<unknown>;
  /** Unset while the query is in flight. */
  expires?: number;
}

/** The cache. */
export class LookupCache {
  #entries = new Map<string, Entry>();
  #now: () => number;
  /** Queries actually sent (cache misses), for tests and logs. */
  misses = 0;

  constructor(readonly inner: DnsLookup, readonly opts: LookupCacheOptions) {
    this.#now = opts.now ?? Date.now;
  }

  /** Entries held now (expired ones included until they are looked at or pushed out). */
  get size(): number {
    return this.#entries.size;
  }

  /** The records of `name` and `rrtype`, from the cache or from one query shared by all. */
  lookup: DnsLookup = (name, rrtype) => {
    const key = `${rrtype.toUpperCase()} ${name.toLowerCase().replace(/\.$/, "")}`;
    const found = this.#entries.get(key);
    if (found && (found.expires === undefined || found.expires > this.#now())) return found.result;
    if (found) this.#entries.delete(key);
    this.misses++;
    const entry: Entry = { result: this.inner(name, rrtype) };
    entry.result.then(
      () => entry.expires = this.#now() + this.opts.answerMs,
      (err) => {
        const code = (err as { code?: string })?.code;
        entry.expires = this.#now() +
          (ABSENT.has(code ?? "") ? this.opts.answerMs : this.opts.failureMs);
      },
    );
    this.#entries.set(key, entry);
    this.#evict();
    return entry.result;
  };

  /** Drops the oldest entries past `maxEntries` (Map order is insertion order). */
  #evict(): void {
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.opts.maxEntries) return;
      this.#entries.delete(key);
    }
  }
}
