/**
 * The MailStore contract, one mailbox's messages: reading sets of them, re-wrapping keys,
 * summaries, and flags with their mod-sequences (RFC 3501 §6.4.6, RFC 7162 §3.1.3).
 */
import assert from "node:assert/strict";
import type { MessageMeta } from "../../src/store/mail_store.ts";
import {
  addUser,
  ALICE,
  bytes,
  type ContractTest,
  delivery,
  fill,
  item,
  mailbox,
  message,
  NO_MAILBOX,
  randomBytes,
  rejectsWith,
} from "./mail_store_contract_helpers.ts";

/** Registers the message tests. */
export function messageContract(contractTest: ContractTest): void {
  contractTest("getMessages", async (t, { store }) => {
    await addUser(store, ALICE);
    const refs = await fill(store, ALICE, 5);
    const box = refs[0].mailboxId;
    const uids = refs.map((r) => r.uid);
    await t.step("without bodies: keys and metadata, in UID order", async () => {
      const got = await store.getMessages(box, [uids[3], uids[1], uids[3]], false);
      assert.deepEqual(got.map((m) => m.uid), [uids[1], uids[3]]);
      for (const m of got) {
        assert.equal(m.body, undefined);
        assert.equal(m.mailboxId, box);
        assert.ok(m.wrappedKey.length > 0);
        assert.equal(m.keyWrap, "rsa");
      }
    });
    await t.step("with bodies: the same messages with their content", async () => {
      const got = await store.getMessages(box, uids, true);
      assert.deepEqual(got.map((m) => m.uid), uids);
      for (const m of got) assert.deepEqual(m.body, (await message(store, m)).body);
    });
    await t.step("getBodies: bodies and keys, in UID order, missing ones left out", async () => {
      const full = await store.getMessages(box, uids, true);
      const got = await store.getBodies(box, [uids[4], 0, uids[2], 99_999, uids[2], -1]);
      assert.deepEqual(
        got,
        [full[2], full[4]].map((m) => ({
          mailboxId: box,
          uid: m.uid,
          wrappedKey: m.wrappedKey,
          keyWrap: m.keyWrap,
          body: m.body,
        })),
      );
      assert.deepEqual(await store.getBodies(box, []), []);
      assert.deepEqual(await store.getBodies(NO_MAILBOX, uids), []);
    });
    await t.step("missing UIDs are left out", async () => {
      const got = await store.getMessages(box, [0, -3, 1.5, uids[0], 99_999], false);
      assert.deepEqual(got.map((m) => m.uid), [uids[0]]);
      assert.deepEqual(await store.getMessages(box, [], true), []);
      assert.deepEqual(await store.getMessages(NO_MAILBOX, uids, true), []);
    });
    await t.step("10,000 UIDs at once", async () => {
      const many = Array.from({ length: 10_000 }, (_, i) => i + 1);
      const started = performance.now();
      const got = await store.getMessages(box, many, false);
      assert.deepEqual(got.map((m) => m.uid), uids);
      const ms = performance.now() - started;
      assert.ok(ms < 2_000, `10,000 UIDs took ${ms} ms`);
    });
  });

  contractTest("re-wrapped keys and summaries", async (t, { store }) => {
    await addUser(store, ALICE);
    const [ref] = await fill(store, ALICE, 1);
    await t.step("rewrapMessageKey replaces the wrapped key and its kind only", async () => {
      const before = await message(store, ref);
      await store.rewrapMessageKey(ref.mailboxId, ref.uid, bytes(7, 7, 7), "sym");
      const m = await message(store, ref);
      assert.deepEqual(m.wrappedKey, bytes(7, 7, 7));
      assert.equal(m.keyWrap, "sym");
      assert.deepEqual(m.body, before.body);
      assert.equal(m.modSeq, before.modSeq, "a re-wrap is no IMAP-visible change");
    });
    await t.step("rewrapMessageKey of a gone message is skipped silently", async () => {
      await store.rewrapMessageKey(ref.mailboxId, 99_999, bytes(1), "sym");
      await store.rewrapMessageKey(NO_MAILBOX, 1, bytes(1), "sym");
    });
    await t.step("rewrapMessageKey refuses an unknown wrap", async () => {
      await rejectsWith(
        store.rewrapMessageKey(ref.mailboxId, ref.uid, bytes(1), "rot13" as "sym"),
        "invalid",
      );
    });
    await t.step("setSummary stores a summary on a message without one", async () => {
      const summary = randomBytes(30);
      await store.setSummary(ref.mailboxId, ref.uid, summary);
      assert.deepEqual((await message(store, ref)).summary, summary);
      const [listed] = await store.getMessages(ref.mailboxId, [ref.uid], false);
      assert.deepEqual(listed.summary, summary);
    });
    await t.step("setSummary leaves an existing summary alone", async () => {
      const first = (await message(store, ref)).summary;
      await store.setSummary(ref.mailboxId, ref.uid, randomBytes(30));
      assert.deepEqual((await message(store, ref)).summary, first);
      const d = { ...delivery([item(ALICE)]), summary: randomBytes(20) };
      const [withOne] = await store.deliver(d);
      await store.setSummary(withOne.mailboxId, withOne.uid, randomBytes(20));
      assert.deepEqual((await message(store, withOne)).summary, d.summary);
    });
    await t.step("setSummary of a gone message is skipped silently", async () => {
      await store.setSummary(ref.mailboxId, 99_999, randomBytes(5));
    });
  });

  contractTest("storeFlags", async (t, { store }) => {
    await addUser(store, ALICE);
    const refs = await fill(store, ALICE, 4);
    const box = refs[0].mailboxId;
    const [a, b, c, d] = refs.map((r) => r.uid);
    const meta = async (uid: number): Promise<MessageMeta> => {
      const found = (await store.listMessages(box)).find((m) => m.uid === uid);
      assert.ok(found, `message ${uid} missing`);
      return found;
    };

    await t.step("add: each changed message gets its own new modseq", async () => {
      const before = await mailbox(store, ALICE);
      const update = await store.storeFlags(box, [a, b], "add", ["\\Seen", "$Work"]);
      assert.deepEqual(update.modified, []);
      assert.deepEqual(update.updated.map((m) => m.uid), [a, b]);
      for (const m of update.updated) {
        assert.deepEqual([...m.flags].sort(), ["$Work", "\\Seen"]);
        assert.ok(m.modSeq > before.highestModSeq);
        assert.deepEqual(await meta(m.uid), m);
      }
      assert.notEqual(update.updated[0].modSeq, update.updated[1].modSeq);
      const after = await mailbox(store, ALICE);
      assert.equal(after.highestModSeq, Math.max(...update.updated.map((m) => m.modSeq)));
    });
    await t.step(
      "a message whose flags do not change keeps its modseq but is reported",
      async () => {
        const before = await meta(a);
        const boxBefore = await mailbox(store, ALICE);
        const update = await store.storeFlags(box, [a], "add", ["\\Seen"]);
        assert.deepEqual(update.updated, [before]);
        assert.equal((await mailbox(store, ALICE)).highestModSeq, boxBefore.highestModSeq);
      },
    );
    await t.step("remove takes flags away; absent ones are no change", async () => {
      const update = await store.storeFlags(box, [a, c], "remove", ["$Work", "\\Flagged"]);
      assert.deepEqual(update.updated.map((m) => [m.uid, m.flags]), [[a, ["\\Seen"]], [c, []]]);
      assert.equal(update.updated[1].modSeq, (await meta(c)).modSeq);
    });
    await t.step("replace sets exactly the flags given", async () => {
      const update = await store.storeFlags(box, [b, d], "replace", ["\\Answered"]);
      for (const m of update.updated) assert.deepEqual(m.flags, ["\\Answered"]);
      const cleared = await store.storeFlags(box, [b], "replace", []);
      assert.deepEqual(cleared.updated[0].flags, []);
    });
    await t.step("UNCHANGEDSINCE: a newer message is reported in modified, untouched", async () => {
      const old = await meta(c);
      const newer = (await store.storeFlags(box, [d], "add", ["\\Flagged"])).updated[0];
      const update = await store.storeFlags(box, [c, d], "add", ["\\Deleted"], old.modSeq);
      assert.deepEqual(update.modified, [d]);
      assert.deepEqual(update.updated.map((m) => m.uid), [c]);
      assert.deepEqual(await meta(d), newer);
      assert.deepEqual((await meta(c)).flags, ["\\Deleted"]);
    });
    await t.step("UNCHANGEDSINCE equal to the modseq passes; 0 fails every message", async () => {
      const m = await meta(a);
      const pass = await store.storeFlags(box, [a], "add", ["$Ok"], m.modSeq);
      assert.deepEqual(pass.modified, []);
      const zero = await store.storeFlags(box, [a, b], "add", ["$No"], 0);
      assert.deepEqual(zero.modified, [a, b]);
      assert.deepEqual(zero.updated, []);
      assert.ok(!(await meta(a)).flags.includes("$No"));
    });
    await t.step("missing UIDs are skipped; an unknown mailbox is not-found", async () => {
      const update = await store.storeFlags(box, [99_999, a], "add", ["\\Seen"]);
      assert.deepEqual(update.updated.map((m) => m.uid), [a]);
      await rejectsWith(store.storeFlags(NO_MAILBOX, [1], "add", ["\\Seen"]), "not-found");
    });
    await t.step("a flag that is no atom is invalid", async () => {
      await rejectsWith(store.storeFlags(box, [a], "add", ["two words"]), "invalid");
      await rejectsWith(store.storeFlags(box, [a], "add", [""]), "invalid");
    });
  });
}
