/**
 * The MailStore contract: every backend (SQLite now, Cassandra later) runs these tests through
 * `mailStoreContract`, so the protocol code can rely on one behaviour whatever the store.
 * Contents are opaque bytes here; the store never sees clear text, so neither do these tests.
 */
import assert from "node:assert/strict";
import {
  type Delivery,
  type DeliveryItem,
  type MailStore,
  StoreError,
} from "../../src/store/mail_store.ts";

/** A store opened for one test, and how to dispose of what it left behind. */
export interface StoreFixture {
  store: MailStore;
  /** Removes the store's files or keyspace; called after the store is closed. */
  cleanup: () => Promise<void>;
  /**
   * The number of stored bodies, when the backend can tell: lets the contract check that
   * bodies are shared between recipients and go once nobody refers to them, which the port
   * itself does not show.
   */
  countBodies?: () => Promise<number>;
}

const ALICE = "alice@test.example";
const BOB = "bob@test.example";
const CAROL = "carol@test.example";

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

async function addUser(store: MailStore, address: string): Promise<void> {
  await store.createUser({ address, keys: randomBytes(32), createdAt: Date.now() });
}

function item(address: string, mailbox = "INBOX", flags?: string[]): DeliveryItem {
  return { address, mailbox, wrappedKey: randomBytes(16), keyWrap: "rsa", flags };
}

function delivery(items: DeliveryItem[], body = randomBytes(64)): Delivery {
  return { body, size: body.length + 10, internalDate: Date.now(), items };
}

async function inbox(store: MailStore, address: string) {
  const box = await store.getMailbox(address, "INBOX");
  assert.ok(box, `${address} has no INBOX`);
  return box;
}

/** Asserts that `promise` rejects with a StoreError of `code`. */
async function rejectsWith(promise: Promise<unknown>, code: StoreError["code"]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${err}`);
    assert.equal(err.code, code);
    return true;
  });
}

function assertStrictlyAscending(values: number[], what: string): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i] > values[i - 1], `${what} not strictly ascending at ${i}: ${values}`);
  }
}

/** Registers the contract's tests for one backend; `open` gives a fresh, empty store. */
export function mailStoreContract(name: string, open: () => Promise<StoreFixture>): void {
  /** One Deno.test on a fresh store, closed and cleaned up whatever happens. */
  function contractTest(title: string, fn: (t: Deno.TestContext, f: StoreFixture) => unknown) {
    Deno.test(`${name} contract: ${title}`, async (t) => {
      const fixture = await open();
      try {
        await fn(t, fixture);
      } finally {
        await fixture.store.close();
        await fixture.cleanup();
      }
    });
  }

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

  contractTest("mailboxes", async (t, { store }) => {
    await addUser(store, ALICE);
    await t.step("a new user has an INBOX with a nonzero UIDVALIDITY", async () => {
      const box = await inbox(store, ALICE);
      assert.equal(box.address, ALICE);
      assert.equal(box.name, "INBOX");
      assert.ok(box.uidValidity > 0 && box.uidValidity < 2 ** 32, `uidValidity ${box.uidValidity}`);
      assert.ok(box.uidNext >= 1);
      assert.ok(box.highestModSeq >= 0);
      assert.deepEqual((await store.listMailboxes(ALICE)).map((b) => b.name), ["INBOX"]);
    });
    await t.step("ensureMailbox creates once and then returns the same mailbox", async () => {
      const sent = await store.ensureMailbox(ALICE, "Sent");
      assert.equal(sent.name, "Sent");
      assert.ok(sent.uidValidity > 0);
      assert.deepEqual(await store.ensureMailbox(ALICE, "Sent"), sent);
      assert.deepEqual(await store.getMailbox(ALICE, "Sent"), sent);
      assert.deepEqual(await store.ensureMailbox(ALICE, "INBOX"), await inbox(store, ALICE));
      const names = (await store.listMailboxes(ALICE)).map((b) => b.name).sort();
      assert.deepEqual(names, ["INBOX", "Sent"]);
    });
    await t.step("mailboxes of different users are distinct", async () => {
      await addUser(store, BOB);
      assert.notEqual((await inbox(store, BOB)).id, (await inbox(store, ALICE)).id);
    });
    await t.step("an unknown mailbox is undefined", async () => {
      assert.equal(await store.getMailbox(ALICE, "Nope"), undefined);
      assert.deepEqual(await store.listMailboxes("nobody@test.example"), []);
    });
    await t.step("ensureMailbox for an unknown user fails with not-found", async () => {
      await rejectsWith(store.ensureMailbox("nobody@test.example", "INBOX"), "not-found");
    });
    await t.step("a mailbox created again gets a larger UIDVALIDITY", async () => {
      const before = await inbox(store, BOB);
      await store.deleteUser(BOB);
      await addUser(store, BOB);
      const after = await inbox(store, BOB);
      assert.ok(
        after.uidValidity > before.uidValidity,
        `${after.uidValidity} after ${before.uidValidity}`,
      );
    });
  });

  contractTest("delivery", async (t, { store, countBodies }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    await t.step("one delivery reaches several recipients and mailboxes", async () => {
      const bodiesBefore = await countBodies?.();
      const body = randomBytes(300);
      const items = [item(ALICE), item(BOB), item(ALICE, "Sent", ["\\Seen"])];
      const d = delivery(items, body);
      const ids = await store.deliver(d);
      assert.equal(ids.length, 3);
      assert.equal(new Set(ids).size, 3);
      if (bodiesBefore !== undefined) assert.equal(await countBodies?.(), bodiesBefore + 1);
      const sent = await store.getMailbox(ALICE, "Sent");
      assert.ok(sent, "Sent was not created on demand");
      const boxes = [(await inbox(store, ALICE)).id, (await inbox(store, BOB)).id, sent.id];
      for (const [i, id] of ids.entries()) {
        const m = await store.getMessage(id);
        assert.ok(m, `message ${id} missing`);
        assert.equal(m.id, id);
        assert.equal(m.mailboxId, boxes[i], `item ${i} landed in the wrong mailbox`);
        assert.deepEqual(m.body, body);
        assert.deepEqual(m.wrappedKey, items[i].wrappedKey);
        assert.equal(m.keyWrap, "rsa");
        assert.equal(m.size, d.size);
        assert.equal(m.internalDate, d.internalDate);
        assert.deepEqual(m.flags, i === 2 ? ["\\Seen"] : []);
        assert.ok(m.uid >= 1 && m.modSeq >= 1);
      }
    });
    await t.step("UIDs ascend and uidNext advances past them", async () => {
      const before = await inbox(store, ALICE);
      const uids: number[] = [];
      for (let i = 0; i < 3; i++) {
        const [id] = await store.deliver(delivery([item(ALICE)]));
        uids.push((await store.getMessage(id))!.uid);
      }
      assertStrictlyAscending(uids, "UIDs");
      assert.ok(uids[0] >= before.uidNext);
      const after = await inbox(store, ALICE);
      assert.ok(after.uidNext > uids[2]);
      assert.equal(after.uidValidity, before.uidValidity);
      assert.ok(after.highestModSeq > before.highestModSeq);
    });
    await t.step("listMessages gives metadata in UID order", async () => {
      const box = await inbox(store, ALICE);
      const list = await store.listMessages(box.id);
      assert.equal(list.length, 4);
      assertStrictlyAscending(list.map((m) => m.uid), "listed UIDs");
      for (const m of list) {
        assert.equal(m.mailboxId, box.id);
        assert.ok(!("body" in m), "listMessages should not carry bodies");
        assert.ok(m.modSeq <= box.highestModSeq);
      }
      assert.deepEqual(await store.listMessages(-1), []);
    });
    await t.step("an unknown message is undefined", async () => {
      assert.equal(await store.getMessage(-1), undefined);
    });
    await t.step("a delivery with an unknown recipient stores nothing at all", async () => {
      const bodiesBefore = await countBodies?.();
      const before = (await store.listMessages((await inbox(store, BOB)).id)).length;
      await rejectsWith(store.deliver(delivery([item(BOB), item(CAROL)])), "not-found");
      assert.equal((await store.listMessages((await inbox(store, BOB)).id)).length, before);
      if (bodiesBefore !== undefined) assert.equal(await countBodies?.(), bodiesBefore);
    });
    await t.step("a delivery without recipients is invalid", async () => {
      await rejectsWith(store.deliver(delivery([])), "invalid");
    });
  });

  contractTest("message changes", async (t, { store }) => {
    await addUser(store, ALICE);
    const [id] = await store.deliver(delivery([item(ALICE)]));
    await t.step("rewrapMessageKey replaces the wrapped key and its kind", async () => {
      const body = (await store.getMessage(id))!.body;
      await store.rewrapMessageKey(id, bytes(7, 7, 7), "sym");
      const m = await store.getMessage(id);
      assert.deepEqual(m?.wrappedKey, bytes(7, 7, 7));
      assert.equal(m?.keyWrap, "sym");
      assert.deepEqual(m?.body, body);
    });
    await t.step("rewrapMessageKey of an unknown message fails with not-found", async () => {
      await rejectsWith(store.rewrapMessageKey(-1, bytes(1), "sym"), "not-found");
    });
    await t.step("setFlags replaces flags and bumps modseq and highestModSeq", async () => {
      const before = (await store.getMessage(id))!;
      const boxBefore = await inbox(store, ALICE);
      const meta = await store.setFlags(id, ["\\Seen", "\\Flagged"]);
      assert.deepEqual(meta.flags, ["\\Seen", "\\Flagged"]);
      assert.equal(meta.id, id);
      assert.equal(meta.uid, before.uid);
      assert.ok(meta.modSeq > before.modSeq);
      const boxAfter = await inbox(store, ALICE);
      assert.ok(boxAfter.highestModSeq > boxBefore.highestModSeq);
      assert.equal(boxAfter.highestModSeq, meta.modSeq);
      assert.deepEqual((await store.getMessage(id))?.flags, ["\\Seen", "\\Flagged"]);
      const again = await store.setFlags(id, []);
      assert.deepEqual(again.flags, []);
      assert.ok(again.modSeq > meta.modSeq);
    });
    await t.step("setFlags of an unknown message fails with not-found", async () => {
      await rejectsWith(store.setFlags(-1, ["\\Seen"]), "not-found");
    });
  });

  contractTest("expunge", async (t, { store, countBodies }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    const [forAlice, forBob] = await store.deliver(delivery([item(ALICE), item(BOB)]));
    const [other] = await store.deliver(delivery([item(ALICE)]));
    const bodies = await countBodies?.();
    await t.step("a body still referenced by another recipient stays", async () => {
      const boxBefore = await inbox(store, ALICE);
      await store.expunge([forAlice]);
      assert.equal(await store.getMessage(forAlice), undefined);
      assert.deepEqual((await store.listMessages(boxBefore.id)).map((m) => m.id), [other]);
      assert.ok((await inbox(store, ALICE)).highestModSeq > boxBefore.highestModSeq);
      assert.ok((await store.getMessage(forBob))?.body.length);
      if (bodies !== undefined) assert.equal(await countBodies?.(), bodies);
    });
    await t.step("the body goes with its last recipient", async () => {
      await store.expunge([forBob]);
      assert.equal(await store.getMessage(forBob), undefined);
      if (bodies !== undefined) assert.equal(await countBodies?.(), bodies - 1);
    });
    await t.step("expunging gone or no messages is a no-op", async () => {
      await store.expunge([forAlice, forBob, -1]);
      await store.expunge([]);
      assert.ok(await store.getMessage(other));
    });
  });

  contractTest("deleteUser removes mailboxes and messages", async (t, { store, countBodies }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    const [shared, forBob] = await store.deliver(delivery([item(ALICE), item(BOB)]));
    const [own] = await store.deliver(delivery([item(ALICE, "Junk")]));
    const bodies = await countBodies?.();
    await t.step("the user's messages and mailboxes are gone", async () => {
      assert.equal(await store.deleteUser(ALICE), true);
      assert.equal(await store.getMessage(shared), undefined);
      assert.equal(await store.getMessage(own), undefined);
      assert.deepEqual(await store.listMailboxes(ALICE), []);
    });
    await t.step("another recipient's copy and its body stay", async () => {
      assert.ok((await store.getMessage(forBob))?.body.length);
      if (bodies !== undefined) assert.equal(await countBodies?.(), bodies - 1);
    });
    await t.step("a delivery to the deleted user fails with not-found", async () => {
      await rejectsWith(store.deliver(delivery([item(ALICE)])), "not-found");
    });
  });

  contractTest("concurrent deliveries", async (t, { store }) => {
    await addUser(store, ALICE);
    await addUser(store, BOB);
    await t.step("200 deliveries at once all land with distinct ascending UIDs", async () => {
      const box = await inbox(store, ALICE);
      const results = await Promise.all(
        Array.from({ length: 200 }, () => store.deliver(delivery([item(ALICE)]))),
      );
      const ids = results.map(([id]) => id);
      assert.equal(new Set(ids).size, 200);
      const list = await store.listMessages(box.id);
      assert.deepEqual(list.map((m) => m.id).sort((a, b) => a - b), [...ids].sort((a, b) => a - b));
      assertStrictlyAscending(list.map((m) => m.uid), "UIDs");
      assert.ok((await inbox(store, ALICE)).uidNext > list[199].uid);
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
      assert.equal((await store.listMessages((await inbox(store, BOB)).id)).length, 3);
      assert.equal((await store.listMessages((await inbox(store, ALICE)).id)).length, 201);
    });
  });

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
