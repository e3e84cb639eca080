/**
 * A generator of valid IMAP commands (RFC 3501 §9 / RFC 9051 §9 and the extensions the parser
 * takes) for fuzzing: each comes as the pieces of its wire form (text and literals) together with
 * the {@link ImapCommand} the parser must make of it.
 */
import fc from "fast-check";
import type {
  FetchItem,
  ImapCommand,
  NoArgCommandName,
  Section,
} from "../../src/imap/parse/command.ts";
import { mixCase, stringOf } from "./harness.ts";
import type { Piece } from "./imap_framing.ts";
import {
  astringArb,
  dateTime,
  flagArb,
  joined,
  listOf,
  mailboxArb,
  mask,
  searchKeyArb,
  setArb,
  stringArb,
  tagArb,
  type Valued,
} from "./imap_tokens.ts";

/** A generated command: its wire pieces, the parse options, and what it must parse to. */
export interface CommandCase {
  pieces: Piece[];
  utf8: boolean;
  command: ImapCommand;
}

const SIMPLE_ITEMS = [
  "FLAGS",
  "INTERNALDATE",
  "RFC822.SIZE",
  "ENVELOPE",
  "BODYSTRUCTURE",
  "BODY",
  "UID",
  "MODSEQ",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.TEXT",
] as const;

const partArb = fc.array(fc.integer({ min: 1, max: 0xffffffff }), { maxLength: 3 });
const partialArb = fc.option(
  fc.tuple(fc.maxSafeNat(), fc.maxSafeNat()).map(([offset, length]) => ({ offset, length })),
  { nil: undefined },
);
const fieldName = stringOf("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-0123456789", {
  minLength: 1,
  maxLength: 12,
});

const sectionArb: fc.Arbitrary<Valued<Section>> = fc.tuple(
  partArb,
  fc.constantFrom(undefined, "HEADER", "TEXT", "MIME", "HEADER.FIELDS", "HEADER.FIELDS.NOT"),
  fc.array(astringArb(false, fieldName), { minLength: 1, maxLength: 3 }),
  mask,
).map(([part, text0, fields, m]) => {
  // MIME needs a part number; a part-less section with no text is the whole message.
  const text = text0 === "MIME" && part.length === 0 ? "TEXT" : text0;
  const section: Section = { part };
  let spec = part.join(".");
  const pieces: Piece[] = [];
  if (text) {
    section.text = text;
    spec += (spec ? "." : "") + mixCase(text, m);
  }
  pieces.push(spec);
  if (text === "HEADER.FIELDS" || text === "HEADER.FIELDS.NOT") {
    section.fields = fields.map((f) => f.value.toUpperCase());
    pieces.push(" ", ...listOf(fields));
  }
  return { value: section, pieces };
});

const partial = (p: { offset: number; length: number } | undefined) =>
  p ? `<${p.offset}.${p.length}>` : "";

const fetchItemArb: fc.Arbitrary<Valued<FetchItem>> = fc.oneof(
  fc.tuple(fc.constantFrom(...SIMPLE_ITEMS), mask).map(([kind, m]) => ({
    value: { kind },
    pieces: [mixCase(kind, m)],
  })),
  fc.tuple(fc.boolean(), sectionArb, partialArb, mask).map((
    [peek, s, p, m],
  ): Valued<FetchItem> => ({
    value: p
      ? { kind: "BODY[]", section: s.value, peek, partial: p }
      : { kind: "BODY[]", section: s.value, peek },
    pieces: [mixCase(peek ? "BODY.PEEK[" : "BODY[", m), ...s.pieces, "]" + partial(p)],
  })),
  fc.tuple(fc.boolean(), partArb, partialArb, mask).map((
    [peek, part, p, m],
  ): Valued<FetchItem> => ({
    value: p ? { kind: "BINARY", part, peek, partial: p } : { kind: "BINARY", part, peek },
    pieces: [`${mixCase(peek ? "BINARY.PEEK" : "BINARY", m)}[${part.join(".")}]${partial(p)}`],
  })),
  fc.tuple(partArb, mask).map(([part, m]): Valued<FetchItem> => ({
    value: { kind: "BINARY.SIZE", part },
    pieces: [`${mixCase("BINARY.SIZE", m)}[${part.join(".")}]`],
  })),
);

const MACROS: Record<string, FetchItem[]> = {
  ALL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"].map((k) => ({ kind: k }) as FetchItem),
  FAST: ["FLAGS", "INTERNALDATE", "RFC822.SIZE"].map((k) => ({ kind: k }) as FetchItem),
  FULL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"].map((k) =>
    ({ kind: k }) as FetchItem
  ),
};

const fetchItemsArb: fc.Arbitrary<Valued<FetchItem[]>> = fc.oneof(
  fc.tuple(fc.constantFrom("ALL", "FAST", "FULL"), mask).map(([m, c]) => ({
    value: MACROS[m],
    pieces: [mixCase(m, c)],
  })),
  fetchItemArb.map((i) => ({ value: [i.value], pieces: i.pieces })),
  fc.array(fetchItemArb, { minLength: 1, maxLength: 4 }).map((items) => ({
    value: items.map((i) => i.value),
    pieces: listOf(items),
  })),
);

/** One generated command before its tag is put in front. */
type Body = { pieces: Piece[]; command: Record<string, unknown> & { name: string } };

const NO_ARGS: NoArgCommandName[] = [
  "CAPABILITY",
  "NOOP",
  "LOGOUT",
  "STARTTLS",
  "CHECK",
  "CLOSE",
  "UNSELECT",
  "IDLE",
  "NAMESPACE",
];

function bodies(u: boolean): fc.Arbitrary<Body> {
  const mailbox = mailboxArb(u);
  const name = (n: string, m: number) => mixCase(n, m);
  const uidPrefix = (uid: boolean, m: number) => (uid ? mixCase("UID ", m) : "");
  const setCommand = fc.tuple(fc.boolean(), mask, setArb);
  return fc.oneof(
    fc.tuple(fc.constantFrom(...NO_ARGS), mask).map(([n, m]): Body => ({
      pieces: [name(n, m)],
      command: { name: n },
    })),
    fc.tuple(mask, astringArb(true), astringArb(true)).map(([m, user, pass]): Body => ({
      pieces: [name("LOGIN", m), " ", ...user.pieces, " ", ...pass.pieces],
      command: { name: "LOGIN", user: user.value, password: pass.value },
    })),
    fc.tuple(
      mask,
      fc.constantFrom("PLAIN", "xoauth2", "Login"),
      fc.option(fc.oneof(fc.base64String({ minLength: 4, maxLength: 24 }), fc.constant("=")), {
        nil: undefined,
      }),
    ).map(([m, mech, ir]): Body => ({
      pieces: [name("AUTHENTICATE", m), ` ${mech}${ir === undefined ? "" : " " + ir}`],
      command: ir === undefined ? { name: "AUTHENTICATE", mechanism: mech.toUpperCase() } : {
        name: "AUTHENTICATE",
        mechanism: mech.toUpperCase(),
        initialResponse: ir === "=" ? "" : ir,
      },
    })),
    fc.tuple(fc.constantFrom("SELECT", "EXAMINE"), mask, mailbox, fc.boolean()).map((
      [n, m, box, condstore],
    ): Body => ({
      pieces: [name(n, m), " ", ...box.pieces, condstore ? " (CONDSTORE)" : ""],
      command: { name: n, mailbox: box.value, condstore },
    })),
    fc.tuple(fc.constantFrom("CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE"), mask, mailbox).map((
      [n, m, box],
    ): Body => ({
      pieces: [name(n, m), " ", ...box.pieces],
      command: { name: n, mailbox: box.value },
    })),
    fc.tuple(mask, mailbox, mailbox).map(([m, a, b]): Body => ({
      pieces: [name("RENAME", m), " ", ...a.pieces, " ", ...b.pieces],
      command: { name: "RENAME", from: a.value, to: b.value },
    })),
    fc.tuple(
      mask,
      mailbox,
      fc.uniqueArray(fc.constantFrom("MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE"), {
        minLength: 1,
      }),
    ).map(([m, box, items]): Body => ({
      pieces: [name("STATUS", m), " ", ...box.pieces, ` (${items.join(" ")})`],
      command: { name: "STATUS", mailbox: box.value, items },
    })),
    fc.tuple(mask, mailboxArb(u, true), mailboxArb(u, true)).map((
      [m, ref, pattern],
    ): Body => ({
      pieces: [name("LIST", m), " ", ...ref.pieces, " ", ...pattern.pieces],
      command: {
        name: "LIST",
        reference: ref.value,
        patterns: [pattern.value],
        selection: [],
        returns: { subscribed: false, children: false, specialUse: false },
        extended: false,
      },
    })),
    fc.tuple(
      setCommand,
      fetchItemsArb,
      fc.option(fc.tuple(fc.maxSafeNat(), fc.boolean()), {
        nil: undefined,
      }),
    ).map(([[uid, m, set], items, mod]): Body => {
      const vanished = uid && mod !== undefined && mod[1];
      const command: Body["command"] = { name: "FETCH", uid, set: set.value, items: items.value };
      if (mod) command.changedSince = mod[0];
      command.vanished = vanished;
      return {
        pieces: [
          uidPrefix(uid, m) + name("FETCH", m),
          " ",
          ...set.pieces,
          " ",
          ...items.pieces,
          mod ? ` (CHANGEDSINCE ${mod[0]}${vanished ? " VANISHED" : ""})` : "",
        ],
        command,
      };
    }),
    fc.tuple(
      setCommand,
      fc.option(fc.maxSafeNat(), { nil: undefined }),
      fc.constantFrom("add", "remove", "replace"),
      fc.boolean(),
      fc.array(flagArb, { maxLength: 4 }),
      fc.boolean(),
    ).map(([[uid, m, set], unchanged, mode, silent, flags, bare]): Body => {
      const useBare = bare && flags.length > 0;
      const command: Body["command"] = { name: "STORE", uid, set: set.value, mode, silent };
      command.flags = flags.map((f) => f.value);
      if (unchanged !== undefined) command.unchangedSince = unchanged;
      return {
        pieces: [
          uidPrefix(uid, m) + name("STORE", m),
          " ",
          ...set.pieces,
          unchanged === undefined ? " " : ` (UNCHANGEDSINCE ${unchanged}) `,
          (mode === "add" ? "+" : mode === "remove" ? "-" : "") +
          mixCase(silent ? "FLAGS.SILENT" : "FLAGS", m),
          " ",
          ...(useBare ? joined(flags) : listOf(flags)),
        ],
        command,
      };
    }),
    fc.tuple(setCommand, fc.constantFrom("COPY", "MOVE"), mailbox).map((
      [[uid, m, set], n, box],
    ): Body => ({
      pieces: [uidPrefix(uid, m) + name(n, m), " ", ...set.pieces, " ", ...box.pieces],
      command: { name: n, uid, set: set.value, mailbox: box.value },
    })),
    setCommand.map(([uid, m, set]): Body => ({
      pieces: uid ? [uidPrefix(uid, m) + name("EXPUNGE", m), " ", ...set.pieces] : [
        name("EXPUNGE", m),
      ],
      command: uid ? { name: "EXPUNGE", uid, set: set.value } : { name: "EXPUNGE", uid },
    })),
    fc.tuple(
      fc.boolean(),
      mask,
      fc.option(fc.uniqueArray(fc.constantFrom("MIN", "MAX", "ALL", "COUNT", "SAVE")), {
        nil: undefined,
      }),
      fc.option(fc.constantFrom("UTF-8", "utf-8", "US-ASCII"), { nil: undefined }),
      fc.array(searchKeyArb(u), { minLength: 1, maxLength: 3 }),
    ).map(([uid, m, returns, charset, keys]): Body => {
      const command: Body["command"] = {
        name: "SEARCH",
        uid,
        program: keys.length === 1 ? keys[0].value : { op: "and", keys: keys.map((k) => k.value) },
      };
      if (charset !== undefined) command.charset = charset;
      if (returns !== undefined) command.returns = returns.length === 0 ? ["ALL"] : returns;
      return {
        pieces: [
          uidPrefix(uid, m) + name("SEARCH", m),
          returns === undefined ? "" : ` RETURN (${returns.join(" ")})`,
          charset === undefined ? "" : ` CHARSET ${charset}`,
          " ",
          ...joined(keys),
        ],
        command,
      };
    }),
    fc.tuple(
      mask,
      mailbox,
      fc.array(
        fc.tuple(
          fc.option(fc.array(flagArb, { maxLength: 3 }), { nil: undefined }),
          fc.option(dateTime, { nil: undefined }),
          fc.uint8Array({ maxLength: 64 }),
          fc.constantFrom("sync" as const, "nonsync" as const, "binary" as const),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    ).map(([m, box, messages]): Body => {
      const pieces: Piece[] = [name("APPEND", m), " ", ...box.pieces];
      const values = messages.map(([flags, date, bytes, kind]) => {
        // A literal (not literal8) may not hold NUL (RFC 3501 §4.3).
        const message = kind === "binary" ? bytes : bytes.map((b) => (b === 0 ? 1 : b));
        pieces.push(" ");
        if (flags) pieces.push(...listOf(flags), " ");
        if (date) pieces.push(...date.pieces, " ");
        pieces.push({ literal: message, kind });
        const one: Record<string, unknown> = { message, binary: kind === "binary" };
        if (flags) one.flags = flags.map((f) => f.value);
        if (date) one.date = date.value;
        return one;
      });
      return { pieces, command: { name: "APPEND", mailbox: box.value, messages: values } };
    }),
    fc.tuple(
      mask,
      fc.array(fc.constantFrom("IMAP4rev2", "CONDSTORE", "utf8=accept", "X-Y"), {
        minLength: 1,
        maxLength: 3,
      }),
    ).map(([m, caps]): Body => ({
      pieces: [name("ENABLE", m), ...caps.map((c) => " " + c)],
      command: { name: "ENABLE", capabilities: caps.map((c) => c.toUpperCase()) },
    })),
    fc.tuple(
      mask,
      fc.option(
        fc.uniqueArray(
          fc.tuple(stringArb(u), fc.option(stringArb(u), { nil: null })),
          { maxLength: 3, selector: ([f]) => f.value },
        ),
        { nil: null },
      ),
    ).map(([m, params]): Body => {
      if (params === null) {
        return { pieces: [name("ID", m), " NIL"], command: { name: "ID", params: null } };
      }
      const record: Record<string, string | null> = {};
      const items: Piece[][] = params.map(([f, v]) => {
        record[f.value] = v === null ? null : v.value;
        return [...f.pieces, " ", ...(v === null ? ["NIL"] : v.pieces)];
      });
      return {
        pieces: [name("ID", m), " (", ...items.flatMap((p, i) => (i === 0 ? p : [" ", ...p])), ")"],
        command: { name: "ID", params: record },
      };
    }),
    fc.tuple(
      mask,
      astringArb(u),
      fc.array(
        fc.tuple(fc.constantFrom("STORAGE", "message"), fc.maxSafeNat()),
        { maxLength: 2 },
      ),
    ).map(([m, root, limits]): Body => ({
      pieces: [
        name("SETQUOTA", m),
        " ",
        ...root.pieces,
        ` (${limits.map(([r, n]) => `${r} ${n}`).join(" ")})`,
      ],
      command: {
        name: "SETQUOTA",
        root: root.value,
        limits: limits.map(([resource, limit]) => ({ resource: resource.toUpperCase(), limit })),
      },
    })),
    fc.tuple(mask, astringArb(u)).map(([m, root]): Body => ({
      pieces: [name("GETQUOTA", m), " ", ...root.pieces],
      command: { name: "GETQUOTA", root: root.value },
    })),
    fc.tuple(mask, mailbox).map(([m, box]): Body => ({
      pieces: [name("GETQUOTAROOT", m), " ", ...box.pieces],
      command: { name: "GETQUOTAROOT", mailbox: box.value },
    })),
  );
}

const bodiesByMode = [bodies(false), bodies(true)];

/** Valid IMAP commands with the parse they must give, in either UTF-8 mode. */
export const imapCommandArb: fc.Arbitrary<CommandCase> = fc.tuple(tagArb, fc.boolean()).chain((
  [tag, u],
) =>
  bodiesByMode[u ? 1 : 0].map((body) => ({
    pieces: [tag + " ", ...body.pieces],
    utf8: u,
    command: { tag, ...body.command } as ImapCommand,
  }))
);
