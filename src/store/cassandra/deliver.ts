/**
 * Filing a delivery in Cassandra, idempotently per (delivery id, address, mailbox, nth).
 *
 * Each item takes its UID, then is claimed by an LWT `INSERT … IF NOT EXISTS` on its
 * `deliveries` row that records that UID, so of two attempts with one delivery id (an SMTP
 * client retrying after a lost 250, the queue after a crash, on this node or another) exactly
 * one files it; the other leaves its UID as a gap and waits for the row to say where the item
 * went. An attempt that takes over a claim whose owner died (no progress for
 * {@link STALE_MS}) finds the UID in the row and writes the message there instead of taking a
 * second one. Rows expire by TTL after the journal's delivery bound.
 *
 * Every recipient and mailbox is checked before anything is written, so a delivery with an
 * unknown recipient stores nothing. What Cassandra cannot give is one transaction over
 * several mailboxes: if a node fails half-way, the items filed stand and the sender's retry
 * (same delivery id) files the rest.
 */
import type { Delivery, Mailbox, MessageRef } from "../mail_store.ts";
import { StoreError } from "../mail_store.ts";
import { checkDelivery, mailboxName, normaliseFlags } from "../sqlite/validate.ts";
import type { Grant, MailboxCounters } from "./counters.ts";
import { ensureMailbox, findMailbox, requireUser } from "./mailboxes.ts";
import { deleteOrphanBodies, insertMessages, readMessage, writeBody } from "./messages.ts";
import { type CqlSession, num, optNum, optStr, type Row } from "./session.ts";

/** A claim without progress for this long is taken to be its dead owner's. */
const STALE_MS = 30_000;

/** How long an attempt waits for another attempt's claim before answering "conflict". */
const WAIT_MS = 60_000;

/** What the store lends the filing. */
export interface FilingContext {
  session: CqlSession;
  counters: MailboxCounters;
  /** Seconds a delivery record is kept. */
  recordTtlS: number;
}

interface Item {
  index: number;
  address: string;
  mailbox: string;
  nth: number;
}

/** Files the delivery; returns where each item went and the modseq each mailbox reached. */
export async function fileDelivery(
  ctx: FilingContext,
  delivery: Delivery,
): Promise<{ refs: MessageRef[]; touched: Map<string, number> }> {
  checkDelivery(delivery);
  const s = ctx.session;
  const seen = new Map<string, number>();
  const items: Item[] = delivery.items.map((item, index) => {
    const mailbox = mailboxName(item.mailbox);
    const key = JSON.stringify([item.address, mailbox]);
    const nth = seen.get(key) ?? 0;
    seen.set(key, nth + 1);
    return { index, address: item.address, mailbox, nth };
  });
  const refs: (MessageRef | undefined)[] = new Array(items.length);
  const recorded = await s.rows(
    "SELECT address, mailbox, nth, mailbox_id, uid, done FROM deliveries WHERE delivery_id = ?",
    [delivery.id],
  );
  for (const row of recorded) {
    const item = items.find((i) => matches(i, row));
    if (item && row.get("done") === true) refs[item.index] = refOf(row);
  }
  const open = items.filter((i) => refs[i.index] === undefined);
  if (open.length === 0) return { refs: refs as MessageRef[], touched: new Map() };

  // Check every recipient before writing anything.
  const users = new Set(open.map((i) => i.address));
  await Promise.all([...users].map((address) => requireUser(s, address)));
  for (const i of open) {
    if (delivery.items[i.index].createMailbox === false) {
      if (!await findMailbox(s, i.address, i.mailbox)) {
        throw new StoreError(`no mailbox ${i.mailbox} of ${i.address}`, "not-found");
      }
    }
  }
  const boxes = new Map<number, Mailbox>();
  for (const i of open) boxes.set(i.index, await ensureMailbox(s, i.address, i.mailbox));

  const me = crypto.randomUUID();
  const touched = new Map<string, number>();
  let written = 0;
  // One body for every item this attempt files: the promise is shared, so items filed in
  // parallel wait for the same write instead of each starting one.
  let bodyWrite: Promise<string> | undefined;
  const body = () => bodyWrite ??= writeBody(s, delivery.body, delivery.summary);
  try {
    /**
     * Files an item: its UID is taken first and the claim records it in the same LWT, so a
     * delivery costs one LWT of its own besides the (shared) counter advance. A claim lost to
     * another attempt leaves the UID as a gap (rare: only attempts of one delivery racing).
     */
    const claimAndFile = async (i: Item) => {
      const box = boxes.get(i.index)!;
      const grant = await ctx.counters.take(box.id, { uids: 1, modSeqs: 1 });
      let cas;
      try {
        cas = await s.cas(
          `INSERT INTO deliveries (delivery_id, address, mailbox, nth, owner, claimed_at,
           mailbox_id, uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?`,
          [
            delivery.id,
            ...key(i),
            me,
            Date.now(),
            box.id,
            grant.firstUid,
            ctx.recordTtlS,
          ],
        );
      } catch (err) {
        await grant.release();
        throw err;
      }
      if (!cas.applied) {
        await grant.release();
        if (cas.row?.get("done") === true) refs[i.index] = refOf(cas.row);
        else await waitFor(i);
        return;
      }
      await write(i, { mailboxId: box.id, uid: grant.firstUid }, grant);
    };
    /** Writes the message at `ref` under the grant's modseq, then marks the item done. */
    const write = async (i: Item, ref: MessageRef, grant: Grant) => {
      const modSeq = grant.firstModSeq;
      const item = delivery.items[i.index];
      try {
        await insertMessages(s, [{
          mailboxId: ref.mailboxId,
          uid: ref.uid,
          bodyId: await body(),
          wrappedKey: item.wrappedKey,
          keyWrap: item.keyWrap,
          size: delivery.size,
          internalDate: delivery.internalDate,
          flags: normaliseFlags(item.flags ?? []),
          modSeq,
        }]);
      } finally {
        await grant.release();
      }
      touched.set(ref.mailboxId, Math.max(touched.get(ref.mailboxId) ?? 0, modSeq));
      written++;
      await markDone(i, ref);
    };
    /** Files an item whose claim this attempt took over from a dead one. */
    const refile = async (i: Item, reserved: MessageRef | undefined) => {
      if (!reserved) return await claimed(i);
      if (await readMessage(s, reserved.mailboxId, reserved.uid)) {
        return await markDone(i, reserved);
      }
      const grant = await ctx.counters.take(reserved.mailboxId, { uids: 0, modSeqs: 1 });
      await write(i, reserved, grant);
    };
    /** Files an item this attempt holds the claim of but no UID for yet. */
    const claimed = async (i: Item) => {
      const box = boxes.get(i.index)!;
      const grant = await ctx.counters.take(box.id, { uids: 1, modSeqs: 1 });
      const ref = { mailboxId: box.id, uid: grant.firstUid };
      const noted = await s.cas(
        `UPDATE deliveries USING TTL ? SET mailbox_id = ?, uid = ?, claimed_at = ?
         WHERE delivery_id = ? AND address = ? AND mailbox = ? AND nth = ? IF owner = ?`,
        [ctx.recordTtlS, ref.mailboxId, ref.uid, Date.now(), delivery.id, ...key(i), me],
      ).catch(async (err) => {
        await grant.release();
        throw err;
      });
      // Taken over meanwhile (this attempt stalled past STALE_MS): the UID is a gap.
      if (!noted.applied) {
        await grant.release();
        return await waitFor(i);
      }
      await write(i, ref, grant);
    };
    const markDone = async (i: Item, ref: MessageRef) => {
      await s.run(
        `UPDATE deliveries USING TTL ? SET done = true WHERE delivery_id = ? AND address = ?
         AND mailbox = ? AND nth = ?`,
        [ctx.recordTtlS, delivery.id, ...key(i)],
      );
      refs[i.index] = ref;
    };
    const waitFor = async (i: Item): Promise<void> => {
      const until = Date.now() + WAIT_MS;
      for (let pause = 10; Date.now() < until; pause = Math.min(pause * 2, 250)) {
        await new Promise((resolve) => setTimeout(resolve, pause));
        const row = await s.serialRow(
          `SELECT owner, claimed_at, mailbox_id, uid, done FROM deliveries
           WHERE delivery_id = ? AND address = ? AND mailbox = ? AND nth = ?`,
          [delivery.id, ...key(i)],
        );
        if (!row) continue;
        if (row.get("done") === true) {
          refs[i.index] = refOf(row);
          return;
        }
        if (num(row, "claimed_at") > Date.now() - STALE_MS) continue;
        const takeover = await s.cas(
          `UPDATE deliveries USING TTL ? SET owner = ?, claimed_at = ? WHERE delivery_id = ?
           AND address = ? AND mailbox = ? AND nth = ? IF owner = ?`,
          [ctx.recordTtlS, me, Date.now(), delivery.id, ...key(i), optStr(row, "owner") ?? ""],
        );
        if (takeover.applied) {
          const uid = optNum(row, "uid");
          const mailboxId = optStr(row, "mailbox_id");
          return await refile(i, uid && mailboxId ? { mailboxId, uid } : undefined);
        }
      }
      throw new StoreError(
        `delivery ${delivery.id}: another attempt is still filing it`,
        "conflict",
      );
    };
    /**
     * Several items (recipients) of one delivery share its `deliveries` partition, so they are
     * claimed together by one conditional batch, one LWT instead of one each. The batch applies
     * whole or not at all: when any item was claimed already (another attempt of this delivery
     * racing), its UIDs become gaps and each item is claimed on its own.
     */
    const claimTogether = async (items: Item[]): Promise<boolean> => {
      const grants = await Promise.all(
        items.map((i) => ctx.counters.take(boxes.get(i.index)!.id, { uids: 1, modSeqs: 1 })),
      );
      let applied = false;
      try {
        applied = await s.casBatch(items.map((i, n) => ({
          query: `INSERT INTO deliveries (delivery_id, address, mailbox, nth, owner, claimed_at,
                  mailbox_id, uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?`,
          params: [
            delivery.id,
            ...key(i),
            me,
            Date.now(),
            boxes.get(i.index)!.id,
            grants[n].firstUid,
            ctx.recordTtlS,
          ],
        })));
      } finally {
        if (!applied) await Promise.all(grants.map((g) => g.release()));
      }
      if (!applied) return false;
      await Promise.all(items.map((i, n) => {
        const ref = { mailboxId: boxes.get(i.index)!.id, uid: grants[n].firstUid };
        return write(i, ref, grants[n]);
      }));
      return true;
    };
    if (open.length < 2 || !await claimTogether(open)) {
      await Promise.all(open.filter((i) => refs[i.index] === undefined).map(claimAndFile));
    }
  } finally {
    // A body written when no message came to use it (another attempt filed the items after
    // all, or a failure came first) has no reference and goes.
    if (bodyWrite !== undefined && written === 0) {
      await deleteOrphanBodies(s, [await bodyWrite.catch(() => "")].filter((id) => id !== ""));
    }
  }
  return { refs: refs as MessageRef[], touched };
}

function key(i: Item): [string, string, number] {
  return [i.address, i.mailbox, i.nth];
}

function matches(i: Item, row: Row): boolean {
  return row.get("address") === i.address && row.get("mailbox") === i.mailbox &&
    row.get("nth") === i.nth;
}

function refOf(row: Row): MessageRef {
  const mailboxId = optStr(row, "mailbox_id");
  const uid = optNum(row, "uid");
  if (mailboxId === undefined || uid === undefined) {
    throw new StoreError("a delivery record is done but says nowhere", "conflict");
  }
  return { mailboxId, uid };
}
