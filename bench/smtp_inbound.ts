/**
 * Inbound SMTP throughput, fsmtp beside Postfix: both fed by `smtp-source` over loopback with the
 * same load. Postfix's figure is the time until every delivery is a file in a Maildir `new/`
 * folder; fsmtp's is the time until smtp-source finishes (its 250 means fsync'd in its store).
 * fsmtp runs three ways: checks off (Postfix runs none), checks on against a local DNS server
 * (dnsmasq publishing the sender domain's SPF and DMARC records), and checks on against a
 * resolver that never answers (the budget, `inbound.check_budget`, bounds each message).
 */
import { DnsServer } from "../tests/helpers/dns_server.ts";
import { SilentDns } from "../tests/helpers/silent_dns.ts";
import { FsmtpServer, type FsmtpServerOptions } from "./fsmtp_server.ts";
import { PostfixPeer } from "./postfix_peer.ts";
import { type Load, recipientLocals, type SourceRun, startSmtpSource } from "./smtp_source.ts";
import { registerCleanup, treeCpuSeconds, waitUntil } from "./util.ts";
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
  /**
   * CPU seconds the server's process tree spent over the run (Postfix: master and the
   * processes it forked, reaped ones included): steadier than msg/s on a shared machine.
   */
  cpuSeconds: number;
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
    const master = Number(
      (await Deno.readTextFile(join(peer.dir, "queue", "pid", "master.pid"))).trim(),
    );
    const cpuBefore = await treeCpuSeconds(master);
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
    const cpuSeconds = await treeCpuSeconds(master) - cpuBefore;
    await done;
    return {
      messages: load.messages,
      deliveries,
      seconds,
      perSecond: load.messages / seconds,
      cpuSeconds,
    };
  } finally {
    unregister();
    killSource();
    await peer.stop();
    await peer.cleanup();
  }
}

/** How fsmtp's inbound checks run: off, against a local DNS server, or a silent one. */
export type InboundChecks = "off" | "local-dns" | "silent-dns";

/**
 * fsmtp: from smtp-source's start until it exits having had every message accepted. With
 * checks, the DNS server is started first and stopped after.
 */
export async function fsmtpInbound(
  load: Load,
  checks: InboundChecks = "off",
): Promise<Throughput> {
  const senderDomain = load.from.split("@")[1];
  const dns = checks === "local-dns"
    ? await DnsServer.start({
      txt: {
        [senderDomain]: "v=spf1 ip4:127.0.0.1 -all",
        [`_dmarc.${senderDomain}`]: "v=DMARC1; p=none",
      },
    })
    : checks === "silent-dns"
    ? await SilentDns.start()
    : undefined;
  const stopDns = registerCleanup(async () => await dns?.stop());
  try {
    return await fsmtpRun(load, dns?.address);
  } finally {
    stopDns();
    await dns?.stop();
  }
}

/** One run; with `resolver` (`host:port`), the inbound checks on and asking it. */
async function fsmtpRun(load: Load, resolver?: string): Promise<Throughput> {
  const users = recipientLocals(load).map((local) => `${local}@${DOMAIN}`);
  const server = await startServer(
    users,
    resolver === undefined ? {} : { inboundChecks: true, outbound: { port: 25, resolver } },
  );
  let killSource = () => {};
  const unregister = registerCleanup(() => Promise.resolve(killSource()));
  try {
    const cpuBefore = await treeCpuSeconds(server.pid);
    const source = startSmtpSource(server.port, load);
    killSource = source.kill;
    const run = await source.done;
    if (run.code !== 0) {
      throw new Error(
        `smtp-source against fsmtp exited ${run.code}:\n${run.output}\n` +
          `fsmtp output:\n${server.output.text.split("\n").slice(-30).join("\n")}`,
      );
    }
    const cpuSeconds = await treeCpuSeconds(server.pid) - cpuBefore;
    await server.stop();
    return {
      cpuSeconds,
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
 * `FsmtpServer.start`, tried again when the free port it picked was taken by another process
 * before it bound it (the machine is shared; other benchmarks and tests pick ports too).
 */
async function startServer(users: string[], opts: FsmtpServerOptions): Promise<FsmtpServer> {
  for (let attempt = 1;; attempt++) {
    try {
      return await FsmtpServer.start(DOMAIN, users, opts);
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE/.test((err as Error).message)) throw err;
    }
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
