/**
 * Local delivery: checks recipients against the local domains and users, seals a message for
 * every recipient with their public key, and hands it to the store, which acknowledges only
 * once it is fsync'd. No secret is needed to accept mail (DESIGN.md, encryption at rest).
 */
import { publicKeyOf } from "../crypto/user_keys.ts";
import { sealMessage } from "../crypto/message_seal.ts";
import type { MailStore } from "../store/mail_store.ts";
import type { InboundMessage, RecipientCheck } from "../smtp/session.ts";

/** Delivers to local users' INBOXes. */
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

  /** Seals and stores the message for every recipient; resolves once durable. */
  async deliver(message: InboundMessage): Promise<void> {
    const keys = await Promise.all(message.recipients.map((a) => this.#publicKey(a)));
    const sealed = await sealMessage(message.content, keys);
    await this.store.deliver({
      body: sealed.body,
      size: message.content.length,
      internalDate: Date.now(),
      items: message.recipients.map((address, i) => ({
        address,
        mailbox: "INBOX",
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
