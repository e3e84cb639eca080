/**
 * The QueueStore port: the durable outbound queue. A message accepted for remote delivery is
 * in the queue, fsync'd, before the 250 that accepts it (DESIGN.md, Durability); it leaves the
 * queue when no recipient is pending and no report is owed.
 *
 * Privacy: queued content is kept in clear, as it is in every MTA (it must be sent as it is,
 * already DKIM-signed); it is deleted once the message is done. Mail at rest for local users
 * is sealed, but mail waiting to leave cannot be.
 *
 * Implementations: `src/store/sqlite/sqlite_queue.ts`; they pass
 * `tests/contract/queue_store_contract.ts`.
 */
import type { EnqueueItem, QueuedMessage, RecipientResult } from "./types.ts";

/** The queue port. Every method may be backed by I/O, so every method is async. */
export interface QueueStore {
  /**
   * Stores the message with its recipients, all pending and due at `arrivedAt`; resolves with
   * its id once fsync'd. Throws `StoreError("invalid")` for no recipient, a duplicate recipient
   * or an address without a domain, and `StoreError("exists")` for an id in use.
   */
  enqueue(item: EnqueueItem): Promise<string>;

  /**
   * Up to `limit` messages whose next attempt is at or before `now`, earliest first, each with
   * its recipients that are pending or owed a report, sorted by domain.
   */
  due(now: number, limit: number): Promise<QueuedMessage[]>;

  /**
   * The earliest time this node could take a queued message (its next attempt, or for a
   * message another node holds, the end of that node's lease); undefined when the queue is
   * empty.
   */
  nextDue(): Promise<number | undefined>;

  /** The message's content as enqueued; undefined when it is gone. */
  content(id: string): Promise<Uint8Array | undefined>;

  /**
   * Records attempt outcomes in one transaction, durable before it resolves: a delivered
   * recipient is marked so before anything else happens, so it is never delivered again by a
   * later attempt. Only pending recipients change. Sets the next attempt when `next` is given.
   * The message is removed when no recipient is pending and no report is owed. An unknown id
   * is ignored (the operator may have deleted it meanwhile).
   */
  recordResults(id: string, results: RecipientResult[], next?: number): Promise<void>;

  /** Clears the owed reports of these recipients (their DSN was sent); may remove the message. */
  markReported(id: string, addresses: string[]): Promise<void>;

  /** Notes that the delay warning was sent, so it is sent once. */
  markWarned(id: string): Promise<void>;

  /** Every queued message with every recipient, earliest arrival first. */
  list(): Promise<QueuedMessage[]>;

  /** Makes the message (or every message) due now; returns how many messages that touched. */
  retry(id: string | "all"): Promise<number>;

  /** Deletes the message without a DSN; false when there was none. */
  remove(id: string): Promise<boolean>;
}
