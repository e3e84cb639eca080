/**
 * Starts the real fsmtp (`deno run -A main.ts --run=smtp`, or `--run=all` with POP3 or IMAP) as a child
 * process on free loopback ports, with a temp data and keys folder and a config tuned for load:
 * warn-level logging, raised connection limits.
 */
import { join } from "node:path";
import {
  checkInterrupted,
  collect,
  freePort,
  registerCleanup,
  runProgram,
  waitUntil,
} from "./util.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** The password of every user the benchmark adds. */
export const PASSWORD = "bench-password-1";

/** What to start besides SMTP. */
export interface FsmtpServerOptions {
  /** Also listen for POP3 (plain, with STLS) on a free port: `--run=all`. */
  pop3?: boolean;
  /**
   * `[inbound] checks` (DKIM, SPF, DMARC, ARC of arriving mail). Off by default: they look up
   * DNS, which a benchmark must not send beyond this machine, and the Postfix peer runs none.
   */
  inboundChecks?: boolean;
  /**
   * Also listen for IMAP on free ports: `imap` (plain, with STARTTLS; fsmtp allows a login
   * without TLS on loopback) and `imaps` (implicit TLS): `--run=all`.
   */
  imap?: boolean;
  /** Also listen for submission (AUTH) on a free port. */
  submission?: boolean;
  /** Also listen for submissions and pop3s (implicit TLS) on free ports (imaps comes with `imap`). */
  implicitTls?: boolean;
  /** `[outbound]`: the remote port and the DNS server (`host:port`) to deliver with. */
  outbound?: { port: number; resolver: string };
}

/** A running fsmtp server. */
export class FsmtpServer {
  /** Everything the server printed so far. */
  readonly output = { text: "" };
  private child: Deno.ChildProcess | undefined;
  private unregister = () => {};

  private constructor(
    /** The temp folder (config, data, keys). */
    readonly dir: string,
    readonly configPath: string,
    /** The SMTP port on 127.0.0.1. */
    readonly port: number,
    /** The POP3 port on 127.0.0.1 (undefined unless started with `pop3`). */
    readonly pop3Port: number | undefined,
    /** The submission port on 127.0.0.1 (undefined unless started with `submission`). */
    readonly submissionPort: number | undefined,
    /** The IMAP ports on 127.0.0.1, plain and implicit TLS (undefined unless `imap`). */
    readonly imapPorts: { imap: number; imaps: number } | undefined,
    /** The submissions and pop3s ports on 127.0.0.1 (undefined unless `implicitTls`). */
    readonly implicitTlsPorts: { submissions: number; pop3s: number } | undefined,
    /** The `hostname` of the config: the name in the server's self-signed certificate. */
    readonly hostname: string,
  ) {}

  /** The server's TLS certificate (PEM; self-signed, made at the first start). */
  get certPath(): string {
    return join(this.dir, "keys", "cert.pem");
  }

  /** The server's process (`deno run`, the process that runs main.ts). */
  get process(): Deno.ChildProcess {
    if (!this.child) throw new Error("fsmtp is not started");
    return this.child;
  }

  /** The server's pid, for /proc. */
  get pid(): number {
    return this.process.pid;
  }

  /**
   * Writes a config, adds `users` (full addresses, all with one password) and starts the server;
   * resolves once it printed "listening smtp on". Stops it and removes the folder on failure;
   * until `cleanup`, an interrupted benchmark does so too (registerCleanup).
   */
  static async start(
    domain: string,
    users: string[],
    opts: FsmtpServerOptions = {},
  ): Promise<FsmtpServer> {
    const dir = await Deno.makeTempDir({ prefix: "fsmtp-bench-" });
    const pop3Port = opts.pop3 ? freePort() : undefined;
    const submissionPort = opts.submission ? freePort() : undefined;
    const imapPorts = opts.imap ? { imap: freePort(), imaps: freePort() } : undefined;
    const implicitTlsPorts = opts.implicitTls
      ? { submissions: freePort(), pop3s: freePort() }
      : undefined;
    const server = new FsmtpServer(
      dir,
      join(dir, "fsmtp.toml"),
      freePort(),
      pop3Port,
      submissionPort,
      imapPorts,
      implicitTlsPorts,
      `mx.${domain}`,
    );
    server.unregister = registerCleanup(async () => {
      await server.stop();
      await server.cleanup();
    });
    try {
      await server.configure(domain, users, opts);
      await server.spawn();
      return server;
    } catch (e) {
      await server.stop();
      await server.cleanup();
      throw e;
    }
  }

  private async configure(
    domain: string,
    users: string[],
    opts: FsmtpServerOptions,
  ): Promise<void> {
    const { dir, configPath, port, pop3Port, submissionPort, imapPorts } = this;
    const implicit = this.implicitTlsPorts;
    const outbound = opts.outbound
      ? [`[outbound]`, `port = ${opts.outbound.port}`, `resolver = "${opts.outbound.resolver}"`]
      : [];
    await Deno.writeTextFile(
      configPath,
      [
        `hostname = "${this.hostname}"`,
        `domains = ${JSON.stringify([domain])}`,
        `data_dir = ${JSON.stringify(join(dir, "data"))}`,
        `keys_dir = ${JSON.stringify(join(dir, "keys"))}`,
        `log_level = "warn"`,
        `[listen]`,
        `smtp = "127.0.0.1:${port}"`,
        `submission = "${submissionPort === undefined ? "" : `127.0.0.1:${submissionPort}`}"`,
        `submissions = "${implicit === undefined ? "" : `127.0.0.1:${implicit.submissions}`}"`,
        `pop3 = "${pop3Port === undefined ? "" : `127.0.0.1:${pop3Port}`}"`,
        `pop3s = "${implicit === undefined ? "" : `127.0.0.1:${implicit.pop3s}`}"`,
        `imap = "${imapPorts === undefined ? "" : `127.0.0.1:${imapPorts.imap}`}"`,
        `imaps = "${imapPorts === undefined ? "" : `127.0.0.1:${imapPorts.imaps}`}"`,
        `[tls]`,
        `cert = ${JSON.stringify(this.certPath)}`,
        `key = ${JSON.stringify(join(dir, "keys", "key.pem"))}`,
        `[limits]`,
        `max_connections = 2000`,
        `max_connections_per_ip = 2000`,
        // The IMAP idle-memory figure holds a thousand sessions of one user.
        `max_connections_per_user = 2000`,
        `[inbound]`,
        `checks = ${opts.inboundChecks ?? false}`,
        ...outbound,
      ].join("\n") + "\n",
    );
    for (const user of users) {
      checkInterrupted();
      const r = await runProgram(
        Deno.execPath(),
        ["run", "--allow-all", MAIN, "--adduser", user, "--password-stdin", "--config", configPath],
        PASSWORD + "\n",
      );
      if (r.code !== 0) throw new Error(`fsmtp --adduser ${user} failed:\n${r.stdout}${r.stderr}`);
    }
  }

  private async spawn(): Promise<void> {
    checkInterrupted();
    const profileDir = Deno.env.get("BENCH_CPU_PROF");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        // BENCH_CPU_PROF=DIR: the server writes a V8 CPU profile there when it stops.
        ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : []),
        MAIN,
        this.pop3Port === undefined && this.imapPorts === undefined &&
          this.implicitTlsPorts === undefined
          ? "--run=smtp"
          : "--run=all",
        "--config",
        this.configPath,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    collect(child.stdout, this.output);
    collect(child.stderr, this.output);
    let exited = false;
    child.status.then(() => exited = true);
    const listening = [`smtp on 127.0.0.1:${this.port}`];
    if (this.pop3Port !== undefined) listening.push(`pop3 on 127.0.0.1:${this.pop3Port}`);
    if (this.submissionPort !== undefined) {
      listening.push(`submission on 127.0.0.1:${this.submissionPort}`);
    }
    if (this.implicitTlsPorts !== undefined) {
      listening.push(
        `submissions on 127.0.0.1:${this.implicitTlsPorts.submissions}`,
        `pop3s on 127.0.0.1:${this.implicitTlsPorts.pop3s}`,
      );
    }
    if (this.imapPorts !== undefined) {
      listening.push(
        `imap on 127.0.0.1:${this.imapPorts.imap}`,
        `imaps on 127.0.0.1:${this.imapPorts.imaps}`,
      );
    }
    await waitUntil(
      () => {
        if (exited) throw new Error(`fsmtp exited during start-up:\n${this.output.text}`);
        return listening.every((l) => this.output.text.includes(`listening ${l}`));
      },
      60_000,
      `fsmtp to listen on ${listening.join(", ")}`,
    );
  }

  /** SIGTERM, then SIGKILL after 15 s; resolves with the exit code (undefined if never started). */
  async stop(): Promise<number | undefined> {
    const child = this.child;
    if (!child) return undefined;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 15_000);
    try {
      return (await child.status).code;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Removes the temp folder. */
  async cleanup(): Promise<void> {
    this.unregister();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
