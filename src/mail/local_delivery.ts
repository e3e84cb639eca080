/**
 * Local delivery: checks recipients against the local domains and users, seals a message for
 * every recipient with their public key, and hands it to the store, which acknowledges only
 * once it is fsync'd. No secret is needed to accept mail (DESIGN.md, encryption at rest); a
 * recipient logged in now has their copy's key wrapped under their unlocked mailbox key instead
 * of their public key, so its first read pays no RSA (unlocked_users.ts).
 */
import { mailboxKeyIdOf, publicKeyOf, type UnlockedUserKeys } from "../crypto/user_keys.ts";
import { sealMessage } from "../crypto/message_seal.ts";
import { buildSummary, encodeSummary } from "../mime/summary.ts";
import type { MailStore, MessageRef, SpecialUse } from "../store/mail_store.ts";
import type { InboundMessage, RecipientCheck } from "./message_types.ts";

/** A mailbox to deliver into. */
export interface MailboxTarget {
  address: string;
  /** The mailbox's name; with `specialUse`, the name to create when the user has none. */
  mailbox: string;
  /**
   * File into the user's mailbox with this special use (RFC 6154), whatever they renamed it to;
   * when they have none, into `mailbox`, created with this special use if missing.
   */
  specialUse?: SpecialUse;
  flags?: string[];
}

/** Delivers to local users' mailboxes. */
export class LocalDelivery {
  // Imported public keys by address, with the key material they came from, so a user deleted
  // and added again is never sealed for with a stale key.
  #keys = new Map<string, { material: Uint8Array; key: CryptoKey; mailboxKeyId: string }>();

  /**
   * The unlocked keys of a recipient logged in now (a session or the login cache), if any:
   * their copy's content key is then wrapped under their mailbox key, so reading it costs no
   * RSA. Unset: every copy is RSA-wrapped.
   */
  unlockedKeys: (address: string) => UnlockedUserKeys | undefined = () => undefined;

  /**
   * @param quota octets each user may store (`[quota] max_octets`); 0 = none. Mail for a user
   *   at or past it is refused for now ("over-quota"), so the sender retries later.
   */
  constructor(readonly store: MailStore, public domains: string[], public quota = 0) {}

  /** Is `address` (lower-cased) a local user, with room for more mail? */
  async checkRecipient(address: string): Promise<RecipientCheck> {
    const domain = address.slice(address.lastIndexOf("@") + 1);
    if (!this.domains.includes(domain)) return "not-local";
    if (!(await this.store.getUser(address))) return "no-such-user";
    if (this.quota > 0 && (await this.store.usage(address)) >= this.quota) return "over-quota";
    return "ok";
  }

  /**
   * Seals and stores the message in every recipient's INBOX (or their \Junk mailbox when the
   * checks said Junk); resolves once durable. The message's id makes a retry file it once.
   */
  async deliver(message: InboundMessage): Promise<void> {
    const junk = message.mailbox === "Junk";
    await this.deliverTo(
      message.content,
      message.recipients.map((address) => ({
        address,
        mailbox: message.mailbox ?? "INBOX",
        specialUse: junk ? "\\Junk" : undefined,
      })),
      message.id,
    );
  }

  /**
   * Seals `content` once and stores it in each target mailbox (created on demand, e.g. "Sent"),
   * the content key wrapped for each target's user; resolves once durable with where each
   * target's copy was filed. `deliveryId` (a queue or session id) makes a retried delivery
   * file each copy once; without one the delivery is new.
   */
  async deliverTo(
    content: Uint8Array,
    targets: MailboxTarget[],
    deliveryId: string = crypto.randomUUID(),
  ): Promise<MessageRef[]> {
    const [keys, mailboxes] = await Promise.all([
      Promise.all(targets.map((t) => this.#publicKey(t.address))),
      Promise.all(targets.map((t) => this.#mailboxName(t))),
    ]);
    // Only keys unlocked from the recipient's current key material: a user deleted and added
    // again under the same address has another mailbox key.
    const unlocked = targets.map((t, i) => {
      const user = this.unlockedKeys(t.address);
      return user && user.mailboxKeyId === keys[i].mailboxKeyId ? user : undefined;
    });
    // The summary (envelope, structure, header) is sealed with the message, so IMAP answers
    // FETCH ENVELOPE or BODYSTRUCTURE by opening a few hundred octets, not the whole message.
    const sealed = await sealMessage(
      content,
      keys.map((k) => k.key),
      encodeSummary(buildSummary(content)),
      unlocked,
    );
    return await this.store.deliver({
      id: deliveryId,
      body: sealed.body,
      summary: sealed.summary,
      size: content.length,
      internalDate: Date.now(),
      items: targets.map((t, i) => ({
        address: t.address,
        mailbox: mailboxes[i],
        flags: t.flags,
        wrappedKey: sealed.wrappedKeys[i],
        keyWrap: sealed.keyWraps[i],
      })),
    });
  }

  /** The name to file a target under, resolving its special use (see {@link MailboxTarget}). */
  async #mailboxName(target: MailboxTarget): Promise<string> {
    if (!target.specialUse) return target.mailbox;
    const boxes = await this.store.listMailboxes(target.address);
    const special = boxes.find((b) => b.specialUse === target.specialUse);
    if (special) return special.name;
    return (await this.store.ensureMailbox(target.address, target.mailbox, target.specialUse)).name;
  }

  async #publicKey(address: string): Promise<{ key: CryptoKey; mailboxKeyId: string }> {
    const user = await this.store.getUser(address);
    if (!user) throw new Error(`recipient ${address} no longer exists`);
    const cached = this.#keys.get(address);
    if (cached && sameBytes(cached.material, user.keys)) return cached;
    const entry = {
      material: user.keys,
      key: await publicKeyOf(user.keys),
      mailboxKeyId: mailboxKeyIdOf(user.keys),
    };
    this.#keys.set(address, entry);
    return entry;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
