/**
 * Checks shared by the two-node tests (one SQLite folder, or one Cassandra keyspace, with one
 * Redis): what must hold whichever store the nodes share.
 */
import assert from "node:assert/strict";
import { Pop3Client } from "./pop3_client.ts";
import { waitUntil } from "./redis_server.ts";
import type { TestServer } from "./test_server.ts";

/** A POP3 login on `port`: the PASS reply and the open client. */
export async function pop3Login(
  port: number,
  user: string,
  password: string,
): Promise<{ reply: string; client: Pop3Client }> {
  const client = await Pop3Client.open(port);
  return { reply: await client.login(user, password), client };
}

/**
 * A POP3 session on `a` makes `b` answer [IN-USE]; once `a` is SIGKILLed, `b` gets the
 * maildrop within the lock's TTL (plus a second of slack). Clients to close are pushed on
 * `clients`.
 */
export async function assertPop3LockMovesOnKill(
  a: TestServer,
  b: TestServer,
  user: string,
  password: string,
  lockTtlMs: number,
  clients: { close(): void }[],
): Promise<void> {
  const onA = await pop3Login(a.pop3Port, user, password);
  clients.push(onA.client);
  assert.match(onA.reply, /^\+OK/);
  const refused = await pop3Login(b.pop3Port, user, password);
  refused.client.close();
  assert.match(refused.reply, /^-ERR \[IN-USE\]/);
  await a.kill();
  const killed = performance.now();
  await waitUntil(
    async () => {
      const { reply, client } = await pop3Login(b.pop3Port, user, password);
      if (reply.startsWith("+OK")) await client.command("QUIT");
      client.close();
      return reply.startsWith("+OK");
    },
    "B to get the maildrop",
    lockTtlMs + 5_000,
  );
  const ms = performance.now() - killed;
  console.log(`POP3 lock of a SIGKILLed node freed after ${ms.toFixed(0)} ms (ttl ${lockTtlMs})`);
  assert.ok(ms <= lockTtlMs + 1_000, `${ms} ms`);
}
