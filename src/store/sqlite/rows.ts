/**
 * Decoding SQLite rows into the port's types. node:sqlite types every column as
 * `SQLOutputValue`; these accessors check the runtime type instead of casting, so a schema
 * mistake fails with the column's name rather than as a wrong value further up.
 */
import type { SQLOutputValue } from "node:sqlite";
import type { KeyWrap } from "../../crypto/message_seal.ts";
import {
  type Mailbox,
  type MailboxId,
  type MessageMeta,
  type SealedBody,
  type SealedMessage,
  SPECIAL_USES,
  type SpecialUse,
  type UserRecord,
} from "../mail_store.ts";

/** One row as node:sqlite returns it. */
export type Row = Record<string, SQLOutputValue>;

/** The integer in `column`; throws when it is missing or not a number. */
export function int(row: Row, column: string): number {
  const v = row[column];
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  throw new TypeError(`column ${column} is ${v === null ? "null" : typeof v}, not an integer`);
}

/** The text in `column`; throws when it is missing or not text. */
export function text(row: Row, column: string): string {
  const v = row[column];
  if (typeof v === "string") return v;
  throw new TypeError(`column ${column} is ${v === null ? "null" : typeof v}, not text`);
}

/** The blob in `column`; throws when it is missing or not a blob. */
export function blob(row: Row, column: string): Uint8Array {
  const v = row[column];
  if (v instanceof Uint8Array) return v;
  throw new TypeError(`column ${column} is ${v === null ? "null" : typeof v}, not a blob`);
}

/** The blob in `column`, or undefined when it is null. */
export function optionalBlob(row: Row, column: string): Uint8Array | undefined {
  return row[column] === null ? undefined : blob(row, column);
}

/**
 * The port's opaque id of a mailbox row: its integer id in decimal. Only this folder knows
 * that; see {@link rowIdOf} for the way back.
 */
export function mailboxIdOf(rowId: number): MailboxId {
  return String(rowId);
}

/**
 * The row id behind a port mailbox id, or undefined for a string this store never made (which
 * therefore names no mailbox).
 */
export function rowIdOf(id: MailboxId): number | undefined {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
  const n = Number(id);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A `users` row. */
export function toUser(row: Row): UserRecord {
  return {
    address: text(row, "address"),
    keys: blob(row, "keys"),
    createdAt: int(row, "created_at"),
  };
}

/** A `mailboxes` row. */
export function toMailbox(row: Row): Mailbox {
  return {
    id: mailboxIdOf(int(row, "id")),
    address: text(row, "address"),
    name: text(row, "name"),
    uidValidity: int(row, "uid_validity"),
    uidNext: int(row, "uid_next"),
    highestModSeq: int(row, "highest_modseq"),
    ...(row.special_use === null ? {} : { specialUse: toSpecialUse(text(row, "special_use")) }),
  };
}

/** The flags column: space-joined, since a flag is an IMAP atom and never holds a space. */
export function splitFlags(flags: string): string[] {
  return flags === "" ? [] : flags.split(" ");
}

/** A `messages` row without its content. */
export function toMessageMeta(row: Row): MessageMeta {
  return {
    mailboxId: mailboxIdOf(int(row, "mailbox_id")),
    uid: int(row, "uid"),
    size: int(row, "size"),
    internalDate: int(row, "internal_date"),
    flags: splitFlags(text(row, "flags")),
    modSeq: int(row, "modseq"),
  };
}

/**
 * A `messages` row joined with its body's `summary`, and with the body itself (column `data`)
 * when the query selected it.
 */
export function toSealedMessage(row: Row): SealedMessage {
  const sealed: SealedMessage = {
    ...toMessageMeta(row),
    wrappedKey: blob(row, "wrapped_key"),
    keyWrap: toKeyWrap(text(row, "key_wrap")),
  };
  const summary = optionalBlob(row, "summary");
  if (summary) sealed.summary = summary;
  if ("data" in row) sealed.body = blob(row, "data");
  return sealed;
}

/** A row of `uid, wrapped_key, key_wrap, data` of the mailbox `mailboxId`. */
export function toSealedBody(mailboxId: MailboxId, row: Row): SealedBody {
  return {
    mailboxId,
    uid: int(row, "uid"),
    wrappedKey: blob(row, "wrapped_key"),
    keyWrap: toKeyWrap(text(row, "key_wrap")),
    body: blob(row, "data"),
  };
}

function toSpecialUse(value: string): SpecialUse {
  const found = SPECIAL_USES.find((use) => use === value);
  if (found) return found;
  throw new TypeError(`column special_use is "${value}", not a special use`);
}

function toKeyWrap(value: string): KeyWrap {
  if (value === "rsa" || value === "sym") return value;
  throw new TypeError(`column key_wrap is "${value}", not rsa or sym`);
}
