/**
 * The MailStore contract, changes between mailboxes and over time: copy and move (RFC 4315
 * COPYUID, RFC 6851), expunge with tombstones, `changesSince` (RFC 7162 §3.1.4, §3.2.10), the
 * change feed, and UIDs that are never handed out twice.
 */
import assert from "node:assert/strict";
import {
  addUser,
  ALICE,
  assertStrictlyAscending,
  BOB,
  type ContractTest,
  delivery,
  fill,
  item,
  mailbox,
  message,
  NO_MAILBOX,
  rejectsWith,
  uidsOf,
  watch,
} from "./mail_store_contract_helpers.ts";

/** Registers the copy, move, expunge, journal and feed tests. */
export function changeContract(contractTest: ContractTest): void {
  contractTest("copy and move", async (t, { store, countBodies }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    const refs = await fill(store, ALICE, 4);
    const inbox = refs[0].mailboxId;
    const uids = refs.map((r) => r.uid);
    await store.storeFlags(inbox, [uids[1]], "add", ["\\Flagged", "$Work"]);
    const archive = await mailbox(store, ALICE, "Archive");
    await t.step("copy gives new UIDs in source order, shares bodies, keeps flags", async () => {
      const bodies = await countBodies?.();
      const map = await store.copyMessages(inbox, [uids[2], 99_999, uids[1], uids[2]], archive.id);
      assert.equal(map.uidValidity, archive.uidValidity);
      assert.deepEqual(map.source, [uids[1], uids[2]]);
      assert.equal(map.target.length, 2);
      assertStrictlyAscending(map.target, "target UIDs");
      assert.ok(map.target[0] >= archive.uidNext);
      if (bodies !== undefined) assert.equal(await countBodies?.(), bodies, "bodies duplicated");
      for (const [i, uid] of map.target.entries()) {
        const copy = await message(store, { mailboxId: archive.id, uid });
        const original = await message(store, { mailboxId: inbox, uid: map.source[i] });
        assert.deepEqual(copy.body, original.body);
        assert.deepEqual(copy.flags, original.flags);
        assert.deepEqual(copy.wrappedKey, original.wrappedKey);
        assert.equal(copy.internalDate, original.internalDate);
        assert.equal(copy.size, original.size);
      }
      assert.deepEqual(await uidsOf(store, inbox), uids, "copy changed the source");
      assert.ok((await mailbox(store, ALICE, "Archive")).uidNext > map.target[1]);
    });
    await t.step("a copy outlives its original's expunge", async () => {
      const map = await store.copyMessages(inbox, [uids[0]], archive.id);
      await store.expunge(inbox, [uids[0]]);
      assert.ok((await message(store, { mailboxId: archive.id, uid: map.target[0] })).body);
    });
    await t.step("move leaves the source without them, with tombstones", async () => {
      const before = await mailbox(store, ALICE);
      const trash = await mailbox(store, ALICE, "Trash");
      const map = await store.moveMessages(inbox, [uids[3], uids[2]], trash.id);
      assert.deepEqual(map.source, [uids[2], uids[3]]);
      assert.equal(map.uidValidity, trash.uidValidity);
      assert.deepEqual(await uidsOf(store, trash.id), map.target);
      assert.deepEqual(await uidsOf(store, inbox), [uids[1]]);
      const changes = await store.changesSince(inbox, before.highestModSeq);
      assert.deepEqual(changes.vanished, [uids[2], uids[3]]);
      assert.ok((await mailbox(store, ALICE)).highestModSeq > before.highestModSeq);
    });
    await t.step("nothing to copy gives an empty map", async () => {
      const map = await store.copyMessages(inbox, [99_999], archive.id);
      assert.deepEqual(map, { uidValidity: archive.uidValidity, source: [], target: [] });
      assert.deepEqual(await store.moveMessages(inbox, [], archive.id), map);
    });
    await t.step("unknown mailboxes are not-found; another user's is invalid", async () => {
      await rejectsWith(store.copyMessages(NO_MAILBOX, [1], archive.id), "not-found");
      await rejectsWith(store.copyMessages(inbox, [uids[1]], NO_MAILBOX), "not-found");
      await rejectsWith(store.moveMessages(inbox, [uids[1]], NO_MAILBOX), "not-found");
      const bobs = (await mailbox(store, BOB)).id;
      await rejectsWith(store.copyMessages(inbox, [uids[1]], bobs), "invalid");
      await rejectsWith(store.moveMessages(inbox, [uids[1]], bobs), "invalid");
      assert.deepEqual(await uidsOf(store, inbox), [uids[1]]);
      assert.deepEqual(await uidsOf(store, bobs), []);
    });
  });

  contractTest("expunge", async (t, { store, countBodies }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    const [forAlice, forBob] = await store.deliver(delivery([item(ALICE), item(BOB)]));
    const [other] = await store.deliver(delivery([item(ALICE)]));
    const inbox = forAlice.mailboxId;
    const bodies = await countBodies?.();
    await t.step("returns the UIDs removed; a body another recipient has stays", async () => {
      const before = await mailbox(store, ALICE);
      assert.deepEqual(await store.expunge(inbox, [forAlice.uid, 99_999]), [forAlice.uid]);
      assert.equal(await store.getMessage(inbox, forAlice.uid), undefined);
      assert.deepEqual(await uidsOf(store, inbox), [other.uid]);
      assert.ok((await mailbox(store, ALICE)).highestModSeq > before.highestModSeq);
      assert.ok((await message(store, forBob)).body?.length);
      if (bodies !== undefined) assert.equal(await countBodies?.(), bodies);
    });
    await t.step("the body goes with its last recipient", async () => {
      assert.deepEqual(await store.expunge(forBob.mailboxId, [forBob.uid]), [forBob.uid]);
      if (bodies !== undefined) assert.equal(await countBodies?.(), bodies - 1);
    });
    await t.step("expunging gone or no messages removes nothing", async () => {
      assert.deepEqual(await store.expunge(inbox, [forAlice.uid]), []);
      assert.deepEqual(await store.expunge(inbox, []), []);
      assert.ok(await store.getMessage(inbox, other.uid));
    });
    await t.step("several at once come back ascending", async () => {
      const refs = await fill(store, ALICE, 3);
      const removed = await store.expunge(inbox, refs.map((r) => r.uid).reverse());
      assert.deepEqual(removed, refs.map((r) => r.uid));
    });
    await t.step("an unknown mailbox is not-found", async () => {
      await rejectsWith(store.expunge(NO_MAILBOX, [1]), "not-found");
    });
  });

  contractTest("UIDs are never reused", async (t, { store }) => {
    await addUser(store, ALICE);
    const inbox = await mailbox(store, ALICE);
    await t.step("after expunging the newest message", async () => {
      const refs = await fill(store, ALICE, 2);
      await store.expunge(inbox.id, [refs[1].uid]);
      const [next] = await fill(store, ALICE, 1);
      assert.ok(next.uid > refs[1].uid, `${next.uid} after ${refs[1].uid}`);
    });
    await t.step("after moving the newest message out and back", async () => {
      const junk = await mailbox(store, ALICE, "Junk");
      const [last] = await fill(store, ALICE, 1);
      const out = await store.moveMessages(inbox.id, [last.uid], junk.id);
      const back = await store.moveMessages(junk.id, out.target, inbox.id);
      assert.ok(back.target[0] > last.uid);
      const [next] = await fill(store, ALICE, 1, "Junk");
      assert.ok(next.uid > out.target[0]);
      const all = await uidsOf(store, inbox.id);
      assertStrictlyAscending(all, "UIDs");
      assert.equal((await mailbox(store, ALICE)).uidValidity, inbox.uidValidity);
    });
  });

  contractTest("changesSince", async (t, { store, prune }) => {
    await addUser(store, ALICE);
    const refs = await fill(store, ALICE, 4);
    const inbox = refs[0].mailboxId;
    const start = (await mailbox(store, ALICE)).highestModSeq;
    await t.step("nothing changed after the highest modseq", async () => {
      const changes = await store.changesSince(inbox, start);
      assert.deepEqual(changes, {
        highestModSeq: start,
        changed: [],
        vanished: [],
        complete: true,
      });
    });
    await t.step("new, changed and vanished messages after a modseq", async () => {
      const [added] = await fill(store, ALICE, 1);
      await store.storeFlags(inbox, [refs[2].uid, refs[0].uid], "add", ["\\Seen"]);
      await store.expunge(inbox, [refs[1].uid]);
      const changes = await store.changesSince(inbox, start);
      assert.deepEqual(changes.changed.map((m) => m.uid), [refs[0].uid, refs[2].uid, added.uid]);
      for (const m of changes.changed) assert.ok(m.modSeq > start);
      assert.deepEqual(changes.changed[0].flags, ["\\Seen"]);
      assert.deepEqual(changes.vanished, [refs[1].uid]);
      assert.equal(changes.highestModSeq, (await mailbox(store, ALICE)).highestModSeq);
      assert.equal(changes.complete, true);
    });
    await t.step("from 0: every message, every tombstone", async () => {
      const changes = await store.changesSince(inbox, 0);
      assert.deepEqual(changes.changed.map((m) => m.uid), await uidsOf(store, inbox));
      assert.deepEqual(changes.vanished, [refs[1].uid]);
    });
    await t.step("only what came after the modseq asked for", async () => {
      const mid = (await mailbox(store, ALICE)).highestModSeq;
      await store.storeFlags(inbox, [refs[3].uid], "add", ["\\Answered"]);
      const changes = await store.changesSince(inbox, mid);
      assert.deepEqual(changes.changed.map((m) => m.uid), [refs[3].uid]);
      assert.deepEqual(changes.vanished, []);
    });
    await t.step("an unknown mailbox is not-found", async () => {
      await rejectsWith(store.changesSince(NO_MAILBOX, 0), "not-found");
    });
    if (!prune) return;
    await t.step("after pruning, changes since before it are incomplete", async () => {
      const before = (await mailbox(store, ALICE)).highestModSeq;
      await store.expunge(inbox, [refs[3].uid]);
      const after = (await mailbox(store, ALICE)).highestModSeq;
      await prune();
      const old = await store.changesSince(inbox, start);
      assert.equal(old.complete, false);
      assert.equal((await store.changesSince(inbox, before)).complete, false);
      const recent = await store.changesSince(inbox, after);
      assert.equal(recent.complete, true);
      assert.deepEqual(recent.vanished, []);
    });
    await t.step("tombstones made after the prune are reported again", async () => {
      const now = (await mailbox(store, ALICE)).highestModSeq;
      await store.expunge(inbox, [refs[0].uid]);
      const changes = await store.changesSince(inbox, now);
      assert.deepEqual(changes.vanished, [refs[0].uid]);
      assert.equal(changes.complete, true);
    });
  });

  contractTest("change feed", async (t, { store }) => {
    await addUser(store, ALICE);
    const inbox = await mailbox(store, ALICE);
    const archive = await store.createMailbox(ALICE, "Old");
    const onInbox = watch(store, inbox.id);
    const onArchive = watch(store, archive.id);
    /** Events since the last look, with what the listener read when each came. */
    const take = async (w: ReturnType<typeof watch>) => {
      const events = w.events.splice(0);
      const seen = await Promise.all(w.seen.splice(0));
      return events.map((e, i) => ({ ...e, ...seen[i] }));
    };
    let ref: { mailboxId: string; uid: number };
    await t.step("added: on delivery, the message is there when the event comes", async () => {
      [ref] = await fill(store, ALICE, 1);
      const events = await take(onInbox);
      assert.ok(events.length >= 1, "no event for a delivery");
      const last = events[events.length - 1];
      assert.equal(last.kind, "added");
      assert.equal(last.mailboxId, inbox.id);
      assert.ok(last.uids.includes(ref.uid), "the event came before the message was readable");
      assert.ok(last.box && last.box.highestModSeq >= last.modSeq);
      assert.equal(last.modSeq, (await mailbox(store, ALICE)).highestModSeq);
      assert.deepEqual(await take(onArchive), []);
    });
    await t.step("flags: on storeFlags that changes something, and only then", async () => {
      await store.storeFlags(inbox.id, [ref.uid], "add", ["\\Seen"]);
      const [event, ...more] = await take(onInbox);
      assert.equal(more.length, 0);
      assert.equal(event.kind, "flags");
      assert.equal(event.modSeq, (await mailbox(store, ALICE)).highestModSeq);
      await store.storeFlags(inbox.id, [ref.uid], "add", ["\\Seen"]);
      assert.deepEqual(await take(onInbox), []);
    });
    await t.step("added on the target of a copy", async () => {
      const map = await store.copyMessages(inbox.id, [ref.uid], archive.id);
      const events = await take(onArchive);
      assert.deepEqual(events.map((e) => e.kind), ["added"]);
      assert.ok(events[0].uids.includes(map.target[0]));
      assert.deepEqual(await take(onInbox), []);
    });
    await t.step("a move: added on the target, expunged on the source", async () => {
      const map = await store.moveMessages(inbox.id, [ref.uid], archive.id);
      const target = await take(onArchive);
      assert.deepEqual(target.map((e) => e.kind), ["added"]);
      assert.ok(target[0].uids.includes(map.target[0]));
      const source = await take(onInbox);
      assert.deepEqual(source.map((e) => e.kind), ["expunged"]);
      assert.ok(!source[0].uids.includes(ref.uid), "the event came before the expunge stood");
    });
    await t.step("expunged on expunge; nothing when nothing was removed", async () => {
      const uid = map0(await uidsOf(store, archive.id));
      await store.expunge(archive.id, [uid]);
      const events = await take(onArchive);
      assert.deepEqual(events.map((e) => e.kind), ["expunged"]);
      assert.ok(!events[0].uids.includes(uid));
      await store.expunge(archive.id, [uid]);
      assert.deepEqual(await take(onArchive), []);
    });
    await t.step("deleted on deleteMailbox, after the mailbox is gone", async () => {
      await store.deleteMailbox(ALICE, "Old");
      const events = await take(onArchive);
      assert.deepEqual(events.map((e) => e.kind), ["deleted"]);
      assert.equal(events[0].box, undefined);
    });
    await t.step("a failed delivery tells nobody", async () => {
      await rejectsWith(
        store.deliver(delivery([item(ALICE), item("carol@test.example")])),
        "not-found",
      );
      assert.deepEqual(await take(onInbox), []);
    });
    await t.step("after unsubscribing, nothing more", async () => {
      onInbox.stop();
      onArchive.stop();
      await fill(store, ALICE, 1);
      assert.deepEqual(onInbox.events, []);
    });
  });
}

function map0(uids: number[]): number {
  assert.ok(uids.length > 0, "no message to work on");
  return uids[0];
}
