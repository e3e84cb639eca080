import assert from "node:assert/strict";
import { defaultConfig } from "../../src/config/config.ts";
import { respond } from "../../src/dns_server/respond.ts";
import { Zone } from "../../src/dns_server/zone.ts";
import { zoneRecords } from "../../src/dns_server/zone_records.ts";
import {
  CLASS_IN,
  decodeMessage,
  type DnsMessage,
  encodeMessage,
  RCODE,
  type ResourceRecord,
  RR_TYPE,
} from "../../src/dns_server/wire.ts";

function zone(): Zone {
  const config = defaultConfig();
  config.hostname = "mx.example.org";
  config.domains = ["example.org", "example.net"];
  config.dns.ipv4 = ["192.0.2.1"];
  config.dns.ttl = 300_000;
  config.listen.pop3 = "";
  const dkim = new Map([["example.org", [
    { selector: "big", txt: "v=DKIM1; k=rsa; p=" + "A".repeat(1500) },
    { selector: "default", txt: "v=DKIM1; k=rsa; p=QUJD" },
  ]]]);
  return new Zone(zoneRecords({ config, dkim, serial: 42 }));
}

const opt = (size: number, flags = 0): ResourceRecord => ({
  name: "",
  type: RR_TYPE.OPT,
  class: size,
  ttl: flags,
  data: { kind: "raw", octets: new Uint8Array(0) },
});

function query(name: string, type: number, over: Partial<DnsMessage> = {}): Uint8Array {
  return encodeMessage({
    id: 99,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: true,
    ra: false,
    rcode: 0,
    questions: [{ name, type, class: CLASS_IN }],
    answers: [],
    authority: [],
    additional: [],
    ...over,
  });
}

function ask(q: Uint8Array, transport: "udp" | "tcp" = "udp"): DnsMessage {
  const wire = respond(q, zone(), transport);
  assert.ok(wire);
  const decoded = decodeMessage(wire);
  assert.ok(decoded.ok, !decoded.ok ? decoded.reason : "");
  return decoded.message;
}

Deno.test("dns respond: answers authoritatively, echoing the question as asked", () => {
  const r = ask(query("ExAmPlE.oRg", RR_TYPE.MX));
  assert.equal(r.rcode, RCODE.NOERROR);
  assert.ok(r.qr && r.aa && r.rd && !r.ra && !r.tc);
  assert.equal(r.id, 99);
  assert.equal(r.questions[0].name, "ExAmPlE.oRg");
  assert.equal(r.answers[0].name, "ExAmPlE.oRg");
  assert.deepEqual(r.answers[0].data, { kind: "mx", preference: 10, exchange: "mx.ExAmPlE.oRg" });
  // The exchange's address rides along in the additional section.
  assert.equal(r.additional[0].type, RR_TYPE.A);
});

Deno.test("dns respond: NXDOMAIN, NODATA, empty non-terminals and REFUSED", () => {
  const nx = ask(query("nope.example.org", RR_TYPE.A));
  assert.equal(nx.rcode, RCODE.NXDOMAIN);
  assert.equal(nx.authority[0].type, RR_TYPE.SOA);
  assert.equal(nx.answers.length, 0);
  const nodata = ask(query("example.org", RR_TYPE.AAAA));
  assert.equal(nodata.rcode, RCODE.NOERROR);
  assert.equal(nodata.answers.length, 0);
  assert.equal(nodata.authority[0].type, RR_TYPE.SOA);
  for (const ent of ["_tcp.example.org", "_domainkey.example.org"]) {
    const r = ask(query(ent, RR_TYPE.TXT));
    assert.equal(r.rcode, RCODE.NOERROR, ent);
    assert.equal(r.answers.length, 0, ent);
  }
  const refused = ask(query("example.com", RR_TYPE.A));
  assert.equal(refused.rcode, RCODE.REFUSED);
  assert.ok(!refused.aa);
  assert.equal(ask(query("org", RR_TYPE.NS)).rcode, RCODE.REFUSED);
  assert.equal(ask(query("example.org", RR_TYPE.AXFR)).rcode, RCODE.REFUSED);
});

Deno.test("dns respond: SRV records, disabled listeners as target '.'", () => {
  const imaps = ask(query("_imaps._tcp.example.org", RR_TYPE.SRV)).answers[0].data;
  assert.deepEqual(imaps, {
    kind: "srv",
    priority: 0,
    weight: 1,
    port: 2993,
    target: "mx.example.org",
  });
  const pop3 = ask(query("_pop3._tcp.example.net", RR_TYPE.SRV)).answers[0].data;
  assert.deepEqual(pop3, { kind: "srv", priority: 0, weight: 0, port: 0, target: "" });
});

Deno.test("dns respond: truncation over UDP, full answers over TCP and with EDNS", () => {
  const name = "big._domainkey.example.org";
  const plain = ask(query(name, RR_TYPE.TXT));
  assert.ok(plain.tc);
  assert.equal(plain.answers.length, 0);
  assert.equal(plain.questions[0].name, name);
  const tcp = ask(query(name, RR_TYPE.TXT), "tcp");
  assert.ok(!tcp.tc);
  const txt = tcp.answers[0].data;
  assert.ok(txt.kind === "txt");
  assert.equal(txt.strings.reduce((n, s) => n + s.length, 0), "v=DKIM1; k=rsa; p=".length + 1500);
  assert.ok(txt.strings.every((s) => s.length <= 255));
  // A 4096-octet EDNS buffer is capped at our 1232: still truncated. A small one is raised to 512.
  const edns = ask(query(name, RR_TYPE.TXT, { additional: [opt(4096, 0x8000)] }));
  assert.ok(edns.tc);
  assert.equal(edns.additional[0].type, RR_TYPE.OPT);
  assert.equal(edns.additional[0].class, 1232);
  assert.equal(edns.additional[0].ttl, 0x8000, "DO echoed (RFC 3225 §3)");
  const small = ask(
    query("default._domainkey.example.org", RR_TYPE.TXT, { additional: [opt(100)] }),
  );
  assert.ok(!small.tc);
  assert.equal(small.answers.length, 1);
});

Deno.test("dns respond: FORMERR, NOTIMP, BADVERS; responses and runts get nothing", () => {
  const garbage = Uint8Array.from([0, 5, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12]);
  assert.equal(ask(garbage).rcode, RCODE.FORMERR);
  assert.equal(ask(garbage).id, 5);
  assert.equal(ask(query("example.org", 1, { questions: [] })).rcode, RCODE.FORMERR);
  assert.equal(
    ask(query("example.org", 1, { additional: [opt(1232), opt(1232)] })).rcode,
    RCODE.FORMERR,
  );
  const notify = ask(query("example.org", RR_TYPE.SOA, { opcode: 4 }));
  assert.equal(notify.rcode, RCODE.NOTIMP);
  assert.equal(notify.opcode, 4);
  const badvers = ask(query("example.org", RR_TYPE.SOA, { additional: [opt(1232, 1 << 16)] }));
  assert.equal(badvers.rcode, 0);
  assert.equal(badvers.additional[0].ttl >>> 24, 1, "extended rcode 1: BADVERS = 16");
  assert.equal(respond(query("example.org", 1, { qr: true }), zone(), "udp"), undefined);
  assert.equal(respond(new Uint8Array(11), zone(), "udp"), undefined);
});

Deno.test("dns respond: ANY returns the whole name", () => {
  const any = ask(query("example.org", RR_TYPE.ANY), "tcp");
  const types = new Set(any.answers.map((rr) => rr.type));
  for (const t of [RR_TYPE.SOA, RR_TYPE.NS, RR_TYPE.MX, RR_TYPE.TXT]) assert.ok(types.has(t));
});
