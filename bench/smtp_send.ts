/**
 * Sends given messages over SMTP (RFC 5321), to fill a server's mailbox before a benchmark:
 * `sessions` connections in parallel, each EHLO then MAIL, RCPT, DATA for one message after
 * the other, waiting for every reply. Not timed; any unexpected reply throws.
 */
import { LineReader } from "./line_reader.ts";
import { checkInterrupted } from "./util.ts";

/** The envelope the messages are sent with. */
export interface Envelope {
  from: string;
  to: string;
}

const encoder = new TextEncoder();

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** Reads one reply (all its lines) and throws unless its code is `code`. */
async function expectReply(reader: LineReader, code: number, what: string): Promise<void> {
  const lines: string[] = [];
  for (;;) {
    const line = await reader.line();
    lines.push(line);
    if (line.length < 4 || line[3] !== "-") break;
  }
  if (!lines[0].startsWith(String(code))) {
    throw new Error(`${what}: expected ${code}, got ${JSON.stringify(lines.join("\n"))}`);
  }
}

/** Sends `messages` (CRLF text, not dot-stuffed) to 127.0.0.1:`port`. */
export async function sendMessages(
  port: number,
  envelope: Envelope,
  messages: string[],
  sessions = 4,
  auth?: { user: string; password: string },
): Promise<void> {
  let next = 0;
  const session = async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      conn.setNoDelay(true);
      const reader = new LineReader(conn);
      await expectReply(reader, 220, "greeting");
      await writeAll(conn, "EHLO client.remote.example\r\n");
      await expectReply(reader, 250, "EHLO");
      if (auth) {
        // RFC 4616 PLAIN; fsmtp allows it without TLS from loopback by default.
        await writeAll(conn, `AUTH PLAIN ${btoa(`\0${auth.user}\0${auth.password}`)}\r\n`);
        await expectReply(reader, 235, "AUTH");
      }
      while (next < messages.length) {
        checkInterrupted();
        const n = next++;
        await writeAll(conn, `MAIL FROM:<${envelope.from}>\r\n`);
        await expectReply(reader, 250, `message ${n + 1}: MAIL`);
        await writeAll(conn, `RCPT TO:<${envelope.to}>\r\n`);
        await expectReply(reader, 250, `message ${n + 1}: RCPT`);
        await writeAll(conn, "DATA\r\n");
        await expectReply(reader, 354, `message ${n + 1}: DATA`);
        const body = messages[n].replace(/^\./gm, "..");
        await writeAll(conn, body + (body.endsWith("\r\n") ? "" : "\r\n") + ".\r\n");
        await expectReply(reader, 250, `message ${n + 1}: end of data`);
      }
      await writeAll(conn, "QUIT\r\n");
      await expectReply(reader, 221, "QUIT");
    } finally {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(sessions, messages.length) }, session),
  );
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
