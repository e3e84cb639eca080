/**
 * fsmtp's memory under a burst of large messages: `clients` SMTP sessions each send one message
 * of `size` octets at the same moment (with SIZE=, as MTAs do), while the server's RSS is
 * sampled. Every message is either acknowledged (250, stored) or refused for now (452 4.3.1:
 * the in-flight budget, `limits.max_inflight_octets`, is spent); peak RSS is set against that
 * budget plus the idle server's RSS. Prints figures; asserts nothing.
 */
import { FsmtpServer } from "./fsmtp_server.ts";
import { LineReader } from "./line_reader.ts";
import { checkInterrupted, rssKiB, sleep } from "./util.ts";

/** What the burst came to. */
export interface MemoryBurst {
  clients: number;
  size: number;
  budgetOctets: number;
  idleKiB: number;
  peakKiB: number;
  /** RSS ten seconds after the burst. */
  afterKiB: number;
  accepted: number;
  refused: number;
  /** Replies other than 250 and 452 (should be none). */
  other: string[];
  seconds: number;
}

const DOMAIN = "memory.example";
const RCPT = `burst@${DOMAIN}`;
const encoder = new TextEncoder();
/** The default `limits.max_inflight_octets`. */
export const DEFAULT_BUDGET = 512 * 1024 * 1024;

async function reply(reader: LineReader): Promise<string> {
  for (;;) {
    const line = await reader.line();
    if (line.length < 4 || line[3] !== "-") return line;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** One client: sends the message and returns the final reply line. */
async function sendOne(port: number, body: Uint8Array, start: Promise<void>): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new LineReader(conn);
  try {
    await reply(reader);
    await writeAll(conn, encoder.encode("EHLO burst.example\r\n"));
    await reply(reader);
    await start;
    await writeAll(conn, encoder.encode(`MAIL FROM:<sender@example.net> SIZE=${body.length}\r\n`));
    const mail = await reply(reader);
    if (!mail.startsWith("250")) return mail;
    await writeAll(conn, encoder.encode(`RCPT TO:<${RCPT}>\r\n`));
    const rcpt = await reply(reader);
    if (!rcpt.startsWith("250")) return rcpt;
    await writeAll(conn, encoder.encode("DATA\r\n"));
    const data = await reply(reader);
    if (!data.startsWith("354")) return data;
    await writeAll(conn, body);
    return await reply(reader);
  } finally {
    conn.close();
  }
}

/** A message of about `size` octets: short lines of text, dot-terminated. */
function message(size: number): Uint8Array {
  const line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
  const head = `From: <sender@example.net>\r\nTo: <${RCPT}>\r\nSubject: burst\r\n\r\n`;
  return encoder.encode(head + line.repeat(Math.ceil(size / line.length)) + ".\r\n");
}

/** Runs the burst against a fresh fsmtp with the default in-flight budget. */
export async function memoryBurst(clients: number, size: number): Promise<MemoryBurst> {
  const server = await FsmtpServer.start(DOMAIN, [RCPT]);
  let sampling = true;
  try {
    await sleep(1000);
    const idleKiB = await rssKiB(server.pid);
    let peakKiB = idleKiB;
    const sampler = (async () => {
      while (sampling) {
        peakKiB = Math.max(peakKiB, await rssKiB(server.pid).catch(() => 0));
        await sleep(25);
      }
    })();
    const body = message(size);
    let go = () => {};
    const start = new Promise<void>((resolve) => go = resolve);
    const began = performance.now();
    const sends = Array.from({ length: clients }, () => sendOne(server.port, body, start));
    go();
    const replies = await Promise.all(sends);
    const seconds = (performance.now() - began) / 1000;
    await sleep(10_000);
    sampling = false;
    await sampler;
    checkInterrupted();
    const afterKiB = await rssKiB(server.pid);
    return {
      clients,
      size: body.length,
      budgetOctets: DEFAULT_BUDGET,
      idleKiB,
      peakKiB,
      afterKiB,
      accepted: replies.filter((r) => r.startsWith("250")).length,
      refused: replies.filter((r) => r.startsWith("452")).length,
      other: replies.filter((r) => !r.startsWith("250") && !r.startsWith("452")),
      seconds,
    };
  } finally {
    sampling = false;
    await server.stop();
    await server.cleanup();
  }
}
