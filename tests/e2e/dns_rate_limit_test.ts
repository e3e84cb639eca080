/**
 * `dns.rate_limit` against the running server: a flood of UDP queries from one address gets a
 * bucket's worth of answers, then drops and truncated (TC=1) answers; BIND's `dig`, asking from
 * the same network during the flood, is told to retry over TCP and gets its answer there; TCP
 * is never limited; once the flood stops, UDP is answered again. (That another client network
 * keeps its own budget is in tests/unit/dns_rate_limit_test.ts: every address a test may use,
 * 127.0.0.x, is one /24.)
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { waitFor } from "../helpers/outbound.ts";
import { freePort, TestServer } from "../helpers/test_server.ts";

const DOMAIN = "test.example";

/** A query for DOMAIN MX with id `id`, no EDNS (header, one question; RFC 1035 §4.1). */
function mxQuery(id: number): Uint8Array {
  const name = DOMAIN.split(".").flatMap((l) => [l.length, ...new TextEncoder().encode(l)]);
  return Uint8Array.from([
    id >> 8,
    id & 0xff,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...name,
    0,
    0,
    15,
    0,
    1,
  ]);
}

async function dig(port: number, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("dig", {
    args: ["+norec", "-p", String(port), "@127.0.0.1", ...args, DOMAIN, "MX"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
}

Deno.test("dns rate limit: a UDP flood is cut to the rate, TC sends resolvers to TCP", async (t) => {
  const port = freePort();
  const server = await TestServer.start({
    tables: { dns: { listen: `127.0.0.1:${port}`, rate_limit: 5 } },
  });
  const flood = createSocket("udp4");
  const seen = { answered: 0, truncated: 0 };
  flood.on("message", (msg) => {
    // Octet 2: QR, opcode, AA, TC, RD; TC is 0x02. Octets 6–7: the answer count.
    if (msg[2] & 0x02) seen.truncated++;
    else if (((msg[6] << 8) | msg[7]) > 0) seen.answered++;
  });
  await new Promise<void>((resolve) => flood.bind(0, "127.0.0.1", resolve));
  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    await server.waitForOutput(new RegExp(`listening dns on 127\\.0\\.0\\.1:${port}`));
    const sent = 200;
    await t.step(
      "a burst: the bucket's worth answered, the rest dropped or truncated",
      async () => {
        for (let id = 1; id <= sent; id++) flood.send(mxQuery(id), port, "127.0.0.1");
        await waitFor("truncated answers", () => (seen.truncated >= 20 ? true : undefined));
        assert.ok(seen.answered >= 5, `answered ${seen.answered}`);
        // Whatever the refill during the burst, most of 200 queries cannot have been answered.
        assert.ok(seen.answered < sent / 4, `answered ${seen.answered} of ${sent}`);
      },
    );

    await t.step(
      "during a flood, dig from the same /24 retries over TCP and is answered",
      async () => {
        let id = 1000;
        timer = setInterval(() => flood.send(mxQuery(id++ & 0xffff), port, "127.0.0.1"), 5);
        // Nearly every UDP try is dropped or truncated (one may catch a refilled token); dig
        // tries again after a drop and goes over to TCP on TC.
        const out = await waitFor("dig sent to TCP by a truncated answer", async () => {
          const r = await dig(port, "+notcp", "+time=1", "+tries=3");
          return /Truncated, retrying in TCP mode/.test(r) ? r : undefined;
        });
        assert.match(out, /status: NOERROR/, out);
        assert.match(out, /\(TCP\)/, out);
        const tcp = await dig(port, "+tcp", "+time=2", "+tries=1");
        assert.match(tcp, /status: NOERROR/, tcp);
        clearInterval(timer);
        timer = undefined;
      },
    );

    await t.step("after the flood, UDP answers again", async () => {
      const out = await waitFor("an untruncated UDP answer", async () => {
        const r = await dig(port, "+notcp", "+ignore", "+time=1", "+tries=1");
        return /status: NOERROR/.test(r) && !/flags:[a-z ]* tc/.test(r) ? r : undefined;
      });
      assert.match(out, /\(UDP\)/, out);
    });
  } finally {
    if (timer) clearInterval(timer);
    flood.close();
    await server.stop();
  }
});
