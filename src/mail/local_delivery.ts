/**
 * Local delivery: checks recipients against the local domains and users, seals a message for
 * every recipient with their public key, and hands it to the store, which acknowledges only
 * once it is fsync'd. No secret is needed to accept mail (DESIGN.md, encryption at rest).
 */
import { publicKeyOf } from "../crypto/user_keys.ts";
import { sealMessage } from "../crypto/message_seal.ts";
import type { MailStore } from "../store/mail_store.ts";
import type { InboundMessage, RecipientCheck } from "../smtp/session.ts";

/** A mailbox to deliver into. */
export interface MailboxTarget {
  address: string;
  mailbox: string;
  flags?: string[];
}

/** Delivers to local users' mailboxes. */
export class LocalDelivery {
  // Imported public keys by address, with the key material they came from, so a user deleted
  // and added again is never sealed for with a stale key.
  #keys = new Map<string, { material: Uint8Array; key: CryptoKey }>();

  constructor(readonly store: MailStore, public domains: string[]) {}

  /** Is `address` (lower-cased) a local user? */
  async checkRecipient(address: string): Promise<RecipientCheck> {
    const domain = address.slice(address.lastIndexOf("@") + 1);
    if (!this.domains.includes(domain)) return "not-local";
    return (await this.store.getUser(address)) ? "ok" : "no-such-user";
  }

  /** Seals and stores the message in every recipient's INBOX (or Junk); resolves once durable. */
  deliver(message: InboundMessage): Promise<void> {
    return this.deliverTo(
      message.content,
      message.recipients.map((address) => ({ address, mailbox: message.mailbox ?? "INBOX" })),
    );
  }

  /**
   * Seals `content` once and stores it in each target mailbox (created on demand, e.g. "Sent"),
   * the content key wrapped for each target's user; resolves once durable.
   */
  async deliverTo(content: Uint8Array, targets: MailboxTarget[]): Promise<void> {
    const keys = await Promise.all(targets.map((t) => this.#publicKey(t.address)));
    const sealed = await sealMessage(content, keys);
    await this.store.deliver({
      body: sealed.body,
      size: content.length,
      internalDate: Date.now(),
      items: targets.map((t, i) => ({
        address: t.address,
        mailbox: t.mailbox,
        flags: t.flags,
        wrappedKey: sealed.wrappedKeys[i],
        keyWrap: "rsa",
      })),
    });
  }

  async #publicKey(address: string): Promise<CryptoKey> {
    const user = await this.store.getUser(address);
    if (!user) throw new Error(`recipient ${address} no longer exists`);
    const cached = this.#keys.get(address);
    if (cached && sameBytes(cached.material, user.keys)) return cached.key;
    const key = await publicKeyOf(user.keys);
    this.#keys.set(address, { material: user.keys, key });
    return key;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
