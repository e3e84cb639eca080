/**
 * fsmtp's authoritative DNS server (`--run=all` with `[dns] listen`) asked by clients someone
 * else wrote: BIND's `dig` over UDP and TCP for every record type, a truncated answer that dig
 * retries over TCP, REFUSED, NXDOMAIN and NODATA; `Deno.resolveDns` (hickory-dns) pointed at
 * it; and hostile packets answered FORMERR without the server falling over.
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import { derToPem } from "../../src/tls/pem.ts";
import { freePort, runCli, TestServer } from "../helpers/test_server.ts";

const DOMAIN = "test.example";
const HOST = "mx.test.example";

interface DigResult {
  status: string;
  flags: string[];
  answers: string[];
  authority: string[];
  out: string;
}

/** Runs dig against the server and splits its output into status, flags and sections. */
async function dig(port: number, ...args: string[]): Promise<DigResult> {
  const out = await new Deno.Command("dig", {
    args: ["+norec", "+time=3", "+tries=1", "-p", String(port), "@127.0.0.1", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const status = /status: (\w+)/.exec(text)?.[1] ?? "";
  const flags = (/;; flags: ([a-z ]*);/.exec(text)?.[1] ?? "").trim().split(" ");
  const section = (name: string) => {
    const m = new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(text);
    return m ? m[1].split("\n").filter((l) => l !== "") : [];
  };
  return { status, flags, answers: section("ANSWER"), authority: section("AUTHORITY"), out: text };
}

/** The record data of dig answer lines, whitespace normalised. */
const data = (lines: string[]) => lines.map((l) => l.split(/\s+/).slice(4).join(" "));

/** A 4096-bit RSA DKIM key: its TXT record (~740 octets) overflows a plain 512-octet UDP answer. */
async function bigDkimKey(): Promise<string> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 4096,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  return derToPem(
    "PRIVATE KEY",
    new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey)),
  );
}

/** Sends one UDP datagram and waits for one answer (or undefined after 2 s). */
function udpExchange(port: number, packet: Uint8Array): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, 2000);
    socket.on("message", (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(new Uint8Array(msg));
    });
    socket.send(packet, port, "127.0.0.1");
  });
}

/** Reads `n` framed answers from a TCP connection. */
async function readFramed(conn: Deno.TcpConn, n: number): Promise<Uint8Array[]> {
  let buffered = new Uint8Array(0);
  const out: Uint8Array[] = [];
  const chunk = new Uint8Array(4096);
  while (out.length < n) {
    const length = buffered.length >= 2 ? (buffered[0] << 8) | buffered[1] : -1;
    if (length >= 0 && buffered.length >= 2 + length) {
      out.push(buffered.slice(2, 2 + length));
      buffered = buffered.slice(2 + length);
      continue;
    }
    const got = await conn.read(chunk);
    if (got === null) break;
    const next = new Uint8Array(buffered.length + got);
    next.set(buffered);
    next.set(chunk.subarray(0, got), buffered.length);
    buffered = next;
  }
  return out;
}

/** A query for `name` A with id `id`, made by hand: header, one question. */
function rawQuery(id: number, name: string): Uint8Array {
  const labels = name.split(".").flatMap((l) => [l.length, ...new TextEncoder().encode(l)]);
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
    ...labels,
    0,
    0,
    1,
    0,
    1,
  ]);
}

/** A query with its two-octet length prefix (RFC 1035 §4.2.2). */
const frame = (q: Uint8Array) => Uint8Array.from([q.length >> 8, q.length & 0xff, ...q]);

/** Polls until a TCP query is answered (the server noticed the closed connections). */
async function waitForDig(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await dig(port, "+tcp", DOMAIN, "MX")).status === "NOERROR") return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the DNS server never answered over TCP again");
}

Deno.test("dns: dig, Deno.resolveDns and hostile packets against fsmtp's DNS server", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "fsmtp-dns-" });
  await Deno.mkdir(join(dir, "keys"), { mode: 0o700 });
  await Deno.writeTextFile(join(dir, "keys", "dkim-private.pem"), await bigDkimKey(), {
    mode: 0o600,
  });
  const port = freePort();
  const server = await TestServer.start({
    dir,
    hostname: HOST,
    tables: {
      dns: {
        listen: `127.0.0.1:${port}`,
        ipv4: ["192.0.2.25"],
        ipv6: ["2001:db8::25"],
        ttl: "30s",
        mta_sts_id: "20261130",
      },
      // The default rotation ("1d") runs: a dated selector is published beside "default".
    },
  });
  try {
    await server.waitForOutput(/dkim\.rotate\.published selector=(fsmtp-\S+)/);
    const rotated = /dkim\.rotate\.published selector=(fsmtp-\S+)/.exec(server.output.text)![1];
    const keys = JSON.parse(
      await Deno.readTextFile(join(dir, "keys", "dkim-rotation", "state.json")),
    ).keys;
    assert.equal(keys[0].selector, rotated);

    for (const transport of ["+notcp", "+tcp"]) {
      await t.step(`every record type over ${transport === "+tcp" ? "TCP" : "UDP"}`, async () => {
        const q = (name: string, type: string) => dig(port, transport, "+bufsize=1232", name, type);
        const expect: [string, string, string[]][] = [
          [DOMAIN, "SOA", [`${HOST}. hostmaster.${DOMAIN}.`]],
          [DOMAIN, "NS", [`${HOST}.`]],
          [DOMAIN, "MX", [`10 ${HOST}.`]],
          [DOMAIN, "TXT", ['"v=spf1 mx -all"']],
          [`_dmarc.${DOMAIN}`, "TXT", [
            `"v=DMARC1; p=quarantine; rua=mailto:postmaster@${DOMAIN}"`,
          ]],
          [`_mta-sts.${DOMAIN}`, "TXT", ['"v=STSv1; id=20261130"']],
          [HOST, "A", ["192.0.2.25"]],
          [HOST, "AAAA", ["2001:db8::25"]],
          [`_submissions._tcp.${DOMAIN}`, "SRV", [`0 1 ${server.submissionsPort} ${HOST}.`]],
          [`_submission._tcp.${DOMAIN}`, "SRV", [`10 1 ${server.submissionPort} ${HOST}.`]],
          [`_imaps._tcp.${DOMAIN}`, "SRV", [`0 1 ${server.imapsPort} ${HOST}.`]],
          [`_imap._tcp.${DOMAIN}`, "SRV", [`10 1 ${server.imapPort} ${HOST}.`]],
          [`_pop3s._tcp.${DOMAIN}`, "SRV", [`20 1 ${server.pop3sPort} ${HOST}.`]],
          [`_pop3._tcp.${DOMAIN}`, "SRV", [`30 1 ${server.pop3Port} ${HOST}.`]],
        ];
        for (const [name, type, starts] of expect) {
          const r = await q(name, type);
          assert.equal(r.status, "NOERROR", r.out);
          assert.match(r.out, transport === "+tcp" ? /\(TCP\)/ : /\(UDP\)/);
          assert.ok(r.flags.includes("aa") && !r.flags.includes("ra"), r.out);
          const got = data(r.answers);
          assert.equal(got.length, starts.length, r.out);
          starts.forEach((s, i) => assert.ok(got[i].startsWith(s), `${got[i]} starts ${s}`));
        }
        // Both DKIM selectors, each a TXT split into ≤255-octet strings, and in mixed case.
        for (const selector of ["default", rotated]) {
          const r = await q(`${selector}._domainKEY.Test.Example`, "TXT");
          assert.equal(r.status, "NOERROR", r.out);
          assert.match(r.answers[0], new RegExp(`^${selector}\\._domainKEY\\.Test\\.Example\\.`));
          const strings = [...r.answers[0].matchAll(/"([^"]*)"/g)].map((m) => m[1]);
          assert.ok(strings.every((s) => s.length <= 255));
          assert.match(strings.join(""), /^v=DKIM1; k=rsa; p=[A-Za-z0-9+\/=]{300,}$/);
        }
        const any = await q(DOMAIN, "ANY");
        assert.equal(any.answers.length, 4, any.out);
      });
    }

    await t.step("a truncated UDP answer is retried over TCP by dig", async () => {
      const name = `default._domainkey.${DOMAIN}`;
      const udpOnly = await dig(port, "+noedns", "+ignore", name, "TXT");
      assert.ok(udpOnly.flags.includes("tc"), udpOnly.out);
      assert.equal(udpOnly.answers.length, 0);
      const retried = await dig(port, "+noedns", name, "TXT");
      assert.match(retried.out, /Truncated, retrying in TCP mode/);
      assert.ok(!retried.flags.includes("tc"), retried.out);
      const strings = [...retried.answers[0].matchAll(/"([^"]*)"/g)].map((m) => m[1]);
      assert.ok(strings.join("").length > 700, "the whole 4096-bit key");
      // With EDNS (1232 octets) it fits in one datagram.
      const edns = await dig(port, "+bufsize=4096", "+ignore", name, "TXT");
      assert.ok(!edns.flags.includes("tc"), edns.out);
      assert.match(edns.out, /udp: 1232/);
    });

    await t.step("REFUSED, NXDOMAIN, NODATA", async () => {
      const refused = await dig(port, "example.com", "A");
      assert.equal(refused.status, "REFUSED");
      assert.ok(!refused.flags.includes("aa"));
      const recursion = await dig(port, "+rec", "example.com", "A");
      assert.equal(recursion.status, "REFUSED");
      assert.match(recursion.out, /recursion requested but not available/);
      const nx = await dig(port, `nope.${DOMAIN}`, "A");
      assert.equal(nx.status, "NXDOMAIN");
      assert.match(nx.authority[0], /\tSOA\t/);
      const gone = await dig(port, `retired._domainkey.${DOMAIN}`, "TXT");
      assert.equal(gone.status, "NXDOMAIN");
      const nodata = await dig(port, DOMAIN, "AAAA");
      assert.equal(nodata.status, "NOERROR");
      assert.equal(nodata.answers.length, 0);
      assert.match(nodata.authority[0], /\tSOA\t/);
    });

    await t.step("Deno.resolveDns with nameServer", async () => {
      const nameServer = { ipAddr: "127.0.0.1", port };
      const mx = await Deno.resolveDns(DOMAIN, "MX", { nameServer });
      assert.deepEqual(mx.map((r) => ({ ...r })), [
        { preference: 10, exchange: `${HOST}.` },
      ]);
      assert.deepEqual(await Deno.resolveDns(HOST, "A", { nameServer }), ["192.0.2.25"]);
      assert.deepEqual(await Deno.resolveDns(HOST, "AAAA", { nameServer }), ["2001:db8::25"]);
      assert.deepEqual(await Deno.resolveDns(DOMAIN, "TXT", { nameServer }), [["v=spf1 mx -all"]]);
      const [srv] = await Deno.resolveDns(`_imaps._tcp.${DOMAIN}`, "SRV", { nameServer });
      assert.equal(srv.port, server.imapsPort);
      const dkim = await Deno.resolveDns(`${rotated}._domainkey.${DOMAIN}`, "TXT", { nameServer });
      assert.match(dkim[0].join(""), /^v=DKIM1; k=rsa; p=/);
      await assert.rejects(
        Deno.resolveDns(`nope.${DOMAIN}`, "A", { nameServer }),
        Deno.errors.NotFound,
      );
    });

    await t.step("malformed packets get FORMERR; the server survives", async () => {
      // A question whose name is a compression pointer to itself.
      const loop = Uint8Array.from([
        0xab,
        0xcd,
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
        0xc0,
        12,
        0,
        1,
        0,
        1,
      ]);
      const reply = await udpExchange(port, loop);
      assert.ok(reply);
      assert.deepEqual([reply[0], reply[1], reply[2] & 0x80, reply[3] & 0x0f], [
        0xab,
        0xcd,
        0x80,
        1,
      ]);
      // Runts and responses get no answer at all.
      assert.equal(await udpExchange(port, Uint8Array.from([1, 2, 3])), undefined);
      // TCP: two queries in one write, answered in order on one connection; then garbage.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(
        Uint8Array.from([
          ...frame(rawQuery(1, DOMAIN)),
          ...frame(rawQuery(2, HOST)),
          ...frame(loop),
        ]),
      );
      const [first, second, third] = await readFramed(conn, 3);
      assert.deepEqual([first[1], first[3] & 0x0f], [1, 0]);
      assert.deepEqual([second[1], second[3] & 0x0f], [2, 0]);
      assert.deepEqual([third[1], third[3] & 0x0f], [0xcd, 1]);
      // 300 queries in one write: the server pauses reading while answers are pending, yet
      // answers every one, in order.
      const many = Array.from({ length: 300 }, (_, i) => frame(rawQuery(1000 + i, DOMAIN)));
      await conn.write(Uint8Array.from(many.flatMap((f) => [...f])));
      const answers = await readFramed(conn, 300);
      assert.deepEqual(
        answers.map((a) => (a[0] << 8) | a[1]),
        Array.from({ length: 300 }, (_, i) => 1000 + i),
      );
      // A length prefix over the query limit closes the connection.
      await conn.write(Uint8Array.from([0xff, 0xff, 1, 2, 3]));
      assert.deepEqual(await readFramed(conn, 1), []);
      conn.close();
      const after = await dig(port, DOMAIN, "MX");
      assert.equal(after.status, "NOERROR");
    });

    await t.step(
      "--dns-records lists what the server answers; --dkim-rotate publishes",
      async () => {
        const records = await server.cli(["--dns-records"]);
        assert.equal(records.code, 0, records.out);
        for (const selector of ["default", rotated]) {
          const line = new RegExp(
            `^${selector}\\._domainkey\\.${DOMAIN}\\.\\t30\\tIN\\tTXT\\t(.*)$`,
            "m",
          )
            .exec(records.out);
          assert.ok(line, records.out);
          const served = await dig(port, "+tcp", `${selector}._domainkey.${DOMAIN}`, "TXT");
          assert.equal(data(served.answers)[0], line[1]);
        }
        assert.match(
          records.out,
          new RegExp(
            `^_submission\\._tcp\\.${DOMAIN}\\.\\t30\\tIN\\tSRV\\t10 1 ${server.submissionPort} ${HOST}\\.$`,
            "m",
          ),
        );
        assert.match(records.out, new RegExp(`^${DOMAIN}\\.\\t30\\tIN\\tNS\\t${HOST}\\.$`, "m"));
        const rotate = await server.cli(["--dkim-rotate"]);
        assert.equal(rotate.code, 0, rotate.out);
        const created = /published DKIM selector (\S+);/.exec(rotate.out)![1];
        assert.notEqual(created, rotated);
        // The running DNS server publishes the new key without a restart.
        for (let i = 0; i < 100; i++) {
          if (
            (await dig(port, `${created}._domainkey.${DOMAIN}`, "TXT")).status === "NOERROR"
          ) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal((await dig(port, `${created}._domainkey.${DOMAIN}`, "TXT")).status, "NOERROR");
        // With rotation off the command refuses, naming the key.
        const offConfig = join(dir, "off.toml");
        await Deno.writeTextFile(
          offConfig,
          (await Deno.readTextFile(server.configPath)) + '[dkim]\nrotate = "off"\n',
        );
        const off = await runCli(["--dkim-rotate", "--config", offConfig]);
        assert.equal(off.code, 1, off.out);
        assert.match(off.out, /dkim\.rotate is off/);
      },
    );

    await t.step("an idle TCP connection is closed by the server", async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      assert.equal(await conn.read(new Uint8Array(16)), null);
      conn.close();
    });

    await t.step("at most 128 TCP connections at once", async () => {
      const open: Deno.TcpConn[] = [];
      try {
        for (let i = 0; i < 128; i++) {
          open.push(await Deno.connect({ hostname: "127.0.0.1", port }));
        }
        // Every one of them is served…
        const first = open[0];
        await first.write(frame(rawQuery(7, DOMAIN)));
        assert.equal((await readFramed(first, 1)).length, 1);
        // …and one more is closed on arrival.
        const extra = await Deno.connect({ hostname: "127.0.0.1", port });
        await extra.write(frame(rawQuery(8, DOMAIN))).catch(() => 0);
        assert.deepEqual(await readFramed(extra, 1).catch(() => []), []);
        extra.close();
      } finally {
        for (const c of open) c.close();
      }
      // Once they are gone, dig gets in again.
      await waitForDig(port);
    });
  } finally {
    await server.stop();
    await server.cleanup();
  }
});
