/**
 * Starts the real fsmtp (`deno run -A main.ts --run=smtp`) as a child process on a free loopback
 * port, with a temp data and keys folder and a config tuned for load: warn-level logging, raised
 * connection limits.
 */
import { join } from "node:path";
import { collect, freePort, runProgram, waitUntil } from "./util.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A running fsmtp server. */
export class FsmtpServer {
  private constructor(
    /** The temp folder (config, data, keys). */
    readonly dir: string,
    readonly configPath: string,
    /** The SMTP port on 127.0.0.1. */
    readonly port: number,
    /** The server's process (`deno run`, the process that runs main.ts). */
    readonly process: Deno.ChildProcess,
    /** Everything it printed so far. */
    readonly output: { text: string },
  ) {}

  /** The server's pid, for /proc. */
  get pid(): number {
    return this.process.pid;
  }

  /**
   * Writes a config, adds `users` (full addresses, all with one password) and starts the server;
   * resolves once it printed "listening smtp on". Removes the folder again on failure.
   */
  static async start(domain: string, users: string[]): Promise<FsmtpServer> {
    const dir = await Deno.makeTempDir({ prefix: "fsmtp-bench-" });
    const port = freePort();
    const configPath = join(dir, "fsmtp.toml");
    let server: FsmtpServer | undefined;
    try {
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
            configPath,
          ],
          "bench-password-1\n",
        );
        if (r.code !== 0) {
          throw new Error(`fsmtp --adduser ${user} failed:\n${r.stdout}${r.stderr}`);
        }
      }
      const process = new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", MAIN, "--run=smtp", "--config", configPath],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const output = { text: "" };
      server = new FsmtpServer(dir, configPath, port, process, output);
      collect(process.stdout, output);
      collect(process.stderr, output);
      let exited = false;
      process.status.then(() => exited = true);
      const listening = new RegExp(`listening smtp on 127\\.0\\.0\\.1:${port}`);
      await waitUntil(
        () => {
          if (exited) throw new Error(`fsmtp exited during start-up:\n${output.text}`);
          return listening.test(output.text);
        },
        60_000,
        `fsmtp to listen on ${port}`,
      );
      return server;
    } catch (e) {
      await server?.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  /** SIGTERM, then SIGKILL after 15 s; resolves with the exit code. */
  async stop(): Promise<number> {
    try {
      this.process.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        this.process.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 15_000);
    try {
      return (await this.process.status).code;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Removes the temp folder. */
  async cleanup(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
