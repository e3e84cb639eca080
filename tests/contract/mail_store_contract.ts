/**
 * The MailStore contract: every backend (SQLite now, Cassandra next) runs these tests through
 * `mailStoreContract`, so the protocol code can rely on one behaviour whatever the store.
 * Contents are opaque bytes here; the store never sees clear text, so neither do these tests.
 * Mailbox ids are opaque strings: nothing here assumes their form.
 *
 * Sections: users, delivery and lifecycle here; mailboxes, messages and changes in the files
 * beside this one.
 */
import assert from "node:assert/strict";
import { StoreError } from "../../src/store/mail_store.ts";
import {
  addUser,
  ALICE,
  assertStrictlyAscending,
  BOB,
  bytes,
  CAROL,
  type ContractTest,
  delivery,
  item,
  mailbox,
  message,
  NO_MAILBOX,
  randomBytes,
  rejectsWith,
  type StoreFixture,
  uidsOf,
} from "./mail_store_contract_helpers.ts";
import { mailboxContract } from "./mail_store_contract_mailboxes.ts";
import { messageContract } from "./mail_store_contract_messages.ts";
import { changeContract } from "./mail_store_contract_changes.ts";

export type { StoreFixture } from "./mail_store_contract_helpers.ts";

/** Registers the contract's tests for one backend; `open` gives a fresh, empty store. */
export function mailStoreContract(name: string, open: () => Promise<StoreFixture>): void {
  const contractTest: ContractTest = (title, fn) => {
    Deno.test(`${name} contract: ${title}`, async (t) => {
      const fixture = await open();
      try {
        await fn(t, fixture);
      } finally {
        await fixture.store.close();
        await fixture.cleanup();
      }
    });
  };

  usersContract(contractTest);
  mailboxContract(contractTest);
  deliveryContract(contractTest);
  messageContract(contractTest);
  changeContract(contractTest);
  lifecycleContract(contractTest);
}

function usersContract(contractTest: ContractTest): void {
  contractTest("users", async (t, { store }) => {
    await t.step("createUser then getUser round-trips the record", async () => {
      const keys = bytes(1, 2, 3, 250);
      await store.createUser({ address: ALICE, keys, createdAt: 1_700_000_000_000 });
      const user = await store.getUser(ALICE);
      assert.deepEqual(user, { address: ALICE, keys, createdAt: 1_700_000_000_000 });
    });
    await t.step("an unknown user is undefined", async () => {
      assert.equal(await store.getUser("nobody@test.example"), undefined);
    });
    await t.step("an address is kept exactly as given (callers lower-case it)", async () => {
      await addUser(store, "Mixed.Case@Test.Example");
      assert.equal(
        (await store.getUser("Mixed.Case@Test.Example"))?.address,
        "Mixed.Case@Test.Example",
      );
    });
    await t.step("creating a taken address fails with exists", async () => {
      await rejectsWith(addUser(store, ALICE), "exists");
    });
    await t.step("updateUserKeys replaces the keys", async () => {
      await store.updateUserKeys(ALICE, bytes(9, 9));
      assert.deepEqual((await store.getUser(ALICE))?.keys, bytes(9, 9));
    });
    await t.step("updateUserKeys of an unknown user fails with not-found", async () => {
      await rejectsWith(store.updateUserKeys("nobody@test.example", bytes(1)), "not-found");
    });
    await t.step("listUsers lists every user", async () => {
      await addUser(store, BOB);
      const users = await store.listUsers();
      assert.deepEqual([...users].sort(), [ALICE, BOB, "Mixed.Case@Test.Example"].sort());
    });
    await t.step("deleteUser removes the user once", async () => {
      assert.equal(await store.deleteUser(BOB), true);
      assert.equal(await store.getUser(BOB), undefined);
      assert.equal(await store.deleteUser(BOB), false);
      assert.ok(!(await store.listUsers()).includes(BOB));
    });
  });

  contractTest("deleteUser removes mailboxes and messages", async (t, { store, countBodies }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    const [shared, forBob] = await store.deliver(delivery([item(ALICE), item(BOB)]));
    const [own] = await store.deliver(delivery([item(ALICE, "Junk")]));
    const bodies = await countBodies?.();
    await t.step("the user's messages, mailboxes and subscriptions are gone", async () => {
      assert.equal(await store.deleteUser(ALICE), true);
      assert.equal(await store.getMessage(shared.mailboxId, shared.uid), undefined);
      assert.equal(await store.getMessage(own.mailboxId, own.uid), undefined);
      assert.equal(await store.getMailboxById(shared.mailboxId), undefined);
      assert.deepEqual(await store.listMailboxes(ALICE), []);
      assert.deepEqual(await store.listSubscriptions(ALICE), []);
      assert.equal(await store.usage(ALICE), 0);
    });
    await t.step("another recipient's copy and its body stay", async () => {
      assert.ok((await message(store, forBob)).body?.length);
      if (bodies !== undefined) assert.equal(await countBodies?.(), bodies - 1);
    });
    await t.step("a delivery to the deleted user fails with not-found", async () => {
      await rejectsWith(store.deliver(delivery([item(ALICE)])), "not-found");
    });
  });
}

function deliveryContract(contractTest: ContractTest): void {
  contractTest("delivery", async (t, { store, countBodies }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    await t.step("one delivery reaches several recipients and mailboxes", async () => {
      const bodiesBefore = await countBodies?.();
      const body = randomBytes(300);
      const items = [item(ALICE), item(BOB), item(ALICE, "Lists/deno", ["\\Seen"])];
      const d = delivery(items, body);
      const refs = await store.deliver(d);
      assert.equal(refs.length, 3);
      if (bodiesBefore !== undefined) assert.equal(await countBodies?.(), bodiesBefore + 1);
      const lists = await store.getMailbox(ALICE, "Lists/deno");
      assert.ok(lists, "a missing mailbox was not created on demand");
      const boxes = [(await mailbox(store, ALICE)).id, (await mailbox(store, BOB)).id, lists.id];
      assert.equal(new Set(boxes).size, 3);
      for (const [i, ref] of refs.entries()) {
        assert.equal(ref.mailboxId, boxes[i], `item ${i} landed in the wrong mailbox`);
        const m = await message(store, ref);
        assert.equal(m.mailboxId, ref.mailboxId);
        assert.equal(m.uid, ref.uid);
        assert.deepEqual(m.body, body);
        assert.deepEqual(m.wrappedKey, items[i].wrappedKey);
        assert.equal(m.keyWrap, "rsa");
        assert.equal(m.size, d.size);
        assert.equal(m.internalDate, d.internalDate);
        assert.deepEqual(m.flags, i === 2 ? ["\\Seen"] : []);
        assert.equal(m.summary, undefined);
        assert.ok(m.uid >= 1 && m.modSeq >= 1);
      }
    });
    await t.step("UIDs ascend and uidNext advances past them", async () => {
      const before = await mailbox(store, ALICE);
      const uids: number[] = [];
      for (let i = 0; i < 3; i++) {
        const [ref] = await store.deliver(delivery([item(ALICE)]));
        uids.push(ref.uid);
      }
      assertStrictlyAscending(uids, "UIDs");
      assert.ok(uids[0] >= before.uidNext);
      const after = await mailbox(store, ALICE);
      assert.ok(after.uidNext > uids[2]);
      assert.equal(after.uidValidity, before.uidValidity);
      assert.ok(after.highestModSeq > before.highestModSeq);
    });
    await t.step("two items for one mailbox are two messages", async () => {
      const refs = await store.deliver(delivery([item(BOB), item(BOB)]));
      assert.equal(refs.length, 2);
      assert.equal(refs[0].mailboxId, refs[1].mailboxId);
      assert.notEqual(refs[0].uid, refs[1].uid);
    });
    await t.step("listMessages gives metadata in UID order", async () => {
      const box = await mailbox(store, ALICE);
      const list = await store.listMessages(box.id);
      assert.equal(list.length, 4);
      assertStrictlyAscending(list.map((m) => m.uid), "listed UIDs");
      for (const m of list) {
        assert.equal(m.mailboxId, box.id);
        assert.ok(!("body" in m), "listMessages should not carry bodies");
        assert.ok(m.modSeq <= box.highestModSeq);
      }
      assert.deepEqual(await store.listMessages(NO_MAILBOX), []);
    });
    await t.step("an unknown message is undefined", async () => {
      assert.equal(await store.getMessage((await mailbox(store, ALICE)).id, 99_999), undefined);
      assert.equal(await store.getMessage(NO_MAILBOX, 1), undefined);
    });
    await t.step("the summary is stored with the message", async () => {
      const d = { ...delivery([item(ALICE), item(BOB)]), summary: randomBytes(40) };
      for (const ref of await store.deliver(d)) {
        assert.deepEqual((await message(store, ref)).summary, d.summary);
      }
    });
    await t.step("a delivery with an unknown recipient stores nothing at all", async () => {
      const bodiesBefore = await countBodies?.();
      const bob = await mailbox(store, BOB);
      const before = await uidsOf(store, bob.id);
      await rejectsWith(store.deliver(delivery([item(BOB), item(CAROL)])), "not-found");
      assert.deepEqual(await uidsOf(store, bob.id), before);
      if (bodiesBefore !== undefined) assert.equal(await countBodies?.(), bodiesBefore);
    });
    await t.step("a delivery without recipients, or to an empty name, is invalid", async () => {
      await rejectsWith(store.deliver(delivery([])), "invalid");
      await rejectsWith(store.deliver(delivery([item(ALICE, "")])), "invalid");
    });
  });

  contractTest("idempotent delivery", async (t, { store, countBodies }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    await t.step("the same delivery id twice files each item once", async () => {
      const d = delivery([item(ALICE), item(BOB), item(ALICE, "Sent")]);
      const first = await store.deliver(d);
      const bodies = await countBodies?.();
      const again = await store.deliver({ ...d, body: randomBytes(64) });
      assert.deepEqual(again, first);
      assert.equal((await uidsOf(store, first[0].mailboxId)).length, 1);
      assert.equal((await uidsOf(store, first[1].mailboxId)).length, 1);
      assert.equal((await uidsOf(store, first[2].mailboxId)).length, 1);
      assert.deepEqual((await message(store, first[0])).body, d.body);
      if (bodies !== undefined) assert.equal(await countBodies?.(), bodies);
    });
    await t.step("retries racing each other still file once", async () => {
      const d = delivery([item(BOB)]);
      const results = await Promise.all([store.deliver(d), store.deliver(d), store.deliver(d)]);
      assert.deepEqual(results[1], results[0]);
      assert.deepEqual(results[2], results[0]);
      assert.equal((await uidsOf(store, results[0][0].mailboxId)).length, 2);
    });
    await t.step("a retry with another item files only the new one", async () => {
      const d = delivery([item(ALICE)]);
      const [first] = await store.deliver(d);
      const refs = await store.deliver({ ...d, items: [d.items[0], item(BOB)] });
      assert.deepEqual(refs[0], first);
      assert.equal(refs[1].mailboxId, (await mailbox(store, BOB)).id);
      assert.equal((await uidsOf(store, first.mailboxId)).length, 2);
    });
    await t.step("another delivery id is another message", async () => {
      const d = delivery([item(ALICE)]);
      const [a] = await store.deliver(d);
      const [b] = await store.deliver({ ...d, id: crypto.randomUUID() });
      assert.notEqual(a.uid, b.uid);
    });
  });

  contractTest("createMailbox: false", async (t, { store, countBodies }) => {
    await addUser(store, ALICE);
    await t.step("a missing mailbox is refused with not-found, nothing stored", async () => {
      const bodies = await countBodies?.();
      const inbox = await mailbox(store, ALICE);
      const d = delivery([item(ALICE), { ...item(ALICE, "Nope"), createMailbox: false }]);
      await rejectsWith(store.deliver(d), "not-found");
      assert.equal(await store.getMailbox(ALICE, "Nope"), undefined);
      assert.deepEqual(await uidsOf(store, inbox.id), []);
      if (bodies !== undefined) assert.equal(await countBodies?.(), bodies);
    });
    await t.step("an existing mailbox takes the message", async () => {
      const [ref] = await store.deliver(
        delivery([{ ...item(ALICE, "Drafts", ["\\Draft"]), createMailbox: false }]),
      );
      assert.equal(ref.mailboxId, (await mailbox(store, ALICE, "Drafts")).id);
      assert.deepEqual((await message(store, ref)).flags, ["\\Draft"]);
    });
    await t.step("an unknown user is not-found too", async () => {
      await rejectsWith(
        store.deliver(delivery([{ ...item(CAROL), createMailbox: false }])),
        "not-found",
      );
    });
  });

  contractTest("concurrent deliveries", async (t, { store }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    await t.step("200 deliveries at once all land with distinct ascending UIDs", async () => {
      const box = await mailbox(store, ALICE);
      const results = await Promise.all(
        Array.from({ length: 200 }, () => store.deliver(delivery([item(ALICE)]))),
      );
      const uids = results.map(([ref]) => ref.uid);
      assert.equal(new Set(uids).size, 200);
      const list = await uidsOf(store, box.id);
      assert.deepEqual(list, [...uids].sort((a, b) => a - b));
      assertStrictlyAscending(list, "UIDs");
      assert.ok((await mailbox(store, ALICE)).uidNext > list[199]);
    });
    await t.step("an unknown recipient rejects its delivery only", async () => {
      const settled = await Promise.allSettled([
        store.deliver(delivery([item(BOB)])),
        store.deliver(delivery([item(CAROL)])),
        store.deliver(delivery([item(BOB), item(ALICE)])),
        store.deliver(delivery([item(ALICE), item(CAROL)])),
        store.deliver(delivery([item(BOB)])),
      ]);
      assert.deepEqual(settled.map((s) => s.status), [
        "fulfilled",
        "rejected",
        "fulfilled",
        "rejected",
        "fulfilled",
      ]);
      for (const s of settled) {
        if (s.status === "rejected") {
          assert.ok(s.reason instanceof StoreError && s.reason.code === "not-found");
        }
      }
      assert.equal((await uidsOf(store, (await mailbox(store, BOB)).id)).length, 3);
      assert.equal((await uidsOf(store, (await mailbox(store, ALICE)).id)).length, 201);
    });
  });
}

function lifecycleContract(contractTest: ContractTest): void {
  contractTest("selfCheck and close", async (t, { store }) => {
    await t.step("selfCheck passes on a working store", async () => {
      await store.selfCheck();
      await store.selfCheck();
    });
    await t.step("a delivery in flight when close() is called still lands", async () => {
      await addUser(store, ALICE);
      const pending = store.deliver(delivery([item(ALICE)]));
      await store.close();
      assert.equal((await pending).length, 1);
    });
    await t.step("close is idempotent", async () => {
      await store.close();
    });
  });
}
