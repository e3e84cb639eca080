/**
 * The slow-client rules: the pure deadline arithmetic of pace.ts, and a Connection over an
 * in-memory socket applying them to line, DATA and counted reads while a client trickles.
 */
import assert from "node:assert/strict";
import { Connection, type ConnectionLimits } from "../../src/net/connection.ts";
import { nextWait, type Pace, paceDeadline, type PaceLimits } from "../../src/net/pace.ts";
import { MemorySocket } from "../helpers/memory_socket.ts";

const RULES: PaceLimits = { lineDeadlineMs: 300, minDataRate: 100, dataGraceMs: 200 };

Deno.test("pace: deadlines and waits", async (t) => {
  await t.step("a line's deadline is fixed from its first octet", () => {
    const pace: Pace = { read: "line", startedAt: 1000, base: 0 };
    assert.equal(paceDeadline(pace, 0, RULES), 1300);
    assert.equal(paceDeadline(pace, 5000, RULES), 1300);
  });

  await t.step("a transfer gets the grace plus one second per min_data_rate octets", () => {
    const pace: Pace = { read: "data", startedAt: 1000, base: 7 };
    assert.equal(paceDeadline(pace, 0, RULES), 1200);
    assert.equal(paceDeadline(pace, 100, RULES), 2200);
    assert.equal(paceDeadline(pace, 1, RULES), 1210);
  });

  await t.step("the idle timeout applies when the deadline is later or absent", () => {
    assert.deepEqual(nextWait(500, undefined, 0), { ms: 500, slow: false });
    assert.deepEqual(nextWait(500, 900, 100), { ms: 500, slow: false });
    // A tie is idleness: the client sent nothing for the whole idle time.
    assert.deepEqual(nextWait(500, 600, 100), { ms: 500, slow: false });
  });

  await t.step("an earlier deadline shortens the wait and marks it slow", () => {
    assert.deepEqual(nextWait(500, 350, 100), { ms: 250, slow: true });
    assert.deepEqual(nextWait(500, 50, 100), { ms: 0, slow: true });
  });
});

function connect(opts: { pace?: PaceLimits | "none"; timeoutMs?: number } = {}) {
  const socket = new MemorySocket();
  const limits: ConnectionLimits = {
    maxLineLength: 1000,
    timeoutMs: opts.timeoutMs ?? 250,
    pace: opts.pace === "none" ? undefined : opts.pace ?? RULES,
  };
  return { socket, conn: new Connection(socket.asSocket(), limits) };
}

/** Sends `text` one octet every `everyMs` until it is sent or `stop()` is called. */
function trickle(socket: MemorySocket, text: string, everyMs: number) {
  let i = 0;
  const timer = setInterval(() => {
    if (i < text.length) socket.send(text[i++]);
  }, everyMs);
  return { stop: () => clearInterval(timer), sent: () => i };
}

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("connection: a command line has a total deadline", async (t) => {
  await t.step("a trickled line is cut at the deadline, not reset by each octet", async () => {
    const { socket, conn } = connect();
    const slow = trickle(socket, "NOOP and more and more and more\r\n", 20);
    const started = Date.now();
    const read = await conn.readLine();
    const took = Date.now() - started;
    slow.stop();
    assert.equal(read.kind, "timeout");
    assert.ok(read.kind === "timeout" && read.tooSlow);
    assert.equal(read.tooSlow.read, "line");
    assert.ok(read.tooSlow.octets > 0 && read.tooSlow.octets <= slow.sent());
    assert.ok(took >= 280 && took < 1000, `cut after ${took} ms`);
    assert.deepEqual(conn.tooSlow, read.tooSlow);
    conn.destroy();
  });

  await t.step("each line has its own deadline", async () => {
    const { socket, conn } = connect();
    for (const word of ["EHLO a\r\n", "NOOP b\r\n"]) {
      const paced = trickle(socket, word, 20);
      const read = await conn.readLine();
      paced.stop();
      assert.equal(read.kind, "line");
      assert.equal(read.kind === "line" && decode(read.line), word.trim());
    }
    assert.equal(conn.tooSlow, undefined);
    conn.destroy();
  });

  await t.step("the deadline starts at the first octet, not when the read began", async () => {
    const { socket, conn } = connect({ timeoutMs: 1000 });
    const reading = conn.readLine();
    // Silent longer than the line deadline, then a prompt line: idle, not slow.
    await new Promise((r) => setTimeout(r, 400));
    socket.send("QUIT\r\n");
    const read = await reading;
    assert.equal(read.kind === "line" && decode(read.line), "QUIT");
    conn.destroy();
  });

  await t.step("a silent client gets the idle timeout only", async () => {
    const { conn } = connect({ timeoutMs: 150 });
    const read = await conn.readLine();
    assert.deepEqual(read, { kind: "timeout" });
    assert.equal(conn.tooSlow, undefined);
    conn.destroy();
  });

  await t.step("an over-long line trickling on is still bound by its deadline", async () => {
    const { socket, conn } = connect();
    socket.send("X".repeat(1200));
    assert.equal((await conn.readLine()).kind, "too-long");
    const slow = trickle(socket, "Y".repeat(100), 20);
    const read = await conn.readLine();
    slow.stop();
    assert.ok(read.kind === "timeout" && read.tooSlow?.read === "line");
    assert.ok(read.tooSlow.octets >= 1200, `counted ${read.tooSlow.octets}`);
    conn.destroy();
  });

  await t.step("without pace limits only the idle timeout applies", async () => {
    const { socket, conn } = connect({ pace: "none", timeoutMs: 200 });
    const slow = trickle(socket, "NOOP and more\r\n", 30);
    const started = Date.now();
    const read = await conn.readLine();
    slow.stop();
    assert.equal(read.kind === "line" && decode(read.line), "NOOP and more");
    assert.ok(Date.now() - started > RULES.lineDeadlineMs);
    conn.destroy();
  });

  await t.step("a line pipelined behind another is not charged for the wait", async () => {
    const { socket, conn } = connect();
    socket.send("NOOP\r\nNO");
    const first = await conn.readLine();
    assert.equal(first.kind === "line" && decode(first.line), "NOOP");
    const paced = trickle(socket, "OP\r\n", 20);
    const second = await conn.readLine();
    paced.stop();
    assert.equal(second.kind === "line" && decode(second.line), "NOOP");
    conn.destroy();
  });
});

Deno.test("connection: message content must keep the minimum rate", async (t) => {
  await t.step("DATA trickled below the rate is cut after the grace", async () => {
    const { socket, conn } = connect();
    // 50 octets/s against a minimum of 100: the deadline (grace + octets/rate) is passed at
    // about twice the grace.
    const slow = trickle(socket, "Subject: slow\r\n\r\n" + "x".repeat(200), 20);
    const started = Date.now();
    const read = await conn.readDotData(10_000);
    const took = Date.now() - started;
    slow.stop();
    assert.ok(read.kind === "timeout" && read.tooSlow?.read === "data");
    // Never before the grace (250 ms); a loaded machine trickles fewer octets, so sooner
    // than twice the grace is right then too.
    assert.ok(took >= 250 && took < 3000, `cut after ${took} ms`);
    assert.ok(read.tooSlow.octets > 0);
    conn.destroy();
  });

  await t.step("DATA above the rate is received however long it takes", async () => {
    const { socket, conn } = connect();
    let sent = 0;
    const timer = setInterval(() => {
      sent++;
      socket.send(sent < 40 ? "0123456789" : sent === 40 ? "\r\n.\r\n" : "");
    }, 20);
    const started = Date.now();
    const read = await conn.readDotData(10_000);
    clearInterval(timer);
    assert.equal(read.kind, "data");
    assert.equal(read.kind === "data" && read.content.length, 39 * 10 + 2);
    assert.ok(Date.now() - started > RULES.dataGraceMs + 300);
    conn.destroy();
  });

  await t.step("a silent transfer is cut at the grace period", async () => {
    const { conn } = connect({ timeoutMs: 5000 });
    const started = Date.now();
    const read = await conn.readExact(10, true);
    assert.ok(!(read instanceof Uint8Array) && read.kind === "timeout");
    assert.equal(read.kind === "timeout" && read.tooSlow?.octets, 0);
    assert.ok(Date.now() - started < 1000);
    conn.destroy();
  });

  await t.step("a counted read (BDAT, a literal) trickled slowly is cut", async () => {
    const { socket, conn } = connect();
    const slow = trickle(socket, "z".repeat(100), 20);
    const read = await conn.readExact(100, true);
    slow.stop();
    assert.ok(!(read instanceof Uint8Array) && read.kind === "timeout");
    assert.equal(read.kind === "timeout" && read.tooSlow?.read, "data");
    assert.ok(slow.sent() < 100);
    conn.destroy();
  });

  await t.step("octets already buffered count for the transfer", async () => {
    const { socket, conn } = connect({ timeoutMs: 5000 });
    socket.send("A".repeat(100));
    await new Promise((r) => setTimeout(r, 10));
    const reading = conn.readExact(120, true);
    // 100 octets buffered buy a second beyond the grace: 20 more after 600 ms still fit.
    await new Promise((r) => setTimeout(r, 600));
    socket.send("B".repeat(20));
    const read = await reading;
    assert.ok(read instanceof Uint8Array && read.length === 120);
    conn.destroy();
  });
});
