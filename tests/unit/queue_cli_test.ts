/** `--queue`: list, retry ID|all, delete ID, against a store in a temporary folder. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { formatQueue, queueCommand } from "../../src/cli/queue.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";

const T0 = Date.UTC(2024, 0, 1);
const HOUR = 3_600_000;

Deno.test("queue CLI", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-queue-cli-" });
  const config = join(dir, "fsmtp.toml");
  await Deno.writeTextFile(config, `data_dir = ${JSON.stringify(dir)}\n`);
  const out: string[] = [];
  const err: string[] = [];
  const run = (...args: string[]) =>
    queueCommand(args, {
      config,
      now: () => T0 + 2 * HOUR + 13 * 60_000,
      print: (l) => out.push(l),
      printError: (l) => err.push(l),
    });
  const reset = () => {
    out.length = 0;
    err.length = 0;
  };
  try {
    const store = SqliteMailStore.open(join(dir, "fsmtp.db"));
    const id = await store.queue.enqueue({
      id: "AAAA1111",
      from: "alice@here.example",
      recipients: [{ address: "bob@there.example" }, { address: "carol@else.example" }],
      content: new TextEncoder().encode("Subject: x\r\n\r\nhi\r\n"),
      needs8bit: false,
      needsSmtputf8: false,
      arrivedAt: T0,
    });
    await store.queue.recordResults(id, [{
      address: "bob@there.example",
      status: "deferred",
      reply: "451 4.7.1 greylisted\r\n",
      remoteHost: "mx.there.example",
      at: T0 + HOUR,
      report: false,
    }], T0 + 3 * HOUR);
    await store.queue.enqueue({
      id: "BBBB2222",
      from: "",
      recipients: [{ address: "x@there.example" }],
      content: new Uint8Array(2048),
      needs8bit: false,
      needsSmtputf8: false,
      arrivedAt: T0 + HOUR,
    });
    await store.close();

    await t.step("list shows id, age, sender, and each pending recipient", async () => {
      reset();
      assert.equal(await run(), 0);
      assert.deepEqual(out, [
        "AAAA1111  2h13m old  18 B  from <alice@here.example>",
        "  carol@else.example  not tried yet, next attempt in 47m",
        "  bob@there.example  1 attempt, next attempt in 47m",
        "      451 4.7.1 greylisted (mx.there.example)",
        "BBBB2222  1h13m old  2.0 KiB  from <> (a bounce)",
        "  x@there.example  not tried yet, next attempt now",
        "2 messages, 3 recipients waiting",
      ]);
    });

    await t.step("retry ID and retry all", async () => {
      reset();
      assert.equal(await run("retry", "AAAA1111"), 0);
      assert.deepEqual(out, ["1 message will be retried now"]);
      reset();
      assert.equal(await run("retry", "all"), 0);
      assert.deepEqual(out, ["2 messages will be retried now"]);
      reset();
      assert.equal(await run("list"), 0);
      assert.ok(out[1].endsWith("next attempt now"), out[1]);
    });

    await t.step("delete ID, and unknown ids fail with exit 1", async () => {
      reset();
      assert.equal(await run("delete", "BBBB2222"), 0);
      assert.match(out[0], /deleted BBBB2222/);
      reset();
      assert.equal(await run("delete", "BBBB2222"), 1);
      assert.match(err[0], /no queued message BBBB2222/);
      reset();
      assert.equal(await run("retry", "NOPE"), 1);
    });

    await t.step("bad arguments give the usage and exit 1", async () => {
      for (const args of [["retry"], ["delete"], ["flush"], ["list", "x"], ["delete", "a", "b"]]) {
        reset();
        assert.equal(await run(...args), 1, args.join(" "));
        assert.match(err[0], /usage: fsmtp --queue/);
      }
    });

    await t.step("an empty queue says so", () => {
      assert.deepEqual(formatQueue([], T0), ["the queue is empty"]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
