/**
 * The outbound queue on Cassandra, shared by every node, with leases so that two nodes never
 * deliver the same message at once.
 *
 * A message is one row (its recipients as JSON in it) plus its content in chunks. Every change
 * of the row is an LWT on its `version`, so concurrent changes (a node recording results while
 * an operator retries it) never overwrite each other. `due()` leases what it returns: an LWT
 * `IF lease_until = <seen>` sets this node as owner until now + {@link LEASE_MS} (wall-clock
 * time, whatever `now` the caller passes), so of two nodes asking at once one gets each
 * message; a message leased by another node is skipped until its lease runs out, which is how
 * a dead node's messages come back. The owner sees its own leased messages again (a restarted
 * node with the same `node_id` picks up where it left), and `recordResults` with a next attempt
 * gives the lease back.
 *
 * `due()` scans the table: fine for the queue of a mail system (messages leave within minutes;
 * a backlog of thousands is read in pages), not for millions.
 */
import type { QueueStore } from "../../queue/queue_store.ts";
import type {
  EnqueueItem,
  QueuedMessage,
  QueuedRecipient,
  RecipientResult,
  Ret,
} from "../../queue/types.ts";
import { StoreError } from "../mail_store.ts";
import { checkQueueItem } from "../queue_item.ts";
import { CHUNK_SIZE } from "./schema.ts";
import { bytes, type CqlSession, num, optStr, type Param, type Row, str } from "./session.ts";

/** How long a lease lasts: longer than any delivery attempt of one message. */
export const LEASE_MS = 10 * 60_000;

const COLUMNS = "id, sender, size, needs_8bit, needs_smtputf8, envid, ret, arrived_at, " +
  "next_attempt_at, warned, recipients, chunks, version, lease_owner, lease_until";

/** LWT rounds lost to concurrent changes of one message before "conflict". */
const MAX_ROUNDS = 20;

/** The queue port on a Cassandra keyspace; made by `CassandraMailStore.queue`. */
export class CassandraQueueStore implements QueueStore {
  constructor(
    private readonly s: CqlSession,
    readonly nodeId: string,
    private readonly isOpen: () => boolean = () => true,
    /** How long a lease lasts; {@link LEASE_MS} unless a test shortens it. */
    readonly leaseMs: number = LEASE_MS,
  ) {}

  /** Stores content then the row (`IF NOT EXISTS`: an id in use is "exists"). */
  async enqueue(item: EnqueueItem): Promise<string> {
    this.#checkOpen();
    const id = checkQueueItem(item);
    const recipients: QueuedRecipient[] = item.recipients.map((r) => ({
      address: r.address,
      domain: r.address.slice(r.address.lastIndexOf("@") + 1).toLowerCase(),
      status: "pending",
      attempts: 0,
      reportOwed: false,
      ...(r.notify === undefined ? {} : { notify: r.notify }),
      ...(r.orcpt === undefined ? {} : { orcpt: r.orcpt }),
    }));
    if (await this.s.row("SELECT id FROM queue_messages WHERE id = ?", [id])) {
      throw new StoreError(`queue id ${id} is in use`, "exists");
    }
    const chunks = Math.ceil(item.content.length / CHUNK_SIZE);
    await Promise.all(
      Array.from(
        { length: chunks },
        (_, i) =>
          this.s.run("INSERT INTO queue_content (id, chunk, data) VALUES (?, ?, ?)", [
            id,
            i,
            item.content.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE),
          ]),
      ),
    );
    const cas = await this.s.cas(
      `INSERT INTO queue_messages (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, false, ?, ?,
       0, null, 0) IF NOT EXISTS`,
      [
        id,
        item.from,
        item.content.length,
        item.needs8bit,
        item.needsSmtputf8,
        item.envid ?? null,
        item.ret ?? null,
        item.arrivedAt,
        item.arrivedAt,
        JSON.stringify(recipients),
        chunks,
      ],
    );
    if (!cas.applied) throw new StoreError(`queue id ${id} is in use`, "exists");
    return id;
  }

  /** Due messages this node could lease, earliest first, leased to it. */
  async due(now: number, limit: number): Promise<QueuedMessage[]> {
    this.#checkOpen();
    const wall = Date.now();
    const candidates = (await this.#all())
      .filter((r) => num(r, "next_attempt_at") <= now && this.#leasable(r, wall))
      .sort(byDue);
    const out: QueuedMessage[] = [];
    for (const row of candidates) {
      if (out.length >= Math.max(0, Math.floor(limit))) break;
      const cas = await this.s.cas(
        `UPDATE queue_messages SET lease_owner = ?, lease_until = ? WHERE id = ?
         IF lease_until = ?`,
        [this.nodeId, wall + this.leaseMs, str(row, "id"), num(row, "lease_until")],
      );
      if (!cas.applied) continue;
      const m = toMessage(row);
      m.recipients = m.recipients.filter((r) => r.status === "pending" || r.reportOwed)
        .sort((a, b) => cmp(a.domain, b.domain) || cmp(a.address, b.address));
      out.push(m);
    }
    return out;
  }

  async nextDue(): Promise<number | undefined> {
    this.#checkOpen();
    const wall = Date.now();
    const rows = await this.#all();
    // A message another node holds can be taken here only once its lease runs out: waking at
    // its next attempt would find nothing, and sleeping the runner's longest sleep would send
    // a dead node's mail up to that much late.
    const takeable = rows.map((r) =>
      this.#leasable(r, wall)
        ? num(r, "next_attempt_at")
        : Math.max(num(r, "next_attempt_at"), num(r, "lease_until") + 1)
    );
    return takeable.length === 0 ? undefined : Math.min(...takeable);
  }

  async content(id: string): Promise<Uint8Array | undefined> {
    this.#checkOpen();
    const row = await this.s.row("SELECT size, chunks FROM queue_messages WHERE id = ?", [id]);
    if (!row) return undefined;
    const parts = await Promise.all(
      Array.from(
        { length: num(row, "chunks") },
        (_, i) => this.s.row("SELECT data FROM queue_content WHERE id = ? AND chunk = ?", [id, i]),
      ),
    );
    const out = new Uint8Array(num(row, "size"));
    let at = 0;
    for (const part of parts) {
      if (!part) return undefined;
      const chunk = bytes(part, "data");
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  /** Records outcomes of pending recipients; with `next`, reschedules and frees the lease. */
  recordResults(id: string, results: RecipientResult[], next?: number): Promise<void> {
    return this.#change(id, (m) => {
      for (const r of results) {
        const rcpt = m.recipients.find((x) => x.address === r.address);
        if (!rcpt || rcpt.status !== "pending") continue;
        const final = r.status !== "deferred";
        rcpt.status = final ? r.status as "delivered" | "failed" : "pending";
        rcpt.attempts++;
        rcpt.lastAttemptAt = r.at;
        rcpt.lastReply = r.reply;
        if (r.remoteHost === undefined) delete rcpt.remoteHost;
        else rcpt.remoteHost = r.remoteHost;
        rcpt.reportOwed = final && r.report;
      }
      if (next !== undefined) m.nextAttemptAt = next;
      return next !== undefined;
    });
  }

  markReported(id: string, addresses: string[]): Promise<void> {
    return this.#change(id, (m) => {
      for (const r of m.recipients) if (addresses.includes(r.address)) r.reportOwed = false;
      return false;
    });
  }

  markWarned(id: string): Promise<void> {
    return this.#change(id, (m) => {
      m.warned = true;
      return false;
    });
  }

  async list(): Promise<QueuedMessage[]> {
    this.#checkOpen();
    return (await this.#all())
      .sort((a, b) =>
        num(a, "arrived_at") - num(b, "arrived_at") || cmp(str(a, "id"), str(b, "id"))
      )
      .map((row) => {
        const m = toMessage(row);
        m.recipients.sort((a, b) => cmp(a.domain, b.domain) || cmp(a.address, b.address));
        return m;
      });
  }

  /** Makes one message, or all, due now (next attempt 0: earlier than any clock). */
  async retry(id: string | "all"): Promise<number> {
    this.#checkOpen();
    const ids = id === "all" ? (await this.#all()).map((r) => str(r, "id")) : [id];
    let touched = 0;
    for (const one of ids) {
      let found = false;
      await this.#change(one, (m) => {
        found = true;
        m.nextAttemptAt = 0;
        return false;
      });
      if (found) touched++;
    }
    return touched;
  }

  async remove(id: string): Promise<boolean> {
    this.#checkOpen();
    const cas = await this.s.cas("DELETE FROM queue_messages WHERE id = ? IF EXISTS", [id]);
    if (!cas.applied) return false;
    await this.#dropContent(id, cas.row);
    return true;
  }

  /** Every row (a paged scan). */
  #all(): Promise<Row[]> {
    return this.s.rows(`SELECT ${COLUMNS} FROM queue_messages`);
  }

  #leasable(row: Row, wall: number): boolean {
    return num(row, "lease_until") < wall || optStr(row, "lease_owner") === this.nodeId;
  }

  /**
   * Reads the message, lets `fn` change it, and writes it back by an LWT on its version,
   * retrying from a fresh read when another change came first; removes it when done. An
   * unknown id is ignored. `fn` returns whether to give the lease back.
   */
  async #change(id: string, fn: (m: QueuedMessage) => boolean): Promise<void> {
    this.#checkOpen();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const row = await this.s.serialRow(`SELECT ${COLUMNS} FROM queue_messages WHERE id = ?`, [
        id,
      ]);
      if (!row) return;
      const m = toMessage(row);
      const release = fn(m);
      const version = num(row, "version");
      const done = !m.recipients.some((r) => r.status === "pending" || r.reportOwed);
      const cas = done
        ? await this.s.cas("DELETE FROM queue_messages WHERE id = ? IF version = ?", [id, version])
        : await this.s.cas(
          `UPDATE queue_messages SET recipients = ?, next_attempt_at = ?, warned = ?,
           version = ?${release ? ", lease_owner = null, lease_until = 0" : ""}
           WHERE id = ? IF version = ?`,
          [JSON.stringify(m.recipients), m.nextAttemptAt, m.warned, version + 1, id, version],
        );
      if (cas.applied) {
        if (done) await this.#dropContent(id, row);
        return;
      }
    }
    throw new StoreError(`queue message ${id} keeps changing; retry`, "conflict");
  }

  async #dropContent(id: string, row: Row | undefined): Promise<void> {
    const chunks = row && row.get("chunks") !== null ? num(row, "chunks") : 0;
    await Promise.all(
      Array.from(
        { length: chunks },
        (_, i) =>
          this.s.run("DELETE FROM queue_content WHERE id = ? AND chunk = ?", [id, i] as Param[]),
      ),
    );
  }

  #checkOpen(): void {
    if (!this.isOpen()) throw new Error("the Cassandra store is closed");
  }
}

function byDue(a: Row, b: Row): number {
  return num(a, "next_attempt_at") - num(b, "next_attempt_at") ||
    num(a, "arrived_at") - num(b, "arrived_at") || cmp(str(a, "id"), str(b, "id"));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A row as the port's message (recipients as stored, all of them). */
function toMessage(row: Row): QueuedMessage {
  const envid = optStr(row, "envid");
  const ret = optStr(row, "ret") as Ret | undefined;
  return {
    id: str(row, "id"),
    from: str(row, "sender"),
    arrivedAt: num(row, "arrived_at"),
    nextAttemptAt: num(row, "next_attempt_at"),
    size: num(row, "size"),
    needs8bit: row.get("needs_8bit") === true,
    needsSmtputf8: row.get("needs_smtputf8") === true,
    warned: row.get("warned") === true,
    ...(envid === undefined ? {} : { envid }),
    ...(ret === undefined ? {} : { ret }),
    recipients: JSON.parse(str(row, "recipients")) as QueuedRecipient[],
  };
}
