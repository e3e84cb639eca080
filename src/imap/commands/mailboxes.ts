/**
 * Mailbox management (RFC 9051 §6.3): CREATE (with USE, RFC 6154 §3), DELETE, RENAME,
 * SUBSCRIBE, UNSUBSCRIBE, STATUS, and the quota commands (RFC 9208).
 */
import {
  type MailboxStatus,
  SPECIAL_USES,
  type SpecialUse,
  StoreError,
} from "../../store/mail_store.ts";
import { invalidName, parentsOf, storeName, wireName } from "../mailbox_names.ts";
import type { ImapSession } from "../session.ts";
import { unclaimedRecent } from "../selected_mailbox.ts";
import { AUTH, no, ok, type PartialTable } from "./spec.ts";

/** The STATUS data of `status` for the items asked, e.g. `MESSAGES 3 UNSEEN 1`. */
export async function statusData(
  s: ImapSession,
  status: MailboxStatus,
  items: string[],
): Promise<string> {
  // RECENT needs the UIDs: only those no session has shown yet count (RFC 3501 §6.3.10).
  const recent = items.includes("RECENT")
    ? unclaimedRecent(
      status.id,
      status.uidValidity,
      (await s.ports.store.listMessages(status.id)).map((m) => m.uid),
    )
    : 0;
  const values: Record<string, number> = {
    MESSAGES: status.messages,
    UIDNEXT: status.uidNext,
    UIDVALIDITY: status.uidValidity,
    UNSEEN: status.unseen,
    RECENT: recent,
    HIGHESTMODSEQ: status.highestModSeq,
    SIZE: status.size,
    DELETED: status.deleted,
    APPENDLIMIT: s.ports.limits.maxMessageSize,
  };
  return items.filter((i) => i in values).map((i) => `${i} ${values[i]}`).join(" ");
}

/** Creates the missing parents of `name`, so no level of it is a hole in the hierarchy. */
async function ensureParents(s: ImapSession, name: string): Promise<void> {
  for (const parent of parentsOf(name)) {
    if (parent === "INBOX") continue;
    await s.ports.store.ensureMailbox(s.mail!.address, parent);
  }
}

/** Mailbox management commands. */
export const MAILBOX_COMMANDS: PartialTable<
  | "CREATE"
  | "DELETE"
  | "RENAME"
  | "SUBSCRIBE"
  | "UNSUBSCRIBE"
  | "STATUS"
  | "GETQUOTA"
  | "GETQUOTAROOT"
  | "SETQUOTA"
> = {
  /** RFC 9051 §6.3.4; RFC 6154 §3 CREATE-SPECIAL-USE. */
  CREATE: {
    states: AUTH,
    async handle(s, cmd) {
      const name = storeName(cmd.mailbox);
      if (name === "INBOX") return no("INBOX always exists", "ALREADYEXISTS");
      const invalid = invalidName(name);
      if (invalid) return no(invalid, "CANNOT");
      const uses = cmd.specialUse ?? [];
      if (uses.length > 1) return no("One special use per mailbox", "USEATTR");
      const use = uses[0] as SpecialUse | undefined;
      if (use !== undefined && !SPECIAL_USES.includes(use)) {
        return no(`Unsupported special use ${use}`, "USEATTR");
      }
      const store = s.ports.store;
      if (await store.getMailbox(s.mail!.address, name)) {
        return no("Mailbox exists", "ALREADYEXISTS");
      }
      await ensureParents(s, name);
      try {
        await store.createMailbox(s.mail!.address, name, use);
      } catch (err) {
        if (err instanceof StoreError && err.code === "exists") {
          return no("Mailbox exists", "ALREADYEXISTS");
        }
        throw err;
      }
      return ok("CREATE completed");
    },
  },
  /** RFC 9051 §6.3.5: mailboxes below it stay. */
  DELETE: {
    states: AUTH,
    async handle(s, cmd) {
      const name = storeName(cmd.mailbox);
      if (name === "INBOX") return no("INBOX cannot be deleted", "CANNOT");
      const box = await s.ports.store.getMailbox(s.mail!.address, name);
      if (!box) return no("No such mailbox", "NONEXISTENT");
      if (s.selected?.id === box.id) s.deselect();
      try {
        await s.ports.store.deleteMailbox(s.mail!.address, name);
      } catch (err) {
        if (err instanceof StoreError && err.code === "not-found") {
          return no("No such mailbox", "NONEXISTENT");
        }
        throw err;
      }
      return ok("DELETE completed");
    },
  },
  /** RFC 9051 §6.3.6: children move along; renaming INBOX moves its messages. */
  RENAME: {
    states: AUTH,
    async handle(s, cmd) {
      const from = storeName(cmd.from);
      const to = storeName(cmd.to);
      const invalid = invalidName(to);
      if (invalid) return no(invalid, "CANNOT");
      if (to === "INBOX") return no("INBOX exists", "ALREADYEXISTS");
      if (to === from || to.startsWith(from + "/")) {
        return no("Cannot rename a mailbox into itself", "CANNOT");
      }
      const store = s.ports.store;
      if (!(await store.getMailbox(s.mail!.address, from))) {
        return no("No such mailbox", "NONEXISTENT");
      }
      if (await store.getMailbox(s.mail!.address, to)) return no("Mailbox exists", "ALREADYEXISTS");
      await ensureParents(s, to);
      try {
        await store.renameMailbox(s.mail!.address, from, to);
      } catch (err) {
        if (err instanceof StoreError && err.code === "exists") {
          return no("Mailbox exists", "ALREADYEXISTS");
        }
        if (err instanceof StoreError && err.code === "not-found") {
          return no("No such mailbox", "NONEXISTENT");
        }
        throw err;
      }
      return ok("RENAME completed");
    },
  },
  /** RFC 9051 §6.3.7. */
  SUBSCRIBE: {
    states: AUTH,
    async handle(s, cmd) {
      const name = storeName(cmd.mailbox);
      const invalid = invalidName(name);
      if (invalid) return no(invalid, "CANNOT");
      await s.ports.store.setSubscribed(s.mail!.address, name, true);
      return ok("SUBSCRIBE completed");
    },
  },
  /** RFC 9051 §6.3.8. */
  UNSUBSCRIBE: {
    states: AUTH,
    async handle(s, cmd) {
      await s.ports.store.setSubscribed(s.mail!.address, storeName(cmd.mailbox), false);
      return ok("UNSUBSCRIBE completed");
    },
  },
  /** RFC 9051 §6.3.11. */
  STATUS: {
    states: AUTH,
    async handle(s, cmd) {
      const box = await s.ports.store.getMailbox(s.mail!.address, storeName(cmd.mailbox));
      if (!box) return no("No such mailbox", "NONEXISTENT");
      const status = await s.ports.store.mailboxStatus(box.id);
      if (!status) return no("No such mailbox", "NONEXISTENT");
      if (cmd.items.includes("HIGHESTMODSEQ")) s.enableCondstore();
      s.untagged(
        `STATUS ${wireName(box.name, s.utf8)} (${await statusData(s, status, cmd.items)})`,
      );
      return ok("STATUS completed");
    },
  },
  /** RFC 9208 §4.2: the one quota root "" covers all of the user's mail. */
  GETQUOTA: {
    states: AUTH,
    async handle(s, cmd) {
      if (quotaOff(s) || cmd.root !== "") return no("No such quota root", "NONEXISTENT");
      await writeQuota(s);
      return ok("GETQUOTA completed");
    },
  },
  /** RFC 9208 §4.3. */
  GETQUOTAROOT: {
    states: AUTH,
    async handle(s, cmd) {
      const name = storeName(cmd.mailbox);
      const box = await s.ports.store.getMailbox(s.mail!.address, name);
      if (!box) return no("No such mailbox", "NONEXISTENT");
      if (quotaOff(s)) {
        s.untagged(`QUOTAROOT ${wireName(name, s.utf8)}`);
      } else {
        s.untagged(`QUOTAROOT ${wireName(name, s.utf8)} ""`);
        await writeQuota(s);
      }
      return ok("GETQUOTAROOT completed");
    },
  },
  /** RFC 9208 §4.1: limits come from the server's config (`[quota] max_octets`). */
  SETQUOTA: {
    states: AUTH,
    handle() {
      return Promise.resolve(no("Quotas are set in the server's configuration", "NOPERM"));
    },
  },
};

/** `* QUOTA "" (STORAGE used limit)`, in units of 1024 octets (RFC 9208 §5.1). */
async function writeQuota(s: ImapSession): Promise<void> {
  const used = await s.ports.store.usage(s.mail!.address);
  const limit = s.ports.limits.quotaOctets;
  s.untagged(`QUOTA "" (STORAGE ${Math.ceil(used / 1024)} ${Math.floor(limit / 1024)})`);
}

/** True when no quota is configured (QUOTA is then not advertised). */
function quotaOff(s: ImapSession): boolean {
  return s.ports.limits.quotaOctets <= 0;
}
