/**
 * The change feed: how a session learns that another session, a delivery or another node
 * changed a mailbox it has open. An event only wakes the listener; what changed is pulled from
 * the store's journal with `changesSince`, so a lost or merged event costs nothing but latency.
 * In-process here; the Redis backend publishes the same events over pub/sub.
 */
import type { MailboxId } from "./mail_store.ts";

/** A durable change of one mailbox. */
export interface MailboxEvent {
  mailboxId: MailboxId;
  kind: "added" | "flags" | "expunged" | "deleted";
  /** The mailbox's highest modseq after the change. */
  modSeq: number;
}

/** The feed port. */
export interface ChangeFeed {
  /** Tells every subscriber of the event's mailbox; call only after the change is durable. */
  publish(event: MailboxEvent): void;
  /** Calls `listener` for each event of `mailboxId` until the returned function is called. */
  subscribe(mailboxId: MailboxId, listener: (event: MailboxEvent) => void): () => void;
}

/** The feed of one process. */
export class InProcessChangeFeed implements ChangeFeed {
  #listeners = new Map<MailboxId, Set<(event: MailboxEvent) => void>>();

  publish(event: MailboxEvent): void {
    const listeners = this.#listeners.get(event.mailboxId);
    if (!listeners) return;
    for (const listener of [...listeners]) {
      // A listener's failure is its own; the others still hear the event.
      try {
        listener(event);
      } catch {
        // nothing to do: the session that failed will resynchronise on its next command
      }
    }
  }

  subscribe(mailboxId: MailboxId, listener: (event: MailboxEvent) => void): () => void {
    let set = this.#listeners.get(mailboxId);
    if (!set) {
      set = new Set();
      this.#listeners.set(mailboxId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#listeners.get(mailboxId) === set) {
        this.#listeners.delete(mailboxId);
      }
    };
  }

  /** The mailboxes with a listener now (a feed that may have missed events wakes them all). */
  mailboxIds(): MailboxId[] {
    return [...this.#listeners.keys()];
  }

  /** Listeners now, for tests that check a closed session leaves nothing behind. */
  get listenerCount(): number {
    let n = 0;
    for (const set of this.#listeners.values()) n += set.size;
    return n;
  }
}
