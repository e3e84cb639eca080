/**
 * `fsmtp --dkim-rotate`: one rotation step now. A new DKIM key is published at once (whatever
 * the period), and the keys past `retire_after` are withdrawn. Where fsmtp's DNS server does
 * not serve the zone, this is how keys rotate (from cron, say), and the operator publishes
 * what `--dns-records` lists before `publish_ahead` has passed.
 */
import { loadConfig } from "../config/load_config.ts";
import { rotationTimes } from "../dkim/current_keys.ts";
import { rotateDkimKeys } from "../dkim/rotation_store.ts";
import { zoneFileLine } from "../dns_server/zone_records.ts";
import { CLASS_IN, RR_TYPE, txtStrings } from "../dns_server/wire.ts";

/** The command; exit code 1 when `dkim.rotate` is off. */
export async function dkimRotateCommand(opts: { config?: string }): Promise<number> {
  const { config } = loadConfig(opts.config);
  const times = rotationTimes(config.dkim);
  if (!times) {
    console.error(
      `fsmtp: dkim.rotate is off: mail is signed with the fixed selector ` +
        `"${config.dkim.selector}". Set dkim.rotate (e.g. "1d") to rotate keys.`,
    );
    return 1;
  }
  const now = Date.now();
  const step = await rotateDkimKeys(config.keys_dir, times, now, true);
  if (step.created) {
    const from = new Date(now + times.publishAhead).toISOString();
    console.log(`published DKIM selector ${step.created.selector}; it signs from ${from}`);
    for (const domain of config.domains) {
      console.log(zoneFileLine({
        name: `${step.created.selector}._domainkey.${domain}`,
        type: RR_TYPE.TXT,
        class: CLASS_IN,
        ttl: Math.floor(config.dns.ttl / 1000),
        data: { kind: "txt", strings: txtStrings(step.created.txt) },
      }));
    }
  }
  for (const selector of step.retired) console.log(`withdrew DKIM selector ${selector}`);
  if (config.dns.listen === "") {
    console.log(
      "fsmtp's DNS server is off (dns.listen): publish the records `fsmtp --dns-records` " +
        "lists before the new key signs",
    );
  }
  return 0;
}
