/**
 * Inbound SMTP throughput, fsmtp beside Postfix: both fed by `smtp-source` over loopback with the
 * same load. Postfix's figure is the time until every delivery is a file in a Maildir `new/`
 * folder; fsmtp's is the time until smtp-source finishes (its 250 means fsync'd in its store).
 */
import { FsmtpServer } from "./fsmtp_server.ts";
import { PostfixPeer } from "./postfix_peer.ts";
import { type Load, recipientLocals, type SourceRun, startSmtpSource } from "./smtp_source.ts";
import { registerCleanup, waitUntil } from "./util.ts";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";

/** One side's figure. */
export interface Throughput {
  messages: number;
  deliveries: number;
  seconds: number;
  /** Messages (transactions) per second. */
  perSecond: number;
  /** fsmtp only: deliveries found in its store afterwards, when its schema could be read. */
  stored?: number;
}

/** The domain both servers receive mail for. */
export const DOMAIN = "bench.example";

/** The standard load: 20 sessions, 4 KiB, 3 recipients; `messages` in all. */
export function inboundLoad(messages: number): Load {
  return {
    sessions: 20,
    messages,
    size: 4096,
    recipients: 3,
    from: "sender@remote.example",
    to: `user@${DOMAIN}`,
  };
}

/** Postfix: from smtp-source's start until all `messages × recipients` files are in `new/`. */
export async function postfixInbound(load: Load): Promise<Throughput> {
  const peer = await PostfixPeer.start({ domain: DOMAIN, users: recipientLocals(load) });
  let killSource = () => {};
  const unregister = registerCleanup(() => Promise.resolve(killSource()));
  try {
    const deliveries = load.messages * load.recipients;
    const { started, done, kill } = startSmtpSource(peer.port, load);
    killSource = kill;
    let source: SourceRun | undefined;
    done.then((r) => source = r);
    await waitUntil(
      async () => {
        if (source && source.code !== 0) {
          throw new Error(
            `smtp-source against Postfix exited ${source.code}:\n${source.output}\n` +
              await peer.logTail(),
          );
        }
        return await peer.delivered() >= deliveries;
      },
      60_000 + load.messages * 100,
      `${deliveries} Postfix deliveries (log tail follows on failure)`,
      100,
    ).catch(async (e) => {
      throw new Error(`${e.message}\n${await peer.logTail()}`);
    });
    const seconds = (performance.now() - started) / 1000;
    await done;
    return { messages: load.messages, deliveries, seconds, perSecond: load.messages / seconds };
  } finally {
    unregister();
    killSource();
    await peer.stop();
    await peer.cleanup();
  }
}

/** fsmtp: from smtp-source's start until it exits having had every message accepted. */
export async function fsmtpInbound(load: Load): Promise<Throughput> {
  const users = recipientLocals(load).map((local) => `${local}@${DOMAIN}`);
  const server = await FsmtpServer.start(DOMAIN, users);
  let killSource = () => {};
  const unregister = registerCleanup(() => Promise.resolve(killSource()));
  try {
    const source = startSmtpSource(server.port, load);
    killSource = source.kill;
    const run = await source.done;
    if (run.code !== 0) {
      throw new Error(
        `smtp-source against fsmtp exited ${run.code}:\n${run.output}\n` +
          `fsmtp output:\n${server.output.text.split("\n").slice(-30).join("\n")}`,
      );
    }
    await server.stop();
    return {
      messages: load.messages,
      deliveries: load.messages * load.recipients,
      seconds: run.seconds,
      perSecond: load.messages / run.seconds,
      stored: countStored(join(server.dir, "data", "fsmtp.db")),
    };
  } finally {
    unregister();
    await server.stop();
    await server.cleanup();
  }
}

/**
 * Rows in the store's `messages` table (one per delivery), read after the server stopped; a
 * cross-check only, so a schema this does not know gives undefined.
 */
function countStored(dbPath: string): number | undefined {
  try {
    const db = new DatabaseSync(dbPath, { readOnly: true });
    try {
      const row = db.prepare("SELECT count(*) AS n FROM messages").get() as { n: number };
      return Number(row.n);
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}
