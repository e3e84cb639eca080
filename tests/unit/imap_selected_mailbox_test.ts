import assert from "node:assert/strict";
import { internFlags, SelectedMailbox } from "../../src/imap/selected_mailbox.ts";
import type { Mailbox, MessageMeta } from "../../src/store/mail_store.ts";

const box = (id: string): Mailbox => ({
  id,
  address: "u@example.org",
  name: "INBOX",
  uidValidity: 7,
  uidNext: 6,
  highestModSeq: 10,
});

const meta = (uid: number, flags: string[], modSeq = uid): MessageMeta => ({
  mailboxId: "m",
  uid,
  size: 100 * uid,
  internalDate: 1_700_000_000_000 + uid,
  flags,
  modSeq,
});

Deno.test("the selected mailbox's view", async (t) => {
  await t.step("messages read back as they were listed, by UID and sequence", () => {
    const view = new SelectedMailbox(box("a"), [meta(1, []), meta(3, ["\\Seen"])], false);
    assert.deepEqual(view.uids, [1, 3]);
    assert.deepEqual(view.message(3), {
      uid: 3,
      flags: ["\\Seen"],
      modSeq: 3,
      internalDate: 1_700_000_000_003,
      size: 300,
    });
    assert.equal(view.message(2), undefined);
    assert.equal(view.seqOf(3), 2);
  });

  await t.step("views share one flag list per distinct set of flags", () => {
    const one = new SelectedMailbox(box("b"), [meta(1, ["\\Seen", "$Work"])], true);
    const two = new SelectedMailbox(box("c"), [meta(4, ["\\Seen", "$Work"])], true);
    assert.equal(one.message(1)!.flags, two.message(4)!.flags);
    assert.equal(internFlags(["\\Seen", "$Work"]), one.message(1)!.flags);
    assert.ok(Object.isFrozen(one.message(1)!.flags));
  });

  await t.step("flag changes, expunges and new mail keep every field in step", () => {
    const view = new SelectedMailbox(
      box("d"),
      [meta(1, []), meta(2, []), meta(3, ["\\Seen"]), meta(4, [])],
      false,
    );
    const updates = view.apply({
      highestModSeq: 20,
      changed: [meta(3, ["\\Seen", "\\Flagged"], 15), meta(5, [], 16)],
      vanished: [2],
      complete: true,
    }, true);
    assert.deepEqual(updates.map((u) => u.kind), ["expunge", "flags", "exists", "recent"]);
    assert.deepEqual(view.uids, [1, 3, 4, 5]);
    assert.deepEqual(view.message(3)!.flags, ["\\Seen", "\\Flagged"]);
    assert.equal(view.message(3)!.modSeq, 15);
    assert.equal(view.message(3)!.size, 300);
    assert.equal(view.message(4)!.internalDate, 1_700_000_000_004);
    assert.equal(view.message(5)!.modSeq, 16);
    assert.equal(view.message(2), undefined);
  });

  await t.step("expunges held back leave the view as the client knows it", () => {
    const view = new SelectedMailbox(box("e"), [meta(1, []), meta(2, [])], false);
    view.apply({ highestModSeq: 30, changed: [], vanished: [1], complete: true }, false);
    assert.ok(view.isExpungedPending(1));
    assert.equal(view.message(1)!.uid, 1);
    assert.deepEqual(view.flushExpunges(), [{ kind: "expunge", seq: 1, uid: 1 }]);
    assert.deepEqual(view.uids, [2]);
    assert.equal(view.message(2)!.size, 200);
  });
});
