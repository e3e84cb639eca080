/**
 * The Resolver port: the DNS lookups mail needs. Handlers and the SMTP client use this, never
 * `Deno.resolveDns` directly, so tests can point every lookup at a DNS server they run
 * (`outbound.resolver`, e.g. dnsmasq on 127.0.0.1) or at an in-memory table.
 */

/** One MX record (RFC 5321 §5.1). */
export interface MxRecord {
  preference: number;
  /** The exchange host name, without a trailing dot; "" for a null MX (RFC 7505). */
  exchange: string;
}

/** The lookups mail delivery and checking need. */
export interface Resolver {
  /** MX records; [] when the domain has none (NODATA); throws `DnsError` otherwise. */
  mx(domain: string): Promise<MxRecord[]>;
  /** IPv4 and IPv6 addresses of a host; [] when there are none. */
  addresses(host: string): Promise<string[]>;
  /** TXT records, each joined from its strings. */
  txt(name: string): Promise<string[]>;
}

/** A lookup failure: "nxdomain" is permanent, "temporary" (timeouts, SERVFAIL) is not. */
export class DnsError extends Error {
  constructor(message: string, readonly kind: "nxdomain" | "temporary") {
    super(message);
    this.name = "DnsError";
  }
}

/** The Resolver on `Deno.resolveDns`, optionally against one name server. */
export class SystemResolver implements Resolver {
  #options: Deno.ResolveDnsOptions;

  /** @param nameServer `"host:port"`, or undefined for the system's resolver */
  constructor(nameServer?: { ipAddr: string; port: number }) {
    this.#options = nameServer ? { nameServer } : {};
  }

  async mx(domain: string): Promise<MxRecord[]> {
    const records = await this.#query(() => Deno.resolveDns(domain, "MX", this.#options));
    return records
      .map((r) => ({ preference: r.preference, exchange: stripDot(r.exchange) }))
      .sort((a, b) => a.preference - b.preference);
  }

  async addresses(host: string): Promise<string[]> {
    const [a, aaaa] = await Promise.all([
      this.#query(() => Deno.resolveDns(host, "A", this.#options)),
      this.#query(() => Deno.resolveDns(host, "AAAA", this.#options)),
    ]);
    return [...a, ...aaaa];
  }

  async txt(name: string): Promise<string[]> {
    const records = await this.#query(() => Deno.resolveDns(name, "TXT", this.#options));
    return records.map((parts) => parts.join(""));
  }

  async #query<T>(lookup: () => Promise<T[]>): Promise<T[]> {
    try {
      return await lookup();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) {
        // Deno reports both NXDOMAIN and NODATA as NotFound; callers treat "no records" alike.
        return [];
      }
      throw new DnsError((err as Error).message, "temporary");
    }
  }
}

function stripDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}
