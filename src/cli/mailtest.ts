/**
 * `fsmtp --mailtest --from A --to B [--subject S] [--text T | --html H] [--attach F]…
 * [--direct] [--verbose]`: composes a message, DKIM-signs it and sends it — into the queue
 * (delivered by the running server), or with `--direct` straight to the recipient's servers,
 * printing the SMTP conversation with `--verbose` like the original's log.
 */
import { basename } from "node:path";
import { loadConfig } from "../config/load_config.ts";
import { composeMessage } from "../mime/compose.ts";
import { LocalDelivery } from "../mail/local_delivery.ts";
import { Outbound } from "../mail/outbound.ts";
import { openStore } from "./setup.ts";
import { concatBytes } from "../crypto/bytes.ts";

/** Options of the command. */
export interface MailtestOptions {
  config?: string;
  from?: string;
  to: string[];
  subject?: string;
  text?: string;
  html?: string;
  attach: string[];
  direct: boolean;
  verbose: boolean;
}

/** Sends directly, printing the conversation when asked; returns the exit code. */
export type DirectSender = (
  message: { from: string; recipients: string[]; content: Uint8Array },
  verbose: boolean,
) => Promise<number>;

/** Runs the command. */
export async function mailtest(opts: MailtestOptions, sendDirect: DirectSender): Promise<number> {
  const { config } = loadConfig(opts.config);
  if (!opts.from || opts.to.length === 0) {
    console.error("fsmtp: --mailtest needs --from ADDRESS and at least one --to ADDRESS");
    return 2;
  }
  if (opts.text !== undefined && opts.html !== undefined) {
    console.error("fsmtp: give --text or --html, not both");
    return 2;
  }
  const from = opts.from.toLowerCase();
  const attachments = [];
  for (const path of opts.attach) {
    try {
      attachments.push({ filename: basename(path), content: await Deno.readFile(path) });
    } catch (err) {
      console.error(`fsmtp: cannot read --attach ${path}: ${(err as Error).message}`);
      return 1;
    }
  }
  const content = await composeMessage({
    from,
    to: opts.to,
    subject: opts.subject ?? `fsmtp test message from ${config.hostname}`,
    text: opts.html === undefined
      ? opts.text ?? `This is a test message sent by fsmtp on ${config.hostname}.\n`
      : undefined,
    html: opts.html,
    attachments,
    nodeId: config.node_id,
  });
  const store = await openStore(config);
  try {
    const delivery = new LocalDelivery(store, config.domains);
    const outbound = new Outbound(store.queue, delivery, {
      keysDir: () => config.keys_dir,
      selector: () => config.dkim.selector,
      dkim: () => config.dkim,
      hostname: () => config.hostname,
    });
    const local: string[] = [];
    const remote: string[] = [];
    for (const to of opts.to.map((t) => t.toLowerCase())) {
      const found = await delivery.checkRecipient(to);
      if (found === "no-such-user") {
        console.error(`fsmtp: ${to} is in a local domain but is no user here`);
        return 1;
      }
      (found === "ok" ? local : remote).push(to);
    }
    if (local.length > 0) {
      const returnPath = new TextEncoder().encode(`Return-Path: <${from}>\r\n`);
      await delivery.deliverTo(
        concatBytes(returnPath, content),
        local.map((address) => ({ address, mailbox: "INBOX" })),
      );
      console.log(`delivered to ${local.join(", ")}`);
    }
    if (remote.length === 0) return 0;
    if (opts.direct) {
      const signed = await outbound.sign(content, from);
      return await sendDirect({ from, recipients: remote, content: signed }, opts.verbose);
    }
    const id = await outbound.enqueue({ from, recipients: remote, content, smtputf8: false });
    console.log(
      `queued as ${id} for ${remote.join(", ")}; the running server delivers it ` +
        `(fsmtp --queue shows what waits)`,
    );
    return 0;
  } finally {
    await store.close();
  }
}
