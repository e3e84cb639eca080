/**
 * The MailStore contract, mailboxes: the defaults a user starts with, create, rename (RFC 3501
 * §6.3.5), delete, subscriptions, STATUS counts and usage.
 */
import assert from "node:assert/strict";
import { DEFAULT_MAILBOXES } from "../../src/store/mail_store.ts";
import {
  addUser,
  ALICE,
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
} from "./mail_store_contract_helpers.ts";

const DEFAULT_NAMES = ["INBOX", ...DEFAULT_MAILBOXES.map((b) => b.name)].sort();

/** Registers the mailbox tests. */
export function mailboxContract(contractTest: ContractTest): void {
  contractTest("mailboxes of a new user", async (t, { store }) => {
    await addUser(store, ALICE);
    await t.step("INBOX and the default mailboxes exist, with their special use", async () => {
      const boxes = await store.listMailboxes(ALICE);
      assert.deepEqual(boxes.map((b) => b.name), DEFAULT_NAMES);
      for (const box of boxes) {
        assert.equal(box.address, ALICE);
        assert.ok(box.uidValidity > 0 && box.uidValidity < 2 ** 32, `${box.uidValidity}`);
        assert.ok(box.uidNext >= 1);
        assert.ok(box.highestModSeq >= 0);
        const use = DEFAULT_MAILBOXES.find((d) => d.name === box.name)?.specialUse;
        assert.equal(box.specialUse, use, `special use of ${box.name}`);
      }
      assert.equal(new Set(boxes.map((b) => b.id)).size, boxes.length);
    });
    await t.step("all of them are subscribed", async () => {
      assert.deepEqual(await store.listSubscriptions(ALICE), DEFAULT_NAMES);
    });
    await t.step("INBOX is found in any case, and named in upper case", async () => {
      const inbox = await mailbox(store, ALICE);
      assert.deepEqual(await store.getMailbox(ALICE, "inbox"), inbox);
      assert.equal(inbox.name, "INBOX");
    });
    await t.step("getMailboxById finds each, and nothing for an unknown id", async () => {
      for (const box of await store.listMailboxes(ALICE)) {
        assert.deepEqual(await store.getMailboxById(box.id), box);
      }
      assert.equal(await store.getMailboxById(NO_MAILBOX), undefined);
    });
    await t.step("mailboxes of different users are distinct", async () => {
      await addUser(store, BOB);
      assert.notEqual((await mailbox(store, BOB)).id, (await mailbox(store, ALICE)).id);
    });
    await t.step("an unknown mailbox or user is undefined / empty", async () => {
      assert.equal(await store.getMailbox(ALICE, "Nope"), undefined);
      assert.equal(await store.getMailbox(ALICE, ""), undefined);
      assert.deepEqual(await store.listMailboxes("nobody@test.example"), []);
    });
  });

  contractTest("create and ensure", async (t, { store }) => {
    await addUser(store, ALICE);
    await t.step("ensureMailbox creates once and then returns the same mailbox", async () => {
      const box = await store.ensureMailbox(ALICE, "Receipts");
      assert.equal(box.name, "Receipts");
      assert.equal(box.specialUse, undefined);
      assert.deepEqual(await store.ensureMailbox(ALICE, "Receipts"), box);
      assert.deepEqual(await store.getMailbox(ALICE, "Receipts"), box);
      assert.deepEqual(await store.ensureMailbox(ALICE, "INBOX"), await mailbox(store, ALICE));
    });
    await t.step("a special use is recorded on creation only", async () => {
      const box = await store.ensureMailbox(ALICE, "Everything", "\\All");
      assert.equal(box.specialUse, "\\All");
      assert.equal((await store.ensureMailbox(ALICE, "Sent", "\\Junk")).specialUse, "\\Sent");
      assert.equal(
        (await store.ensureMailbox(ALICE, "Receipts", "\\Flagged")).specialUse,
        undefined,
      );
    });
    await t.step("createMailbox makes a child without its parent", async () => {
      const box = await store.createMailbox(ALICE, "Projects/2026", "\\Archive");
      assert.equal(box.name, "Projects/2026");
      assert.equal(box.specialUse, "\\Archive");
      assert.equal(await store.getMailbox(ALICE, "Projects"), undefined);
    });
    await t.step("createMailbox of an existing name fails with exists", async () => {
      await rejectsWith(store.createMailbox(ALICE, "Projects/2026"), "exists");
      await rejectsWith(store.createMailbox(ALICE, "INBOX"), "exists");
      await rejectsWith(store.createMailbox(ALICE, "inbox"), "exists");
    });
    await t.step("names with empty levels are invalid", async () => {
      for (const name of ["", "/a", "a/", "a//b"]) {
        await rejectsWith(store.createMailbox(ALICE, name), "invalid");
      }
    });
    await t.step("an unknown user fails with not-found", async () => {
      await rejectsWith(store.ensureMailbox("nobody@test.example", "INBOX"), "not-found");
      await rejectsWith(store.createMailbox("nobody@test.example", "X"), "not-found");
    });
  });

  contractTest("rename", async (t, { store }) => {
    await addUser(store, ALICE);
    await store.createMailbox(ALICE, "Work");
    await store.createMailbox(ALICE, "Work/Old");
    await store.createMailbox(ALICE, "Work/Old/Older");
    await store.createMailbox(ALICE, "Workshop");
    await store.setSubscribed(ALICE, "Work/Old", true);
    const [ref] = await fill(store, ALICE, 1, "Work/Old");
    await t.step("a mailbox and those below it keep their ids and UIDVALIDITY", async () => {
      const before = await store.listMailboxes(ALICE);
      await store.renameMailbox(ALICE, "Work", "Job");
      const after = await store.listMailboxes(ALICE);
      const renamed = new Map([["Work", "Job"], ["Work/Old", "Job/Old"], [
        "Work/Old/Older",
        "Job/Old/Older",
      ]]);
      for (const box of before) {
        const moved = after.find((b) => b.id === box.id);
        assert.ok(moved, `${box.name} is gone`);
        assert.equal(moved.name, renamed.get(box.name) ?? box.name);
        assert.equal(moved.uidValidity, box.uidValidity);
      }
      assert.ok(after.some((b) => b.name === "Workshop"), "a sibling with the prefix moved");
      assert.equal(await store.getMailbox(ALICE, "Work"), undefined);
      assert.ok(await store.getMessage(ref.mailboxId, ref.uid));
    });
    await t.step("subscriptions follow the rename", async () => {
      const subscribed = await store.listSubscriptions(ALICE);
      assert.ok(subscribed.includes("Job/Old"), `${subscribed}`);
      assert.ok(!subscribed.includes("Work/Old"));
    });
    await t.step("a child can be renamed above its old parent", async () => {
      await store.renameMailbox(ALICE, "Job/Old", "Old");
      assert.ok(await store.getMailbox(ALICE, "Old/Older"));
      assert.ok(await store.getMailbox(ALICE, "Job"));
    });
    await t.step("not-found, exists and invalid", async () => {
      await rejectsWith(store.renameMailbox(ALICE, "Nope", "Other"), "not-found");
      await rejectsWith(store.renameMailbox(ALICE, "Job", "Workshop"), "exists");
      await rejectsWith(store.renameMailbox(ALICE, "Job", "INBOX"), "exists");
      await rejectsWith(store.renameMailbox(ALICE, "Old", "Old/Inner"), "invalid");
      await store.createMailbox(ALICE, "Target/Older");
      await rejectsWith(store.renameMailbox(ALICE, "Old", "Target"), "exists");
      assert.ok(await store.getMailbox(ALICE, "Old"), "a refused rename changed something");
    });
    await t.step("renaming INBOX moves its messages and leaves it empty", async () => {
      await store.createMailbox(ALICE, "INBOX/Child");
      const inbox = await mailbox(store, ALICE);
      const refs = await fill(store, ALICE, 3);
      await store.renameMailbox(ALICE, "INBOX", "Before 2026");
      const after = await mailbox(store, ALICE);
      assert.equal(after.id, inbox.id);
      assert.equal(after.uidValidity, inbox.uidValidity);
      assert.deepEqual(await uidsOf(store, inbox.id), []);
      const moved = await mailbox(store, ALICE, "Before 2026");
      assert.notEqual(moved.id, inbox.id);
      assert.equal((await uidsOf(store, moved.id)).length, 3);
      assert.ok(await store.getMailbox(ALICE, "INBOX/Child"), "INBOX's inferior moved");
      assert.equal(await store.getMessage(refs[0].mailboxId, refs[0].uid), undefined);
      await rejectsWith(store.renameMailbox(ALICE, "INBOX", "Before 2026"), "exists");
    });
  });

  contractTest("delete", async (t, { store, countBodies }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    await store.createMailbox(ALICE, "Old");
    await store.createMailbox(ALICE, "Old/Kept");
    const old = await mailbox(store, ALICE, "Old");
    const [, forBob] = await store.deliver(delivery([item(ALICE, "Old"), item(BOB)]));
    await store.deliver(delivery([item(ALICE, "Old")]));
    const bodies = await countBodies?.();
    await t.step("INBOX cannot be deleted", async () => {
      await rejectsWith(store.deleteMailbox(ALICE, "INBOX"), "invalid");
      await rejectsWith(store.deleteMailbox(ALICE, "inbox"), "invalid");
    });
    await t.step("an unknown mailbox fails with not-found", async () => {
      await rejectsWith(store.deleteMailbox(ALICE, "Nope"), "not-found");
    });
    await t.step("the mailbox and its messages go; those below stay", async () => {
      await store.deleteMailbox(ALICE, "Old");
      assert.equal(await store.getMailbox(ALICE, "Old"), undefined);
      assert.equal(await store.getMailboxById(old.id), undefined);
      assert.deepEqual(await store.listMessages(old.id), []);
      assert.ok(await store.getMailbox(ALICE, "Old/Kept"));
      assert.ok((await message(store, forBob)).body?.length, "another user's copy went");
      if (bodies !== undefined) assert.equal(await countBodies?.(), bodies - 1);
    });
    await t.step("a mailbox created again gets a new id and a larger UIDVALIDITY", async () => {
      const again = await store.createMailbox(ALICE, "Old");
      assert.notEqual(again.id, old.id);
      assert.ok(again.uidValidity > old.uidValidity, `${again.uidValidity} ≤ ${old.uidValidity}`);
      assert.deepEqual(await uidsOf(store, again.id), []);
    });
    await t.step("the id of the newest mailbox, deleted, is not handed out again", async () => {
      const newest = await store.createMailbox(ALICE, "Newest");
      await store.deleteMailbox(ALICE, "Newest");
      const next = await store.createMailbox(ALICE, "Next");
      assert.notEqual(next.id, newest.id);
      assert.equal(await store.getMailboxById(newest.id), undefined);
    });
    await t.step("the same holds for a user deleted and created again", async () => {
      const before = await mailbox(store, BOB);
      await store.deleteUser(BOB);
      await addUser(store, BOB);
      const after = await mailbox(store, BOB);
      assert.ok(after.uidValidity > before.uidValidity);
    });
  });

  contractTest("subscriptions", async (t, { store }) => {
    await addUser(store, ALICE);
    await t.step("subscribe and unsubscribe, idempotently", async () => {
      await store.setSubscribed(ALICE, "Sent", false);
      await store.setSubscribed(ALICE, "Sent", false);
      assert.ok(!(await store.listSubscriptions(ALICE)).includes("Sent"));
      await store.setSubscribed(ALICE, "Sent", true);
      await store.setSubscribed(ALICE, "Sent", true);
      assert.equal((await store.listSubscriptions(ALICE)).filter((n) => n === "Sent").length, 1);
    });
    await t.step("a name need not be a mailbox, and the list is sorted", async () => {
      await store.setSubscribed(ALICE, "Elsewhere/Gone", true);
      const list = await store.listSubscriptions(ALICE);
      assert.ok(list.includes("Elsewhere/Gone"));
      assert.deepEqual(list, [...list].sort());
    });
    await t.step("deleting a mailbox keeps its subscription (RFC 3501 §6.3.4)", async () => {
      await store.deleteMailbox(ALICE, "Archive");
      assert.ok((await store.listSubscriptions(ALICE)).includes("Archive"));
    });
    await t.step("an unknown user has none", async () => {
      assert.deepEqual(await store.listSubscriptions("nobody@test.example"), []);
    });
  });

  contractTest("status and usage", async (t, { store }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    const inbox = await mailbox(store, ALICE);
    await t.step("an empty mailbox counts zero", async () => {
      const status = await store.mailboxStatus(inbox.id);
      assert.ok(status);
      assert.deepEqual(
        [status.messages, status.unseen, status.deleted, status.size],
        [0, 0, 0, 0],
      );
      assert.equal(status.name, "INBOX");
      assert.equal(status.uidValidity, inbox.uidValidity);
      assert.equal(await store.usage(ALICE), 0);
    });
    await t.step("messages, unseen, deleted and size", async () => {
      const flags = [[], ["\\Seen"], ["\\Seen", "\\Deleted"], ["\\Deleted"], ["$Label"]];
      let size = 0;
      for (const f of flags) {
        const d = delivery([item(ALICE, "INBOX", f)]);
        size += d.size;
        await store.deliver(d);
      }
      const sent = delivery([item(ALICE, "Sent", ["\\Seen"])]);
      await store.deliver(sent);
      await store.deliver(delivery([item(BOB)]));
      const status = await store.mailboxStatus(inbox.id);
      assert.ok(status);
      assert.equal(status.messages, 5);
      assert.equal(status.unseen, 3);
      assert.equal(status.deleted, 2);
      assert.equal(status.size, size);
      assert.equal(status.uidNext, (await mailbox(store, ALICE)).uidNext);
      assert.equal(await store.usage(ALICE), size + sent.size);
    });
    await t.step("an unknown mailbox has no status, an unknown user no usage", async () => {
      assert.equal(await store.mailboxStatus(NO_MAILBOX), undefined);
      assert.equal(await store.usage("nobody@test.example"), 0);
    });
  });
}
