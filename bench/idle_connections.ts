/**
 * fsmtp's memory with many idle SMTP connections: RSS of the server process on a fresh server,
 * then with `count` connections open (each has read its 220 greeting), then after closing them.
 */
import { FsmtpServer } from "./fsmtp_server.ts";
import { DOMAIN } from "./smtp_inbound.ts";
import { checkInterrupted, registerCleanup, rssKiB, sleep } from "./util.ts";

/** RSS figures in KiB. */
export interface IdleMemory {
  connections: number;
  idleKiB: number;
  openKiB: number;
  closedKiB: number;
}

/** Opens connections in batches of this many (stays under the listen backlog). */
const BATCH = 100;

/** Connects and reads the 220 greeting (up to its CRLF). */
async function connectGreeted(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buf = new Uint8Array(512);
  let text = "";
  while (!text.includes("\r\n")) {
    const n = await conn.read(buf);
    if (n === null) {
      conn.close();
      throw new Error(`fsmtp closed the connection before a greeting (${JSON.stringify(text)})`);
    }
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  if (!text.startsWith("220")) {
    conn.close();
    throw new Error(`fsmtp greeted with ${JSON.stringify(text.trim())}`);
  }
  return conn;
}

/** Measures RSS idle, with `count` idle connections, and after closing them. */
export async function idleConnections(count: number): Promise<IdleMemory> {
  const server = await FsmtpServer.start(DOMAIN, []);
  const conns: Deno.TcpConn[] = [];
  const closeAll = () => {
    for (const c of conns.splice(0)) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  const unregister = registerCleanup(() => Promise.resolve(closeAll()));
  try {
    await sleep(1000); // let start-up garbage settle
    const idleKiB = await rssKiB(server.pid);
    while (conns.length < count) {
      checkInterrupted();
      const n = Math.min(BATCH, count - conns.length);
      const batch = await Promise.allSettled(
        Array.from({ length: n }, () => connectGreeted(server.port)),
      );
      for (const r of batch) if (r.status === "fulfilled") conns.push(r.value);
      const failed = batch.find((r) => r.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }
    await sleep(1000);
    const openKiB = await rssKiB(server.pid);
    closeAll();
    await sleep(1000);
    const closedKiB = await rssKiB(server.pid);
    return { connections: count, idleKiB, openKiB, closedKiB };
  } finally {
    unregister();
    closeAll();
    await server.stop();
    await server.cleanup();
  }
}
