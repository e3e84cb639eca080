/**
 * LIST and LSUB (RFC 9051 §6.3.9, RFC 3501 §6.3.8–9) with LIST-EXTENDED selection and return
 * options (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE (RFC 6154) and CHILDREN (RFC 3348).
 */
import type { Mailbox } from "../../store/mail_store.ts";
import { MAILBOX_DELIMITER } from "../../store/mail_store.ts";
import { parentsOf, wireName } from "../mailbox_names.ts";
import { statusData } from "./mailboxes.ts";
import { AUTH, ok, type PartialTable } from "./spec.ts";

/** A name to report: an existing mailbox, or a level that exists only above others. */
interface Entry {
  name: string;
  box?: Mailbox;
  subscribed: boolean;
  hasChildren: boolean;
  /** RECURSIVEMATCH: a child matches the selection though this name does not. */
  childSubscribed?: boolean;
}

/**
 * A LIST pattern as a matcher (RFC 3501 §6.3.8): `*` matches anything, `%` anything but the
 * delimiter. INBOX matches whatever its case in the pattern.
 */
export function patternMatcher(reference: string, pattern: string): (name: string) => boolean {
  const full = reference + pattern;
  const source = full.replace(/[.+?^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/%/g, `[^${MAILBOX_DELIMITER}]*`);
  const re = new RegExp(`^${source}$`, "s");
  const inboxFirst = /^inbox(?=$|\/)/i.test(full)
    ? new RegExp(`^INBOX${source.slice(5)}$`, "s")
    : undefined;
  return (name) => re.test(name) || (inboxFirst?.test(name) ?? false);
}

/** Every name the user has: mailboxes plus the levels above them that are not mailboxes. */
function entries(boxes: Mailbox[], subscriptions: Set<string>): Map<string, Entry> {
  const all = new Map<string, Entry>();
  for (const box of boxes) {
    all.set(box.name, {
      name: box.name,
      box,
      subscribed: subscriptions.has(box.name),
      hasChildren: false,
    });
  }
  for (const name of [...all.keys(), ...subscriptions]) {
    for (const parent of parentsOf(name)) {
      const entry = all.get(parent) ??
        { name: parent, subscribed: subscriptions.has(parent), hasChildren: false };
      entry.hasChildren ||= all.has(name);
      all.set(parent, entry);
    }
  }
  for (const name of subscriptions) {
    if (!all.has(name)) all.set(name, { name, subscribed: true, hasChildren: false });
  }
  return all;
}

/**
 * The attributes of an entry (RFC 9051 §7.3.1). Child attributes go with a plain LIST and
 * with RETURN (CHILDREN); an extended LIST without it gets none (RFC 5258 §4).
 */
function attributes(
  e: Entry,
  extended: boolean,
  withSubscribed: boolean,
  withChildren: boolean,
): string[] {
  const attrs: string[] = [];
  if (!e.box) attrs.push(extended ? "\\NonExistent" : "\\Noselect");
  if (withChildren && (e.box || e.hasChildren)) {
    attrs.push(e.hasChildren ? "\\HasChildren" : "\\HasNoChildren");
  }
  if (withSubscribed && e.subscribed) attrs.push("\\Subscribed");
  if (e.box?.specialUse) attrs.push(e.box.specialUse);
  return attrs;
}

/** LIST and LSUB. */
export const LIST_COMMANDS: PartialTable<"LIST" | "LSUB"> = {
  /** RFC 9051 §6.3.9, RFC 5258. */
  LIST: {
    states: AUTH,
    async handle(s, cmd) {
      // An empty pattern asks for the delimiter and the root (RFC 3501 §6.3.8).
      if (cmd.patterns.length === 1 && cmd.patterns[0] === "" && !cmd.extended) {
        s.untagged(`LIST (\\Noselect) "${MAILBOX_DELIMITER}" ""`);
        return ok("LIST completed");
      }
      const address = s.mail!.address;
      const store = s.ports.store;
      const boxes = await store.listMailboxes(address);
      const subscriptions = new Set(await store.listSubscriptions(address));
      const all = entries(boxes, subscriptions);
      const matchers = cmd.patterns.map((p) => patternMatcher(cmd.reference, p));
      const matches = (name: string) => matchers.some((m) => m(name));
      const onlySubscribed = cmd.selection.includes("SUBSCRIBED");
      const onlySpecial = cmd.selection.includes("SPECIAL-USE");
      const recursive = cmd.selection.includes("RECURSIVEMATCH");
      const extended = cmd.extended || s.enabled.rev2;
      const showSubscribed = onlySubscribed || cmd.returns.subscribed;
      const plain = cmd.selection.length === 0 && !cmd.returns.subscribed && !cmd.returns.status;
      const showChildren = plain || cmd.returns.children;

      const chosen: Entry[] = [];
      for (const e of [...all.values()].sort((a, b) => compareNames(a.name, b.name))) {
        if (!matches(e.name)) continue;
        let selected = true;
        if (onlySubscribed && !e.subscribed) selected = false;
        if (onlySpecial && !e.box?.specialUse) selected = false;
        if (!selected && recursive && onlySubscribed) {
          // RFC 5258 §3.5: CHILDINFO only for children the patterns do not return themselves.
          const prefix = e.name + MAILBOX_DELIMITER;
          if ([...subscriptions].some((n) => n.startsWith(prefix) && !matches(n))) {
            chosen.push({ ...e, childSubscribed: true });
          }
          continue;
        }
        // A level that is neither a mailbox nor subscribed shows only in a plain LIST.
        if (!selected || (!e.box && onlySubscribed && !e.subscribed)) continue;
        chosen.push(e);
      }
      for (const e of chosen) {
        const attrs = attributes(e, extended, showSubscribed, showChildren);
        const childInfo = e.childSubscribed ? ` ("CHILDINFO" ("SUBSCRIBED"))` : "";
        s.untagged(
          `LIST (${attrs.join(" ")}) "${MAILBOX_DELIMITER}" ${
            wireName(e.name, s.utf8)
          }${childInfo}`,
        );
        // RFC 5819: STATUS right after the LIST of each selectable mailbox.
        if (cmd.returns.status && e.box) {
          const status = await store.mailboxStatus(e.box.id);
          if (status) {
            const data = await statusData(s, status, cmd.returns.status);
            s.untagged(`STATUS ${wireName(e.name, s.utf8)} (${data})`);
          }
        }
      }
      return ok("LIST completed");
    },
  },
  /** RFC 3501 §6.3.9 (deprecated in RFC 9051, kept for IMAP4rev1 clients). */
  LSUB: {
    states: AUTH,
    async handle(s, cmd) {
      const address = s.mail!.address;
      const store = s.ports.store;
      const existing = new Set((await store.listMailboxes(address)).map((b) => b.name));
      const subscriptions = await store.listSubscriptions(address);
      const match = patternMatcher(cmd.reference, cmd.pattern);
      const shown = new Map<string, string[]>();
      for (const name of subscriptions) {
        if (match(name)) {
          shown.set(name, existing.has(name) ? [] : ["\\Noselect"]);
          continue;
        }
        // "%" can stop above a subscribed child: that level is listed as \Noselect.
        for (const parent of parentsOf(name)) {
          if (match(parent) && !shown.has(parent)) shown.set(parent, ["\\Noselect"]);
        }
      }
      for (const [name, attrs] of [...shown].sort((a, b) => compareNames(a[0], b[0]))) {
        s.untagged(`LSUB (${attrs.join(" ")}) "${MAILBOX_DELIMITER}" ${wireName(name, s.utf8)}`);
      }
      return ok("LSUB completed");
    },
  },
};

/** INBOX first, then by name. */
function compareNames(a: string, b: string): number {
  if (a === "INBOX") return -1;
  if (b === "INBOX") return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
