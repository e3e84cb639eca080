import assert from "node:assert/strict";
import {
  CLASS_IN,
  decodeMessage,
  type DnsMessage,
  encodeMessage,
  nameLabels,
  type ResourceRecord,
  RR_TYPE,
  txtStrings,
} from "../../src/dns_server/wire.ts";
import { parseIpv4, parseIpv6 } from "../../src/dns_server/ip.ts";

const message = (over: Partial<DnsMessage> = {}): DnsMessage => ({
  id: 0x1234,
  qr: true,
  opcode: 0,
  aa: true,
  tc: false,
  rd: true,
  ra: false,
  rcode: 0,
  questions: [{ name: "Example.ORG", type: RR_TYPE.MX, class: CLASS_IN }],
  answers: [],
  authority: [],
  additional: [],
  ...over,
});

const rr = (name: string, type: number, data: ResourceRecord["data"]): ResourceRecord => ({
  name,
  type,
  class: CLASS_IN,
  ttl: 300,
  data,
});

/** A query header (id 7, RD) followed by `rest`. */
const header = (counts: number[], rest: number[] = []) =>
  Uint8Array.from([0, 7, 1, 0, ...counts.flatMap((c) => [c >> 8, c & 0xff]), ...rest]);

Deno.test("dns wire: every record shape round-trips", () => {
  // Lower case throughout: compression reuses the case of a name's first occurrence.
  const original = message({
    questions: [{ name: "example.org", type: RR_TYPE.ANY, class: CLASS_IN }],
    answers: [
      rr("example.org", RR_TYPE.MX, { kind: "mx", preference: 10, exchange: "mx.example.org" }),
      rr("example.org", RR_TYPE.NS, { kind: "name", name: "mx.example.org" }),
      rr("mx.example.org", RR_TYPE.A, { kind: "address", octets: parseIpv4("192.0.2.1")! }),
      rr("mx.example.org", RR_TYPE.AAAA, { kind: "address", octets: parseIpv6("2001:db8::1")! }),
      rr("example.org", RR_TYPE.TXT, { kind: "txt", strings: txtStrings("x".repeat(600)) }),
      rr("_imaps._tcp.example.org", RR_TYPE.SRV, {
        kind: "srv",
        priority: 0,
        weight: 1,
        port: 993,
        target: "mx.example.org",
      }),
      rr("_pop3._tcp.example.org", RR_TYPE.SRV, {
        kind: "srv",
        priority: 0,
        weight: 0,
        port: 0,
        target: "",
      }),
    ],
    authority: [rr("example.org", RR_TYPE.SOA, {
      kind: "soa",
      mname: "mx.example.org",
      rname: "hostmaster.example.org",
      serial: 4_000_000_000,
      refresh: 3600,
      retry: 600,
      expire: 1209600,
      minimum: 300,
    })],
    additional: [{
      name: "",
      type: RR_TYPE.OPT,
      class: 1232,
      ttl: 0x8000,
      data: { kind: "raw", octets: Uint8Array.from([0, 10, 0, 2, 1, 2]) },
    }],
  });
  const decoded = decodeMessage(encodeMessage(original));
  assert.ok(decoded.ok, !decoded.ok ? decoded.reason : "");
  assert.deepEqual(decoded.message, original);
  const txt = decoded.message.answers[4].data;
  assert.ok(txt.kind === "txt");
  assert.deepEqual(txt.strings.map((s) => s.length), [255, 255, 90]);
});

Deno.test("dns wire: names are compressed and echo the question's case", () => {
  const wire = encodeMessage(message({
    answers: [
      rr("example.org", RR_TYPE.MX, { kind: "mx", preference: 10, exchange: "mx.EXAMPLE.org" }),
    ],
  }));
  // Question name at 12; the answer's owner is a pointer to it (0xc00c), its exchange "mx" + a
  // pointer to offset 12 too.
  const answerAt = 12 + "Example.ORG".length + 2 + 4;
  assert.deepEqual([...wire.subarray(answerAt, answerAt + 2)], [0xc0, 0x0c]);
  const decoded = decodeMessage(wire);
  assert.ok(decoded.ok);
  assert.equal(decoded.message.answers[0].name, "Example.ORG");
  const mx = decoded.message.answers[0].data;
  assert.ok(mx.kind === "mx");
  assert.equal(mx.exchange, "mx.Example.ORG");
  assert.equal(wire.length, answerAt + 2 + 10 + 2 + 5);
});

Deno.test("dns wire: odd label octets survive as \\DDD", () => {
  const name = "a\\046b.\\000\\255.org";
  assert.deepEqual(nameLabels(name).map((l) => [...l]), [[0x61, 0x2e, 0x62], [0, 255], [
    0x6f,
    0x72,
    0x67,
  ]]);
  const decoded = decodeMessage(
    encodeMessage(message({ questions: [{ name, type: 1, class: 1 }] })),
  );
  assert.ok(decoded.ok);
  assert.equal(decoded.message.questions[0].name, name);
  assert.throws(() => nameLabels("a..b"), RangeError);
  assert.throws(() => nameLabels("x".repeat(64)), RangeError);
  assert.throws(() => nameLabels(Array(128).fill("a").join(".")), RangeError);
});

Deno.test("dns wire: hostile packets give ok:false, never an exception", async (t) => {
  const cases: Record<string, Uint8Array> = {
    "empty": new Uint8Array(0),
    "short header": Uint8Array.from([0, 1, 0]),
    "question count past the end": header([1, 0, 0, 0]),
    "pointer to itself": header([1, 0, 0, 0], [0xc0, 12, 0, 1, 0, 1]),
    "pointer forward": header([1, 0, 0, 0], [0xc0, 14, 0, 1, 0, 1, 0]),
    "label then a pointer back to it": header([1, 0, 0, 0], [1, 0x61, 0xc0, 12, 0, 1, 0, 1]),
    "two pointers to each other": header([1, 0, 0, 0], [0xc0, 14, 0xc0, 12, 0, 1, 0, 1]),
    "pointer cut in half": header([1, 0, 0, 0], [0xc0]),
    "extended label type": header([1, 0, 0, 0], [0x40, 0, 0, 1, 0, 1]),
    "label past the end": header([1, 0, 0, 0], [5, 0x61]),
    "name over 255 octets": header(
      [1, 0, 0, 0],
      [...Array(5).fill([63, ...Array(63).fill(0x61)]).flat(), 0, 0, 1, 0, 1],
    ),
    "record data length past the end": header(
      [0, 1, 0, 0],
      [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 50, 1, 2],
    ),
    "A record of 3 octets": header([0, 1, 0, 0], [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 3, 1, 2, 3]),
    "TXT string past its record": header([0, 1, 0, 0], [0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 9, 1]),
    "MX name past its record": header(
      [0, 1, 0, 0],
      [0, 0, 15, 0, 1, 0, 0, 0, 0, 0, 3, 0, 10, 1, 0x61, 0],
    ),
    "trailing octets": header([0, 0, 0, 0], [1, 2, 3]),
  };
  for (const [name, octets] of Object.entries(cases)) {
    await t.step(name, () => {
      const result = decodeMessage(octets);
      assert.equal(result.ok, false);
      if (octets.length >= 12) assert.equal(!result.ok && result.header?.id, 7);
    });
  }
});

Deno.test("dns ip: text addresses to octets", () => {
  assert.deepEqual([...parseIpv4("192.0.2.255")!], [192, 0, 2, 255]);
  for (const bad of ["256.0.0.1", "1.2.3", "1.2.3.4.5", "a.b.c.d", ""]) {
    assert.equal(parseIpv4(bad), undefined, bad);
  }
  assert.deepEqual([...parseIpv6("::1")!], [...Array(15).fill(0), 1]);
  assert.deepEqual([...parseIpv6("2001:db8::")!].slice(0, 4), [0x20, 0x01, 0x0d, 0xb8]);
  assert.deepEqual([...parseIpv6("::ffff:192.0.2.1")!].slice(10), [0xff, 0xff, 192, 0, 2, 1]);
  assert.deepEqual(parseIpv6("1:2:3:4:5:6:7:8")![15], 8);
  for (const bad of ["1::2::3", "1:2:3:4:5:6:7", "12345::", "1:2:3:4:5:6:7:8::", "g::", ":"]) {
    assert.equal(parseIpv6(bad), undefined, bad);
  }
});
