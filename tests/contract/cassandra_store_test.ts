/**
 * The Cassandra store against a real Cassandra: the MailStore and QueueStore contracts
 * unchanged, each test in a fresh keyspace, and what only a cluster store has — a newer schema
 * refused by keyspace name, two store instances (two nodes) taking UIDs from one mailbox at
 * once, queue leases between nodes and their expiry, and an unreachable cluster reported as
 * "unavailable".
 *
 * Runs when FSMTP_TEST_CASSANDRA is "host:port" (FSMTP_TEST_CASSANDRA_DC names the data
 * centre, "datacenter1" when unset); otherwise every test here is reported as ignored, with a
 * line saying why. There is no mock: a skipped test is never a pass.
 */
import assert from "node:assert/strict";
import { type Delivery, StoreError } from "../../src/store/mail_store.ts";
import {
  CassandraMailStore,
  type CassandraStoreOptions,
} from "../../src/store/cassandra/cassandra_store.ts";
import { MailboxCounters } from "../../src/store/cassandra/counters.ts";
import { SCHEMA_VERSION } from "../../src/store/cassandra/schema.ts";
import { STALE_MS } from "../../src/store/cassandra/visibility.ts";
import { CqlSession, num } from "../../src/store/cassandra/session.ts";
import { mailStoreContract } from "./mail_store_contract.ts";
import { item as queueItem, queueStoreContract } from "./queue_store_contract.ts";
import { apiStoreContract } from "./api_store_contract.ts";

const TARGET = Deno.env.get("FSMTP_TEST_CASSANDRA");
const DAY_MS = 24 * 60 * 60 * 1000;

/** Options for a fresh keyspace of its own. */
function options(extra: Partial<CassandraStoreOptions> = {}): CassandraStoreOptions {
  return {
    contactPoints: [TARGET ?? ""],
    localDc: Deno.env.get("FSMTP_TEST_CASSANDRA_DC") ?? "datacenter1",
    keyspace: `fsmtp_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`,
    replicationFactor: 1,
    consistency: "LOCAL_QUORUM",
    ...extra,
  };
}

/** Drops a test keyspace through a session of its own (the store is closed by then). */
async function dropKeyspace(opts: CassandraStoreOptions): Promise<void> {
  const session = new CqlSession({ ...opts });
  try {
    await session.connect();
    await session.run(`DROP KEYSPACE IF EXISTS ${opts.keyspace}`);
  } finally {
    await session.close();
  }
}

/** A one-octet message for `address`'s INBOX, under `id` (a fresh delivery id by default). */
function inboxDelivery(address: string, octet: number, id: string = crypto.randomUUID()): Delivery {
  return {
    id,
    body: new Uint8Array([octet % 256]),
    size: 1,
    internalDate: 1,
    items: [{ address, mailbox: "INBOX", wrappedKey: new Uint8Array(1), keyWrap: "rsa" }],
  };
}

async function count(store: CassandraMailStore, table: string): Promise<number> {
  const row = await store.session.row(`SELECT count(*) AS n FROM ${table}`);
  return row ? num(row, "n") : 0;
}

if (!TARGET) {
  console.log(
    "cassandra store tests skipped: FSMTP_TEST_CASSANDRA (host:port of a running Cassandra) " +
      "is not set",
  );
  Deno.test({
    name: "cassandra store (skipped: FSMTP_TEST_CASSANDRA is not set)",
    ignore: true,
    fn() {},
  });
} else {
  mailStoreContract("cassandra", async () => {
    const opts = options();
    const store = await CassandraMailStore.open(opts);
    return {
      store,
      cleanup: () => dropKeyspace(opts),
      countBodies: () => count(store, "bodies"),
      // A year on, every tombstone is past its 30 days.
      prune: () => store.pruneJournal(Date.now() + 365 * DAY_MS),
    };
  });

  queueStoreContract("cassandra", async () => {
    const opts = options({ nodeId: "node-a" });
    let store = await CassandraMailStore.open(opts);
    return {
      queue: store.queue,
      reopen: async () => {
        await store.close();
        store = await CassandraMailStore.open(opts);
        return store.queue;
      },
      cleanup: async () => {
        await store.close();
        await dropKeyspace(opts);
      },
    };
  });

  apiStoreContract("cassandra", async () => {
    const opts = options();
    const store = await CassandraMailStore.open(opts);
    return {
      store,
      tokens: store.apiTokens,
      statuses: store.deliveryStatus,
      cleanup: async () => {
        await store.close();
        await dropKeyspace(opts);
      },
    };
  });

  Deno.test("cassandra store: cluster behaviour", async (t) => {
    const opts = options();
    const a = await CassandraMailStore.open({ ...opts, nodeId: "node-a", queueLeaseMs: 1500 });
    const b = await CassandraMailStore.open({ ...opts, nodeId: "node-b", queueLeaseMs: 1500 });
    try {
      await t.step("the schema version is recorded in the keyspace", async () => {
        const row = await a.session.row("SELECT version FROM schema_version WHERE id = 0");
        assert.equal(row && num(row, "version"), SCHEMA_VERSION);
      });

      await t.step("two nodes delivering to one mailbox at once get distinct UIDs", async () => {
        const user = "alice@test.example";
        await a.createUser({ address: user, keys: new Uint8Array([1]), createdAt: 1 });
        const refs = await Promise.all(
          Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).deliver(inboxDelivery(user, i))),
        );
        const uids = refs.map(([r]) => r.uid);
        assert.equal(new Set(uids).size, 60);
        const listed = (await b.listMessages(refs[0][0].mailboxId)).map((m) => m.uid);
        assert.deepEqual(listed, [...uids].sort((x, y) => x - y));
        const box = await a.getMailboxById(refs[0][0].mailboxId);
        assert.ok(box && box.uidNext > Math.max(...uids));
        const modSeqs = (await a.listMessages(box.id)).map((m) => m.modSeq);
        assert.equal(new Set(modSeqs).size, 60, "two messages share a modseq");
      });

      await t.step("one delivery id retried on two nodes at once is filed once", async () => {
        const user = "alice@test.example";
        const d: Delivery = {
          id: "same-on-both",
          body: new Uint8Array([7]),
          size: 1,
          internalDate: 1,
          items: [{
            address: user,
            mailbox: "Twice",
            wrappedKey: new Uint8Array(1),
            keyWrap: "sym",
          }],
        };
        const [x, y] = await Promise.all([a.deliver(d), b.deliver(d)]);
        assert.deepEqual(x, y);
        assert.equal((await a.listMessages(x[0].mailboxId)).length, 1);
      });

      await t.step(
        "a UID taken but not yet written holds back higher UIDs written by another node",
        async () => {
          const user = "alice@test.example";
          const inbox = (await a.getMailbox(user, "INBOX"))!;
          const listedBefore = (await b.listMessages(inbox.id)).map((m) => m.uid);
          // "Node C" takes a UID and modseq and stalls before writing its message.
          const stalled = await new MailboxCounters(a.session).take(inbox.id, {
            uids: 1,
            modSeqs: 1,
          });
          const [late] = await b.deliver(inboxDelivery(user, 9));
          assert.ok(late.uid > stalled.firstUid);
          // Written, but above a UID still on its way: neither listed nor reported as a change.
          assert.deepEqual((await a.listMessages(inbox.id)).map((m) => m.uid), listedBefore);
          const held = (await a.getMailboxById(inbox.id))!;
          assert.ok(held.highestModSeq < stalled.firstModSeq, "modseq shown past the stalled one");
          const changes = await a.changesSince(inbox.id, inbox.highestModSeq);
          assert.deepEqual(changes.changed, []);
          assert.equal((await a.mailboxStatus(inbox.id))!.messages, listedBefore.length);
          // The stalled node gives up (its UID stays a gap): the later message shows.
          await stalled.release();
          assert.deepEqual(
            (await a.listMessages(inbox.id)).map((m) => m.uid),
            [...listedBefore, late.uid],
          );
          const after = await a.changesSince(inbox.id, held.highestModSeq);
          assert.deepEqual(after.changed.map((m) => m.uid), [late.uid]);
          assert.equal(await count(a, "pending_grants"), 0);
        },
      );

      await t.step("an announcement of a dead node stops holding mail back", async () => {
        const user = "alice@test.example";
        const inbox = (await a.getMailbox(user, "INBOX"))!;
        await a.session.run(
          `INSERT INTO pending_grants (mailbox_id, first_modseq, grant_id, first_uid, since)
           VALUES (?, ?, ?, ?, ?)`,
          [inbox.id, inbox.highestModSeq + 1, "dead", inbox.uidNext, Date.now() - STALE_MS - 1],
        );
        const [ref] = await b.deliver(inboxDelivery(user, 10));
        assert.equal((await a.listMessages(inbox.id)).at(-1)?.uid, ref.uid);
        await a.session.run("DELETE FROM pending_grants WHERE mailbox_id = ?", [inbox.id]);
      });

      await t.step("a claim whose owner died is taken over at the UID it recorded", async () => {
        const user = "alice@test.example";
        const inbox = (await a.getMailbox(user, "INBOX"))!;
        const reserved = await new MailboxCounters(a.session).take(inbox.id, {
          uids: 1,
          modSeqs: 1,
        });
        await reserved.release();
        await a.session.run(
          `INSERT INTO deliveries (delivery_id, address, mailbox, nth, owner, claimed_at,
           mailbox_id, uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            "died-mid-way",
            user,
            "INBOX",
            0,
            "dead",
            Date.now() - 60_000,
            inbox.id,
            reserved.firstUid,
          ],
        );
        const [ref] = await b.deliver(inboxDelivery(user, 11, "died-mid-way"));
        assert.deepEqual(ref, { mailboxId: inbox.id, uid: reserved.firstUid });
        assert.ok((await a.listMessages(inbox.id)).some((m) => m.uid === reserved.firstUid));
      });

      await t.step(
        "a delivery to three recipients raced on two nodes is filed once each",
        async () => {
          const users = ["r1@test.example", "r2@test.example", "r3@test.example"];
          for (const address of users) {
            await a.createUser({ address, keys: new Uint8Array([1]), createdAt: 1 });
          }
          const d: Delivery = {
            id: "three-on-both",
            body: new Uint8Array([12]),
            size: 1,
            internalDate: 1,
            items: users.map((address) => ({
              address,
              mailbox: "INBOX",
              wrappedKey: new Uint8Array(1),
              keyWrap: "rsa" as const,
            })),
          };
          const [x, y] = await Promise.all([a.deliver(d), b.deliver(d)]);
          assert.deepEqual(x, y);
          for (const ref of x) assert.equal((await b.listMessages(ref.mailboxId)).length, 1);
          assert.deepEqual(await a.deliver(d), x, "a later retry gets the same places");
        },
      );

      await t.step("a queued message is leased to one node, then freed by expiry", async () => {
        const id = await a.queue.enqueue(queueItem(["r@x.example"]));
        const [onA, onB] = await Promise.all([
          a.queue.due(Date.now(), 10),
          b.queue.due(Date.now(), 10),
        ]);
        assert.equal(onA.length + onB.length, 1, "both nodes got the message");
        const [holder, other] = onA.length ? [a, b] : [b, a];
        assert.deepEqual((await holder.queue.due(Date.now(), 10)).map((m) => m.id), [id]);
        assert.deepEqual(await other.queue.due(Date.now(), 10), []);
        await new Promise((resolve) => setTimeout(resolve, 1600));
        assert.deepEqual((await other.queue.due(Date.now(), 10)).map((m) => m.id), [id]);
        assert.deepEqual(await holder.queue.due(Date.now(), 10), []);
      });

      await t.step("recordResults with a next attempt gives the lease back", async () => {
        const id = await b.queue.enqueue(queueItem(["s@y.example"]));
        const [m] = await b.queue.due(Date.now(), 10).then((ms) => ms.filter((x) => x.id === id));
        assert.ok(m);
        await b.queue.recordResults(id, [], 0);
        assert.ok((await a.queue.due(Date.now(), 10)).some((x) => x.id === id));
      });

      await t.step("a keyspace at a newer schema is refused, naming it", async () => {
        await a.session.run("INSERT INTO schema_version (id, version) VALUES (0, ?)", [
          SCHEMA_VERSION + 1,
        ]);
        await assert.rejects(CassandraMailStore.open(opts), (err: Error) => {
          assert.ok(err.message.includes(opts.keyspace), err.message);
          assert.match(err.message, new RegExp(`schema version ${SCHEMA_VERSION + 1}`));
          return true;
        });
        await a.session.run("INSERT INTO schema_version (id, version) VALUES (0, ?)", [
          SCHEMA_VERSION,
        ]);
      });
    } finally {
      await a.close();
      await b.close();
      await dropKeyspace(opts);
    }
  });

  Deno.test("cassandra store: an unreachable cluster is unavailable", async () => {
    await assert.rejects(
      CassandraMailStore.open(options({ contactPoints: ["127.0.0.1:1"] })),
      (err: unknown) => err instanceof StoreError && err.code === "unavailable",
    );
  });
}
