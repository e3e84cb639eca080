/**
 * Authoritative lookup in fsmtp's zones (RFC 1034 §4.3.2, without delegation or CNAMEs since
 * fsmtp publishes neither): an answer, NODATA, NXDOMAIN, or REFUSED for names it is not
 * authoritative for.
 */
import type { ZoneContent } from "./zone_records.ts";
import { canonicalName, RCODE, type ResourceRecord, RR_TYPE } from "./wire.ts";

/** The sections of an answer. */
export interface Lookup {
  rcode: number;
  /** AA (RFC 1035 §4.1.1): set for every name inside a zone. */
  authoritative: boolean;
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

/** Records indexed for lookup. */
export class Zone {
  readonly #apexes: string[];
  readonly #byName = new Map<string, ResourceRecord[]>();
  /** Every owner name and each of its ancestors inside its zone (empty non-terminals exist). */
  readonly #names = new Set<string>();

  constructor(content: ZoneContent) {
    // Longest first, so a name finds its closest enclosing zone.
    this.#apexes = [...content.apexes].sort((a, b) => b.length - a.length);
    for (const rr of content.records) {
      const list = this.#byName.get(rr.name) ?? [];
      list.push(rr);
      this.#byName.set(rr.name, list);
      const apex = this.#apexOf(rr.name);
      // RFC 8020: a name with names below it exists, so `_tcp.example.org` is NODATA.
      for (let name = rr.name; apex !== undefined;) {
        this.#names.add(name);
        if (name === apex) break;
        name = name.slice(name.indexOf(".") + 1);
      }
    }
  }

  #apexOf(name: string): string | undefined {
    return this.#apexes.find((apex) => name === apex || name.endsWith(`.${apex}`));
  }

  /**
   * Answers `qname` (as asked: answers carry it in its own case) and `qtype`; ANY returns every
   * record of the name (the zone is small, so the RFC 8482 minimal answer buys nothing).
   */
  lookup(qname: string, qtype: number): Lookup {
    const name = canonicalName(qname);
    const apex = this.#apexOf(name);
    const empty = { answers: [], authority: [], additional: [] };
    if (apex === undefined) return { rcode: RCODE.REFUSED, authoritative: false, ...empty };
    const soa = (this.#byName.get(apex) ?? []).filter((rr) => rr.type === RR_TYPE.SOA)
      .map((rr) => ({ ...rr, ttl: negativeTtl(rr) }));
    if (!this.#names.has(name)) {
      return { rcode: RCODE.NXDOMAIN, authoritative: true, ...empty, authority: soa };
    }
    const matching = (this.#byName.get(name) ?? [])
      .filter((rr) => qtype === RR_TYPE.ANY || rr.type === qtype);
    if (matching.length === 0) {
      // NODATA (RFC 2308 §2.2): NOERROR, no answer, the SOA for negative caching.
      return { rcode: RCODE.NOERROR, authoritative: true, ...empty, authority: soa };
    }
    const answers = matching.map((rr) => ({ ...rr, name: qname }));
    return {
      rcode: RCODE.NOERROR,
      authoritative: true,
      answers,
      authority: [],
      additional: this.#addresses(answers),
    };
  }

  /** RFC 1034 §4.3.2 step 6: the address records of MX, NS and SRV targets we hold. */
  #addresses(answers: ResourceRecord[]): ResourceRecord[] {
    const targets = new Set<string>();
    for (const { data } of answers) {
      if (data.kind === "mx") targets.add(data.exchange);
      if (data.kind === "name") targets.add(data.name);
      if (data.kind === "srv" && data.target !== "") targets.add(data.target);
    }
    return [...targets].flatMap((t) =>
      (this.#byName.get(canonicalName(t)) ?? [])
        .filter((rr) => rr.type === RR_TYPE.A || rr.type === RR_TYPE.AAAA)
    );
  }
}

/** RFC 2308 §3: a negative answer's SOA lives for the lesser of its TTL and its minimum. */
function negativeTtl(rr: ResourceRecord): number {
  return rr.data.kind === "soa" ? Math.min(rr.ttl, rr.data.minimum) : rr.ttl;
}
