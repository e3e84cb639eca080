/**
 * imaptest's stress mode against one server (Dovecot's random-command IMAP load generator, an
 * external binary; see /work/tools/IMAPTEST.md): `clients` connections over `users` accounts
 * (`<prefix>1`…`<prefix>N` at one domain, one password) for `secs` seconds, messages appended
 * from an mbox. Its `Totals:` block gives the commands of each kind; logins per second is the
 * sessions per second figure.
 */
import { join } from "node:path";
import { benchMessage } from "./pop3_download.ts";
import { checkInterrupted, runProgram } from "./util.ts";

/** The mbox imaptest appends from, when present (see IMAPTEST.md). */
const TOOLS_MBOX = "/work/tools/imaptest-mbox";

/** The settings of one stress run, the same for every server. */
export interface StressSettings {
  /** The imaptest binary. */
  binary: string;
  port: number;
  /** The user name with `%d` where the account number goes. */
  userTemplate: string;
  users: number;
  password: string;
  clients: number;
  secs: number;
  /** The mbox file to append from. */
  mbox: string;
}

/** What a stress run did. */
export interface StressTotals {
  /** Commands by imaptest's column name (`Logi`, `Sele`, `Fetc`, …). */
  commands: Record<string, number>;
  /** LOGINs per second of the run: sessions per second. */
  sessionsPerSecond: number;
  /** Every command per second. */
  commandsPerSecond: number;
  /** `Error:` lines imaptest printed (protocol errors, failed commands, lost connections). */
  errors: number;
  /** The first few error lines. */
  errorSample: string[];
}

/**
 * Parses the `Totals:` block of imaptest's stdout: a row of column names, the probability rows,
 * then a row of counts as long as the names. Returns undefined when there is none.
 */
export function parseTotals(stdout: string): Record<string, number> | undefined {
  const lines = stdout.split("\n");
  const at = lines.findIndex((l) => l.trim() === "Totals:");
  if (at < 0 || at + 1 >= lines.length) return undefined;
  const names = lines[at + 1].trim().split(/\s+/);
  for (const line of lines.slice(at + 2)) {
    const cells = line.trim().split(/\s+/);
    if (cells.length === names.length && cells.every((c) => /^\d+$/.test(c))) {
      return Object.fromEntries(names.map((n, i) => [n, Number(cells[i])]));
    }
  }
  return undefined;
}

/**
 * The mbox to stress with: the tools one, or else (in `dir`) 40 of the benchmark's messages in
 * mbox form (a `From ` line before each, LF line ends, which imaptest turns into CRLF).
 */
export async function stressMbox(dir: string): Promise<string> {
  try {
    await Deno.stat(TOOLS_MBOX);
    return TOOLS_MBOX;
  } catch {
    const path = join(dir, "imaptest.mbox");
    const text = Array.from({ length: 40 }, (_, i) => {
      // mboxrd quoting of body lines that start with "From " (none do here, but be safe).
      const body = benchMessage(i + 1, 2048).replaceAll("\r\n", "\n").replace(/^From /gm, ">From ");
      return `From sender@remote.example Thu Nov 26 12:00:00 2026\n${body}\n`;
    }).join("");
    await Deno.writeTextFile(path, text);
    return path;
  }
}

/** Runs imaptest once with `settings`; throws when it printed no Totals. */
export async function stress(settings: StressSettings): Promise<StressTotals> {
  checkInterrupted();
  const args = [
    "host=127.0.0.1",
    `port=${settings.port}`,
    `user=${settings.userTemplate}`,
    `users=${settings.users}`,
    `pass=${settings.password}`,
    `mbox=${settings.mbox}`,
    `secs=${settings.secs}`,
    `clients=${settings.clients}`,
    "seed=1",
  ];
  // imaptest links to libdovecot (IMAPTEST.md), which is not on the default library path.
  const r = await runProgram("env", [
    "LD_LIBRARY_PATH=/usr/lib/dovecot",
    settings.binary,
    ...args,
  ]);
  const commands = parseTotals(r.stdout);
  if (!commands) {
    throw new Error(`imaptest printed no Totals (exit ${r.code}):\n${r.stdout}${r.stderr}`);
  }
  const errorLines = r.stderr.split("\n").filter((l) => l.startsWith("Error:"));
  const total = Object.values(commands).reduce((a, b) => a + b, 0);
  return {
    commands,
    sessionsPerSecond: (commands["Logi"] ?? 0) / settings.secs,
    commandsPerSecond: total / settings.secs,
    errors: errorLines.length,
    errorSample: errorLines.slice(0, 5),
  };
}
