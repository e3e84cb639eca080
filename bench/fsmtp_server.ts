/**
 * Starts the real fsmtp (`deno run -A main.ts --run=smtp`) as a child process on a free loopback
 * port, with a temp data and keys folder and a config tuned for load: warn-level logging, raised
 * connection limits.
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
  ) {}

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
  static async start(domain: string, users: string[]): Promise<FsmtpServer> {
    const dir = await Deno.makeTempDir({ prefix: "fsmtp-bench-" });
    const server = new FsmtpServer(dir, join(dir, "fsmtp.toml"), freePort());
    server.unregister = registerCleanup(async () => {
      await server.stop();
      await server.cleanup();
    });
    try {
      await server.configure(domain, users);
      await server.spawn();
      return server;
    } catch (e) {
      await server.stop();
      await server.cleanup();
      throw e;
    }
  }

  private async configure(domain: string, users: string[]): Promise<void> {
    const { dir, configPath, port } = this;
    await Deno.writeTextFile(
      configPath,
      [
        `hostname = "mx.${domain}"`,
        `domains = ${JSON.stringify([domain])}`,
        `data_dir = ${JSON.stringify(join(dir, "data"))}`,
        `keys_dir = ${JSON.stringify(join(dir, "keys"))}`,
        `log_level = "warn"`,
        `[listen]`,
        `smtp = "127.0.0.1:${port}"`,
        `submission = ""`,
        `submissions = ""`,
        `pop3 = ""`,
        `pop3s = ""`,
        `imap = ""`,
        `imaps = ""`,
        `[tls]`,
        `cert = ${JSON.stringify(join(dir, "keys", "cert.pem"))}`,
        `key = ${JSON.stringify(join(dir, "keys", "key.pem"))}`,
        `[limits]`,
        `max_connections = 2000`,
        `max_connections_per_ip = 2000`,
      ].join("\n") + "\n",
    );
    for (const user of users) {
      checkInterrupted();
      const r = await runProgram(
        Deno.execPath(),
        ["run", "--allow-all", MAIN, "--adduser", user, "--password-stdin", "--config", configPath],
        "bench-password-1\n",
      );
      if (r.code !== 0) throw new Error(`fsmtp --adduser ${user} failed:\n${r.stdout}${r.stderr}`);
    }
  }

  private async spawn(): Promise<void> {
    checkInterrupted();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "--run=smtp", "--config", this.configPath],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    collect(child.stdout, this.output);
    collect(child.stderr, this.output);
    let exited = false;
    child.status.then(() => exited = true);
    const listening = new RegExp(`listening smtp on 127\\.0\\.0\\.1:${this.port}`);
    await waitUntil(
      () => {
        if (exited) throw new Error(`fsmtp exited during start-up:\n${this.output.text}`);
        return listening.test(this.output.text);
      },
      60_000,
      `fsmtp to listen on ${this.port}`,
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
