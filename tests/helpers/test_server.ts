/**
 * Starts the real `fsmtp` (main.ts in a child process) on free loopback ports with a
 * throw-away data folder, for integration and end-to-end tests.
 */
import { join } from "node:path";
import { type DnsRecords, DnsServer } from "./dns_server.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * This process's environment without the tests' own FSMTP_TEST_* variables: fsmtp reads every
 * FSMTP_* variable as a config key and refuses the ones it does not know.
 */
export function serverEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) => !name.startsWith("FSMTP_TEST_")),
  );
}

/** A value of a config key in {@link TestServerOptions.tables}. */
export type TomlValue = number | string | boolean | string[];

/** Options for a test server. */
export interface TestServerOptions {
  /** Keys of the [limits] table. */
  limits?: Record<string, number | string>;
  /** Keys of the [auth] table (failure_delay defaults to "50ms" here to keep tests quick). */
  auth?: Record<string, number | string>;
  domains?: string[];
  /** Reuse a folder (restart after a crash); a fresh temp folder otherwise. */
  dir?: string;
  /** `hostname`; "mx.test.example" by default. */
  hostname?: string;
  /**
   * Another server's folder whose data and keys this one uses: a second node on the same store
   * (SQLite in WAL mode takes two processes). Its own config and ports are in its own folder.
   */
  shareDataOf?: string;
  /** `node_id`; the config's default ("node-1") when not given. */
  nodeId?: string;
  /** The SMTP (MX) port to use, chosen beforehand so a peer can be pointed at it. */
  smtpPort?: number;
  /** Records the server's DNS (a dnsmasq the test server starts) answers; none by default. */
  dns?: DnsRecords;
  /**
   * Extra top-level TOML tables, e.g. `{ inbound: { dmarc_policy: "record" } }`; a list of
   * strings is written as a TOML array (`cassandra.contact_points`).
   */
  tables?: Record<string, Record<string, TomlValue>>;
}

/** A running server. */
export class TestServer {
  private constructor(
    readonly dir: string,
    readonly configPath: string,
    readonly smtpPort: number,
    readonly pop3Port: number,
    readonly pop3sPort: number,
    readonly submissionPort: number,
    readonly submissionsPort: number,
    readonly process: Deno.ChildProcess,
    readonly output: { text: string },
    readonly dns: DnsServer,
    readonly imapPort: number,
    readonly imapsPort: number,
  ) {}

  /** Where the store lives. */
  get dbPath(): string {
    return join(this.dir, "data", "fsmtp.db");
  }

  /** Writes a config, starts the server, waits until it listens. */
  static async start(opts: TestServerOptions = {}): Promise<TestServer> {
    // freePort() releases the port before the server binds it, so a parallel test may take
    // it in between; the server then fails to listen, and a new set of ports is tried.
    for (let attempt = 1;; attempt++) {
      const server = await TestServer.#startOnce(opts);
      const listening = await server.#listening();
      if (listening) return server;
      await server.stop();
      // A folder the caller passed in (a restart) holds their data: never remove it.
      if (!opts.dir) await server.cleanup();
      if (attempt >= 4 || !/cannot listen/.test(server.output.text)) {
        throw new Error(`the test server did not start:\n${server.output.text}`);
      }
    }
  }

  static async #startOnce(opts: TestServerOptions): Promise<TestServer> {
    const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "fsmtp-test-" });
    const [smtpPort, pop3Port, pop3sPort, submissionPort, submissionsPort, imapPort, imapsPort] = [
      opts.smtpPort ?? freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ];
    const configPath = join(dir, "fsmtp.toml");
    const shared = opts.shareDataOf ?? dir;
    const dns = await DnsServer.start(opts.dns);
    const table = (entries: Record<string, TomlValue>) =>
      Object.entries(entries)
        .map(([k, v]) =>
          `${k} = ${typeof v === "object" || typeof v === "string" ? JSON.stringify(v) : v}`
        )
        .join("\n");
    await Deno.writeTextFile(
      configPath,
      [
        `hostname = "${opts.hostname ?? "mx.test.example"}"`,
        `domains = ${JSON.stringify(opts.domains ?? ["test.example"])}`,
        `data_dir = "${join(shared, "data")}"`,
        `keys_dir = "${join(shared, "keys")}"`,
        ...(opts.nodeId === undefined ? [] : [`node_id = ${JSON.stringify(opts.nodeId)}`]),
        `log_level = "debug"`,
        `[listen]`,
        `smtp = "127.0.0.1:${smtpPort}"`,
        `submission = "127.0.0.1:${submissionPort}"`,
        `submissions = "127.0.0.1:${submissionsPort}"`,
        `pop3 = "127.0.0.1:${pop3Port}"`,
        `pop3s = "127.0.0.1:${pop3sPort}"`,
        `imap = "127.0.0.1:${imapPort}"`,
        `imaps = "127.0.0.1:${imapsPort}"`,
        `[tls]`,
        `cert = "${join(shared, "keys", "cert.pem")}"`,
        `key = "${join(shared, "keys", "key.pem")}"`,
        `[limits]`,
        table(opts.limits ?? {}),
        `[auth]`,
        table({ failure_delay: "50ms", ...opts.auth }),
        `[outbound]`,
        table({ resolver: dns.address, ...opts.tables?.outbound }),
        ...Object.entries(opts.tables ?? {}).filter(([name]) => name !== "outbound")
          .flatMap(([name, entries]) => [`[${name}]`, table(entries)]),
      ].join("\n") + "\n",
    );
    const process = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "--run=all", "--config", configPath],
      clearEnv: true,
      env: serverEnv(),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = { text: "" };
    const server = new TestServer(
      dir,
      configPath,
      smtpPort,
      pop3Port,
      pop3sPort,
      submissionPort,
      submissionsPort,
      process,
      output,
      dns,
      imapPort,
      imapsPort,
    );
    collect(process.stdout, output);
    collect(process.stderr, output);
    return server;
  }

  /** Waits for the last listener's line; false when the process exited first. */
  async #listening(): Promise<boolean> {
    let exited = false;
    this.process.status.then(() => exited = true);
    // The last listener started: every one before it is up too.
    const pattern = new RegExp(`listening imaps on 127\\.0\\.0\\.1:${this.imapsPort}`);
    const deadline = Date.now() + 30_000;
    while (!pattern.test(this.output.text)) {
      if (exited || Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  /** Waits until the server's output matches (condition-based, bounded). */
  async waitForOutput(pattern: RegExp, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.output.text)) {
      if (Date.now() > deadline) {
        throw new Error(`server output never matched ${pattern}:\n${this.output.text}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Runs `fsmtp` CLI against this server's config. */
  async cli(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
    return await runCli([...args, "--config", this.configPath], stdin);
  }

  /** Adds a user through the CLI. */
  async addUser(address: string, password: string): Promise<void> {
    const r = await this.cli(["--adduser", address, "--password-stdin"], password + "\n");
    if (r.code !== 0) throw new Error(`adduser failed: ${r.out}`);
  }

  /** SIGTERM and wait; stops the DNS server too. */
  async stop(): Promise<number> {
    try {
      this.process.kill("SIGTERM");
    } catch { /* already gone */ }
    const { code } = await this.process.status;
    await this.dns.stop();
    return code;
  }

  /** SIGKILL and wait: a crash. */
  async kill(): Promise<void> {
    try {
      this.process.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.process.status;
    await this.dns.stop();
  }

  /** Removes the temp folder. */
  async cleanup(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Runs main.ts with `args`, feeding `stdin`; returns exit code and combined output. */
export async function runCli(
  args: string[],
  stdin?: string,
): Promise<{ code: number; out: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    clearEnv: true,
    env: serverEnv(),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text };
}

async function collect(stream: ReadableStream<Uint8Array>, sink: { text: string }) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink.text += decoder.decode(chunk, { stream: true });
}

/** Runs a program to completion; returns exit code and output. */
export async function runProgram(
  command: string,
  args: string[],
  stdin?: string | Uint8Array,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(command, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
    await writer.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}
