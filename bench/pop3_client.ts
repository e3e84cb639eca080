/**
 * The POP3 client that times a mailbox download, the same for every server: one session of
 * USER/PASS, LIST, RETR of every message, QUIT. RETRs are pipelined in a window when asked (for a
 * server that advertises PIPELINING, RFC 2449 §6.6), one at a time otherwise. Raw TCP and byte
 * scanning (LineReader), so the client is not what is measured; Python's poplib, which parses
 * every line in Python, can be.
 */
import { LineReader } from "./line_reader.ts";

/** Where and as whom to log in. */
export interface Pop3Account {
  /** The POP3 port on 127.0.0.1 (plain; the login happens without TLS, over loopback). */
  port: number;
  user: string;
  password: string;
}

/** One timed download. */
export interface Download {
  /** Messages retrieved (all that LIST showed). */
  messages: number;
  /** Octets retrieved, dot-unstuffed, CRLF line ends. */
  octets: number;
  /** The sum of the sizes LIST gave. */
  listedOctets: number;
  /** From connect to QUIT's reply. */
  seconds: number;
  /** Messages per second. */
  perSecond: number;
}

const encoder = new TextEncoder();

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

function expectOk(reply: string, what: string): void {
  if (!reply.startsWith("+OK")) throw new Error(`${what}: ${JSON.stringify(reply)}`);
}

/** The CAPA list of a server (RFC 2449 §5), read before any login. */
export async function capabilities(port: number): Promise<string[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const reader = new LineReader(conn);
    expectOk(await reader.line(), `greeting on ${port}`);
    await writeAll(conn, "CAPA\r\n");
    expectOk(await reader.line(), "CAPA");
    const capa = await reader.lines();
    await writeAll(conn, "QUIT\r\n");
    await reader.line();
    return capa;
  } finally {
    conn.close();
  }
}

/**
 * Logs in, lists, retrieves every message and quits; `window` RETR commands at most are in
 * flight (1: one at a time). Throws on any `-ERR` or when `expect` messages were not listed.
 */
export async function download(
  account: Pop3Account,
  window: number,
  expect?: number,
): Promise<Download> {
  const started = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: account.port });
  try {
    conn.setNoDelay(true);
    const reader = new LineReader(conn);
    expectOk(await reader.line(), "greeting");
    await writeAll(conn, `USER ${account.user}\r\n`);
    expectOk(await reader.line(), "USER");
    await writeAll(conn, `PASS ${account.password}\r\n`);
    expectOk(await reader.line(), "PASS");
    await writeAll(conn, "LIST\r\n");
    expectOk(await reader.line(), "LIST");
    const numbers: number[] = [];
    let listedOctets = 0;
    for (const line of await reader.lines()) {
      const [n, size] = line.split(" ").map(Number);
      numbers.push(n);
      listedOctets += size;
    }
    if (expect !== undefined && numbers.length !== expect) {
      throw new Error(`LIST showed ${numbers.length} messages, not ${expect}`);
    }

    let sent = 0;
    let received = 0;
    let octets = 0;
    const sendUpTo = async (inFlight: number) => {
      let commands = "";
      while (sent < numbers.length && sent - received < inFlight) {
        commands += `RETR ${numbers[sent++]}\r\n`;
      }
      if (commands !== "") await writeAll(conn, commands);
    };
    await sendUpTo(window);
    while (received < numbers.length) {
      expectOk(await reader.line(), `RETR ${numbers[received]}`);
      octets += await reader.body();
      received++;
      // Refill in batches: once half the window is answered, top it up again.
      if (sent - received <= window / 2) await sendUpTo(window);
    }
    await writeAll(conn, "QUIT\r\n");
    expectOk(await reader.line(), "QUIT");
    const seconds = (performance.now() - started) / 1000;
    return {
      messages: numbers.length,
      octets,
      listedOctets,
      seconds,
      perSecond: numbers.length / seconds,
    };
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
