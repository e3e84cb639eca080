/**
 * Mail from logged-in users (RFC 6409): local recipients get it in their INBOX, the sender
 * gets a copy in "Sent" (sealed for them like any delivery, so IMAP can show it), and remote
 * recipients go to the outbound queue once it runs.
 */
import type { Login } from "../auth/authenticator.ts";
import { concatBytes } from "../crypto/bytes.ts";
import type { SubmittedMessage } from "../smtp/session.ts";
import type { LocalDelivery, MailboxTarget } from "./local_delivery.ts";

/** Delivers submitted mail. */
export class Submission {
  constructor(readonly delivery: LocalDelivery) {}

  /** Remote recipients need the outbound queue, which is not built yet. */
  get canRelay(): boolean {
    return false;
  }

  /** A user sends as their own address only. */
  mayUseAddress(login: Login, address: string): boolean {
    return address.toLowerCase() === login.address;
  }

  /** Stores the local copies durably; refuses remote recipients while there is no queue. */
  async submit(message: SubmittedMessage, login: Login): Promise<void> {
    const local: string[] = [];
    for (const address of message.recipients) {
      if ((await this.delivery.checkRecipient(address)) !== "ok") {
        throw new Error(`recipient ${address} cannot be delivered locally and there is no queue`);
      }
      local.push(address);
    }
    const returnPath = new TextEncoder().encode(`Return-Path: <${message.from}>\r\n`);
    const content = concatBytes(returnPath, message.content);
    const targets: MailboxTarget[] = [
      ...local.map((address) => ({ address, mailbox: "INBOX" })),
      { address: login.address, mailbox: "Sent", flags: ["\\Seen"] },
    ];
    await this.delivery.deliverTo(content, targets);
  }
}
