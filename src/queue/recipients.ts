/**
 * Recipient bookkeeping for the queue runner: grouping by domain, what NOTIFY asks for
 * (RFC 3461 §4.1), and the shapes handed to the SMTP client and to the DSN composer.
 */
import type { DsnRecipient } from "./dsn.ts";
import type {
  NotifyCondition,
  OutboundMessage,
  QueuedMessage,
  QueuedRecipient,
  RecipientDsn,
  RecipientResult,
} from "./types.ts";

/** The pending recipients by domain, in the order the store gave them. */
export function groupByDomain(recipients: QueuedRecipient[]): Map<string, QueuedRecipient[]> {
  const groups = new Map<string, QueuedRecipient[]>();
  for (const r of recipients) {
    if (r.status !== "pending") continue;
    const list = groups.get(r.domain) ?? [];
    list.push(r);
    groups.set(r.domain, list);
  }
  return groups;
}

/**
 * Did the recipient ask for a DSN on `on`? No NOTIFY means FAILURE,DELAY (RFC 3461 §4.1);
 * NEVER means none.
 */
export function wants(r: RecipientDsn, on: NotifyCondition): boolean {
  if (r.notify === undefined) return on !== "SUCCESS";
  return r.notify !== "NEVER" && r.notify.includes(on);
}

/** The message as handed to the SMTP client, with its recipients at one domain. */
export function outboundMessage(
  m: QueuedMessage,
  recipients: QueuedRecipient[],
  content: Uint8Array,
): OutboundMessage {
  const params: Record<string, RecipientDsn> = {};
  for (const r of recipients) {
    params[r.address] = {
      ...(r.notify ? { notify: r.notify } : {}),
      ...(r.orcpt ? { orcpt: r.orcpt } : {}),
    };
  }
  return {
    id: m.id,
    from: m.from,
    recipients: recipients.map((r) => r.address),
    content,
    needs8bit: m.needs8bit,
    needsSmtputf8: m.needsSmtputf8,
    dsn: {
      ...(m.envid ? { envid: m.envid } : {}),
      ...(m.ret ? { ret: m.ret } : {}),
      recipients: params,
    },
  };
}

/** Brings the in-memory recipient up to what was just recorded. */
export function applyResult(r: QueuedRecipient, result: RecipientResult): void {
  r.attempts++;
  r.lastAttemptAt = result.at;
  r.lastReply = result.reply;
  r.remoteHost = result.remoteHost;
  if (result.status !== "deferred") {
    r.status = result.status;
    r.reportOwed = result.report;
  }
}

/** The DSN's view of a recipient, its action left to the caller. */
export function dsnRecipient(r: QueuedRecipient): Omit<DsnRecipient, "action"> {
  return {
    address: r.address,
    orcpt: r.orcpt,
    reply: r.lastReply,
    remoteHost: r.remoteHost,
    lastAttemptAt: r.lastAttemptAt,
  };
}
