/**
 * The DNS message format (RFC 1035 §4.1): a pure decoder that never throws on hostile input and
 * an encoder with name compression (RFC 1035 §4.1.4). Names are dotted strings without the
 * trailing dot ("" is the root); a label octet that is not printable ASCII, a dot or a
 * backslash is written `\DDD` (the presentation form of RFC 1035 §5.1), so any wire name
 * survives a round trip.
 */

/** Record types used here (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 6891, RFC 1035 §3.2.3). */
export const RR_TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

/** The Internet class (RFC 1035 §3.2.4). */
export const CLASS_IN = 1;

/** Response codes (RFC 1035 §4.1.1; BADVERS is RFC 6891 §6.1.3, 12 bits with the OPT's). */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  BADVERS: 16,
} as const;

/** The data of a record, by shape. */
export type RecordData =
  /** A (4 octets) or AAAA (16 octets). */
  | { kind: "address"; octets: Uint8Array }
  /** NS, CNAME. */
  | { kind: "name"; name: string }
  | { kind: "mx"; preference: number; exchange: string }
  /** Each string at most 255 octets (RFC 1035 §3.3.14). */
  | { kind: "txt"; strings: Uint8Array[] }
  | {
    kind: "soa";
    mname: string;
    rname: string;
    serial: number;
    refresh: number;
    retry: number;
    expire: number;
    minimum: number;
  }
  | { kind: "srv"; priority: number; weight: number; port: number; target: string }
  /** Anything else, and OPT options, as they are. */
  | { kind: "raw"; octets: Uint8Array };

/** A resource record (RFC 1035 §4.1.3). For OPT, class is the UDP size and ttl the flags. */
export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RecordData;
}

/** A question (RFC 1035 §4.1.2). */
export interface Question {
  name: string;
  type: number;
  class: number;
}

/** A whole message; the header's flags spelt out. */
export interface DnsMessage {
  id: number;
  /** True in a response. */
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** The low 4 bits of the response code (the OPT record holds the high 8). */
  rcode: number;
  questions: Question[];
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  additional: ResourceRecord[];
}

/** The outcome of {@link decodeMessage}: never an exception. */
export type DecodeResult =
  | { ok: true; message: DnsMessage }
  /** `header` when the 12 header octets were there, so a FORMERR can name the query's id. */
  | { ok: false; reason: string; header?: { id: number; opcode: number; rd: boolean } };

/** Longest name on the wire (RFC 1035 §2.3.4). */
const MAX_NAME = 255;
const MAX_LABEL = 63;

class Malformed extends Error {}

/** Decodes one message. Hostile input gives `{ ok: false }`; this never throws. */
export function decodeMessage(octets: Uint8Array): DecodeResult {
  if (octets.length < 12) return { ok: false, reason: "shorter than a header" };
  const view = new DataView(octets.buffer, octets.byteOffset, octets.byteLength);
  const flags = view.getUint16(2);
  const header = { id: view.getUint16(0), opcode: (flags >> 11) & 0xf, rd: (flags & 0x100) !== 0 };
  try {
    const reader = new Reader(octets, view, 12);
    const counts = [4, 6, 8, 10].map((at) => view.getUint16(at));
    const questions: Question[] = [];
    for (let i = 0; i < counts[0]; i++) {
      questions.push({ name: reader.name(), type: reader.u16(), class: reader.u16() });
    }
    const sections = counts.slice(1).map((count) => {
      const records: ResourceRecord[] = [];
      for (let i = 0; i < count; i++) records.push(reader.record());
      return records;
    });
    if (reader.at !== octets.length) throw new Malformed("octets after the last record");
    return {
      ok: true,
      message: {
        ...header,
        qr: (flags & 0x8000) !== 0,
        aa: (flags & 0x400) !== 0,
        tc: (flags & 0x200) !== 0,
        ra: (flags & 0x80) !== 0,
        rcode: flags & 0xf,
        questions,
        answers: sections[0],
        authority: sections[1],
        additional: sections[2],
      },
    };
  } catch (err) {
    if (err instanceof Malformed) return { ok: false, reason: err.message, header };
    throw err;
  }
}

class Reader {
  constructor(readonly octets: Uint8Array, readonly view: DataView, public at: number) {}

  need(n: number): void {
    if (this.at + n > this.octets.length) throw new Malformed("truncated");
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.at);
    this.at += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at);
    this.at += 4;
    return v;
  }

  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.octets.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /**
   * A possibly compressed name. Every pointer must point before the one that led to it, so
   * a chain of them ends: no compression loop can hang the parser (RFC 1035 §4.1.4 only ever
   * points back to a prior occurrence).
   */
  name(): string {
    const labels: string[] = [];
    let length = 1;
    let pos = this.at;
    let jumped = false;
    let limit = pos;
    for (;;) {
      if (pos >= this.octets.length) throw new Malformed("name runs past the end");
      const len = this.octets[pos];
      if (len === 0) {
        if (!jumped) this.at = pos + 1;
        break;
      }
      const tag = len & 0xc0;
      if (tag === 0xc0) {
        if (pos + 1 >= this.octets.length) throw new Malformed("pointer runs past the end");
        const target = ((len & 0x3f) << 8) | this.octets[pos + 1];
        if (!jumped) this.at = pos + 2;
        if (target >= limit) throw new Malformed("compression pointer does not point back");
        jumped = true;
        limit = target;
        pos = target;
        continue;
      }
      if (tag !== 0) throw new Malformed("unknown label type");
      if (pos + 1 + len > this.octets.length) throw new Malformed("label runs past the end");
      length += len + 1;
      if (length > MAX_NAME) throw new Malformed("name longer than 255 octets");
      labels.push(labelText(this.octets.subarray(pos + 1, pos + 1 + len)));
      pos += 1 + len;
    }
    return labels.join(".");
  }

  record(): ResourceRecord {
    const name = this.name();
    const type = this.u16();
    const klass = this.u16();
    const ttl = this.u32();
    const rdLength = this.u16();
    this.need(rdLength);
    const end = this.at + rdLength;
    const data = this.rdata(type, end);
    if (this.at !== end) throw new Malformed(`record data of type ${type} has the wrong length`);
    return { name, type, class: klass, ttl, data };
  }

  rdata(type: number, end: number): RecordData {
    switch (type) {
      case RR_TYPE.A:
      case RR_TYPE.AAAA: {
        const size = type === RR_TYPE.A ? 4 : 16;
        if (end - this.at !== size) throw new Malformed("address of the wrong length");
        return { kind: "address", octets: this.bytes(size) };
      }
      case RR_TYPE.NS:
      case RR_TYPE.CNAME:
        return { kind: "name", name: this.name() };
      case RR_TYPE.MX:
        return { kind: "mx", preference: this.u16(), exchange: this.name() };
      case RR_TYPE.TXT: {
        const strings: Uint8Array[] = [];
        while (this.at < end) {
          const len = this.octets[this.at++];
          if (this.at + len > end) throw new Malformed("TXT string runs past its record");
          strings.push(this.bytes(len));
        }
        return { kind: "txt", strings };
      }
      case RR_TYPE.SOA:
        return {
          kind: "soa",
          mname: this.name(),
          rname: this.name(),
          serial: this.u32(),
          refresh: this.u32(),
          retry: this.u32(),
          expire: this.u32(),
          minimum: this.u32(),
        };
      case RR_TYPE.SRV:
        return {
          kind: "srv",
          priority: this.u16(),
          weight: this.u16(),
          port: this.u16(),
          target: this.name(),
        };
      default:
        return { kind: "raw", octets: this.bytes(end - this.at) };
    }
  }
}

/** A label's presentation text: `\DDD` for anything but printable ASCII other than "." and "\". */
function labelText(octets: Uint8Array): string {
  let out = "";
  for (const o of octets) {
    out += o > 0x20 && o < 0x7f && o !== 0x2e && o !== 0x5c
      ? String.fromCharCode(o)
      : `\\${o.toString().padStart(3, "0")}`;
  }
  return out;
}

/** The wire labels of a presentation name; throws on a label or name over the limits. */
export function nameLabels(name: string): Uint8Array[] {
  if (name === "" || name === ".") return [];
  const labels: Uint8Array[] = [];
  let current: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === ".") {
      labels.push(Uint8Array.from(current));
      current = [];
    } else if (ch === "\\" && /^\d{3}$/.test(name.slice(i + 1, i + 4))) {
      current.push(Number(name.slice(i + 1, i + 4)) & 0xff);
      i += 3;
    } else if (ch === "\\" && i + 1 < name.length) {
      current.push(name.charCodeAt(++i) & 0xff);
    } else {
      current.push(name.charCodeAt(i) & 0xff);
    }
  }
  if (current.length > 0 || !name.endsWith(".")) labels.push(Uint8Array.from(current));
  if (labels.some((l) => l.length === 0 || l.length > MAX_LABEL)) {
    throw new RangeError(`not a valid DNS name: ${JSON.stringify(name)}`);
  }
  if (labels.reduce((n, l) => n + l.length + 1, 1) > MAX_NAME) {
    throw new RangeError(`DNS name longer than 255 octets: ${name.slice(0, 40)}…`);
  }
  return labels;
}

/** Lower-cases ASCII only (RFC 4343 §3: DNS names compare case-insensitively in ASCII). */
export function canonicalName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase()).replace(/\.$/, "");
}

/** Encodes `message`. Throws only on values no wire form has (a label over 63 octets…). */
export function encodeMessage(message: DnsMessage): Uint8Array {
  const w = new Writer();
  w.u16(message.id);
  w.u16(
    (message.qr ? 0x8000 : 0) | ((message.opcode & 0xf) << 11) | (message.aa ? 0x400 : 0) |
      (message.tc ? 0x200 : 0) | (message.rd ? 0x100 : 0) | (message.ra ? 0x80 : 0) |
      (message.rcode & 0xf),
  );
  for (
    const n of [
      message.questions.length,
      message.answers.length,
      message.authority.length,
      message.additional.length,
    ]
  ) w.u16(n);
  for (const q of message.questions) {
    w.name(q.name, true);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of [...message.answers, ...message.authority, ...message.additional]) {
    w.record(rr);
  }
  return w.finish();
}

class Writer {
  #buf = new Uint8Array(512);
  #view = new DataView(this.#buf.buffer);
  #at = 0;
  /** Lower-cased name suffix → offset of its first occurrence (RFC 1035 §4.1.4). */
  #offsets = new Map<string, number>();

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#at + n));
    next.set(this.#buf);
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.#room(1);
    this.#buf[this.#at++] = v;
  }

  u16(v: number): void {
    this.#room(2);
    this.#view.setUint16(this.#at, v);
    this.#at += 2;
  }

  u32(v: number): void {
    this.#room(4);
    this.#view.setUint32(this.#at, v >>> 0);
    this.#at += 4;
  }

  bytes(octets: Uint8Array): void {
    this.#room(octets.length);
    this.#buf.set(octets, this.#at);
    this.#at += octets.length;
  }

  /**
   * Writes a name, pointing at an earlier copy of its longest known suffix when `compress`.
   * Suffixes are remembered either way, and matched case-insensitively, so an answer's owner
   * points at the question and comes out in the case it was asked in.
   */
  name(name: string, compress: boolean): void {
    const labels = nameLabels(name);
    const keys = labels.map((_, i) => suffixKey(labels.slice(i)));
    for (let i = 0; i < labels.length; i++) {
      const earlier = compress ? this.#offsets.get(keys[i]) : undefined;
      if (earlier !== undefined) {
        this.u16(0xc000 | earlier);
        return;
      }
      // Pointers hold 14 bits: later offsets cannot be pointed at.
      if (this.#at < 0x4000 && !this.#offsets.has(keys[i])) this.#offsets.set(keys[i], this.#at);
      this.u8(labels[i].length);
      this.bytes(labels[i]);
    }
    this.u8(0);
  }

  record(rr: ResourceRecord): void {
    this.name(rr.name, true);
    this.u16(rr.type);
    this.u16(rr.class);
    this.u32(rr.ttl);
    this.u16(0);
    const lengthAt = this.#at - 2;
    const d = rr.data;
    switch (d.kind) {
      case "address":
        this.bytes(d.octets);
        break;
      case "name":
        this.name(d.name, true);
        break;
      case "mx":
        this.u16(d.preference);
        this.name(d.exchange, true);
        break;
      case "txt":
        for (const s of d.strings) {
          if (s.length > 255) throw new RangeError("TXT string over 255 octets");
          this.u8(s.length);
          this.bytes(s);
        }
        break;
      case "soa":
        this.name(d.mname, true);
        this.name(d.rname, true);
        for (const v of [d.serial, d.refresh, d.retry, d.expire, d.minimum]) this.u32(v);
        break;
      case "srv":
        this.u16(d.priority);
        this.u16(d.weight);
        this.u16(d.port);
        // RFC 2782: the SRV target is not compressed.
        this.name(d.target, false);
        break;
      case "raw":
        this.bytes(d.octets);
        break;
    }
    this.#view.setUint16(lengthAt, this.#at - lengthAt - 2);
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#at);
  }
}

/** A case-folded, length-prefixed key for a run of labels (ASCII case only, RFC 4343 §3). */
function suffixKey(labels: Uint8Array[]): string {
  let key = "";
  for (const label of labels) {
    key += String.fromCharCode(label.length);
    for (const o of label) key += String.fromCharCode(o >= 0x41 && o <= 0x5a ? o + 0x20 : o);
  }
  return key;
}

/** Splits a long TXT value into strings of at most 255 octets (RFC 7208 §3.3, RFC 6376 §3.6.2.2). */
export function txtStrings(value: string): Uint8Array[] {
  const octets = new TextEncoder().encode(value);
  const strings: Uint8Array[] = [];
  for (let i = 0; i < octets.length; i += 255) strings.push(octets.slice(i, i + 255));
  return strings.length > 0 ? strings : [new Uint8Array(0)];
}
