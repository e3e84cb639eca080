/**
 * Postfix's `smtp-sink` test server on a free 127.0.0.1 port, as the one destination both MTAs
 * relay to in the outbound benchmark. It counts messages with `-c` (a running counter, updated
 * when "." is received) and keeps a copy of each mail transaction with `-d` (one file per
 * message, written as it arrives: no interleaving between concurrent sessions), so the
 * benchmark can check afterwards what arrived. As root it must drop to a user (`-u nobody`).
 */
import { join } from "node:path";
import {
  acceptsOn,
  checkInterrupted,
  collect,
  freePort,
  registerCleanup,
  sleep,
  stopPeerProcess,
} from "./util.ts";

const SMTP_SINK = "/usr/sbin/smtp-sink";
/** uid/gid of `nobody`, whom smtp-sink runs as and who must write the dump folder. */
const NOBODY = 65534;

/** One message as smtp-sink dumped it. */
export interface DumpedMessage {
  /** The envelope sender, from the `X-Mail-Args:` line smtp-sink prepends. */
  sender: string;
  /** The message with CRLF line ends, smtp-sink's own header lines (X-…, Received) in front. */
  content: string;
}

/** A running smtp-sink. */
export class SmtpSink {
  #count = 0;
  #unregister = () => {};
  /** What smtp-sink wrote to stderr (warnings, errors). */
  readonly errors = { text: "" };

  private constructor(
    /** The port on 127.0.0.1. */
    readonly port: number,
    /** The temp folder holding the dumped messages. */
    readonly dir: string,
    private readonly child: Deno.ChildProcess,
  ) {}

  /**
   * Starts smtp-sink and resolves once it accepts connections. Until `stop`, an interrupted
   * benchmark stops it and removes its folder (registerCleanup).
   */
  static async start(): Promise<SmtpSink> {
    checkInterrupted();
    const dir = await Deno.makeTempDir({ prefix: "fsmtp-bench-sink-" });
    let sink: SmtpSink | undefined;
    try {
      await Deno.chown(dir, NOBODY, NOBODY);
      const port = freePort();
      const child = new Deno.Command(SMTP_SINK, {
        // A strftime template: the file name is it plus the transaction's random id.
        args: ["-u", "nobody", "-c", "-d", `${dir}/%H%M%S.`, `127.0.0.1:${port}`, "256"],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      sink = new SmtpSink(port, dir, child);
      sink.#unregister = registerCleanup(() => sink!.stop());
      sink.#read();
      collect(child.stderr, sink.errors);
      const deadline = Date.now() + 10_000;
      while (!(await acceptsOn(sink.port))) {
        if (Date.now() > deadline) {
          throw new Error(`smtp-sink does not listen on port ${port}: ${sink.errors.text}`);
        }
        await sleep(50);
      }
      return sink;
    } catch (e) {
      if (sink) await sink.stop();
      else await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  /** Messages received so far ("." seen). */
  get count(): number {
    return this.#count;
  }

  /**
   * Waits until the count reaches `target`; throws when it made no progress for `stallMs`
   * (with `why()` in the message, for the sender's log) or after `maxMs`.
   */
  async waitForCount(
    target: number,
    why: () => Promise<string> | string,
    stallMs = 60_000,
    maxMs = 900_000,
  ): Promise<void> {
    const started = Date.now();
    let last = this.#count;
    let lastChange = started;
    while (this.#count < target) {
      checkInterrupted();
      const now = Date.now();
      if (this.#count !== last) {
        last = this.#count;
        lastChange = now;
      }
      if (now - lastChange > stallMs || now - started > maxMs) {
        throw new Error(
          `smtp-sink counted ${this.#count} of ${target} messages and no more for ` +
            `${Math.round((now - lastChange) / 1000)} s\n${await why()}`,
        );
      }
      await sleep(10);
    }
  }

  /** The messages dumped so far, in no particular order. */
  async messages(): Promise<DumpedMessage[]> {
    const out: DumpedMessage[] = [];
    for await (const entry of Deno.readDir(this.dir)) {
      if (!entry.isFile) continue;
      const text = await Deno.readTextFile(join(this.dir, entry.name));
      const sender = text.match(/^X-Mail-Args: <([^>]*)>/m)?.[1] ?? "";
      out.push({ sender, content: text.replace(/\r?\n/g, "\r\n") });
    }
    return out;
  }

  /** Stops smtp-sink and removes its folder (kept when FSMTP_BENCH_KEEP is set). */
  async stop(): Promise<void> {
    this.#unregister();
    await stopPeerProcess(this.child, this.dir);
  }

  /** Follows the `-c` counter: "sess=… quit=… mesg=N", separated by carriage returns. */
  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let tail = "";
    try {
      for await (const chunk of this.child.stdout) {
        tail = (tail + decoder.decode(chunk, { stream: true })).slice(-200);
        const all = [...tail.matchAll(/mesg=(\d+)/g)];
        if (all.length > 0) this.#count = Math.max(this.#count, Number(all.at(-1)![1]));
      }
    } catch { /* the process went away */ }
  }
}
