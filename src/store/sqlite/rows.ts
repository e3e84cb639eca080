/**
 * Decoding SQLite rows into the port's types. node:sqlite types every column as
 * `SQLOutputValue`; these accessors check the runtime type instead of casting, so a schema
 * mistake fails with the column's name rather than as a wrong value further up.
 */
import type { SQLOutputValue } from "node:sqlite";
import type { KeyWrap, Mailbox, MessageMeta, SealedMessage, UserRecord } from "../mail_store.ts";

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
    id: int(row, "id"),
    address: text(row, "address"),
    name: text(row, "name"),
    uidValidity: int(row, "uid_validity"),
    uidNext: int(row, "uid_next"),
    highestModSeq: int(row, "highest_modseq"),
  };
}

/** The flags column: space-joined, since a flag is an IMAP atom and never holds a space. */
export function splitFlags(flags: string): string[] {
  return flags === "" ? [] : flags.split(" ");
}

/** A `messages` row without its content. */
export function toMessageMeta(row: Row): MessageMeta {
  return {
    id: int(row, "id"),
    mailboxId: int(row, "mailbox_id"),
    uid: int(row, "uid"),
    size: int(row, "size"),
    internalDate: int(row, "internal_date"),
    flags: splitFlags(text(row, "flags")),
    modSeq: int(row, "modseq"),
  };
}

/** A `messages` row joined with its body (column `data`). */
export function toSealedMessage(row: Row): SealedMessage {
  return {
    ...toMessageMeta(row),
    body: blob(row, "data"),
    wrappedKey: blob(row, "wrapped_key"),
    keyWrap: toKeyWrap(text(row, "key_wrap")),
  };
}

function toKeyWrap(value: string): KeyWrap {
  if (value === "rsa" || value === "sym") return value;
  throw new TypeError(`column key_wrap is "${value}", not rsa or sym`);
}
