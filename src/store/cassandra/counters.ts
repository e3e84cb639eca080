/**
 * Strictly increasing per-mailbox UIDs and MODSEQs, and never-reused UIDVALIDITYs, without a
 * global lock: each counter is one row advanced by a lightweight transaction (LWT), a
 * compare-and-set run through Paxos by the replicas of that row alone.
 *
 * Why this is correct with two nodes delivering to one mailbox at once: every advance is
 * `UPDATE mailboxes SET uid_next = n', highest_modseq = m' WHERE id = ? IF uid_next = n AND
 * highest_modseq = m`, with n' > n and m' > m. Paxos makes the LWTs on one row linearizable:
 * they take effect one after another, each seeing the effect of all before it. An LWT applies
 * only if the row still holds exactly the (n, m) its node read, so of two nodes that read the
 * same (n, m), one applies and the other fails and gets the new values back in the same
 * answer, then retries from them. The ranges [n, n') and [m, m') handed out are therefore
 * disjoint and each starts where the previous one ended: UIDs and modseqs are unique and
 * increase in the order the advances took effect, and since no other statement writes these
 * columns (creation is `INSERT … IF NOT EXISTS`), they never go back, so an expunged UID is
 * never handed out again. A node dying after its advance and before its write only leaves a
 * gap, which IMAP allows (RFC 3501 §2.3.1.1 asks for ascending UIDs, not dense ones).
 *
 * What the LWT alone does not give: a UID taken by node A is written after A's advance, so it
 * could become visible after a higher UID node B took a moment later. Each batch therefore
 * announces itself in `pending_grants` before its LWT and withdraws once its writes stand
 * (callers {@link Grant.release} their grant); readers hold back what lies above the lowest
 * announcement (`visibility.ts`).
 *
 * Within one process, requests for the same mailbox are coalesced: while one LWT is in
 * flight, the others queue, and the next LWT takes all of their UIDs and modseqs at once, so
 * 200 deliveries at once cost a handful of LWTs instead of 200 contending ones.
 */
import { StoreError } from "../mail_store.ts";
import { type CqlSession, num } from "./session.ts";
import { announcePending, clearPending, type PendingMark } from "./visibility.ts";

/** What one caller takes: `uids` new UIDs and `modSeqs` new modseqs. */
export interface Need {
  uids: number;
  modSeqs: number;
}

/**
 * What it got: UIDs `firstUid …` and modseqs `firstModSeq …`, as many as it asked for. The
 * taker calls `release` once what it numbered is written, or when it gives up: until then,
 * readers hold back everything numbered from its batch on.
 */
export interface Grant {
  firstUid: number;
  firstModSeq: number;
  release(): Promise<void>;
}

interface Waiter extends Need {
  resolve: (grant: Grant) => void;
  reject: (err: unknown) => void;
}

/** LWT rounds one request may lose before it gives up with "conflict". */
const MAX_ROUNDS = 40;

/** Hands out UIDs and modseqs for the mailboxes of one store. */
export class MailboxCounters {
  #queues = new Map<string, Waiter[]>();
  /** Last values seen per mailbox: a first guess for the next LWT, corrected when it fails. */
  #seen = new Map<string, { uidNext: number; modSeq: number }>();

  constructor(private readonly session: CqlSession) {}

  /**
   * Takes UIDs and modseqs of the mailbox; "not-found" when it does not exist, "conflict" when
   * other nodes won {@link MAX_ROUNDS} rounds in a row.
   */
  take(mailboxId: string, need: Need): Promise<Grant> {
    return new Promise((resolve, reject) => {
      const queue = this.#queues.get(mailboxId);
      const waiter = { ...need, resolve, reject };
      if (queue) {
        queue.push(waiter);
        return;
      }
      this.#queues.set(mailboxId, [waiter]);
      this.#run(mailboxId);
    });
  }

  /** Forgets a deleted mailbox. */
  forget(mailboxId: string): void {
    this.#seen.delete(mailboxId);
  }

  async #run(mailboxId: string): Promise<void> {
    const queue = this.#queues.get(mailboxId)!;
    while (queue.length > 0) {
      const batch = queue.splice(0);
      let mark: PendingMark | undefined;
      try {
        const uids = batch.reduce((n, w) => n + w.uids, 0);
        const modSeqs = batch.reduce((n, w) => n + w.modSeqs, 0);
        const guess = this.#seen.get(mailboxId) ?? await this.#read(mailboxId);
        // Announced before the LWT, with the last values seen: lower bounds of the grant.
        mark = await announcePending(
          this.session,
          mailboxId,
          uids > 0 ? guess.uidNext : undefined,
          guess.modSeq + 1,
        );
        let { firstUid, firstModSeq } = await this.#advance(mailboxId, guess, uids, modSeqs);
        const release = this.#releaser(mark, batch.length);
        for (const w of batch) {
          w.resolve({ firstUid, firstModSeq, release: once(release) });
          firstUid += w.uids;
          firstModSeq += w.modSeqs;
        }
      } catch (err) {
        if (mark) await this.#clear(mark);
        for (const w of batch) w.reject(err);
      }
    }
    this.#queues.delete(mailboxId);
  }

  /** A release shared by the batch's grants: the announcement goes with the last of them. */
  #releaser(mark: PendingMark, holders: number): () => Promise<void> {
    let left = holders;
    return async () => {
      if (--left === 0) await this.#clear(mark);
    };
  }

  /** Withdraws an announcement; a failure only leaves it to go stale (`visibility.ts`). */
  async #clear(mark: PendingMark): Promise<void> {
    await clearPending(this.session, mark).catch(() => {});
  }

  async #advance(
    mailboxId: string,
    from: { uidNext: number; modSeq: number },
    uids: number,
    modSeqs: number,
  ): Promise<{ firstUid: number; firstModSeq: number }> {
    let current = from;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const next = { uidNext: current.uidNext + uids, modSeq: current.modSeq + modSeqs };
      const cas = await this.session.cas(
        `UPDATE mailboxes SET uid_next = ?, highest_modseq = ? WHERE id = ?
         IF uid_next = ? AND highest_modseq = ?`,
        [next.uidNext, next.modSeq, mailboxId, current.uidNext, current.modSeq],
      );
      if (cas.applied) {
        this.#seen.set(mailboxId, next);
        return { firstUid: current.uidNext, firstModSeq: current.modSeq + 1 };
      }
      if (!cas.row || cas.row.get("uid_next") === null) {
        this.#seen.delete(mailboxId);
        throw new StoreError(`no mailbox ${mailboxId}`, "not-found");
      }
      current = { uidNext: num(cas.row, "uid_next"), modSeq: num(cas.row, "highest_modseq") };
      // Another node won this round; a little jitter keeps two nodes from meeting again.
      if (round > 2) await sleep(Math.random() * 5 * round);
    }
    this.#seen.delete(mailboxId);
    throw new StoreError(`mailbox ${mailboxId}: other writers kept winning; retry`, "conflict");
  }

  async #read(mailboxId: string): Promise<{ uidNext: number; modSeq: number }> {
    const row = await this.session.serialRow(
      "SELECT uid_next, highest_modseq FROM mailboxes WHERE id = ?",
      [mailboxId],
    );
    if (!row || row.get("uid_next") === null) {
      throw new StoreError(`no mailbox ${mailboxId}`, "not-found");
    }
    return { uidNext: num(row, "uid_next"), modSeq: num(row, "highest_modseq") };
  }
}

/**
 * Takes `count` consecutive UIDVALIDITYs from the keyspace-wide counter: seconds since the
 * epoch, but always above every value handed out before, even after a clock step back or a
 * mailbox deleted and created again within a second (RFC 3501 §2.3.1.1). Mailboxes are created
 * rarely, so one counter row for the keyspace is no bottleneck.
 */
export async function takeUidValidities(session: CqlSession, count: number): Promise<number> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const row = await session.serialRow("SELECT value FROM counters WHERE name = 'uid_validity'");
    const last = row ? num(row, "value") : undefined;
    const first = Math.max(Math.floor(Date.now() / 1000), (last ?? 0) + 1);
    const cas = last === undefined
      ? await session.cas(
        "INSERT INTO counters (name, value) VALUES ('uid_validity', ?) IF NOT EXISTS",
        [first + count - 1],
      )
      : await session.cas(
        "UPDATE counters SET value = ? WHERE name = 'uid_validity' IF value = ?",
        [first + count - 1, last],
      );
    if (cas.applied) return first;
    await sleep(Math.random() * 5 * round);
  }
  throw new StoreError("the UIDVALIDITY counter: other writers kept winning; retry", "conflict");
}

/** `fn` for one caller: a second call does nothing. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let called = false;
  return () => {
    if (called) return Promise.resolve();
    called = true;
    return fn();
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
