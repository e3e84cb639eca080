/** Small helpers shared by the benchmark modules. */

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** What a finished program left behind. */
export interface ProgramResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion, feeding `stdin`; returns its exit code and output. */
export async function runProgram(
  command: string,
  args: string[],
  stdin?: string,
): Promise<ProgramResult> {
  const child = new Deno.Command(command, {
    args,
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
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Runs a program and throws, with its output, unless it exits 0. */
export async function mustRun(command: string, args: string[], stdin?: string): Promise<string> {
  const r = await runProgram(command, args, stdin);
  if (r.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

/** Whether `command` is found on PATH (or the sbin folders). */
export async function haveCommand(command: string): Promise<boolean> {
  const r = await runProgram("sh", [
    "-c",
    `PATH="$PATH:/usr/sbin:/sbin" command -v ${command}`,
  ]);
  return r.code === 0;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until `done()` is true, polling; throws after `ms` with `what` in the message, or when the
 * run was interrupted.
 */
export async function waitUntil(
  done: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
  pollMs = 20,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    checkInterrupted();
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** VmRSS of a process in KiB, from /proc/<pid>/status. */
export async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const m = status.match(/^VmRSS:\s+(\d+)\s+kB/m);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Collects a byte stream into `sink.text` as it arrives. */
export async function collect(
  stream: ReadableStream<Uint8Array>,
  sink: { text: string },
): Promise<void> {
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) sink.text += decoder.decode(chunk, { stream: true });
  } catch { /* the process went away */ }
}

const cleanups = new Set<() => Promise<void>>();
let interrupted = false;

/**
 * Registers work that must run even when the benchmark is interrupted (stop a server, remove a
 * temp folder); returns the function that unregisters it once it ran the normal way.
 */
export function registerCleanup(fn: () => Promise<void>): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Throws once the benchmark was interrupted, so no new work starts. */
export function checkInterrupted(): void {
  if (interrupted) throw new Error("interrupted");
}

/**
 * On SIGINT/SIGTERM: marks the run interrupted (waits and starts throw from then on) and runs
 * every registered cleanup, again for any registered meanwhile, until none is left.
 */
export async function interruptAndCleanUp(): Promise<void> {
  interrupted = true;
  while (cleanups.size > 0) {
    const all = [...cleanups];
    cleanups.clear();
    await Promise.allSettled(all.map((fn) => fn()));
  }
}

let clockTicks: number | undefined;

/**
 * CPU seconds (user + system) used by process `root` and its descendants so far: the live
 * ones from /proc, plus the children each of them has already reaped (cutime, cstime).
 * Linux only.
 */
export async function treeCpuSeconds(root: number): Promise<number> {
  clockTicks ??= Number((await runProgram("getconf", ["CLK_TCK"])).stdout.trim()) || 100;
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let text: string;
    try {
      text = await Deno.readTextFile(`/proc/${entry.name}/stat`);
    } catch {
      continue; // exited meanwhile
    }
    // The name (field 2) may hold spaces and parentheses: the fields after its last ")".
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    stats.set(Number(entry.name), { ppid: Number(f[1]), ticks });
  }
  const inTree = new Set<number>([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, { ppid }] of stats) {
      if (!inTree.has(pid) && inTree.has(ppid)) {
        inTree.add(pid);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const pid of inTree) ticks += stats.get(pid)?.ticks ?? 0;
  return ticks / clockTicks;
}

/**
 * Stops a peer's process and removes its temp folder, which is kept when FSMTP_BENCH_KEEP is
 * set (for debugging).
 */
export async function stopPeerProcess(child: Deno.ChildProcess, dir: string): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* gone */ }
  await child.status;
  if (Deno.env.get("FSMTP_BENCH_KEEP")) return console.error(`bench: kept ${dir}`);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export async function acceptsOn(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}
