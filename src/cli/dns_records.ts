/**
 * `fsmtp --dns-records [DOMAIN]`: prints the DNS records a mail domain needs, from the config
 * and the DKIM keys: MX, SPF (RFC 7208), every DKIM selector published now (RFC 6376
 * §3.6.2), DMARC (RFC 7489), MTA-STS (RFC 8461) when configured, the client SRV records of
 * RFC 6186, and the address records of the host name. The same records fsmtp's own DNS server
 * answers with.
 */
import type { Config } from "../config/config.ts";
import { loadConfig } from "../config/load_config.ts";
import { publishedDkimKeys } from "../dkim/current_keys.ts";
import { zoneFileLine, zoneRecords } from "../dns_server/zone_records.ts";
import { RR_TYPE } from "../dns_server/wire.ts";

/** The zone-file lines for `domain`. */
export async function dnsRecords(
  config: Config,
  domain: string,
  now = Date.now(),
): Promise<string[]> {
  const host = config.hostname;
  const dkim = new Map([[
    domain,
    await publishedDkimKeys(config.keys_dir, domain, config.dkim, now),
  ]]);
  const { records } = zoneRecords({ config, dkim, serial: 0 });
  const inDomain = (name: string) => name === domain || name.endsWith(`.${domain}`);
  const lines = [`; DNS records for ${domain}, served by ${host}`];
  const ttl = Math.floor(config.dns.ttl / 1000);
  for (const rr of records) {
    const zoneOnly = [RR_TYPE.SOA, RR_TYPE.NS, RR_TYPE.A, RR_TYPE.AAAA] as number[];
    const shown = inDomain(rr.name) || (rr.name === host && rr.type === RR_TYPE.TXT);
    if (shown && !zoneOnly.includes(rr.type)) lines.push(zoneFileLine(rr));
  }
  const addresses = records.filter((rr) => rr.type === RR_TYPE.A || rr.type === RR_TYPE.AAAA);
  lines.push(...addresses.map(zoneFileLine));
  if (config.dns.ipv4.length === 0) {
    lines.push(`${host}.\t${ttl}\tIN\tA\t<this server's IPv4 address>`);
  }
  if (config.dns.ipv6.length === 0) {
    lines.push(`${host}.\t${ttl}\tIN\tAAAA\t<this server's IPv6 address, if it has one>`);
  }
  if (config.dns.listen !== "") {
    lines.push(
      `; fsmtp's DNS server (dns.listen) answers all of these: delegate ${domain} to it at the ` +
        `parent zone (your registrar) with`,
      `${domain}.\t${ttl}\tIN\tNS\t${host}.`,
    );
    if (inDomain(host)) {
      lines.push(`; and, since ${host} lies inside ${domain}, glue: its A/AAAA above`);
    }
  }
  lines.push(`; and at your hosting provider: reverse DNS (PTR) of those addresses = ${host}`);
  return lines;
}

/** The command; prints the records for DOMAIN, or for every local domain. */
export async function printDnsRecords(
  domain: string | undefined,
  opts: { config?: string },
): Promise<number> {
  const { config } = loadConfig(opts.config);
  const domains = domain ? [domain.toLowerCase()] : config.domains;
  for (const d of domains) {
    if (!config.domains.includes(d)) {
      console.error(`fsmtp: ${d} is not one of the local domains (${config.domains.join(", ")})`);
      return 1;
    }
  }
  if ((await publishedDkimKeys(config.keys_dir, domains[0], config.dkim)).length === 0) {
    console.error(
      `fsmtp: no DKIM key in ${config.keys_dir} yet: start the server once (it creates one)`,
    );
    return 1;
  }
  const blocks = [];
  for (const d of domains) blocks.push((await dnsRecords(config, d)).join("\n"));
  console.log(blocks.join("\n\n"));
  return 0;
}
