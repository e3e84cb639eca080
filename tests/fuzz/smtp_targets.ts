/**
 * Fuzz targets for the SMTP command and path parsers (src/smtp/parse_command.ts,
 * parse_path.ts): commands generated from the RFC 5321 §4.1 grammar, formatted, and parsed back
 * to the value they were made from; mutations of them and random bytes give a command or a reply,
 * never an exception, and the result does not change with the verb's case or a trailing space.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Command, isReply, parseCommand } from "../../src/smtp/parse_command.ts";
import { type Mailbox, mailboxText, parseMailbox, type Path } from "../../src/smtp/parse_path.ts";
import type { Reply } from "../../src/smtp/reply.ts";
import {
  type FuzzTarget,
  mixCase,
  stringOf,
  target,
  timed,
  utf8,
  validAndMutated,
} from "./harness.ts";

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS = "0123456789";
const NON_ASCII = "éüßñ日本Ωж";
// RFC 5322 §3.2.3 atext, RFC 6531 §3.3 UTF8-non-ascii.
const ATEXT = LETTERS + DIGITS + "!#$%&'*+-/=?^_`{|}~" + NON_ASCII;
const LABEL_INNER = LETTERS + DIGITS + "-" + NON_ASCII;
const LABEL_END = LETTERS + DIGITS + NON_ASCII;

const label = fc.tuple(
  stringOf(LABEL_END, { minLength: 1, maxLength: 1 }),
  stringOf(LABEL_INNER, { maxLength: 12 }),
  stringOf(LABEL_END, { maxLength: 1 }),
).map(([a, b, c]) => (b === "" ? a + c : a + b + (c === "" ? "x" : c)));

/** An RFC 5321 Domain with UTF-8 labels allowed. */
export const domainArb = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));

const ipv4 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
  .map((n) => `[${n.join(".")}]`);
const addressLiteral = fc.oneof(
  ipv4,
  fc.ipV6().map((a) => `[IPv6:${a}]`),
  fc.tuple(
    stringOf(LETTERS + DIGITS, { minLength: 1, maxLength: 6 }),
    stringOf("abc.:;12", {
      minLength: 1,
      maxLength: 10,
    }),
  ).map(([tag, text]) => `[${tag}:${text}]`),
);

const octets = (s: string) => utf8(s).length;

const dotString = fc.array(stringOf(ATEXT, { minLength: 1, maxLength: 10 }), {
  minLength: 1,
  maxLength: 4,
}).map((atoms) => atoms.join(".")).filter((s) => octets(s) <= 64);

// Quoted-string content (RFC 5321 §4.1.2): printable ASCII and UTF-8; `"` and `\` escaped, and
// any other printable ASCII escaped at random (a quoted-pair may escape any of them).
const quotedLocal = fc.array(
  fc.tuple(
    fc.oneof(stringOf(ATEXT + ' "\\.@<>()[],;:', { minLength: 1, maxLength: 1 })),
    fc.boolean(),
  ),
  { maxLength: 20 },
).map((chars) => {
  const value = chars.map(([c]) => c).join("");
  const wire = chars.map(([c, esc]) =>
    c === '"' || c === "\\" || (esc && c.charCodeAt(0) < 0x7f) ? "\\" + c : c
  ).join("");
  return { value, wire: `"${wire}"` };
}).filter((q) => octets(q.value) <= 64);

/** A mailbox with its wire form. */
interface MailboxCase {
  wire: string;
  mailbox: Mailbox;
}

const mailboxArb: fc.Arbitrary<MailboxCase> = fc.tuple(
  fc.oneof(
    dotString.map((s) => ({ value: s, wire: s, quoted: false })),
    quotedLocal.map((q) => ({ ...q, quoted: true })),
  ),
  fc.oneof(
    { arbitrary: domainArb.map((d) => ({ d, literal: false })), weight: 3 },
    { arbitrary: addressLiteral.map((d) => ({ d, literal: true })), weight: 1 },
  ),
).map(([local, { d, literal }]) => {
  const wire = `${local.wire}@${d}`;
  return {
    wire,
    mailbox: {
      localPart: local.value,
      domain: d,
      quoted: local.quoted,
      literal,
      utf8: /[^\x00-\x7f]/.test(wire),
    },
  };
});

const paramKey = fc.tuple(
  stringOf(LETTERS + DIGITS, { minLength: 1, maxLength: 1 }),
  stringOf(LETTERS + DIGITS + "-", { maxLength: 10 }),
).map(([a, b]) => a + b);
const paramValue = stringOf(LETTERS + DIGITS + '!"#+,./:;<>?@[\\]^_{}~' + NON_ASCII, {
  minLength: 1,
  maxLength: 12,
});
const paramsArb = fc.uniqueArray(fc.tuple(paramKey, fc.option(paramValue, { nil: undefined })), {
  maxLength: 4,
  selector: ([k]) => k.toUpperCase(),
});

/** A command line and the command it must parse to. */
interface CommandCase {
  line: string;
  command: Command;
}

const verbCase = fc.integer({ min: 0, max: 0x3fffffff });
const spaces = fc.integer({ min: 1, max: 3 }).map((n) => " ".repeat(n));
const trailing = fc.constantFrom("", " ", "  ", "\t");

const helloArb = fc.tuple(
  fc.constantFrom("EHLO" as const, "HELO" as const),
  verbCase,
  stringOf(LETTERS + DIGITS + "._-[]:!#" + NON_ASCII, { minLength: 1, maxLength: 30 }),
  trailing,
).map(([verb, mask, domain, t]): CommandCase => ({
  line: `${mixCase(verb, mask)} ${domain}${t}`,
  command: { verb, domain },
}));

const pathArb = (verb: "MAIL" | "RCPT"): fc.Arbitrary<{ wire: string; path: Path }> =>
  fc.oneof(
    {
      arbitrary: fc.tuple(fc.array(domainArb, { maxLength: 2 }), mailboxArb).map(([route, m]) => ({
        wire: `<${route.map((d) => "@" + d).join(",")}${route.length ? ":" : ""}${m.wire}>`,
        path: { route, mailbox: m.mailbox },
      })),
      weight: 6,
    },
    verb === "MAIL"
      ? fc.constant({ wire: "<>", path: { route: [] as string[] } })
      : verbCase.map((mask) => ({
        wire: `<${mixCase("postmaster", mask)}>`,
        path: {
          route: [],
          mailbox: {
            localPart: "postmaster",
            domain: "",
            quoted: false,
            literal: false,
            utf8: false,
          },
        },
      })),
  );

const transactionArb = (verb: "MAIL" | "RCPT"): fc.Arbitrary<CommandCase> =>
  fc.tuple(verbCase, verbCase, fc.boolean(), pathArb(verb), paramsArb, trailing).map(
    ([mask, mask2, space, { wire, path }, params, t]) => {
      const prefix = mixCase(verb === "MAIL" ? "FROM:" : "TO:", mask2);
      const paramText = params.map(([k, v]) => ` ${k}${v === undefined ? "" : "=" + v}`).join("");
      return {
        line: `${mixCase(verb, mask)} ${prefix}${space ? " " : ""}${wire}${paramText}${t}`,
        command: {
          verb,
          path,
          params: new Map(params.map(([k, v]) => [k.toUpperCase(), v])),
        },
      };
    },
  );

const bdatArb = fc.tuple(
  verbCase,
  stringOf(DIGITS, { minLength: 1, maxLength: 15 }),
  fc.boolean(),
  spaces,
)
  .map(([mask, digits, last, sp]): CommandCase => ({
    line: `${mixCase("BDAT", mask)} ${digits}${last ? sp + mixCase("LAST", mask >> 4) : ""}`,
    command: { verb: "BDAT", size: Number(digits), last },
  }));

const noArgArb = fc.tuple(
  fc.constantFrom("DATA" as const, "RSET" as const, "QUIT" as const, "STARTTLS" as const),
  verbCase,
  trailing,
).map(([verb, mask, t]): CommandCase => ({
  line: `${mixCase(verb, mask)}${t === "" ? "" : " "}${t}`,
  command: { verb },
}));

const freeTextArb = fc.tuple(
  fc.constantFrom("VRFY" as const, "EXPN" as const, "HELP" as const, "AUTH" as const),
  verbCase,
  fc.string({ maxLength: 40 }).map((s) => s.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "x")),
).map(([verb, mask, text]): CommandCase => ({
  line: `${mixCase(verb, mask)} ${text}`,
  command: { verb, argument: text.trimEnd() },
}));

const noopArb = fc.tuple(verbCase, fc.string({ maxLength: 20 })).map((
  [mask, text],
): CommandCase => ({
  line: `${mixCase("NOOP", mask)} ${text.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "")}`,
  command: { verb: "NOOP" },
}));

/** Valid SMTP command lines with the commands they stand for. */
export const smtpCommandArb: fc.Arbitrary<CommandCase> = fc.oneof(
  helloArb,
  transactionArb("MAIL"),
  transactionArb("RCPT"),
  bdatArb,
  noArgArb,
  freeTextArb,
  noopArb,
);

const VERBS = new Set([
  "EHLO",
  "HELO",
  "MAIL",
  "RCPT",
  "BDAT",
  "DATA",
  "RSET",
  "NOOP",
  "QUIT",
  "STARTTLS",
  "VRFY",
  "EXPN",
  "HELP",
  "AUTH",
]);

function parse(line: Uint8Array): Command | Reply {
  return timed(() => parseCommand(line));
}

/** Checks the shape of a parse result: a known command, or a 5xx reply with text. */
function assertWellFormed(result: Command | Reply): void {
  if (isReply(result)) {
    assert.ok(result.code >= 500 && result.code < 600, `reply code ${result.code}`);
    assert.equal(typeof result.text, "string");
    return;
  }
  assert.ok(VERBS.has(result.verb), `unknown verb ${result.verb}`);
  if (result.verb === "BDAT") assert.ok(Number.isSafeInteger(result.size) && result.size >= 0);
  if (result.verb === "MAIL" || result.verb === "RCPT") {
    for (const key of result.params.keys()) assert.match(key, /^[A-Z0-9][A-Z0-9-]*$/);
  }
}

/** Flips the case of the ASCII letters of the line's first word. */
function flipVerbCase(line: Uint8Array): Uint8Array {
  const out = line.slice();
  for (let i = 0; i < out.length && out[i] !== 0x20; i++) {
    const c = out[i] | 0x20;
    if (c >= 0x61 && c <= 0x7a) out[i] ^= 0x20;
  }
  return out;
}

const lineArb = validAndMutated(smtpCommandArb.map((c) => utf8(c.line)));

/** The SMTP targets. */
export const smtpTargets: FuzzTarget[] = [
  target("smtp", "roundtrip", [smtpCommandArb], (c) => {
    assert.deepEqual(parse(utf8(c.line)), c.command, c.line);
  }),
  target("smtp", "command-or-reply", [lineArb], (line) => {
    const result = parse(line);
    assertWellFormed(result);
    // The verb is case-insensitive (RFC 5321 §2.4) and trailing spaces are trimmed.
    assert.deepEqual(parse(flipVerbCase(line)), result, "verb case changed the result");
    const spaced = new Uint8Array(line.length + 1);
    spaced.set(line);
    spaced[line.length] = 0x20;
    assert.deepEqual(parse(spaced), result, "a trailing space changed the result");
  }),
  target("smtp", "mailbox-text", [mailboxArb], (m) => {
    // mailboxText re-quotes only when needed: the same mailbox comes back, quoted or not.
    const parsed = timed(() => parseMailbox(m.wire));
    assert.notEqual(typeof parsed, "string", `${m.wire}: ${parsed}`);
    const again = parseMailbox(mailboxText(parsed as Mailbox));
    assert.notEqual(typeof again, "string", `${mailboxText(parsed as Mailbox)}: ${again}`);
    const { localPart, domain, literal } = again as Mailbox;
    assert.deepEqual({ localPart, domain, literal }, {
      localPart: m.mailbox.localPart,
      domain: m.mailbox.domain,
      literal: m.mailbox.literal,
    });
  }),
];
