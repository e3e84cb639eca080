/**
 * fsmtp's memory with many IMAP clients waiting for mail the way phones and desktop clients do:
 * each connected to `imaps` (implicit TLS, RFC 8314), logged in, INBOX selected, in IDLE
 * (RFC 2177). A fresh server with one user whose INBOX holds some messages; RSS of the server
 * process before, with every session idling, and after they are closed.
 */
import { FsmtpServer, PASSWORD } from "./fsmtp_server.ts";
import { ImapClient } from "./imap_client.ts";
import { benchMessage } from "./pop3_download.ts";
import { DOMAIN } from "./smtp_inbound.ts";
import { sendMessages } from "./smtp_send.ts";
import { checkInterrupted, registerCleanup, rssKiB, sleep } from "./util.ts";

/** RSS figures in KiB. */
export interface IdleImapMemory {
  connections: number;
  /** Messages in the INBOX every session selected. */
  messages: number;
  beforeKiB: number;
  idlingKiB: number;
  closedKiB: number;
  /** (idling − before) / connections. */
  perConnectionKiB: number;
}

/** Sessions set up at once (TLS handshakes and logins), to stay under the listen backlog. */
const BATCH = 50;
const USER = `idle@${DOMAIN}`;

/** Opens `count` idling sessions on a fresh server and measures its RSS. */
export async function idleImapConnections(
  count: number,
  messages: number,
): Promise<IdleImapMemory> {
  const server = await FsmtpServer.start(DOMAIN, [USER], { imap: true });
  const clients: ImapClient[] = [];
  const closeAll = () => {
    for (const c of clients.splice(0)) c.close();
  };
  const unregister = registerCleanup(() => Promise.resolve(closeAll()));
  try {
    if (!server.imapPorts) throw new Error("fsmtp was started without IMAP");
    const mail = Array.from({ length: messages }, (_, i) => benchMessage(i + 1, 4096));
    await sendMessages(server.port, { from: "sender@remote.example", to: USER }, mail);
    const target = {
      port: server.imapPorts.imaps,
      tls: { hostname: server.hostname, caCerts: [await Deno.readTextFile(server.certPath)] },
    };
    const open = async () => {
      const client = await ImapClient.connect(target);
      try {
        await client.login(USER, PASSWORD);
        await client.command("SELECT INBOX");
        await client.idle();
        return client;
      } catch (e) {
        client.close();
        throw e;
      }
    };
    // One session first: the login's key derivation and the first read of the INBOX are paid
    // once, not by the thousand.
    (await open()).close();
    await sleep(1000); // let start-up and delivery garbage settle
    const beforeKiB = await rssKiB(server.pid);
    while (clients.length < count) {
      checkInterrupted();
      const n = Math.min(BATCH, count - clients.length);
      const batch = await Promise.allSettled(Array.from({ length: n }, open));
      for (const r of batch) if (r.status === "fulfilled") clients.push(r.value);
      const failed = batch.find((r) => r.status === "rejected");
      if (failed) {
        const reason = (failed as PromiseRejectedResult).reason;
        throw new Error(
          `session ${clients.length + 1} of ${count}: ${reason}\n` +
            server.output.text.split("\n").slice(-10).join("\n"),
        );
      }
    }
    await sleep(2000);
    const idlingKiB = await rssKiB(server.pid);
    closeAll();
    await sleep(1000);
    const closedKiB = await rssKiB(server.pid);
    return {
      connections: count,
      messages,
      beforeKiB,
      idlingKiB,
      closedKiB,
      perConnectionKiB: (idlingKiB - beforeKiB) / count,
    };
  } finally {
    unregister();
    closeAll();
    await server.stop();
    await server.cleanup();
  }
}
