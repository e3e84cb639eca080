/**
 * `--queue`: what waits in the outbound queue and why; `--queue retry ID|all` makes messages
 * due now (a running server notices within a minute); `--queue delete ID` drops a message
 * without a DSN. Exit 0 on success, 1 on an unknown id or bad arguments.
 */
import { loadConfig } from "../config/load_config.ts";
import type { QueueStore } from "../queue/queue_store.ts";
import type { QueuedMessage } from "../queue/types.ts";
import { summarizeQueue } from "../queue/queue_summary.ts";
import { openStore } from "./setup.ts";

/** Where the command writes; tests capture it. */
export interface QueueCommandOptions {
  /** The config file path (`--config`); undefined for the default. */
  config: string | undefined;
  /** Milliseconds since the epoch (ages and next attempts are shown relative to it). */
  now?: () => number;
  print?: (line: string) => void;
  printError?: (line: string) => void;
}

const USAGE = "usage: fsmtp --queue [list | retry ID|all | delete ID]";

/** Runs `--queue` with its positional arguments; returns the exit code. */
export async function queueCommand(args: string[], opts: QueueCommandOptions): Promise<number> {
  const print = opts.print ?? console.log;
  const printError = opts.printError ?? console.error;
  const [action = "list", id, ...extra] = args;
  const needsId = action === "retry" || action === "delete";
  if (
    !["list", "retry", "delete"].includes(action) || extra.length > 0 ||
    (needsId ? id === undefined || id === "" : id !== undefined)
  ) {
    printError(`fsmtp: ${USAGE}`);
    return 1;
  }
  const { config } = loadConfig(opts.config);
  const store = await openStore(config);
  try {
    const queue: QueueStore = store.queue;
    if (action === "list") {
      for (const line of formatQueue(await queue.list(), (opts.now ?? Date.now)())) print(line);
      return 0;
    }
    if (action === "retry") {
      const count = await queue.retry(id);
      if (count === 0 && id !== "all") {
        printError(`fsmtp: no queued message ${id}`);
        return 1;
      }
      print(`${count} message${count === 1 ? "" : "s"} will be retried now`);
      return 0;
    }
    const waiting = (await queue.list()).find((m) => m.id === id)?.recipients
      .filter((r) => r.status === "pending") ?? [];
    if (!(await queue.remove(id))) {
      printError(`fsmtp: no queued message ${id}`);
      return 1;
    }
    // An HTTP API message's status says so, rather than "queued" until it expires.
    await store.deliveryStatus.updateRecipients(
      id,
      waiting.map((r) => ({
        address: r.address,
        state: "bounced",
        detail: "deleted from the queue by the operator; not delivered",
        updatedAt: Date.now(),
      })),
    );
    print(`deleted ${id} from the queue (no notification is sent)`);
    return 0;
  } finally {
    await store.close();
  }
}

/**
 * The listing: per message its id, age, size and sender, then each pending recipient with
 * its attempts, next attempt and last reply; recipients done but owed a report are noted.
 */
export function formatQueue(messages: QueuedMessage[], now: number): string[] {
  if (messages.length === 0) return ["the queue is empty"];
  const lines: string[] = [];
  for (const m of messages) {
    const sender = m.from === "" ? "<> (a bounce)" : `<${m.from}>`;
    lines.push(`${m.id}  ${span(now - m.arrivedAt)} old  ${size(m.size)}  from ${sender}`);
    for (const r of m.recipients) {
      if (r.status === "pending") {
        const next = m.nextAttemptAt <= now ? "now" : `in ${span(m.nextAttemptAt - now)}`;
        const tries = r.attempts === 0
          ? "not tried yet"
          : r.attempts === 1
          ? "1 attempt"
          : `${r.attempts} attempts`;
        lines.push(`  ${r.address}  ${tries}, next attempt ${next}`);
        if (r.lastReply) {
          const host = r.remoteHost ? ` (${r.remoteHost})` : "";
          lines.push(`      ${oneLine(r.lastReply)}${host}`);
        }
      } else if (r.reportOwed) {
        lines.push(`  ${r.address}  ${r.status}, notification to the sender not sent yet`);
      }
    }
  }
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const totals = summarizeQueue(messages, now);
  lines.push(
    `${plural(totals.messages, "message")}, ${plural(totals.waiting, "recipient")} waiting`,
  );
  return lines;
}

/** A span of time, compact: "45s", "12m", "2h13m", "3d4h". */
function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60 ? `${m % 60}m` : ""}`;
  const d = Math.floor(h / 24);
  return `${d}d${h % 24 ? `${h % 24}h` : ""}`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** A reply of several lines as one, control characters removed (the terminal is ours). */
function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, " ").trim();
}
