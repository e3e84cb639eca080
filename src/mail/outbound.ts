/**
 * Mail leaving this server: DKIM-signed with the sender domain's keys (RFC 6376), put in the
 * durable queue, and the queue runner woken. Also where the runner's DSNs go: to a local
 * sender's INBOX directly, or out through the queue with the null sender.
 */
import { loadDkimKeys } from "../dkim/keys.ts";
import { type DkimConfig, dkimSigningKeys } from "../dkim/current_keys.ts";
import { type DkimSigningKey, signMessage } from "../dkim/sign.ts";
import type { QueueStore } from "../queue/queue_store.ts";
import type { EnqueueRecipient, OutboundDsn } from "../queue/types.ts";
import type { EnvelopeDsn, RecipientDsn } from "../smtp/dsn_params.ts";
import { concatBytes } from "../crypto/bytes.ts";
import type { LocalDelivery } from "./local_delivery.ts";

/** A message for remote recipients. */
export interface OutgoingMessage {
  /** The queue id; a random one when absent. */
  id?: string;
  from: string;
  recipients: string[];
  content: Uint8Array;
  smtputf8: boolean;
  dsn?: EnvelopeDsn;
  recipientDsn?: Map<string, RecipientDsn>;
}

/** A replaced or added DKIM key file signs the messages queued this long after. */
const KEYS_RECHECK_MS = 1000;

/** Settings read at each use, so a SIGHUP applies. */
export interface OutboundSettings {
  keysDir(): string;
  selector(): string;
  /** `[dkim]`, whose rotation picks the key; without it the fixed keys always sign. */
  dkim?(): DkimConfig;
  /** The domain DSNs are signed for (this server's host name). */
  hostname(): string;
}

/** Signs and queues outgoing mail. */
export class Outbound {
  /** Called after each enqueue: the runner looks at the queue now. */
  kick: () => void = () => {};
  /** True while a queue runner delivers; without one, remote recipients are refused. */
  running = false;
  #keys = new Map<string, { at: number; keys: Promise<DkimSigningKey[]> }>();

  constructor(
    readonly queue: QueueStore,
    readonly delivery: LocalDelivery,
    readonly settings: OutboundSettings,
  ) {}

  /** Signs the message for the sender's domain and queues it; resolves once durable. */
  async enqueue(message: OutgoingMessage): Promise<string> {
    const content = await this.sign(message.content, message.from);
    const recipients: EnqueueRecipient[] = message.recipients.map((address) => {
      const dsn = message.recipientDsn?.get(address);
      const notify = dsn?.notify;
      return {
        address,
        notify: notify?.includes("NEVER")
          ? "NEVER"
          : (notify as ("SUCCESS" | "FAILURE" | "DELAY")[] | undefined),
        orcpt: dsn?.orcpt,
      };
    });
    const id = await this.queue.enqueue({
      id: message.id,
      from: message.from,
      recipients,
      content,
      needs8bit: has8bit(content),
      needsSmtputf8: message.smtputf8,
      envid: message.dsn?.envid,
      ret: message.dsn?.ret,
      arrivedAt: Date.now(),
    });
    this.kick();
    return id;
  }

  /**
   * Sends a DSN from the queue runner (envelope sender `<>`, RFC 3461 §6.1): into a local
   * user's INBOX, or out through the queue, where it never bounces again.
   */
  async sendDsn(dsn: OutboundDsn): Promise<void> {
    if ((await this.delivery.checkRecipient(dsn.to)) === "ok") {
      const returnPath = new TextEncoder().encode("Return-Path: <>\r\n");
      await this.delivery.deliverTo(concatBytes(returnPath, dsn.content), [
        { address: dsn.to, mailbox: "INBOX" },
      ]);
      return;
    }
    await this.enqueue({
      from: "",
      recipients: [dsn.to],
      content: dsn.content,
      smtputf8: dsn.needsSmtputf8,
    });
  }

  /** `content` with DKIM-Signature fields for the sender's domain (or this host's) prepended. */
  async sign(content: Uint8Array, from: string): Promise<Uint8Array> {
    const domain = domainOf(from) || this.settings.hostname();
    const keys = await this.#signingKeys(domain);
    const signature = await signMessage(content, {
      domain,
      selector: this.settings.selector(),
      keys,
    });
    return concatBytes(new TextEncoder().encode(signature), content);
  }

  /**
   * The domain's keys, looked up again at most every {@link KEYS_RECHECK_MS}: finding them
   * costs a few stat calls, too many to make for every message under load (so a rotation's
   * switch of signing key reaches messages up to that much later).
   */
  #signingKeys(domain: string): Promise<DkimSigningKey[]> {
    const dir = this.settings.keysDir();
    const id = `${dir}\0${domain}`;
    const now = Date.now();
    const hit = this.#keys.get(id);
    if (hit && now - hit.at < KEYS_RECHECK_MS) return hit.keys;
    if (this.#keys.size >= 64) this.#keys.clear();
    const dkim = this.settings.dkim?.();
    // With rotation, the key and selector signing now (`current_keys.ts`).
    const keys = dkim ? dkimSigningKeys(dir, domain, dkim) : loadDkimKeys(dir, domain);
    const entry = { at: now, keys };
    this.#keys.set(id, entry);
    // A missing or broken key is looked for again by the next message.
    entry.keys.catch(() => this.#keys.get(id) === entry && this.#keys.delete(id));
    return entry.keys;
  }
}

/** Whether any octet is outside ASCII (an indexed loop: ~10× faster than `some` here). */
function has8bit(content: Uint8Array): boolean {
  for (let i = 0; i < content.length; i++) if (content[i] >= 0x80) return true;
  return false;
}

function domainOf(address: string): string {
  const at = address.lastIndexOf("@");
  return at < 0 ? "" : address.slice(at + 1).toLowerCase();
}
