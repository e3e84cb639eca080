/**
 * The records fsmtp publishes for its domains, built from the config and the DKIM keys: what
 * the DNS server answers and what `--dns-records` prints. Pure: the caller reads the keys.
 */
import type { Config } from "../config/config.ts";
import { parseListen } from "../config/load_config.ts";
import type { PublishedDkimKey } from "../dkim/current_keys.ts";
import { parseIpv4, parseIpv6 } from "./ip.ts";
import { CLASS_IN, type ResourceRecord, RR_TYPE, txtStrings } from "./wire.ts";

/** What the records are built from. */
export interface ZoneInput {
  config: Config;
  /** The DKIM records published now, by local domain. */
  dkim: ReadonlyMap<string, readonly PublishedDkimKey[]>;
  /** The SOA serial (RFC 1982 arithmetic; seconds since 1970 fit until 2106). */
  serial: number;
}

/** The zones and their records; names lower case without the final dot. */
export interface ZoneContent {
  /** Zone apexes: every local domain, and the host name when no domain contains it. */
  apexes: string[];
  records: ResourceRecord[];
}

/**
 * RFC 6186 §3.1–3.4 (RFC 8314 §5.1 for submissions): the client services by SRV name. Priority
 * orders them across names as RFC 6186 §3.4 asks: implicit TLS first (RFC 8314 §3), and IMAP
 * before POP3.
 */
export const SRV_SERVICES = [
  { srv: "_submissions._tcp", listener: "submissions", priority: 0 },
  { srv: "_submission._tcp", listener: "submission", priority: 10 },
  { srv: "_imaps._tcp", listener: "imaps", priority: 0 },
  { srv: "_imap._tcp", listener: "imap", priority: 10 },
  { srv: "_pop3s._tcp", listener: "pop3s", priority: 20 },
  { srv: "_pop3._tcp", listener: "pop3", priority: 30 },
] as const;

/** SOA timers (RFC 1912 §2.2 ranges): refresh, retry, expire. */
const SOA_REFRESH = 3600;
const SOA_RETRY = 600;
const SOA_EXPIRE = 14 * 86_400;

/** Every record of every zone. */
export function zoneRecords(input: ZoneInput): ZoneContent {
  const { config } = input;
  const ttl = Math.floor(config.dns.ttl / 1000);
  const host = config.hostname;
  const under = (name: string, apex: string) => name === apex || name.endsWith(`.${apex}`);
  const apexes = [...config.domains];
  if (!config.domains.some((d) => under(host, d))) apexes.push(host);
  const records: ResourceRecord[] = [];
  const add = (name: string, type: number, data: ResourceRecord["data"]) =>
    records.push({ name, type, class: CLASS_IN, ttl, data });
  const txt = (name: string, value: string) =>
    add(name, RR_TYPE.TXT, { kind: "txt", strings: txtStrings(value) });

  for (const apex of apexes) {
    add(apex, RR_TYPE.SOA, {
      kind: "soa",
      mname: host,
      rname: `hostmaster.${apex}`,
      serial: input.serial >>> 0,
      refresh: SOA_REFRESH,
      retry: SOA_RETRY,
      expire: SOA_EXPIRE,
      // RFC 2308 §4: the SOA minimum is the TTL of negative answers.
      minimum: ttl,
    });
    add(apex, RR_TYPE.NS, { kind: "name", name: host });
  }
  for (const domain of config.domains) {
    add(domain, RR_TYPE.MX, { kind: "mx", preference: 10, exchange: host });
    txt(domain, "v=spf1 mx -all");
    txt(`_dmarc.${domain}`, dmarcRecord(domain));
    if (config.dns.mta_sts_id !== "") {
      // RFC 8461 §3.1; the policy itself is served at https://mta-sts.<domain>/ (README).
      txt(`_mta-sts.${domain}`, `v=STSv1; id=${config.dns.mta_sts_id}`);
    }
    for (const key of input.dkim.get(domain) ?? []) {
      txt(`${key.selector}._domainkey.${domain}`, key.txt);
    }
    for (const service of SRV_SERVICES) {
      const port = parseListen(config.listen[service.listener])?.port;
      // RFC 6186 §4 (and RFC 2782): target "." says the service is decidedly not offered,
      // so a client stops looking instead of guessing ports of a disabled listener.
      add(`${service.srv}.${domain}`, RR_TYPE.SRV, {
        kind: "srv",
        priority: port ? service.priority : 0,
        weight: port ? 1 : 0,
        port: port ?? 0,
        target: port ? host : "",
      });
    }
  }
  for (const ip of config.dns.ipv4) {
    add(host, RR_TYPE.A, { kind: "address", octets: parseIpv4(ip)! });
  }
  for (const ip of config.dns.ipv6) {
    add(host, RR_TYPE.AAAA, { kind: "address", octets: parseIpv6(ip)! });
  }
  // RFC 7208 §2.3: an SPF record for the HELO name, unless it is a mail domain with its own;
  // "a" needs the addresses, so only when they are published here.
  const addressed = config.dns.ipv4.length + config.dns.ipv6.length > 0;
  if (addressed && !config.domains.includes(host)) txt(host, "v=spf1 a -all");
  return { apexes, records };
}

/** The DMARC record of a domain (RFC 7489 §6.3). */
export function dmarcRecord(domain: string): string {
  return `v=DMARC1; p=quarantine; rua=mailto:postmaster@${domain}`;
}

const TYPE_NAMES = new Map<number, string>(Object.entries(RR_TYPE).map(([k, v]) => [v, k]));

/** One record in zone-file form (RFC 1035 §5.1), e.g. `example.org.\t1800\tIN\tMX\t10 mx.example.org.`. */
export function zoneFileLine(rr: ResourceRecord): string {
  const fqdn = (name: string) => `${name}.`;
  const d = rr.data;
  let data: string;
  switch (d.kind) {
    case "address":
      data = d.octets.length === 4 ? d.octets.join(".") : ipv6Text(d.octets);
      break;
    case "name":
      data = fqdn(d.name);
      break;
    case "mx":
      data = `${d.preference} ${fqdn(d.exchange)}`;
      break;
    case "txt":
      data = d.strings
        .map((s) => `"${new TextDecoder().decode(s).replace(/["\\]/g, (c) => `\\${c}`)}"`)
        .join(" ");
      break;
    case "soa":
      data = `${fqdn(d.mname)} ${fqdn(d.rname)} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ` +
        `${d.minimum}`;
      break;
    case "srv":
      data = `${d.priority} ${d.weight} ${d.port} ${fqdn(d.target)}`;
      break;
    case "raw":
      data = `\\# ${d.octets.length}`;
      break;
  }
  return `${fqdn(rr.name)}\t${rr.ttl}\tIN\t${TYPE_NAMES.get(rr.type) ?? `TYPE${rr.type}`}\t${data}`;
}

/** RFC 5952 §4: lower-case hex groups, the longest run of two or more zero groups as "::". */
function ipv6Text(octets: Uint8Array): string {
  const groups = Array.from({ length: 8 }, (_, i) => (octets[2 * i] << 8) | octets[2 * i + 1]);
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j > i ? j : i + 1;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.length).join(":")}`;
}
