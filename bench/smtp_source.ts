/** Runs Postfix's `smtp-source` load generator against a port and times it. */
import { checkInterrupted } from "./util.ts";

/** The load one run sends. */
export interface Load {
  /** Parallel SMTP sessions (`-s`). */
  sessions: number;
  /** Messages in all (`-m`). */
  messages: number;
  /** Payload octets per message (`-l`). */
  size: number;
  /** Recipients per message (`-r`): `user@d`, `2user@d`, `3user@d`, … */
  recipients: number;
  /** Envelope sender (`-f`). */
  from: string;
  /** Base recipient (`-t`). */
  to: string;
}

/** The result of one smtp-source run. */
export interface SourceRun {
  code: number;
  /** Wall time from spawn to exit. */
  seconds: number;
  /** stdout and stderr, the running counter reduced to its last value. */
  output: string;
}

/**
 * The recipient addresses smtp-source sends to with `-r n -t local@domain`: the base address
 * and, for the others, a number prepended to the local part (2..n), as seen against smtp-sink.
 */
export function recipientLocals(load: Load): string[] {
  const local = load.to.split("@")[0];
  const locals = [local];
  for (let i = 2; i <= load.recipients; i++) locals.push(`${i}${local}`);
  return locals;
}

/**
 * Starts smtp-source; `started` is the `performance.now()` at spawn, `done` resolves at exit,
 * `kill` stops it early.
 * smtp-source aborts (non-zero exit) on any unexpected reply, as `-A` is not given.
 */
export function startSmtpSource(
  port: number,
  load: Load,
): { started: number; done: Promise<SourceRun>; kill: () => void } {
  const args = [
    "-c",
    "-s",
    String(load.sessions),
    "-m",
    String(load.messages),
    "-l",
    String(load.size),
    "-r",
    String(load.recipients),
    "-f",
    load.from,
    "-t",
    load.to,
    `127.0.0.1:${port}`,
  ];
  checkInterrupted();
  const started = performance.now();
  const child = new Deno.Command("/usr/sbin/smtp-source", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const done = child.output().then((out) => {
    const seconds = (performance.now() - started) / 1000;
    const dec = new TextDecoder();
    // -c writes a running counter with carriage returns; keep the last state of each line.
    const output = (dec.decode(out.stdout) + dec.decode(out.stderr))
      .split("\n").map((l) => l.split("\r").filter((s) => s !== "").at(-1) ?? "").join("\n")
      .trim();
    return { code: out.code, seconds, output };
  });
  const kill = () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
  };
  return { started, done, kill };
}
