/**
 * What the MailStore contract's sections share: the fixture a backend provides, the per-test
 * runner, and small builders and assertions. Nothing here knows a backend: ids are opaque
 * strings, contents opaque bytes.
 */
import assert from "node:assert/strict";
import type { MailboxEvent } from "../../src/store/change_feed.ts";
import {
  type Delivery,
  type DeliveryItem,
  type Mailbox,
  type MailStore,
  type MessageRef,
  type SealedMessage,
  StoreError,
} from "../../src/store/mail_store.ts";

/** A store opened for one test, and how to dispose of what it left behind. */
export interface StoreFixture {
  store: MailStore;
  /** Removes the store's files or keyspace; called after the store is closed. */
  cleanup: () => Promise<void>;
  /**
   * The number of stored bodies, when the backend can tell: lets the contract check that
   * bodies are shared between recipients and copies and go once nobody refers to them, which
   * the port itself does not show.
   */
  countBodies?: () => Promise<number>;
  /**
   * Prunes the expunge journal as if its retention had passed, so every tombstone made so far
   * is gone: lets the contract check `complete: false` from `changesSince`.
   */
  prune?: () => Promise<void>;
}

/** Registers one test on a fresh store, closed and cleaned up whatever happens. */
export type ContractTest = (
  title: string,
  fn: (t: Deno.TestContext, fixture: StoreFixture) => unknown,
) => void;

export const ALICE = "alice@test.example";
export const BOB = "bob@test.example";
export const CAROL = "carol@test.example";

/** An id no backend hands out: the contract's "unknown mailbox". */
export const NO_MAILBOX = "no such mailbox \u{1F4ED}";

export function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

export function randomBytes(length: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(length));
}

export async function addUser(store: MailStore, address: string): Promise<void> {
  await store.createUser({ address, keys: randomBytes(32), createdAt: Date.now() });
}

export function item(address: string, mailbox = "INBOX", flags?: string[]): DeliveryItem {
  return { address, mailbox, wrappedKey: randomBytes(16), keyWrap: "rsa", flags };
}

export function delivery(items: DeliveryItem[], body = randomBytes(64)): Delivery {
  return {
    id: crypto.randomUUID(),
    body,
    size: body.length + 10,
    internalDate: Date.now(),
    items,
  };
}

/** Delivers `count` messages to one mailbox one after another; returns their refs in order. */
export async function fill(
  store: MailStore,
  address: string,
  count: number,
  mailbox = "INBOX",
): Promise<MessageRef[]> {
  const refs: MessageRef[] = [];
  for (let i = 0; i < count; i++) {
    refs.push(...await store.deliver(delivery([item(address, mailbox)])));
  }
  return refs;
}

export async function mailbox(store: MailStore, address: string, name = "INBOX"): Promise<Mailbox> {
  const box = await store.getMailbox(address, name);
  assert.ok(box, `${address} has no ${name}`);
  return box;
}

/** The message with its body; fails when it is not there. */
export async function message(store: MailStore, ref: MessageRef): Promise<SealedMessage> {
  const m = await store.getMessage(ref.mailboxId, ref.uid);
  assert.ok(m, `message ${ref.uid} of ${ref.mailboxId} missing`);
  return m;
}

/** UIDs of a mailbox, ascending. */
export async function uidsOf(store: MailStore, mailboxId: string): Promise<number[]> {
  return (await store.listMessages(mailboxId)).map((m) => m.uid);
}

/** Asserts that `promise` rejects with a StoreError of `code`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: StoreError["code"],
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${err}`);
    assert.equal(err.code, code);
    return true;
  });
}

export function assertStrictlyAscending(values: number[], what: string): void {
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i] > values[i - 1], `${what} not strictly ascending at ${i}: ${values}`);
  }
}

/**
 * Listens to the change feed on one mailbox. For each event it reads the mailbox at once, from
 * inside the listener: an event sent only after the change is durable finds the change there.
 */
export function watch(store: MailStore, mailboxId: string) {
  const events: MailboxEvent[] = [];
  const seen: Promise<{ box: Mailbox | undefined; uids: number[] }>[] = [];
  const stop = store.changes.subscribe(mailboxId, (event) => {
    events.push(event);
    seen.push(
      Promise.all([store.getMailboxById(mailboxId), uidsOf(store, mailboxId)])
        .then(([box, uids]) => ({ box, uids })),
    );
  });
  return { events, seen, stop };
}
