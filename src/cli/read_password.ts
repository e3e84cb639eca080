/**
 * Reading passwords for the CLI: from the terminal without echo, or line by line from
 * standard input (`--password-stdin`, for scripts).
 */

const encoder = new TextEncoder();

/** Reads lines from standard input as `--password-stdin` asks. */
export class StdinLines {
  #lines: string[] | undefined;

  /** The next line, or an error naming what was expected. */
  async next(what: string): Promise<string> {
    if (!this.#lines) {
      const text = new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer());
      this.#lines = text.split(/\r?\n/);
    }
    const line = this.#lines.shift();
    if (line === undefined || line === "") {
      throw new Error(`--password-stdin: standard input ended before the ${what}`);
    }
    return line;
  }
}

/** Asks on the terminal with echo off; throws when standard input is not a terminal. */
export async function promptPassword(prompt: string): Promise<string> {
  if (!Deno.stdin.isTerminal()) {
    throw new Error("standard input is not a terminal: pass --password-stdin to read from it");
  }
  await Deno.stderr.write(encoder.encode(prompt));
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  const buf = new Uint8Array(64);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      for (const b of buf.subarray(0, n)) {
        if (b === 3) throw new Error("interrupted");
        if (b === 13 || b === 10) return new TextDecoder().decode(new Uint8Array(bytes));
        if (b === 127 || b === 8) bytes.pop();
        else bytes.push(b);
      }
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
}

/** Asks twice and insists on the same answer. */
export async function promptNewPassword(): Promise<string> {
  const first = await promptPassword("New password: ");
  const second = await promptPassword("Repeat the new password: ");
  if (first !== second) throw new Error("the two passwords differ; nothing was changed");
  return first;
}

/** The rule every new password must meet; an error message when it does not. */
export function passwordProblem(password: string): string | undefined {
  if ([...password].length < 8) return "a password needs at least 8 characters";
  if (/[\x00-\x1f\x7f]/.test(password)) return "a password cannot hold control characters";
  return undefined;
}
