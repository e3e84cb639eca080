/**
 * Where mail for a domain goes (RFC 5321 §5.1): its MX hosts in preference order, ties in
 * random order; the domain itself when it has no MX (the implicit MX); nowhere when it
 * publishes a null MX (RFC 7505). All DNS goes through the Resolver port.
 */
import { DnsError, type Resolver } from "../dns/resolver.ts";

/** One host to try, most preferred first. */
export interface RouteHost {
  name: string;
  preference: number;
  /** Known addresses (an address-literal domain); otherwise looked up when tried. */
  addresses?: string[];
}

/** The hosts to try, or a final verdict for every recipient of the domain. */
export type Route =
  | {
    kind: "hosts";
    hosts: RouteHost[];
    /** No MX: the domain's own A/AAAA are the target (RFC 5321 §5.1). */
    implicit: boolean;
  }
  | { kind: "final"; status: "failed" | "deferred"; reason: string };

/**
 * Finds the route for `domain`.
 * @param localName this server's name: MX hosts at or after it in preference are dropped so
 *   mail does not loop (RFC 5321 §5.1)
 * @param random for the order of equal-preference hosts
 */
export async function findRoute(
  domain: string,
  resolver: Resolver,
  localName: string,
  random: () => number = Math.random,
): Promise<Route> {
  // RFC 5321 §4.1.3: an address literal names the host itself; no MX lookup.
  const literal = /^\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]$/.exec(domain);
  if (literal) {
    return {
      kind: "hosts",
      implicit: false,
      hosts: [{ name: domain, preference: 0, addresses: [literal[1]] }],
    };
  }
  let records;
  try {
    records = await resolver.mx(domain);
  } catch (err) {
    if (err instanceof DnsError && err.kind === "nxdomain") {
      return { kind: "final", status: "failed", reason: `5.1.2 domain ${domain} does not exist` };
    }
    // X.4.3: directory server failure (RFC 3463); the queue retries later.
    return {
      kind: "final",
      status: "deferred",
      reason: `4.4.3 MX lookup for ${domain} failed: ${(err as Error).message}`,
    };
  }
  if (records.length === 0) {
    return { kind: "hosts", implicit: true, hosts: [{ name: domain, preference: 0 }] };
  }
  const real = records.filter((r) => r.exchange !== "" && r.exchange !== ".");
  if (real.length === 0) {
    // RFC 7505 §4.1: no delivery is attempted; §4.3 recommends 556 and 5.1.10.
    return {
      kind: "final",
      status: "failed",
      reason: `5.1.10 ${domain} accepts no mail: it publishes a null MX (RFC 7505)`,
    };
  }
  // A null MX beside real ones breaks RFC 7505 §3; the real ones are used.
  const keyed = real.map((r) => ({ r, tie: random() }));
  keyed.sort((a, b) => a.r.preference - b.r.preference || a.tie - b.tie);
  let hosts: RouteHost[] = keyed.map(({ r }) => ({
    name: r.exchange.toLowerCase(),
    preference: r.preference,
  }));
  const self = hosts.find((h) => h.name === localName.toLowerCase());
  if (self) {
    hosts = hosts.filter((h) => h.preference < self.preference);
    if (hosts.length === 0) {
      // RFC 5321 §5.1: we are the best MX ourselves; delivering would loop (X.4.6).
      return {
        kind: "final",
        status: "failed",
        reason: `5.4.6 mail for ${domain} loops back to this server (${localName} is its best MX)`,
      };
    }
  }
  return { kind: "hosts", implicit: false, hosts };
}
