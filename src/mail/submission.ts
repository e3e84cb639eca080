/**
 * Mail from logged-in users (RFC 6409): local recipients get it in their INBOX, the sender
 * gets a copy in their \Sent mailbox (sealed for them like any delivery, so IMAP can show it), and remote
 * recipients go, DKIM-signed, to the outbound queue.
 */
import type { Login } from "../auth/authenticator.ts";
import { concatBytes } from "../crypto/bytes.ts";
import type { SubmittedMessage } from "./message_types.ts";
import type { LocalDelivery, MailboxTarget } from "./local_delivery.ts";
import type { Outbound } from "./outbound.ts";

/** Delivers submitted mail. */
export class Submission {
  constructor(readonly delivery: LocalDelivery, readonly outbound?: Outbound) {}

  /** Remote recipients need the outbound queue. */
  get canRelay(): boolean {
    return this.outbound?.running === true;
  }

  /** A user sends as their own address only. */
  mayUseAddress(login: Pick<Login, "address">, address: string): boolean {
    return address.toLowerCase() === login.address;
  }

  /** Stores the local copies and queues the rest, all durably, before resolving. */
  async submit(message: SubmittedMessage, login: Pick<Login, "address">): Promise<void> {
    const local: string[] = [];
    const remote: string[] = [];
    for (const address of message.recipients) {
      const found = await this.delivery.checkRecipient(address);
      // Over quota since its RCPT: the quota is a soft limit, the accepted message goes in.
      if (found === "ok" || found === "over-quota") local.push(address);
      else if (found === "not-local" && this.canRelay) remote.push(address);
      else throw new Error(`recipient ${address} cannot be delivered`);
    }
    const returnPath = new TextEncoder().encode(`Return-Path: <${message.from}>\r\n`);
    const targets: MailboxTarget[] = [
      ...local.map((address) => ({ address, mailbox: "INBOX" })),
      { address: login.address, mailbox: "Sent", specialUse: "\\Sent", flags: ["\\Seen"] },
    ];
    // Both must be durable before the 250; they commit independently, so they run together.
    await Promise.all([
      remote.length > 0 && this.outbound!.enqueue({
        id: message.queueId,
        from: message.from,
        recipients: remote,
        content: message.content,
        smtputf8: message.smtputf8,
        dsn: message.dsn,
        recipientDsn: message.recipientDsn,
      }),
      this.delivery.deliverTo(concatBytes(returnPath, message.content), targets, message.id),
    ]);
  }
}
