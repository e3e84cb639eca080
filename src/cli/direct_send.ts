/**
 * `--mailtest --direct`: delivers at once with the SMTP client, one connection per recipient
 * domain, printing the conversation with `--verbose` (client and server lines, the TLS
 * upgrade, each reply) like the original's log. Never prints the message body or a password.
 */
import { randomBytes } from "node:crypto";
import type { Config } from "../config/config.ts";
import { createLogger } from "../log.ts";
import { deliveryOptions } from "../mail/delivery_options.ts";
import { deliverToDomain } from "../smtp_client/deliver.ts";

/** Sends now; returns 0 when every recipient accepted, 1 otherwise. */
export async function sendDirect(
  config: Config,
  message: { from: string; recipients: string[]; content: Uint8Array },
  verbose: boolean,
): Promise<number> {
  const byDomain = new Map<string, string[]>();
  for (const rcpt of message.recipients) {
    const domain = rcpt.slice(rcpt.lastIndexOf("@") + 1);
    byDomain.set(domain, [...(byDomain.get(domain) ?? []), rcpt]);
  }
  const log = createLogger(verbose ? "info" : "warn", undefined, { node: config.node_id });
  const onLine = verbose
    ? (dir: string, text: string) => console.log(`${dir.padEnd(3)} ${text}`)
    : undefined;
  let failed = 0;
  for (const [domain, recipients] of byDomain) {
    const [outcome] = await deliverToDomain(domain, [{
      id: randomBytes(6).toString("hex").toUpperCase(),
      from: message.from,
      recipients,
      content: message.content,
      needs8bit: message.content.some((b) => b >= 0x80),
      needsSmtputf8: false,
    }], deliveryOptions(config, log, onLine));
    for (const r of outcome.recipients) {
      if (r.status !== "delivered") failed++;
      console.log(`${r.address}: ${r.status} (${r.reply})`);
    }
  }
  return failed === 0 ? 0 : 1;
}
