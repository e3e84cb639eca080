/**
 * IMAP durability: the server is SIGKILLed mid-APPEND, right after a tagged OK of APPEND or
 * EXPUNGE, and while a client is STOREing flags. After a restart on the same data, what was
 * acknowledged holds, and nothing half-written is visible (RFC 9051 §6.3.12: a message is
 * appended whole or not at all).
 */
import assert from "node:assert/strict";
import { ImapClient, literalsOf, numbered } from "../helpers/imap_client.ts";
import { TestServer } from "../helpers/test_server.ts";

const USER = "erin@test.example";
const PASSWORD = "durable imap password";
const BIG = 4 * 1024 * 1024;

/** Every message made, by subject: what a stored copy must equal. */
const made = new Map<string, string>();

/** A message whose content says what it is, so a truncated copy is recognisable. */
function message(subject: string, octets = 2_000): string {
  const head = `Subject: ${subject}\r\nFrom: a@test.example\r\n\r\n`;
  const line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";
  const body = line.repeat(Math.max(1, Math.ceil((octets - head.length) / line.length)));
  const text = `${head}${body}END ${subject}\r\n`;
  made.set(subject, text);
  return text;
}

async function login(server: TestServer): Promise<ImapClient> {
  const c = await ImapClient.login(server.imapPort, USER, PASSWORD);
  const r = await c.command("SELECT INBOX");
  assert.equal(r.status, "OK", r.text);
  return c;
}

/** Every message of INBOX: UID, flags and whole content, in UID order. */
async function contents(
  server: TestServer,
): Promise<{ uid: number; flags: string[]; body: string }[]> {
  const c = await login(server);
  try {
    const r = await c.command("UID FETCH 1:* (UID FLAGS BODY.PEEK[])", 60_000);
    assert.equal(r.status, "OK", r.text);
    return r.untagged.filter((l) => / FETCH \(/.test(l)).map((l) => {
      const uid = /\bUID (\d+)/.exec(l);
      const flags = /\bFLAGS \(([^)]*)\)/.exec(l);
      const [body] = literalsOf(l);
      assert.ok(uid && flags && body !== undefined, l.slice(0, 200));
      return {
        uid: Number(uid[1]),
        flags: flags[1].split(" ").filter((f) => f !== "" && f !== "\\Recent"),
        body,
      };
    });
  } finally {
    await c.command("LOGOUT").catch(() => {});
    c.close();
  }
}

/** Asserts every stored message is whole: exactly as `message()` made it. */
function assertWhole(stored: { body: string }[]): string[] {
  return stored.map(({ body }) => {
    const subject = /^Subject: (\S+)\r\n/.exec(body)?.[1];
    assert.ok(subject, `a stored message has no subject: ${body.slice(0, 80)}`);
    assert.ok(
      body === made.get(subject),
      `message ${subject} is not whole (${body.length} octets)`,
    );
    return subject;
  });
}

Deno.test("imap: SIGKILL during and after APPEND, EXPUNGE and STORE", async (t) => {
  let server = await TestServer.start();
  /** SIGKILL, then a new server on the same folder. */
  const crash = async () => {
    await server.kill();
    server = await TestServer.start({ dir: server.dir });
  };
  try {
    await server.addUser(USER, PASSWORD);
    const seed = await login(server);
    for (let i = 1; i <= 5; i++) {
      assert.equal((await seed.append("INBOX", message(`seed-${i}`))).status, "OK");
    }
    seed.close();

    await t.step("SIGKILL mid-literal of a big APPEND: nothing half-written", async () => {
      const before = await contents(server);
      const c = await login(server);
      const big = message("big-one", BIG);
      await c.send(`x1 APPEND INBOX {${big.length}}\r\n`);
      await c.expectContinuation();
      await c.send(big.slice(0, big.length / 2));
      await crash();
      c.close();
      const after = await contents(server);
      assert.equal(after.length, before.length, "EXISTS changed");
      assert.deepEqual(assertWhole(after), assertWhole(before));
      const select = await login(server);
      const r = await select.command("NOOP");
      assert.equal(r.status, "OK");
      select.close();
    });

    await t.step("SIGKILL while appending in a loop: every tagged OK survives", async () => {
      const c = await login(server);
      const acked = new Map<string, number>();
      const sent = new Set<string>();
      const appending = (async () => {
        try {
          for (let i = 0;; i++) {
            const subject = `loop-${i}`;
            sent.add(subject);
            const r = await c.append("INBOX", message(subject, 20_000 + i * 997));
            if (r.status !== "OK") return;
            acked.set(subject, Number(/^APPENDUID \d+ (\d+)$/.exec(r.code ?? "")?.[1]));
          }
        } catch {
          // The kill ends the loop; the APPEND in flight may or may not have been stored.
        }
      })();
      const deadline = Date.now() + 20_000;
      while (acked.size < 30 && Date.now() < deadline) {
        await Promise.race([appending, new Promise((r) => setTimeout(r, 5))]);
      }
      await crash();
      await appending;
      c.close();
      assert.ok(acked.size >= 30, `only ${acked.size} APPENDs were acknowledged`);
      const stored = await contents(server);
      const subjects = assertWhole(stored);
      for (const [subject, uid] of acked) {
        const found = stored.find((m) => m.uid === uid);
        assert.ok(found, `acknowledged ${subject} (UID ${uid}) was lost`);
        assert.ok(found.body.startsWith(`Subject: ${subject}\r\n`));
      }
      const loops = subjects.filter((s) => s.startsWith("loop-"));
      assert.ok(loops.every((s) => sent.has(s)));
      assert.ok(loops.length <= acked.size + 1, "more stored than sent");
      assert.equal(new Set(subjects).size, subjects.length, "a message is stored twice");
    });

    await t.step("an APPEND's tagged OK survives an immediate SIGKILL", async () => {
      const c = await login(server);
      const r = await c.append("INBOX", message("just-acked"), { flags: "\\Flagged" });
      assert.equal(r.status, "OK");
      const uid = Number(/^APPENDUID \d+ (\d+)$/.exec(r.code ?? "")?.[1]);
      await crash();
      c.close();
      const found = (await contents(server)).find((m) => m.uid === uid);
      assert.ok(found, "the acknowledged APPEND was lost");
      assert.equal(found.body, message("just-acked"));
      assert.deepEqual(found.flags, ["\\Flagged"]);
    });

    await t.step("an EXPUNGE's tagged OK survives an immediate SIGKILL", async () => {
      const before = await contents(server);
      const doomed = before.filter((_, i) => i % 3 === 0).map((m) => m.uid);
      const c = await login(server);
      const stored = await c.command(`UID STORE ${doomed.join(",")} +FLAGS.SILENT (\\Deleted)`);
      assert.equal(stored.status, "OK");
      const r = await c.command("EXPUNGE");
      assert.equal(r.status, "OK");
      assert.equal(numbered(r.untagged, "EXPUNGE").length, doomed.length);
      await crash();
      c.close();
      const after = (await contents(server)).map((m) => m.uid);
      assert.deepEqual(after, before.map((m) => m.uid).filter((u) => !doomed.includes(u)));
    });

    await t.step("SIGKILL while STOREing: every acknowledged flag change holds", async () => {
      const start = await contents(server);
      const uids = start.map((m) => m.uid);
      const c = await login(server);
      /** The flags acknowledged per UID (those it had to begin with too), and the one in flight. */
      const acked = new Map<number, Set<string>>(start.map((m) => [m.uid, new Set(m.flags)]));
      let inFlight: { uid: number; flag: string } | undefined;
      const storing = (async () => {
        try {
          for (let i = 0;; i++) {
            const uid = uids[i % uids.length];
            const flag = i % 2 === 0 ? `k${i}` : "\\Seen";
            inFlight = { uid, flag };
            const r = await c.command(`UID STORE ${uid} +FLAGS.SILENT (${flag})`);
            if (r.status !== "OK") return;
            acked.get(uid)!.add(flag);
            inFlight = undefined;
          }
        } catch {
          // The kill ends the loop with one STORE perhaps in flight.
        }
      })();
      const count = () => [...acked.values()].reduce((n, s) => n + s.size, 0);
      const deadline = Date.now() + 20_000;
      while (count() < 60 && Date.now() < deadline) {
        await Promise.race([storing, new Promise((r) => setTimeout(r, 5))]);
      }
      await crash();
      await storing;
      c.close();
      assert.ok(count() >= 60, `only ${count()} STOREs were acknowledged`);
      const after = await contents(server);
      for (const { uid, flags } of after) {
        const want = acked.get(uid)!;
        for (const flag of want) assert.ok(flags.includes(flag), `UID ${uid} lost ${flag}`);
        for (const flag of flags) {
          const allowed = want.has(flag) || (inFlight?.uid === uid && inFlight.flag === flag);
          assert.ok(allowed, `UID ${uid} has ${flag}, never acknowledged`);
        }
      }
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});
