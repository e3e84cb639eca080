/**
 * A real `redis-server` (Debian's) for a test: on a free loopback port, nothing persisted,
 * stopped and started again on the same port to play an outage.
 */
import { freePort } from "./test_server.ts";

/** A redis-server child process. */
export class RedisServer {
  #process: Deno.ChildProcess | undefined;
  #output = { text: "" };

  private constructor(readonly port: number) {}

  /** The URL fsmtp is given. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Starts a server on a free port and waits until it accepts connections. */
  static async start(): Promise<RedisServer> {
    for (let attempt = 1;; attempt++) {
      const server = new RedisServer(freePort());
      try {
        await server.restart();
        return server;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
  }

  /** Starts (again) on the same port; waits until it is ready. */
  async restart(): Promise<void> {
    this.#output = { text: "" };
    this.#process = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    collect(this.#process.stdout, this.#output);
    collect(this.#process.stderr, this.#output);
    let exited = false;
    this.#process.status.then(() => exited = true);
    const deadline = Date.now() + 10_000;
    while (!/Ready to accept connections/.test(this.#output.text)) {
      if (exited || Date.now() > deadline) {
        throw new Error(`redis-server did not start on ${this.port}:\n${this.#output.text}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Stops the server (SIGKILL: an outage, not a shutdown) and waits for it to exit. */
  async kill(): Promise<void> {
    const process = this.#process;
    this.#process = undefined;
    if (!process) return;
    try {
      process.kill("SIGKILL");
    } catch { /* already gone */ }
    await process.status;
  }

  /** Runs a command through redis-cli; returns its output. */
  async cli(...args: string[]): Promise<string> {
    const out = await new Deno.Command("redis-cli", {
      args: ["-p", String(this.port), ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  }
}

async function collect(stream: ReadableStream<Uint8Array>, sink: { text: string }) {
  const decoder = new TextDecoder();
  for await (const chunk of stream) sink.text += decoder.decode(chunk, { stream: true });
}

/** Waits until `condition` holds, checking every 10 ms; throws `what` after `ms`. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
