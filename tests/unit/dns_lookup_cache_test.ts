import assert from "node:assert/strict";
import { LookupCache } from "../../src/dns/lookup_cache.ts";
import { withDeadline } from "../../src/inbound/message_checks.ts";
import { expectedLookups } from "../../src/inbound/expected_lookups.ts";

/** A lookup that answers from `table` when told to, counting the queries it was asked. */
function fakeDns(table: Record<string, string[] | string>) {
  const asked: string[] = [];
  const pending: (() => void)[] = [];
  const lookup = (name: string, rrtype: string) => {
    asked.push(`${rrtype} ${name}`);
    return new Promise<unknown>((resolve, reject) => {
      pending.push(() => {
        const answer = table[name];
        if (typeof answer === "string") reject(Object.assign(new Error(answer), { code: answer }));
        else if (answer) resolve(answer);
        else reject(Object.assign(new Error("no"), { code: "ENOTFOUND" }));
      });
    });
  };
  return { asked, lookup, answerAll: () => pending.splice(0).forEach((f) => f()) };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("LookupCache", async (t) => {
  let now = 1_000_000;
  const opts = { answerMs: 60_000, failureMs: 30_000, maxEntries: 3, now: () => now };

  await t.step("a burst of the same question is one query, shared in flight", async () => {
    const dns = fakeDns({ "a.example": ["v=spf1 -all"] });
    const cache = new LookupCache(dns.lookup, opts);
    const all = Promise.all([1, 2, 3].map(() => cache.lookup("a.example", "TXT")));
    // Names are not case-sensitive (RFC 4343) and a final dot changes nothing.
    const other = cache.lookup("A.Example.", "txt");
    dns.answerAll();
    assert.deepEqual(await all, [["v=spf1 -all"], ["v=spf1 -all"], ["v=spf1 -all"]]);
    assert.deepEqual(await other, ["v=spf1 -all"]);
    assert.deepEqual(dns.asked, ["TXT a.example"]);
  });

  await t.step("answers and no-such-name are kept answerMs, failures failureMs", async () => {
    const dns = fakeDns({ "yes.example": ["x"], "down.example": "ETIMEOUT" });
    const cache = new LookupCache(dns.lookup, opts);
    const ask = (name: string) => cache.lookup(name, "TXT").catch((e) => e.code);
    const first = Promise.all(["yes.example", "no.example", "down.example"].map(ask));
    dns.answerAll();
    assert.deepEqual(await first, [["x"], "ENOTFOUND", "ETIMEOUT"]);
    await settle();
    now += 29_000;
    assert.deepEqual(await Promise.all(["yes.example", "no.example", "down.example"].map(ask)), [
      ["x"],
      "ENOTFOUND",
      "ETIMEOUT",
    ]);
    assert.equal(dns.asked.length, 3, "all three from the cache");
    now += 2_000;
    const later = ask("down.example");
    dns.answerAll();
    await later;
    assert.equal(dns.asked.length, 4, "the failure expired after failureMs");
    now += 30_000;
    const again = Promise.all(["yes.example", "no.example"].map(ask));
    dns.answerAll();
    await again;
    assert.equal(dns.asked.length, 6, "answers expired after answerMs");
  });

  await t.step("at most maxEntries are kept, the oldest go first", async () => {
    const dns = fakeDns({});
    const cache = new LookupCache(dns.lookup, opts);
    for (const n of ["1", "2", "3", "4", "5"]) cache.lookup(`${n}.example`, "TXT").catch(() => {});
    dns.answerAll();
    await settle();
    assert.equal(cache.size, 3);
    cache.lookup("5.example", "TXT").catch(() => {});
    assert.equal(dns.asked.length, 5, "the newest is still there");
    cache.lookup("1.example", "TXT").catch(() => {});
    assert.equal(dns.asked.length, 6, "the oldest was dropped");
    dns.answerAll();
  });
});

Deno.test("withDeadline: a lookup pending at the deadline fails as ETIMEOUT", async () => {
  const dns = fakeDns({ "slow.example": ["late"] });
  const lookup = withDeadline(dns.lookup, Date.now() + 50);
  const failure = (name: string) =>
    lookup(name, "TXT").then(() => assert.fail("answered"), (e) => e as Error & { code: string });
  const err = await failure("slow.example");
  assert.equal(err.code, "ETIMEOUT");
  assert.match(err.message, /check budget spent/);
  // Past the deadline, at once.
  assert.equal((await failure("other.example")).code, "ETIMEOUT");
  dns.answerAll();
  const quick = withDeadline(dns.lookup, Date.now() + 10_000);
  const answered = quick("slow.example", "TXT");
  dns.answerAll();
  assert.deepEqual(await answered, ["late"]);
});

Deno.test("expectedLookups: SPF, DKIM and ARC keys, DMARC, known before the checks", () => {
  const message = new TextEncoder().encode(
    "DKIM-Signature: v=1; a=rsa-sha256; d=Signer.example;\r\n s = sel1 ; b=AAA\r\n" +
      "DKIM-Signature: v=1; d=signer.example; s=sel1; b=BBB\r\n" +
      "ARC-Message-Signature: i=1; a=rsa-sha256; d=arc.example; s=arcsel; b=CCC\r\n" +
      "DKIM-Signature: v=1; d=bad!domain; s=x; b=DDD\r\n" +
      "From: Bob <bob@From.example>\r\n\r\nbody\r\n",
  );
  assert.deepEqual(expectedLookups(message, "bounce@mailfrom.example", "helo.example"), [
    ["mailfrom.example", "TXT"],
    ["sel1._domainkey.signer.example", "TXT"],
    ["arcsel._domainkey.arc.example", "TXT"],
    ["_dmarc.from.example", "TXT"],
  ]);
  // The null sender: SPF checks the HELO name (RFC 7208 §2.4); an address literal is no name.
  assert.deepEqual(expectedLookups(new Uint8Array(0), "", "helo.example"), [
    ["helo.example", "TXT"],
  ]);
  assert.deepEqual(expectedLookups(new Uint8Array(0), "", "[127.0.0.1]"), []);
});
