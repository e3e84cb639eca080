/**
 * Reads mail back from a server's store file the way a logged-in user would: through the store
 * and the user's password. The store is opened, used and closed per call so the server process
 * keeps ownership of the file between calls.
 */
import { MailboxReader } from "../../src/mail/mailbox_reader.ts";
import { SqliteMailStore } from "../../src/store/sqlite/sqlite_store.ts";

/** Number of messages in a user's INBOX (needs no password: counts are in clear). */
export async function countMessages(dbPath: string, address: string): Promise<number> {
  const store = SqliteMailStore.open(dbPath);
  try {
    const box = await store.getMailbox(address, "INBOX");
    return box ? (await store.listMessages(box.id)).length : 0;
  } finally {
    await store.close();
  }
}

/** Every message in a user's mailbox, decrypted with `password`, in UID order. */
export async function readMailbox(
  dbPath: string,
  address: string,
  password: string,
  mailbox = "INBOX",
): Promise<Uint8Array[]> {
  const store = SqliteMailStore.open(dbPath);
  try {
    const reader = await MailboxReader.open(store, address, password);
    if (!reader) throw new Error(`cannot unlock ${address}`);
    const out: Uint8Array[] = [];
    for (const m of await reader.list(mailbox)) out.push(await reader.read(m.mailboxId, m.uid));
    return out;
  } finally {
    await store.close();
  }
}

/** Every message in a user's INBOX, decrypted with `password`, in UID order. */
export function readInbox(dbPath: string, address: string, password: string) {
  return readMailbox(dbPath, address, password);
}

/** Like `readMailbox`, as text. */
export async function readMailboxText(
  dbPath: string,
  address: string,
  password: string,
  mailbox = "INBOX",
): Promise<string[]> {
  return (await readMailbox(dbPath, address, password, mailbox)).map((m) =>
    new TextDecoder().decode(m)
  );
}

/**
 * The message as the client sent it: the trace and check headers this server prepends
 * (Return-Path, Authentication-Results, Received-SPF, Received) removed.
 */
export function withoutTrace(message: Uint8Array): Uint8Array {
  const text = new TextDecoder("latin1").decode(message);
  const m =
    /^Return-Path: [^\r\n]*\r\n(?:(?:Authentication-Results|Received-SPF): [^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\n)*Received: [^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\n/
      .exec(text);
  if (!m) throw new Error("message does not start with the server's trace headers");
  return message.subarray(m[0].length);
}
