/**
 * The queue runner: takes due messages from the QueueStore, delivers them grouped per
 * destination domain (one `deliver` call per domain with all of its messages, a few domains in
 * parallel), records every outcome before anything else happens, schedules retries
 * (`backoff.ts`), and tells senders what became of their mail with DSNs (`dsn.ts`, RFC 3464):
 * on permanent failure or expiry, once as a delay warning, and on success when asked
 * (NOTIFY=SUCCESS, RFC 3461 §4.1). Never a DSN for a message from the null sender.
 *
 * Delivery is at least once, never lost: a recipient is marked delivered in the transaction
 * that records the result, so later attempts skip it; but if the process dies between the
 * remote's 250 and that commit, the recipient is still pending and is delivered again after
 * the restart. The same holds for DSNs: an owed report stays in the store until it was sent.
 */
import type { Logger } from "../log.ts";
import { expiresAt, formatDuration, isExpired, type Jitter, nextAttemptAt } from "./backoff.ts";
import { composeDsn, type DsnRecipient } from "./dsn.ts";
import type { QueueStore } from "./queue_store.ts";
import { applyResult, dsnRecipient, groupByDomain, outboundMessage, wants } from "./recipients.ts";
import type {
  DeliveryOutcome,
  NotifyCondition,
  OutboundDsn,
  OutboundMessage,
  QueuedMessage,
  QueuedRecipient,
  RecipientResult,
} from "./types.ts";
import { countDelivery } from "../metrics/metrics.ts";

/** Wait before a DSN that could not be handed over is tried again. */
const DSN_RETRY_MS = 5 * 60_000;

/** What the runner works with; every effect goes through one of these ports. */
export interface QueueRunnerOptions {
  store: QueueStore;
  /** Delivers messages to one domain; one outcome per message (the SMTP client). */
  /**
   * Delivers a domain's messages; `onOutcome` (when the deliverer supports it) hears each
   * message's outcome as soon as the peer answered, before the rest are sent.
   */
  deliver: (
    domain: string,
    messages: OutboundMessage[],
    onOutcome?: (outcome: DeliveryOutcome) => void,
  ) => Promise<DeliveryOutcome[]>;
  /** Sends a DSN with the null envelope sender `<>` (RFC 3461 §6.1). */
  sendDsn: (dsn: OutboundDsn) => Promise<void>;
  /** Milliseconds since the epoch. */
  clock: () => number;
  log: Logger;
  /** `outbound.max_age`: then the remaining recipients fail. */
  maxAgeMs: number;
  /** Wait after which a sender hears that the message is delayed; 0 for never. */
  delayWarningMs: number;
  /** This server's name for DSNs. */
  hostname: string;
  /** This node's `node_id`: DSNs carry it as `X-Fannst-NodeID` (none without it). */
  nodeId?: string;
  /**
   * Delivery jobs (one connection each) at once, over all domains (default 10): enough that a
   * backlog for one domain is not held back by the round trips of a few connections.
   */
  concurrency?: number;
  /** Messages taken per look at the queue (default 100). */
  batchLimit?: number;
  /** Spread of retry times (default up to +10%). */
  jitter?: Jitter;
  /**
   * Longest sleep (default 60 s): a `--queue retry` from another process is noticed within
   * this time.
   */
  maxSleepMs?: number;
  /** Random text for DSN boundaries and Message-IDs (tests make it fixed). */
  random?: () => string;
}

/** Fewest messages a connection is given before a domain's backlog is split further. */
const MIN_PER_CONNECTION = 10;

/** A message taken from the queue, until every domain's delivery of it has finished. */
interface Flight {
  message: QueuedMessage;
  content?: Promise<Uint8Array | undefined>;
  /** Domain jobs not finished yet. */
  remaining: number;
  /** Stop came first: leave the rest (retry time, reports) for the next run. */
  abandoned: boolean;
  /** Something could not be recorded or the message is gone: no DSN, no reschedule. */
  troubled: boolean;
  done: PromiseWithResolvers<void>;
}

/** One `deliver` call: a domain and the messages (with their recipients there) for it. */
interface Job {
  domain: string;
  items: { flight: Flight; recipients: QueuedRecipient[] }[];
}

/** Runs the outbound queue. */
export class QueueRunner {
  #o: QueueRunnerOptions;
  #concurrency: number;
  #limit: number;
  #maxSleep: number;
  #flights = new Map<string, Flight>();
  #jobs: Job[] = [];
  #busy = 0;
  #tasks = new Set<Promise<void>>();
  #loop?: Promise<void>;
  #stopping = false;
  #kicked = false;
  #more = false;
  #wake?: () => void;

  constructor(options: QueueRunnerOptions) {
    this.#o = options;
    this.#concurrency = Math.max(1, options.concurrency ?? 10);
    this.#limit = Math.max(1, options.batchLimit ?? 100);
    this.#maxSleep = options.maxSleepMs ?? 60_000;
  }

  /** Starts the loop: it wakes at the next due time, on `kick()`, and when a job finishes. */
  start(): void {
    if (this.#loop) return;
    this.#stopping = false;
    this.#loop = this.#run();
  }

  /** Wakes the loop now (call it after an enqueue). */
  kick(): void {
    this.#kicked = true;
    this.#wake?.();
  }

  /** Stops taking work; resolves once the deliveries in flight have finished and been recorded. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    for (const job of this.#jobs.splice(0)) {
      for (const { flight } of job.items) {
        flight.abandoned = true;
        if (--flight.remaining === 0) this.#track(this.#finish(flight));
      }
    }
    await this.#loop;
    this.#loop = undefined;
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
  }

  /** Delivers everything due now and resolves when all of it is done (tests, one-shot runs). */
  async runDue(): Promise<void> {
    const flights = await this.#collect();
    await Promise.all(flights.map((f) => f.done.promise));
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      this.#kicked = false;
      try {
        if (this.#jobs.length === 0) await this.#collect();
      } catch (err) {
        this.#o.log.error("queue.read_failed", { error: (err as Error).message });
      }
      if (this.#stopping) break;
      await this.#sleep(await this.#sleepMs());
    }
  }

  /** How long to sleep: until the next due message, and no longer than `maxSleepMs`. */
  async #sleepMs(): Promise<number> {
    if (this.#more && this.#jobs.length === 0) return 0;
    if (this.#jobs.length > 0) return this.#maxSleep;
    let next: number | undefined;
    try {
      next = await this.#o.store.nextDue();
    } catch (err) {
      this.#o.log.error("queue.read_failed", { error: (err as Error).message });
    }
    if (next === undefined) return this.#maxSleep;
    const wait = next - this.#o.clock();
    // Due now yet not taken: it is in flight, and its end wakes the loop.
    return wait <= 0 ? this.#maxSleep : Math.min(wait, this.#maxSleep);
  }

  #sleep(ms: number): Promise<void> {
    if (this.#kicked || this.#stopping || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /** Takes due messages that are not in flight and queues one job per domain. */
  async #collect(): Promise<Flight[]> {
    const due = await this.#o.store.due(this.#o.clock(), this.#limit + this.#flights.size);
    if (this.#stopping) return [];
    this.#more = due.length >= this.#limit + this.#flights.size;
    const fresh: Flight[] = [];
    const byDomain = new Map<string, Job["items"]>();
    for (const message of due) {
      if (this.#flights.has(message.id)) continue;
      const flight: Flight = {
        message,
        remaining: 0,
        abandoned: false,
        troubled: false,
        done: Promise.withResolvers<void>(),
      };
      this.#flights.set(message.id, flight);
      fresh.push(flight);
      for (const [domain, recipients] of groupByDomain(message.recipients)) {
        const items = byDomain.get(domain) ?? [];
        items.push({ flight, recipients });
        byDomain.set(domain, items);
        flight.remaining++;
      }
    }
    for (const [domain, items] of byDomain) {
      // A backlog for one domain is shared among several connections, as other MTAs do
      // (Postfix allows 20 per destination): up to `concurrency` at once, not one by one.
      const size = Math.max(MIN_PER_CONNECTION, Math.ceil(items.length / this.#concurrency));
      for (let i = 0; i < items.length; i += size) {
        this.#jobs.push({ domain, items: items.slice(i, i + size) });
      }
    }
    // Only reports owed (from before a restart): nothing to deliver, straight to the end.
    for (const flight of fresh) if (flight.remaining === 0) this.#track(this.#finish(flight));
    this.#pump();
    return fresh;
  }

  /** Starts queued jobs while fewer than `concurrency` run. */
  #pump(): void {
    while (!this.#stopping && this.#busy < this.#concurrency && this.#jobs.length > 0) {
      const job = this.#jobs.shift()!;
      this.#busy++;
      this.#track((async () => {
        let clean = false;
        try {
          clean = await this.#runJob(job);
        } finally {
          this.#busy--;
          this.#pump();
          // A job that could not record its results leaves its messages due: waking at once
          // would deliver them again and again while the store fails, so the loop waits.
          if (clean) this.kick();
        }
      })());
    }
  }

  /**
   * One domain: deliver, record every outcome, then finish the messages that are complete.
   * False when an outcome could not be recorded.
   */
  async #runJob(job: Job): Promise<boolean> {
    const { log } = this.#o;
    const sending: OutboundMessage[] = [];
    for (const { flight, recipients } of job.items) {
      const content = await this.#content(flight);
      if (!content) {
        flight.troubled = true; // deleted meanwhile (`--queue delete`)
        continue;
      }
      sending.push(outboundMessage(flight.message, recipients, content));
    }
    // Each outcome is recorded the moment the peer answered for it: a node that dies in the
    // middle of a batch then leaves only the message in flight unrecorded, which is all a
    // crash between the remote's 250 and our own commit can ever cost (it is sent again).
    const recorded = new Map<string, Promise<boolean>>();
    let recordFailed = false;
    const record = (
      item: Job["items"][number],
      outcome: DeliveryOutcome | undefined,
      error: string | undefined,
    ): Promise<boolean> => {
      const { flight, recipients } = item;
      const at = this.#o.clock();
      const results = recipients.map((r) => this.#result(flight.message, r, outcome, error, at));
      return this.#o.store.recordResults(flight.message.id, results).then(() => {
        results.forEach((result, i) => applyResult(recipients[i], result));
        for (const result of results) {
          countDelivery(result.status, at - flight.message.arrivedAt);
          log[result.status === "failed" ? "warn" : "info"](`queue.${result.status}`, {
            id: flight.message.id,
            to: result.address,
            host: result.remoteHost,
            reply: result.reply,
          });
        }
        return true;
      }, (err: Error) => {
        flight.troubled = true;
        recordFailed = true;
        log.error("queue.record_failed", { id: flight.message.id, error: err.message });
        return false;
      });
    };
    const early = (outcome: DeliveryOutcome) => {
      const item = job.items.find((i) => i.flight.message.id === outcome.id);
      if (item && !item.flight.troubled && !recorded.has(outcome.id)) {
        recorded.set(outcome.id, record(item, outcome, undefined));
      }
    };
    let outcomes: DeliveryOutcome[] = [];
    let error: string | undefined;
    if (sending.length > 0) {
      try {
        outcomes = await this.#o.deliver(job.domain, sending, early);
      } catch (err) {
        error = (err as Error).message;
        log.error("queue.deliver_failed", { domain: job.domain, error });
      }
    }
    await Promise.all(job.items.map((item) => {
      if (item.flight.troubled) return;
      const done = recorded.get(item.flight.message.id);
      if (done) return done;
      const outcome = outcomes.find((o) => o.id === item.flight.message.id);
      return record(item, outcome, error);
    }));
    await Promise.all(job.items.map(({ flight }) => {
      flight.remaining--;
      return flight.remaining === 0 ? this.#finish(flight) : undefined;
    }));
    return !recordFailed;
  }

  /** The result to record for one recipient: what the client said, expiry applied. */
  #result(
    message: QueuedMessage,
    r: QueuedRecipient,
    outcome: DeliveryOutcome | undefined,
    error: string | undefined,
    at: number,
  ): RecipientResult {
    const got = outcome?.recipients.find((x) => x.address === r.address) ??
      outcome?.recipients.find((x) => x.address.toLowerCase() === r.address.toLowerCase());
    let status = got?.status ?? "deferred";
    // Our own words start with a bare enhanced code (RFC 3463): no remote reply to quote.
    let reply = got?.reply ??
      (error === undefined
        ? "4.3.0 the delivery agent gave no result for this recipient"
        : `4.4.0 delivery to ${r.domain} failed: ${error}`);
    if (status === "deferred" && isExpired(at, message.arrivedAt, this.#o.maxAgeMs)) {
      status = "failed";
      reply = `4.4.7 expired after ${formatDuration(this.#o.maxAgeMs)} in the queue; ` +
        `last reply: ${reply}`;
    }
    const on: NotifyCondition | undefined = status === "failed"
      ? "FAILURE"
      : status === "delivered"
      ? "SUCCESS"
      : undefined;
    return {
      address: r.address,
      status,
      reply,
      ...(got?.remoteHost ? { remoteHost: got.remoteHost } : {}),
      at,
      report: on !== undefined && message.from !== "" && wants(r, on),
    };
  }

  /** After all domains of a message: reschedule, owed reports, the delay warning. */
  async #finish(flight: Flight): Promise<void> {
    try {
      if (!flight.abandoned && !flight.troubled) await this.#settle(flight);
    } catch (err) {
      this.#o.log.error("queue.finish_failed", {
        id: flight.message.id,
        error: (err as Error).message,
      });
    } finally {
      this.#flights.delete(flight.message.id);
      flight.done.resolve();
    }
  }

  async #settle(flight: Flight): Promise<void> {
    const { store, maxAgeMs, delayWarningMs } = this.#o;
    const m = flight.message;
    const now = this.#o.clock();
    const pending = m.recipients.filter((r) => r.status === "pending");
    if (pending.length > 0) {
      const attempts = Math.max(1, ...pending.map((r) => r.attempts));
      await store.recordResults(
        m.id,
        [],
        nextAttemptAt(now, attempts, m.arrivedAt, maxAgeMs, this.#o.jitter ?? { fraction: 0.1 }),
      );
    }
    const owed = m.recipients.filter((r) => r.reportOwed);
    if (owed.length > 0 && !(await this.#report(flight, owed, now)) && pending.length === 0) {
      await store.recordResults(m.id, [], now + DSN_RETRY_MS);
    }
    if (
      pending.length > 0 && !m.warned && delayWarningMs > 0 && now - m.arrivedAt >= delayWarningMs
    ) {
      await this.#warn(flight, pending, now);
    }
  }

  /** One DSN for every recipient owed a report; false when it could not be sent. */
  async #report(flight: Flight, owed: QueuedRecipient[], now: number): Promise<boolean> {
    const m = flight.message;
    const sent = await this.#send(
      flight,
      now,
      owed.map((r) => ({
        ...dsnRecipient(r),
        action: r.status === "failed" ? "failed" : "relayed",
      })),
    );
    if (!sent) return false;
    await this.#o.store.markReported(m.id, owed.map((r) => r.address));
    for (const r of owed) r.reportOwed = false;
    return true;
  }

  /** The delay warning (once per message) for pending recipients that want one. */
  async #warn(flight: Flight, pending: QueuedRecipient[], now: number): Promise<void> {
    const m = flight.message;
    const wanting = m.from === "" ? [] : pending.filter((r) => wants(r, "DELAY"));
    const willRetryUntil = expiresAt(m.arrivedAt, this.#o.maxAgeMs);
    const recipients = wanting.map((r): DsnRecipient => ({
      ...dsnRecipient(r),
      action: "delayed",
    }));
    if (recipients.length > 0 && !(await this.#send(flight, now, recipients, willRetryUntil))) {
      return;
    }
    await this.#o.store.markWarned(m.id);
    m.warned = true;
  }

  /** Composes and hands over one DSN; true when sent or when there was nothing to send. */
  async #send(
    flight: Flight,
    now: number,
    recipients: DsnRecipient[],
    willRetryUntil?: number,
  ): Promise<boolean> {
    const m = flight.message;
    const dsn = composeDsn({
      hostname: this.#o.hostname,
      nodeId: this.#o.nodeId,
      message: { ...m, content: (await this.#content(flight)) ?? new Uint8Array() },
      recipients,
      now,
      willRetryUntil,
      random: this.#o.random,
    });
    if (!dsn) return true;
    try {
      await this.#o.sendDsn(dsn);
    } catch (err) {
      this.#o.log.error("queue.dsn_failed", {
        id: m.id,
        to: m.from,
        error: (err as Error).message,
      });
      return false;
    }
    this.#o.log.info("queue.dsn_sent", {
      id: m.id,
      to: m.from,
      actions: [...new Set(recipients.map((r) => r.action))].join(","),
    });
    return true;
  }

  #content(flight: Flight): Promise<Uint8Array | undefined> {
    flight.content ??= this.#o.store.content(flight.message.id);
    return flight.content;
  }

  /** Keeps `task` until it settles, so `stop()` can wait for it. */
  #track(task: Promise<void>): void {
    const tracked = task.catch((err) => {
      this.#o.log.error("queue.task_failed", { error: (err as Error).message });
    }).finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
  }
}
