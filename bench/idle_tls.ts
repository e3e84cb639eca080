/**
 * fsmtp's memory per idle connection, for each protocol and each way of getting TLS: implicit
 * TLS from the first byte (RFC 8314: submissions, pop3s, imaps) and STARTTLS on the plain port
 * (RFC 3207, RFC 2595), plus plain SMTP as the floor. For each case a fresh server gets
 * `count` connections that each went as far as a client that stays connected goes (SMTP: EHLO
 * after TLS; POP3: CAPA after TLS; IMAP: logged in, INBOX selected, in IDLE as a phone is),
 * and its RSS before and with them open gives the KiB per connection.
 *
 * Both figures are taken once the server has settled: a burst of handshakes and logins leaves
 * V8's young generation grown (tens of MiB of garbage), and V8 shrinks it back only after ~10 s
 * of quiet. What a thousand phones idling all day cost is the settled figure; the one right
 * after the burst is printed beside it.
 */
import { FsmtpServer, PASSWORD } from "./fsmtp_server.ts";
import { quote } from "./imap_client.ts";
import { benchMessage } from "./pop3_download.ts";
import { DOMAIN } from "./smtp_inbound.ts";
import { sendMessages } from "./smtp_send.ts";
import { checkInterrupted, registerCleanup, rssKiB, sleep } from "./util.ts";

/** How a case's connections get TLS. */
export type TlsMode = "none" | "STARTTLS" | "implicit";

/** One case of the table. */
export interface IdleCase {
  protocol: "SMTP" | "POP3" | "IMAP";
  /** The `[listen]` key its connections go to. */
  listener: string;
  tls: TlsMode;
  /** What each connection did before it went idle. */
  state: string;
}

/** A measured case. */
export interface IdleRow extends IdleCase {
  connections: number;
  beforeKiB: number;
  openKiB: number;
  closedKiB: number;
  /** RSS 2 s after the last connection was opened, before the server settled. */
  burstKiB: number;
  /** (open − before) / connections, both settled. */
  perConnectionKiB: number;
  /** (burst − before) / connections. */
  burstPerConnectionKiB: number;
}

/** The outcome of one case: its figures, or why there are none. */
export type IdleResult = IdleRow | (IdleCase & { error: string });

const USER = `idle@${DOMAIN}`;
/** Connections set up at once, to stay under the listen backlog and the handshake CPU. */
const BATCH = 50;
/** Sessions opened and closed before measuring, so the code paths are compiled and warm. */
const WARM_UP = 20;
/** Long enough for V8's memory reducer to shrink the heap after a burst (it waits ~8 s). */
const SETTLE_MS = 20_000;
const SETTLE_SAMPLES = 5;

/** RSS once the server has been quiet for {@link SETTLE_MS}: the least of a few samples. */
async function settledRss(pid: number): Promise<number> {
  await sleep(SETTLE_MS);
  let least = Infinity;
  for (let i = 0; i < SETTLE_SAMPLES; i++) {
    if (i > 0) await sleep(1000);
    least = Math.min(least, await rssKiB(pid));
  }
  return least;
}

/** Every case, in the table's order. */
export const IDLE_CASES: IdleCase[] = [
  { protocol: "SMTP", listener: "smtp", tls: "none", state: "EHLO" },
  { protocol: "SMTP", listener: "smtp", tls: "STARTTLS", state: "EHLO after TLS" },
  { protocol: "SMTP", listener: "submissions", tls: "implicit", state: "EHLO" },
  { protocol: "POP3", listener: "pop3", tls: "STARTTLS", state: "CAPA after STLS" },
  { protocol: "POP3", listener: "pop3s", tls: "implicit", state: "CAPA" },
  {
    protocol: "IMAP",
    listener: "imap",
    tls: "STARTTLS",
    state: "logged in, INBOX selected, IDLE",
  },
  {
    protocol: "IMAP",
    listener: "imaps",
    tls: "implicit",
    state: "logged in, INBOX selected, IDLE",
  },
];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A client connection that reads whole lines; small, since a thousand of them are open. */
class Dialogue {
  #pending = "";

  constructor(public conn: Deno.Conn, readonly tls: { hostname: string; caCerts: string[] }) {}

  async send(line: string): Promise<void> {
    const bytes = encoder.encode(`${line}\r\n`);
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  /** Reads lines until `last` accepts one; returns them all. */
  async until(last: (line: string) => boolean): Promise<string[]> {
    const lines: string[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      let lf: number;
      while ((lf = this.#pending.indexOf("\n")) >= 0) {
        const line = this.#pending.slice(0, lf).replace(/\r$/, "");
        this.#pending = this.#pending.slice(lf + 1);
        lines.push(line);
        if (last(line)) return lines;
      }
      const n = await this.conn.read(buf);
      if (n === null) throw new Error(`closed by the server after ${JSON.stringify(lines)}`);
      this.#pending += decoder.decode(buf.subarray(0, n));
    }
  }

  /** Sends `line` and reads up to the reply's last line, which must start with `ok`. */
  async command(line: string, last: (line: string) => boolean, ok: string): Promise<void> {
    await this.send(line);
    const reply = await this.until(last);
    const final = reply[reply.length - 1];
    if (!final.startsWith(ok)) throw new Error(`${line.split(" ")[0]}: ${final}`);
  }

  /** Starts TLS as the client on the connection (after the server agreed to STARTTLS). */
  async upgrade(): Promise<void> {
    if (this.#pending !== "") throw new Error("the server sent more after its STARTTLS reply");
    this.conn = await Deno.startTls(this.conn as Deno.TcpConn, this.tls);
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

const smtpLast = (line: string) => /^\d{3} /.test(line);
const pop3Status = (line: string) => line.startsWith("+OK") || line.startsWith("-ERR");
const pop3ListEnd = (line: string) => line === "." || line.startsWith("-ERR");
const imapTagged = (tag: string) => (line: string) => line.startsWith(`${tag} `);

/** Takes a new connection of `c` as far as its `state`. */
async function converse(c: IdleCase, d: Dialogue): Promise<void> {
  const starttls = c.tls === "STARTTLS";
  if (c.protocol === "SMTP") {
    await d.until(smtpLast);
    if (starttls) {
      await d.command("EHLO client.bench.example", smtpLast, "250");
      await d.command("STARTTLS", smtpLast, "220");
      await d.upgrade();
    }
    await d.command("EHLO client.bench.example", smtpLast, "250");
  } else if (c.protocol === "POP3") {
    await d.until(pop3Status);
    if (starttls) {
      await d.command("STLS", pop3Status, "+OK");
      await d.upgrade();
    }
    await d.command("CAPA", pop3ListEnd, ".");
  } else {
    await d.until(() => true);
    if (starttls) {
      await d.command("s STARTTLS", imapTagged("s"), "s OK");
      await d.upgrade();
    }
    await d.command(`l LOGIN ${quote(USER)} ${quote(PASSWORD)}`, imapTagged("l"), "l OK");
    await d.command("x SELECT INBOX", imapTagged("x"), "x OK");
    await d.command("i IDLE", (line) => line.startsWith("+") || line.startsWith("i "), "+");
  }
}

function portOf(server: FsmtpServer, listener: string): number {
  const ports: Record<string, number | undefined> = {
    smtp: server.port,
    submissions: server.implicitTlsPorts?.submissions,
    pop3: server.pop3Port,
    pop3s: server.implicitTlsPorts?.pop3s,
    imap: server.imapPorts?.imap,
    imaps: server.imapPorts?.imaps,
  };
  const port = ports[listener];
  if (port === undefined) throw new Error(`fsmtp was started without ${listener}`);
  return port;
}

/** Measures one case on a fresh server (`messages` in the user's INBOX for IMAP). */
export async function idleCase(c: IdleCase, count: number, messages: number): Promise<IdleRow> {
  const server = await FsmtpServer.start(DOMAIN, c.protocol === "IMAP" ? [USER] : [], {
    pop3: c.protocol === "POP3",
    imap: c.protocol === "IMAP",
    implicitTls: c.tls === "implicit",
  });
  const open: Dialogue[] = [];
  const closeAll = () => {
    for (const d of open.splice(0)) d.close();
  };
  const unregister = registerCleanup(() => Promise.resolve(closeAll()));
  try {
    if (c.protocol === "IMAP") {
      const mail = Array.from({ length: messages }, (_, i) => benchMessage(i + 1, 4096));
      await sendMessages(server.port, { from: "sender@remote.example", to: USER }, mail);
    }
    const tls = { hostname: server.hostname, caCerts: [await Deno.readTextFile(server.certPath)] };
    const port = portOf(server, c.listener);
    const connect = async () => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
      // Implicit TLS: the handshake first, checked against the server's own name.
      const conn = c.tls === "implicit" ? await Deno.startTls(tcp, tls) : tcp;
      const d = new Dialogue(conn, tls);
      try {
        await converse(c, d);
        return d;
      } catch (e) {
        d.close();
        throw e;
      }
    };
    const openBatch = async (n: number, into: Dialogue[]) => {
      const batch = await Promise.allSettled(Array.from({ length: n }, connect));
      for (const r of batch) if (r.status === "fulfilled") into.push(r.value);
      const failed = batch.find((r) => r.status === "rejected");
      if (failed) {
        const reason = (failed as PromiseRejectedResult).reason;
        throw new Error(
          `${c.listener} session ${into.length + 1}: ${reason}\n` +
            server.output.text.split("\n").slice(-10).join("\n"),
        );
      }
    };
    // Warm-up: the first login pays the key derivation, and every path gets compiled, once.
    const warm: Dialogue[] = [];
    await openBatch(WARM_UP, warm);
    for (const d of warm) d.close();
    const beforeKiB = await settledRss(server.pid);
    while (open.length < count) {
      checkInterrupted();
      await openBatch(Math.min(BATCH, count - open.length), open);
    }
    await sleep(2000);
    const burstKiB = await rssKiB(server.pid);
    const openKiB = await settledRss(server.pid);
    closeAll();
    await sleep(1000);
    const closedKiB = await rssKiB(server.pid);
    return {
      ...c,
      connections: count,
      beforeKiB,
      openKiB,
      closedKiB,
      burstKiB,
      perConnectionKiB: (openKiB - beforeKiB) / count,
      burstPerConnectionKiB: (burstKiB - beforeKiB) / count,
    };
  } finally {
    unregister();
    closeAll();
    await server.stop();
    await server.cleanup();
  }
}

/** Measures every case in turn; a failed case keeps its error and the others still run. */
export async function idleTls(
  count: number,
  messages: number,
  log: (line: string) => void,
): Promise<IdleResult[]> {
  const results: IdleResult[] = [];
  for (const c of IDLE_CASES) {
    checkInterrupted();
    try {
      const row = await idleCase(c, count, messages);
      log(
        `  ${c.listener} (${c.tls}): ${row.perConnectionKiB.toFixed(1)} KiB per connection ` +
          `(RSS ${row.beforeKiB} → ${row.openKiB} KiB with ${count} open and settled, ` +
          `${row.burstKiB} right after opening them, ${row.closedKiB} closed)`,
      );
      results.push(row);
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      log(`  ${c.listener} (${c.tls}) FAILED: ${error.split("\n")[0]}`);
      results.push({ ...c, error });
    }
  }
  return results;
}

/** The table's lines: one row per case, the aim applying to the TLS ones. */
export function idleTable(results: IdleResult[], aimKiB: number, messages: number): string[] {
  const table: string[][] = [
    ["protocol", "listener", "TLS", "idle in", "KiB/connection", "right after burst", "aim"],
    ...results.map((r) => {
      const state = r.protocol === "IMAP" ? `${r.state} (INBOX of ${messages})` : r.state;
      if ("error" in r) return [r.protocol, r.listener, r.tls, state, "failed", "-", ""];
      const per = r.perConnectionKiB;
      const aim = r.tls === "none" ? "" : `< ${aimKiB}: ${per < aimKiB ? "met" : "NOT met"}`;
      const burst = r.burstPerConnectionKiB.toFixed(1);
      return [r.protocol, r.listener, r.tls, state, per.toFixed(1), burst, aim];
    }),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => i === 4 || i === 5 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))
      .join("  ").trimEnd();
  return [line(table[0]), line(widths.map((w) => "-".repeat(w))), ...table.slice(1).map(line)];
}
