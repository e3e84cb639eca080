/**
 * `fsmtp --dns-records [DOMAIN]`: prints the DNS records a mail domain needs, from the config
 * and the DKIM keys: MX, SPF (RFC 7208), DKIM (RFC 6376 §3.6.2), DMARC (RFC 7489) and the
 * address records of the host name.
 */
import { createPublicKey } from "node:crypto";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { loadConfig } from "../config/load_config.ts";
import { DKIM_KEY_FILES } from "../dkim/keys.ts";
import { type DkimAlgorithm, dkimSelector } from "../dkim/sign.ts";
import { dkimTxtRecord } from "../dkim/keys.ts";

/** The zone-file lines for `domain`. */
export function dnsRecords(config: Config, domain: string): string[] {
  const host = config.hostname;
  const lines = [
    `; DNS records for ${domain}, served by ${host}`,
    `${domain}.\t3600\tIN\tMX\t10 ${host}.`,
    `${domain}.\t3600\tIN\tTXT\t"v=spf1 mx -all"`,
  ];
  for (const algorithm of Object.keys(DKIM_KEY_FILES) as DkimAlgorithm[]) {
    const file = dkimKeyFile(config.keys_dir, domain, algorithm);
    if (!file) continue;
    const publicPem = createPublicKey(Deno.readTextFileSync(file))
      .export({ type: "spki", format: "pem" }).toString();
    const value = dkimTxtRecord(publicPem, algorithm);
    // RFC 6376 §3.6.2.2: a TXT string holds 255 octets at most; longer values are split.
    const strings = value.match(/.{1,255}/g)!.map((s) => `"${s}"`).join(" ");
    const name = `${dkimSelector(config.dkim.selector, algorithm)}._domainkey.${domain}.`;
    lines.push(`${name}\t3600\tIN\tTXT\t${strings}`);
  }
  lines.push(
    `_dmarc.${domain}.\t3600\tIN\tTXT\t"v=DMARC1; p=quarantine; rua=mailto:postmaster@${domain}"`,
    `${host}.\t3600\tIN\tA\t<this server's IPv4 address>`,
    `${host}.\t3600\tIN\tAAAA\t<this server's IPv6 address, if it has one>`,
    `; and at your hosting provider: reverse DNS (PTR) of those addresses = ${host}`,
  );
  return lines;
}

/** The DKIM key file used for `domain`: the domain's own folder first, then the default. */
function dkimKeyFile(
  keysDir: string,
  domain: string,
  algorithm: DkimAlgorithm,
): string | undefined {
  for (
    const file of [
      join(keysDir, domain, DKIM_KEY_FILES[algorithm]),
      join(keysDir, DKIM_KEY_FILES[algorithm]),
    ]
  ) {
    try {
      Deno.statSync(file);
      return file;
    } catch {
      // Not there; try the next place.
    }
  }
  return undefined;
}

/** The command; prints the records for DOMAIN, or for every local domain. */
export function printDnsRecords(domain: string | undefined, opts: { config?: string }): number {
  const { config } = loadConfig(opts.config);
  const domains = domain ? [domain.toLowerCase()] : config.domains;
  for (const d of domains) {
    if (!config.domains.includes(d)) {
      console.error(`fsmtp: ${d} is not one of the local domains (${config.domains.join(", ")})`);
      return 1;
    }
  }
  if (!dkimKeyFile(config.keys_dir, domains[0], "rsa-sha256")) {
    console.error(
      `fsmtp: no DKIM key in ${config.keys_dir} yet: start the server once (it creates one)`,
    );
    return 1;
  }
  console.log(domains.map((d) => dnsRecords(config, d).join("\n")).join("\n\n"));
  return 0;
}
