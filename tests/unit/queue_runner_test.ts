/**
 * The queue runner against the SQLite queue in a temporary folder, a fake delivery port and an
 * injected clock: retries, DSNs (failure, delay, success, expiry), NOTIFY/RET, the null
 * sender, a restart, and one deliver call per domain.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createLogger } from "../../src/log.ts";
import { QueueRunner, type QueueRunnerOptions } from "../../src/queue/queue_runner.ts";
import type {
  DeliveryOutcome,
  EnqueueItem,
  EnqueueRecipient,
  OutboundDsn,
  OutboundMessage,
} from "../../src/queue/types.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";

const T0 = Date.UTC(2024, 0, 1);
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const enc = new TextEncoder();
const dec = new TextDecoder();

type Verdict = { status: "delivered" | "deferred" | "failed"; reply: string };
/** Decides the outcome of one recipient of one attempt. */
type Script = (address: string, domain: string, attempt: number) => Verdict;

const OK: Verdict = { status: "delivered", reply: "250 2.0.0 queued" };
const LATER: Verdict = { status: "deferred", reply: "451 4.7.1 greylisted, try later" };
const NO: Verdict = { status: "failed", reply: "550 5.1.1 no such user here" };

/** A runner on a fresh store, with everything it did recorded. */
class Harness {
  now = T0;
  calls: { domain: string; messages: OutboundMessage[] }[] = [];
  dsns: OutboundDsn[] = [];
  /** Deliveries that succeeded, as `id address`. */
  delivered: string[] = [];
  attempts = new Map<string, number>();
  failDsn = 0;
  runner: QueueRunner;
  stores: SqliteMailStore[] = [];

  constructor(
    readonly path: string,
    public script: Script,
    opts: Partial<QueueRunnerOptions> = {},
  ) {
    this.runner = this.makeRunner(opts);
  }

  get store(): SqliteMailStore {
    return this.stores.at(-1)!;
  }

  /** A runner on a new store object over the same file (what a restart makes). */
  makeRunner(opts: Partial<QueueRunnerOptions> = {}): QueueRunner {
    this.stores.push(SqliteMailStore.open(this.path));
    return new QueueRunner({
      store: this.store.queue,
      deliver: (domain, messages) => this.deliver(domain, messages),
      sendDsn: (dsn) => {
        if (this.failDsn > 0) {
          this.failDsn--;
          return Promise.reject(new Error("local delivery is down"));
        }
        this.dsns.push(dsn);
        return Promise.resolve();
      },
      clock: () => this.now,
      log: createLogger("error", () => {}),
      maxAgeMs: 5 * DAY,
      delayWarningMs: 4 * HOUR,
      hostname: "mail.here.example",
      jitter: { fraction: 0 },
      ...opts,
    });
  }

  deliver(domain: string, messages: OutboundMessage[]): Promise<DeliveryOutcome[]> {
    this.calls.push({ domain, messages });
    return Promise.resolve(messages.map((m) => ({
      id: m.id,
      recipients: m.recipients.map((address) => {
        const key = `${m.id} ${address}`;
        const attempt = (this.attempts.get(key) ?? 0) + 1;
        this.attempts.set(key, attempt);
        const verdict = this.script(address, domain, attempt);
        if (verdict.status === "delivered") this.delivered.push(key);
        return { address, ...verdict, remoteHost: `mx.${domain}` };
      }),
    })));
  }

  enqueue(recipients: (string | EnqueueRecipient)[], extra: Partial<EnqueueItem> = {}) {
    return this.store.queue.enqueue({
      from: "alice@here.example",
      recipients: recipients.map((r) => typeof r === "string" ? { address: r } : r),
      content: enc.encode("Subject: plans\r\nFrom: alice@here.example\r\n\r\nSee you.\r\n"),
      needs8bit: false,
      needsSmtputf8: false,
      arrivedAt: this.now,
      ...extra,
    });
  }

  /** Runs what is due at `at`. */
  async runAt(at: number): Promise<void> {
    this.now = at;
    await this.runner.runDue();
  }

  /** Keeps running at each next due time until the queue is empty (or `max` rounds). */
  async drain(max = 100): Promise<void> {
    for (let i = 0; i < max; i++) {
      const next = await this.store.queue.nextDue();
      if (next === undefined) return;
      await this.runAt(Math.max(next, this.now));
    }
    throw new Error("the queue did not drain");
  }

  async close(): Promise<void> {
    for (const store of this.stores) await store.close();
  }
}

/** One test on a fresh store file in a temporary folder. */
function runnerTest(
  name: string,
  script: Script,
  fn: (h: Harness) => Promise<void>,
  opts: Partial<QueueRunnerOptions> = {},
) {
  Deno.test(`queue runner: ${name}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fsmtp-runner-" });
    const h = new Harness(join(dir, "fsmtp.db"), script, opts);
    try {
      await fn(h);
    } finally {
      await h.runner.stop();
      await h.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

function text(dsn: OutboundDsn): string {
  return dec.decode(dsn.content);
}

function subject(dsn: OutboundDsn): string {
  return /^Subject: (.*)$/m.exec(text(dsn))?.[1] ?? "";
}

runnerTest(
  "4xx then 2xx: delivered once, retried after 1 minute",
  (_a, _d, n) => n === 1 ? LATER : OK,
  async (h) => {
    const id = await h.enqueue(["bob@there.example"]);
    await h.runAt(T0);
    assert.equal(h.calls.length, 1);
    const [m] = await h.store.queue.list();
    assert.equal(m.recipients[0].attempts, 1);
    assert.equal(m.recipients[0].lastReply, LATER.reply);
    assert.equal(m.nextAttemptAt, T0 + MIN);
    await h.runAt(T0 + 30_000);
    assert.equal(h.calls.length, 1, "not due yet");
    await h.runAt(T0 + MIN);
    await h.runAt(T0 + 2 * MIN);
    assert.deepEqual(h.delivered, [`${id} bob@there.example`]);
    assert.deepEqual(await h.store.queue.list(), []);
    assert.deepEqual(h.dsns, [], "no DSN without NOTIFY=SUCCESS");
  },
);

runnerTest("5xx: one failure DSN to the sender with the remote's reply", () => NO, async (h) => {
  await h.enqueue(["bob@there.example"]);
  await h.runAt(T0);
  assert.equal(h.dsns.length, 1);
  const dsn = h.dsns[0];
  assert.equal(dsn.to, "alice@here.example");
  assert.equal(subject(dsn), "Undelivered Mail Returned to Sender");
  assert.match(text(dsn), /Diagnostic-Code: smtp; 550 5\.1\.1 no such user here/);
  assert.match(text(dsn), /Remote-MTA: dns; mx\.there\.example/);
  assert.match(text(dsn), /Status: 5\.1\.1/);
  assert.match(text(dsn), /See you\./, "RET absent: the whole message comes back");
  assert.deepEqual(await h.store.queue.list(), []);
  await h.runAt(T0 + HOUR);
  assert.equal(h.dsns.length, 1);
});

runnerTest(
  "a DSN names the node that wrote it (X-Fannst-NodeID)",
  () => NO,
  async (h) => {
    await h.enqueue(["bob@there.example"]);
    await h.runAt(T0);
    assert.equal(h.dsns.length, 1);
    const head = text(h.dsns[0]).split("\r\n\r\n")[0];
    assert.match(head, /^X-Fannst-NodeID: node-b\r?$/m);
  },
  { nodeId: "node-b" },
);

runnerTest(
  "mixed recipients: the failed one reported, the deferred one retried",
  (address, _d, n) =>
    address.startsWith("a@") ? OK : address.startsWith("b@") ? NO : n < 3 ? LATER : OK,
  async (h) => {
    const id = await h.enqueue(["a@there.example", "b@there.example", "c@there.example"]);
    await h.runAt(T0);
    assert.equal(h.calls.length, 1, "one call for the domain's three recipients");
    assert.deepEqual(h.calls[0].messages[0].recipients.length, 3);
    assert.equal(h.dsns.length, 1);
    assert.match(text(h.dsns[0]), /Final-Recipient: rfc822; b@there\.example/);
    assert.doesNotMatch(text(h.dsns[0]), /Final-Recipient: rfc822; [ac]@/);
    const [m] = await h.store.queue.list();
    assert.deepEqual(
      m.recipients.map((r) => [r.address, r.status]),
      [["a@there.example", "delivered"], ["b@there.example", "failed"], [
        "c@there.example",
        "pending",
      ]],
    );
    await h.drain();
    assert.deepEqual(h.calls.slice(1).map((c) => c.messages[0].recipients), [
      ["c@there.example"],
      ["c@there.example"],
    ]);
    assert.deepEqual(h.delivered.sort(), [`${id} a@there.example`, `${id} c@there.example`]);
    assert.equal(h.dsns.length, 1);
  },
);

runnerTest(
  "expiry: fails at max_age with a DSN; one delay warning before",
  () => LATER,
  async (h) => {
    await h.enqueue(["bob@there.example"]);
    await h.drain();
    const warnings = h.dsns.filter((d) => subject(d).startsWith("Delayed Mail"));
    const failures = h.dsns.filter((d) => subject(d).startsWith("Undelivered"));
    assert.equal(warnings.length, 1, "one delay warning");
    assert.equal(failures.length, 1, "one failure DSN");
    assert.match(text(warnings[0]), /Action: delayed/);
    assert.match(text(warnings[0]), /Will-Retry-Until: Sat, 06 Jan 2024 00:00:00 \+0000/);
    const failure = text(failures[0]);
    assert.match(failure, /Action: failed/);
    assert.match(failure, /Status: 4\.4\.7/);
    assert.match(failure, /expired after 5 days in the queue/);
    assert.match(failure, /451 4\.7\.1 greylisted/);
    assert.equal(h.now, T0 + 5 * DAY, "the last attempt is at the expiry time");
    // 1m 5m 15m 30m 1h 2h, then every 4h until 5 days: far fewer than the minutes in 5 days.
    assert.ok(h.calls.length > 25 && h.calls.length < 40, `${h.calls.length} attempts`);
    assert.deepEqual(await h.store.queue.list(), []);
  },
);

runnerTest(
  "NOTIFY and RET are honoured",
  (address) => address.startsWith("ok") ? OK : address.startsWith("no") ? NO : LATER,
  async (h) => {
    await h.enqueue([
      { address: "no-never@there.example", notify: "NEVER" },
      { address: "later-fail@there.example", notify: ["FAILURE"] },
      {
        address: "ok-success@there.example",
        notify: ["SUCCESS"],
        orcpt: "rfc822;OK@there.example",
      },
    ], { ret: "HDRS", envid: "E-77" });
    await h.runAt(T0);
    assert.equal(h.dsns.length, 1, "a success report; no failure report for NOTIFY=NEVER");
    const success = text(h.dsns[0]);
    assert.equal(subject(h.dsns[0]), "Successful Mail Delivery Report");
    assert.match(success, /Action: relayed/);
    assert.match(success, /Original-Recipient: rfc822;OK@there\.example/);
    assert.match(success, /Original-Envelope-Id: E-77/);
    assert.doesNotMatch(success, /no-never@/);
    assert.doesNotMatch(success, /See you\./);
    await h.drain();
    const failure = h.dsns.at(-1)!;
    assert.equal(h.dsns.length, 2, "no delay warning: NOTIFY has no DELAY");
    assert.equal(subject(failure), "Undelivered Mail Returned to Sender");
    assert.match(text(failure), /Final-Recipient: rfc822; later-fail@there\.example/);
    assert.match(text(failure), /Content-Type: text\/rfc822-headers/);
    assert.doesNotMatch(text(failure), /See you\./, "RET=HDRS: headers only");
  },
);

runnerTest(
  "the null sender never gets a DSN",
  (address) => address.startsWith("no") ? NO : LATER,
  async (h) => {
    await h.enqueue(["no@there.example", "later@there.example"], { from: "" });
    await h.drain();
    assert.ok(h.calls.length > 10);
    assert.equal(h.calls[0].messages[0].from, "");
    assert.deepEqual(h.dsns, []);
    assert.deepEqual(await h.store.queue.list(), []);
  },
);

runnerTest("failures at two domains in one attempt: one DSN for both", () => NO, async (h) => {
  await h.enqueue(["a@one.example", "b@two.example"]);
  await h.runAt(T0);
  assert.equal(h.calls.length, 2);
  assert.equal(h.dsns.length, 1);
  assert.match(text(h.dsns[0]), /a@one\.example/);
  assert.match(text(h.dsns[0]), /b@two\.example/);
});

runnerTest("two domains: one deliver call each, with all their messages", () => OK, async (h) => {
  const m1 = await h.enqueue(["a1@one.example", "b1@two.example"]);
  const m2 = await h.enqueue(["a2@one.example"]);
  const m3 = await h.enqueue(["b3@two.example", "b4@two.example"]);
  await h.runAt(T0);
  const byDomain = Object.fromEntries(
    h.calls.map((c) => [c.domain, c.messages.map((m) => [m.id, m.recipients])]),
  );
  assert.equal(h.calls.length, 2);
  assert.deepEqual(byDomain["one.example"], [[m1, ["a1@one.example"]], [m2, ["a2@one.example"]]]);
  assert.deepEqual(byDomain["two.example"], [[m1, ["b1@two.example"]], [m3, [
    "b3@two.example",
    "b4@two.example",
  ]]]);
  assert.equal(h.delivered.length, 5);
  assert.deepEqual(await h.store.queue.list(), []);
});

runnerTest(
  "restart: a new store object on the same file resumes the message once",
  (_a, _d, n) => n === 1 ? LATER : OK,
  async (h) => {
    const id = await h.enqueue(["bob@there.example"]);
    await h.runAt(T0);
    await h.runner.stop();
    h.runner = h.makeRunner();
    await h.runAt(T0 + MIN);
    await h.runAt(T0 + HOUR);
    assert.deepEqual(h.delivered, [`${id} bob@there.example`]);
    assert.equal(h.calls.length, 2);
    assert.deepEqual(await h.store.queue.list(), []);
  },
);

runnerTest("a crash mid-delivery: retried after the restart, never lost", () => OK, async (h) => {
  const id = await h.enqueue(["bob@there.example"]);
  const hang = Promise.withResolvers<DeliveryOutcome[]>();
  const crashed = h.runner;
  const first = h.script;
  h.deliver = (domain, messages) => {
    h.calls.push({ domain, messages });
    return hang.promise; // the process "dies" before the remote's answer is recorded
  };
  const lost = crashed.runDue();
  await new Promise((r) => setTimeout(r, 10));
  h.deliver = Harness.prototype.deliver;
  h.script = first;
  h.runner = h.makeRunner();
  await h.runAt(T0);
  assert.deepEqual(h.delivered, [`${id} bob@there.example`]);
  // The old process's late answer changes nothing: the recipient is no longer pending.
  hang.resolve([{ id, recipients: [{ address: "bob@there.example", ...OK }] }]);
  await lost;
  await crashed.stop();
  assert.deepEqual(await h.store.queue.list(), []);
  assert.deepEqual(h.dsns, []);
});

runnerTest("a DSN that cannot be handed over is kept and sent later", () => NO, async (h) => {
  await h.enqueue(["bob@there.example"]);
  h.failDsn = 1;
  await h.runAt(T0);
  assert.equal(h.dsns.length, 0);
  const [m] = await h.store.queue.list();
  assert.equal(m.recipients[0].reportOwed, true);
  await h.drain();
  assert.equal(h.dsns.length, 1);
  assert.equal(h.calls.length, 1, "the recipient is not tried again");
  assert.deepEqual(await h.store.queue.list(), []);
});

runnerTest("a throwing deliver port defers, with the error as the reason", () => OK, async (h) => {
  await h.enqueue(["bob@there.example"]);
  h.deliver = () => Promise.reject(new Error("no route to host"));
  await h.runAt(T0);
  const [m] = await h.store.queue.list();
  assert.equal(m.recipients[0].status, "pending");
  assert.match(m.recipients[0].lastReply!, /no route to host/);
  assert.equal(m.nextAttemptAt, T0 + MIN);
});

runnerTest("at most `concurrency` domains at once", () => OK, async (h) => {
  let running = 0;
  let peak = 0;
  h.deliver = async (domain, messages) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    return Harness.prototype.deliver.call(h, domain, messages);
  };
  for (let i = 0; i < 6; i++) await h.enqueue([`x@d${i}.example`]);
  await h.runAt(T0);
  assert.equal(peak, 2);
  assert.equal(h.calls.length, 6);
  assert.deepEqual(await h.store.queue.list(), []);
}, { concurrency: 2 });

runnerTest("start, kick and stop: the loop delivers what was enqueued", () => OK, async (h) => {
  h.now = Date.now();
  const seen = Promise.withResolvers<void>();
  const slow = Promise.withResolvers<void>();
  h.deliver = async (domain, messages) => {
    seen.resolve();
    await slow.promise;
    return Harness.prototype.deliver.call(h, domain, messages);
  };
  h.runner.start();
  await h.enqueue(["bob@there.example"]);
  h.runner.kick();
  await seen.promise;
  const stopped = h.runner.stop();
  setTimeout(() => slow.resolve(), 20);
  await stopped;
  assert.equal(h.delivered.length, 1, "stop waited for the delivery in flight");
  assert.deepEqual(await h.store.queue.list(), []);
}, { clock: Date.now });

runnerTest(
  "an outcome heard mid-batch is recorded at once, so a crash after it does not resend it",
  () => OK,
  async (h) => {
    const first = await h.enqueue(["bob@there.example"]);
    const second = await h.enqueue(["carol@there.example"]);
    // The deliverer answers the first message, then dies before the second (a crashed node).
    h.runner = h.makeRunner({
      deliver: (_domain, messages, onOutcome) => {
        const m = messages.find((x) => x.id === first)!;
        onOutcome?.({
          id: m.id,
          recipients: [{ address: m.recipients[0], ...OK, remoteHost: "mx.there.example" }],
        });
        return Promise.reject(new Error("the node died mid-batch"));
      },
    });
    await h.runAt(T0);
    const left = (await h.store.queue.list()).map((m) => m.id);
    assert.ok(!left.includes(first), "the answered message was sent again later");
    assert.ok(left.includes(second), "the unanswered one must stay queued");
  },
);
