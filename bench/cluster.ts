/**
 * `deno task bench --only=cluster`: the same load into three set-ups, in the same run: (1) one
 * fsmtp node on SQLite, (2) one node on Cassandra, (3) two nodes on that Cassandra (a fresh
 * keyspace) sharing one Redis, the load split across both. The load: smtp-source delivering
 * `messages` messages of 4 KiB to 2 recipients each (split in halves between the two nodes in
 * (3)), then both users' mailboxes downloaded over POP3 at once (login, LIST, RETR of all; in (3)
 * one user through each node), twice: the first download re-wraps every message key, the second
 * only reads.
 *
 * Needs `CASSANDRA_HOME` naming a Cassandra home with run-node.sh (see the README's "Running the
 * Cassandra tests"); it starts one node on 127.0.0.13 itself and stops it at the end. Without
 * one, the part is skipped with the reason. Needs redis-server and Postfix's smtp-source.
 */
import { join } from "node:path";
import { PASSWORD } from "./fsmtp_server.ts";
import { capabilities, download } from "./pop3_client.ts";
import { PIPELINE_WINDOW } from "./pop3_download.ts";
import { type Load, startSmtpSource } from "./smtp_source.ts";
import {
  checkInterrupted,
  collect,
  freePort,
  haveCommand,
  registerCleanup,
  runProgram,
  treeCpuSeconds,
  waitUntil,
} from "./util.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const DOMAIN = "cluster.example";
/** The address of the bench's own Cassandra node (other benches and tests use the others). */
const CASSANDRA_ADDRESS = "127.0.0.13";
const USERS = [`reader@${DOMAIN}`, `2reader@${DOMAIN}`];

/** The figures of one set-up. */
export interface ClusterSide {
  name: string;
  /** Inbound messages (transactions) per second, all nodes together. */
  inbound: number;
  /** POP3 messages per second, first download (key re-wrap) and second. */
  firstRead: number;
  repeatRead: number;
  /** CPU milliseconds per inbound message: the fsmtp processes, and Cassandra's JVM (if used). */
  fsmtpCpuMs: number;
  cassandraCpuMs?: number;
}

/** The result: the three sides, or why the part was skipped. */
export type ClusterBench = { skipped: string } | { sides: ClusterSide[]; messages: number };

/** Why the part cannot run here, or undefined. */
async function skipReason(home: string | undefined): Promise<string | undefined> {
  if (!home) return "CASSANDRA_HOME (a Cassandra home with run-node.sh) is not set";
  try {
    await Deno.stat(join(home, "run-node.sh"));
  } catch {
    return `CASSANDRA_HOME=${home} has no run-node.sh`;
  }
  if (!await haveCommand("redis-server")) return "redis-server is not installed";
  return undefined;
}

/** Runs the three set-ups; `messages` transactions each. */
export async function clusterBench(
  messages: number,
  log: (line: string) => void,
): Promise<ClusterBench> {
  const home = Deno.env.get("CASSANDRA_HOME");
  const skipped = await skipReason(home);
  if (skipped) return { skipped };
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-bench-cluster-" });
  const nodeDir = join(dir, "cassandra");
  const redis = new Owned();
  const stopCassandra = async () => {
    await runProgram(join(home!, "stop-node.sh"), [nodeDir]);
  };
  const unregister = registerCleanup(async () => {
    await redis.stop();
    await stopCassandra();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  });
  try {
    const started = performance.now();
    const run = await runProgram(join(home!, "run-node.sh"), [nodeDir, CASSANDRA_ADDRESS]);
    if (run.code !== 0) throw new Error(`run-node.sh failed:\n${run.stdout}${run.stderr}`);
    const redisPort = freePort();
    await redis.spawn(
      "redis-server",
      ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      "Ready to accept connections",
    );
    const cassandra = (keyspace: string) => [
      `[store]`,
      `backend = "cassandra"`,
      `[cassandra]`,
      `contact_points = ["${CASSANDRA_ADDRESS}"]`,
      `local_dc = "datacenter1"`,
      `keyspace = "${keyspace}"`,
      `replication_factor = 1`,
      `[redis]`,
      `url = "redis://127.0.0.1:${redisPort}/0"`,
    ];
    await waitUntil(
      async () =>
        (await runProgram("bash", ["-c", `exec 3<>/dev/tcp/${CASSANDRA_ADDRESS}/9042`]))
          .code === 0,
      120_000,
      `Cassandra on ${CASSANDRA_ADDRESS}:9042`,
      500,
    );
    log(`  Cassandra on ${CASSANDRA_ADDRESS} up after ${elapsed(started)} s`);
    const jvm = Number((await Deno.readTextFile(join(nodeDir, "pid"))).trim());
    // SQLite too runs beside the (idle) Cassandra node, so every side shares the CPUs alike.
    const sides: ClusterSide[] = [];
    sides.push(await side("1 node, SQLite", dir, [[]], messages, log, undefined));
    sides.push(await side("1 node, Cassandra", dir, [cassandra("bench_one")], messages, log, jvm));
    sides.push(
      await side(
        "2 nodes, one Cassandra",
        dir,
        [cassandra("bench_two"), cassandra("bench_two")],
        messages,
        log,
        jvm,
      ),
    );
    return { sides, messages };
  } finally {
    unregister();
    await redis.stop();
    await stopCassandra();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** One set-up: start its nodes, load them, read back, stop them. */
async function side(
  name: string,
  root: string,
  configs: string[][],
  messages: number,
  log: (line: string) => void,
  cassandraPid: number | undefined,
): Promise<ClusterSide> {
  const nodes: FsmtpNode[] = [];
  try {
    for (const [i, extra] of configs.entries()) {
      nodes.push(await FsmtpNode.start(join(root, `${name.replace(/\W+/g, "-")}-${i}`), extra));
    }
    for (const user of USERS) await nodes[0].addUser(user);
    // Split the transactions between the nodes; each carries both recipients.
    const share = (i: number) =>
      Math.floor(messages / nodes.length) + (i < messages % nodes.length ? 1 : 0);
    const load = (i: number): Load => ({
      sessions: Math.max(1, Math.floor(20 / nodes.length)),
      messages: share(i),
      size: 4096,
      recipients: USERS.length,
      from: "sender@remote.example",
      to: USERS[0],
    });
    const cpu = async () => ({
      fsmtp: (await Promise.all(nodes.map((n) => treeCpuSeconds(n.child!.pid))))
        .reduce((a, b) => a + b, 0),
      cassandra: cassandraPid === undefined ? 0 : await treeCpuSeconds(cassandraPid),
    });
    const cpu0 = await cpu();
    const t0 = performance.now();
    const runs = await Promise.all(nodes.map((n, i) => startSmtpSource(n.smtpPort, load(i)).done));
    const inboundSeconds = (performance.now() - t0) / 1000;
    const cpu1 = await cpu();
    for (const [i, r] of runs.entries()) {
      if (r.code !== 0) {
        throw new Error(`${name}: smtp-source exited ${r.code}:\n${r.output}\n${nodes[i].tail()}`);
      }
    }
    const window = (await capabilities(nodes[0].pop3Port)).includes("PIPELINING")
      ? PIPELINE_WINDOW
      : 1;
    // Each user read through its own node when there are two, through the one otherwise.
    const read = async () => {
      checkInterrupted();
      const t = performance.now();
      const got = await Promise.all(USERS.map((user, i) =>
        download(
          { port: nodes[i % nodes.length].pop3Port, user, password: PASSWORD },
          window,
          messages,
        )
      ));
      const total = got.reduce((sum, d) => sum + d.messages, 0);
      return total / ((performance.now() - t) / 1000);
    };
    const result: ClusterSide = {
      name,
      inbound: messages / inboundSeconds,
      firstRead: await read(),
      repeatRead: await read(),
      fsmtpCpuMs: (cpu1.fsmtp - cpu0.fsmtp) * 1000 / messages,
      cassandraCpuMs: cassandraPid === undefined
        ? undefined
        : (cpu1.cassandra - cpu0.cassandra) * 1000 / messages,
    };
    log(
      `  ${name.padEnd(22)} inbound ${result.inbound.toFixed(1)} msg/s; POP3 ` +
        `${result.firstRead.toFixed(1)} msg/s first, ${result.repeatRead.toFixed(1)} repeat; ` +
        `inbound CPU a message: fsmtp ${result.fsmtpCpuMs.toFixed(1)} ms` +
        (result.cassandraCpuMs === undefined
          ? ""
          : `, Cassandra ${result.cassandraCpuMs.toFixed(1)} ms`),
    );
    return result;
  } finally {
    for (const n of nodes) await n.stop();
  }
}

function elapsed(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(1);
}

/** A child process this part started, stopped by its own pid. */
class Owned {
  child: Deno.ChildProcess | undefined;
  readonly output = { text: "" };

  /** Spawns and waits until its output shows `ready`. */
  async spawn(command: string, args: string[], ready: string): Promise<void> {
    checkInterrupted();
    const child = new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    collect(child.stdout, this.output);
    collect(child.stderr, this.output);
    let exited = false;
    child.status.then(() => exited = true);
    await waitUntil(
      () => {
        if (exited) throw new Error(`${command} exited during start-up:\n${this.output.text}`);
        return this.output.text.includes(ready);
      },
      60_000,
      `${command} to be ready`,
    );
  }

  /** SIGTERM, SIGKILL after 15 s. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 15_000);
    await child.status;
    clearTimeout(timer);
  }
}

/** One fsmtp node (SMTP and POP3) with `extra` config lines (the store and Redis). */
class FsmtpNode extends Owned {
  private constructor(
    readonly configPath: string,
    readonly smtpPort: number,
    readonly pop3Port: number,
  ) {
    super();
  }

  static async start(dir: string, extra: string[]): Promise<FsmtpNode> {
    await Deno.mkdir(dir, { recursive: true });
    const node = new FsmtpNode(join(dir, "fsmtp.toml"), freePort(), freePort());
    await Deno.writeTextFile(
      node.configPath,
      [
        `hostname = "mx.${DOMAIN}"`,
        `domains = ["${DOMAIN}"]`,
        `data_dir = ${JSON.stringify(join(dir, "data"))}`,
        `keys_dir = ${JSON.stringify(join(dir, "keys"))}`,
        `log_level = "warn"`,
        `[listen]`,
        `smtp = "127.0.0.1:${node.smtpPort}"`,
        `pop3 = "127.0.0.1:${node.pop3Port}"`,
        ...["submission", "submissions", "pop3s", "imap", "imaps"].map((k) => `${k} = ""`),
        `[tls]`,
        `cert = ${JSON.stringify(join(dir, "keys", "cert.pem"))}`,
        `key = ${JSON.stringify(join(dir, "keys", "key.pem"))}`,
        `[limits]`,
        `max_connections = 2000`,
        `max_connections_per_ip = 2000`,
        `[inbound]`,
        `checks = false`,
        ...extra,
      ].join("\n") + "\n",
    );
    await node.spawn(
      Deno.execPath(),
      ["run", "--allow-all", MAIN, "--run=all", "--config", node.configPath],
      `listening pop3 on 127.0.0.1:${node.pop3Port}`,
    );
    return node;
  }

  /** `fsmtp --adduser` through this node's config (the store is shared on Cassandra). */
  async addUser(user: string): Promise<void> {
    const r = await runProgram(
      Deno.execPath(),
      [
        "run",
        "--allow-all",
        MAIN,
        "--adduser",
        user,
        "--password-stdin",
        "--config",
        this
          .configPath,
      ],
      PASSWORD + "\n",
    );
    if (r.code !== 0) throw new Error(`--adduser ${user} failed:\n${r.stdout}${r.stderr}`);
  }

  /** The last lines the node printed. */
  tail(): string {
    return this.output.text.split("\n").slice(-20).join("\n");
  }
}
