/**
 * The migration logic (`migrateStore`) and the SQLite import port, store to store without a
 * Cassandra: figures, messages, journals, subscriptions and queue state arrive as they were; a
 * second run is a no-op; changes made after a run (new mail, flags, expunges) are brought by
 * the next; another installation's user is refused before anything is written, and replaced
 * with `force`; figures no mailbox can have are refused. The HTTP API's tokens and delivery
 * statuses come along: revoked and updated ones too, expired ones not. The Cassandra side of the same port
 * is tested for real in `tests/e2e/migrate_store_test.ts`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { migrateStore, MigrationConflict } from "../../src/cli/migrate_store.ts";
import { type MailStore, StoreError } from "../../src/store/mail_store.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";

const ANN = "ann@test.example";
const BEN = "ben@test.example";
const bytes = (s: string) => new TextEncoder().encode(s);

function end(store: SqliteMailStore) {
  return { store, importer: store.importer() };
}

async function deliver(store: MailStore, id: string, to: string[], text: string) {
  return await store.deliver({
    id,
    body: bytes(`sealed ${text}`),
    summary: bytes(`summary ${text}`),
    size: 100 + text.length,
    internalDate: 1_700_000_000_000 + text.length,
    items: to.map((address) => ({
      address,
      mailbox: "INBOX",
      wrappedKey: bytes(`key of ${address}`),
      keyWrap: "rsa" as const,
    })),
  });
}

/** Everything a client could tell apart, per user, without mailbox ids. */
async function picture(store: MailStore) {
  const out: Record<string, unknown> = {};
  for (const address of await store.listUsers()) {
    const user = await store.getUser(address);
    const boxes = [];
    for (const box of await store.listMailboxes(address)) {
      const metas = await store.listMessages(box.id);
      const sealed = await store.getMessages(box.id, metas.map((m) => m.uid), true);
      const changes = await store.changesSince(box.id, 0);
      boxes.push({
        name: box.name,
        uidValidity: box.uidValidity,
        uidNext: box.uidNext,
        highestModSeq: box.highestModSeq,
        specialUse: box.specialUse,
        vanished: changes.vanished,
        complete: changes.complete,
        messages: sealed.map(({ mailboxId: _, ...m }) => m),
      });
    }
    out[address] = { user, boxes, subscriptions: await store.listSubscriptions(address) };
  }
  return out;
}

Deno.test("migrateStore between SQLite stores", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-migrate-" });
  const source = SqliteMailStore.open(join(dir, "source.db"));
  const target = SqliteMailStore.open(join(dir, "target.db"));
  try {
    await source.createUser({ address: ANN, keys: bytes("ann keys"), createdAt: 1 });
    await source.createUser({ address: BEN, keys: bytes("ben keys"), createdAt: 2 });
    await deliver(source, "d1", [ANN, BEN], "shared");
    await deliver(source, "d2", [ANN], "second");
    await deliver(source, "d3", [ANN], "third");
    const inbox = (await source.getMailbox(ANN, "INBOX"))!;
    const folder = await source.createMailbox(ANN, "Projects/2026");
    await source.copyMessages(inbox.id, [1], folder.id);
    await source.storeFlags(inbox.id, [1], "add", ["\\Seen", "$Important"]);
    await source.expunge(inbox.id, [2]);
    await source.setSubscribed(ANN, "Projects/2026", true);
    await source.setSubscribed(ANN, "Junk", false);
    await source.rewrapMessageKey(inbox.id, 1, bytes("sym key"), "sym");
    await source.queue.enqueue({
      id: "Q1",
      from: ANN,
      recipients: [{ address: "a@peer.example", notify: ["FAILURE"] }, {
        address: "b@peer.example",
        orcpt: "rfc822;b@peer.example",
      }],
      content: bytes("queued content"),
      needs8bit: true,
      needsSmtputf8: false,
      envid: "ENV1",
      ret: "HDRS",
      arrivedAt: 1_700_000_000_000,
    });
    await source.queue.recordResults("Q1", [
      { address: "a@peer.example", status: "deferred", reply: "451 later", at: 5, report: false },
      { address: "b@peer.example", status: "delivered", reply: "250 ok", at: 5, report: true },
    ], 1_700_000_600_000);
    await source.queue.markWarned("Q1");
    const token = (id: string, createdAt: number) => ({
      id,
      address: ANN,
      hash: bytes(`hash of ${id}`),
      createdAt,
    });
    await source.apiTokens.addToken(token("t1", 10));
    await source.apiTokens.addToken(token("t2", 11));
    const sentAt = Date.now() - 60_000;
    await source.deliveryStatus.trackMessage({
      id: "Q1",
      owner: ANN,
      createdAt: sentAt,
      recipients: [
        { address: "a@peer.example", state: "deferred", detail: "451 later", updatedAt: sentAt },
        { address: "b@peer.example", state: "delivered", updatedAt: sentAt },
      ],
    }, 3_600_000);
    // Past its retention: not copied.
    await source.deliveryStatus.trackMessage({
      id: "OLD",
      owner: ANN,
      createdAt: sentAt - 7_200_000,
      recipients: [{ address: "c@peer.example", state: "delivered", updatedAt: sentAt }],
    }, 3_600_000);

    await t.step("the first run copies everything as it is", async () => {
      const lines: string[] = [];
      const summary = await migrateStore(end(source), end(target), {
        progress: (l) => lines.push(l),
        pageSize: 2,
      });
      assert.equal(summary.users, 2);
      assert.equal(summary.mailboxes, 13);
      assert.equal(summary.messages, 4);
      assert.equal(summary.queued, 1);
      assert.deepEqual(await picture(target), await picture(source));
      assert.deepEqual(await target.queue.list(), await source.queue.list());
      assert.deepEqual(await target.queue.content("Q1"), bytes("queued content"));
      assert.equal(lines.length, 4);
      assert.match(lines[0], /user 1\/2 ann@test\.example: 7 mailboxes, 3 messages copied/);
      assert.match(lines[3], /API: 2 tokens copied, 0 revoked; 1 of 1 delivery statuses copied/);
      assert.equal(summary.tokens, 2);
      assert.equal(summary.statuses, 1);
      assert.deepEqual(
        await target.apiTokens.listTokens(ANN),
        await source.apiTokens.listTokens(ANN),
      );
      assert.deepEqual(
        await target.deliveryStatus.getStatus("Q1"),
        await source.deliveryStatus.getStatus("Q1"),
      );
      assert.equal(await target.deliveryStatus.getStatus("OLD"), undefined);
    });

    await t.step("the copy is a working store: UIDs and UIDVALIDITY continue", async () => {
      const box = (await target.getMailbox(ANN, "INBOX"))!;
      const [ref] = await deliver(target, "d-new", [ANN], "after");
      assert.equal(ref.uid, 4);
      const made = await target.createMailbox(ANN, "Fresh");
      const highest = Math.max(
        ...(await source.listMailboxes(ANN)).map((b) => b.uidValidity),
      );
      assert.ok(made.uidValidity > highest);
      await target.expunge(box.id, [4]);
      await target.deleteMailbox(ANN, "Fresh");
    });

    await t.step("a second run is a no-op", async () => {
      const before = await picture(target);
      const summary = await migrateStore(end(source), end(target));
      assert.equal(summary.messages, 0);
      assert.equal(summary.present, 4);
      assert.equal(summary.queued, 0);
      assert.equal(summary.tokens + summary.revoked + summary.statuses, 0);
      assert.equal(summary.statusesUpdated, 0);
      const after = await picture(target);
      assert.deepEqual(after, before);
    });

    await t.step("a run after changes brings new mail, flags and expunges", async () => {
      await deliver(source, "d4", [ANN], "fourth");
      await source.storeFlags(inbox.id, [3], "add", ["\\Answered"]);
      await source.expunge(folder.id, [1]);
      await source.apiTokens.revokeToken(ANN, "t1");
      await source.apiTokens.addToken(token("t3", 12));
      const retried = {
        address: "a@peer.example",
        state: "delivered" as const,
        updatedAt: sentAt + 1,
      };
      await source.deliveryStatus.updateRecipients("Q1", [retried]);
      const summary = await migrateStore(end(source), end(target));
      assert.equal(summary.messages, 1);
      assert.equal(summary.updated, 1);
      assert.deepEqual([summary.tokens, summary.revoked, summary.statusesUpdated], [1, 1, 1]);
      assert.equal(await target.apiTokens.getToken("t1"), undefined, "revoked in the source");
      assert.deepEqual(
        (await target.apiTokens.listTokens(ANN)).map((t) => t.id),
        ["t2", "t3"],
      );
      assert.deepEqual(
        await target.deliveryStatus.getStatus("Q1"),
        await source.deliveryStatus.getStatus("Q1"),
      );
      const t3 = await target.getMessage((await target.getMailbox(ANN, "INBOX"))!.id, 3);
      assert.deepEqual(t3?.flags, ["\\Answered"]);
      const tFolder = (await target.getMailbox(ANN, "Projects/2026"))!;
      assert.deepEqual(await target.listMessages(tFolder.id), []);
      assert.deepEqual((await target.changesSince(tFolder.id, 0)).vanished, [1]);
    });

    await t.step("another installation's user is refused, then replaced with force", async () => {
      const other = SqliteMailStore.open(join(dir, "other.db"));
      try {
        await other.createUser({ address: ANN, keys: bytes("other keys"), createdAt: 3 });
        await deliver(other, "o1", [ANN], "other");
        const into = { store: other, importer: other.importer() };
        await assert.rejects(
          () => migrateStore(end(source), into),
          (err) => err instanceof MigrationConflict && err.conflicts[0].address === ANN,
        );
        assert.equal(await other.getUser(BEN), undefined, "nothing written when refused");
        await migrateStore(end(source), into, { force: true });
        const mine = await picture(source);
        const theirs = await picture(other);
        assert.deepEqual(theirs, mine);
      } finally {
        await other.close();
      }
    });

    await t.step("figures no mailbox can have and UIDs past UIDNEXT are refused", async () => {
      const importer = target.importer();
      await assert.rejects(
        () =>
          importer.importMailbox({
            address: ANN,
            name: "Bad",
            uidValidity: 0,
            uidNext: 1,
            highestModSeq: 1,
          }),
        (err) => err instanceof StoreError && err.code === "invalid",
      );
      await assert.rejects(
        () =>
          importer.importMailbox({
            address: "nobody@test.example",
            name: "INBOX",
            uidValidity: 5,
            uidNext: 1,
            highestModSeq: 1,
          }),
        (err) => err instanceof StoreError && err.code === "not-found",
      );
      const box = (await target.getMailbox(ANN, "INBOX"))!;
      const [m] = await source.getMessages(inbox.id, [1], true);
      await assert.rejects(
        () => importer.importMessages(box.id, [{ ...m, body: m.body!, uid: 999 }]),
        (err) => err instanceof StoreError && err.code === "invalid",
      );
      await assert.rejects(
        () => importer.importUser({ address: ANN, keys: bytes("x"), createdAt: 0 }),
        (err) => err instanceof StoreError && err.code === "exists",
      );
    });
  } finally {
    await source.close();
    await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});
