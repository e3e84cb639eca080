/**
 * THREAD (RFC 5256 §3): the ORDEREDSUBJECT and REFERENCES algorithms, and the thread-list
 * syntax of the untagged THREAD response (§4). Pure. Trees are walked with explicit stacks, so
 * a long reply chain cannot exhaust the call stack.
 */
import { type BaseSubject, baseSubject, casemap, compareCodePoints } from "./subject.ts";

/** What threading needs of one message. */
export interface ThreadInput {
  /** The number the response shows: a sequence number, or a UID for UID THREAD. */
  id: number;
  /** The sequence number: the tie-break between equal dates. */
  seq: number;
  /** The sent date (Date:, else INTERNALDATE, RFC 5256 §3), ms since the epoch. */
  date: number;
  /** The Subject: value, RFC 2047-decoded; "" when absent. */
  subject: string;
  /** The first valid msg-id of Message-ID:, without its angle brackets. */
  messageId?: string;
  /** The msg-ids of References: (or else the first of In-Reply-To:), oldest first. */
  references: string[];
}

/** A node of a thread tree: a message, or a dummy (no `message`) holding siblings together. */
export interface ThreadNode {
  message?: ThreadInput;
  children: ThreadNode[];
}

/**
 * The msg-ids (`<left@right>`) of a header value, without brackets, white space and comments
 * inside them removed; ids without an "@" are not valid and are skipped.
 */
export function parseMessageIds(value: string): string[] {
  const out: string[] = [];
  for (const m of value.matchAll(/<([^<>]*)>/g)) {
    const id = m[1].replace(/\([^()]*\)/g, "").replace(/[ \t\r\n]+/g, "");
    const at = id.indexOf("@");
    if (at > 0 && at < id.length - 1) out.push(id);
  }
  return out;
}

/** Sent date, then sequence number (RFC 5256 §3). */
function compareMessages(a: ThreadInput, b: ThreadInput): number {
  return a.date - b.date || a.seq - b.seq;
}

/**
 * ORDEREDSUBJECT (RFC 5256 §3): messages sorted by base subject then sent date; each run of
 * one base subject is a thread whose first message is the parent of all the others; threads
 * ordered by the sent date of their first message.
 */
export function threadOrderedSubject(messages: readonly ThreadInput[]): ThreadNode[] {
  const keyed = messages.map((message) => ({
    message,
    subject: casemap(baseSubject(message.subject).subject),
  }));
  keyed.sort((a, b) =>
    compareCodePoints(a.subject, b.subject) || compareMessages(a.message, b.message)
  );
  const threads: ThreadNode[] = [];
  let last: string | undefined;
  for (const { message, subject } of keyed) {
    if (subject === last) threads.at(-1)!.children.push({ message, children: [] });
    else threads.push({ message, children: [] });
    last = subject;
  }
  return threads.sort((a, b) => compareMessages(a.message!, b.message!));
}

/** A container of the REFERENCES algorithm. */
interface Container {
  message?: ThreadInput;
  parent?: Container;
  children: Container[];
  /** Merged away into another dummy during subject grouping. */
  gone?: boolean;
}

function unlink(c: Container): void {
  const parent = c.parent;
  if (!parent) return;
  const i = parent.children.indexOf(c);
  if (i >= 0) parent.children.splice(i, 1);
  c.parent = undefined;
}

function link(parent: Container, child: Container): void {
  child.parent = parent;
  parent.children.push(child);
}

/** Whether `ancestor` is `c` or above it: linking `c` under `ancestor`'s child would loop. */
function isAncestor(ancestor: Container, c: Container): boolean {
  // Without children it is above nothing: the common case, and it keeps long chains linear.
  if (ancestor.children.length === 0) return ancestor === c;
  for (let p: Container | undefined = c; p; p = p.parent) if (p === ancestor) return true;
  return false;
}

/** Every container below the roots, parents before children. */
function descendants(roots: readonly Container[]): Container[] {
  const out: Container[] = [];
  const queue = [...roots];
  for (let i = 0; i < queue.length; i++) {
    out.push(queue[i]);
    queue.push(...queue[i].children);
  }
  return out;
}

/**
 * REFERENCES (RFC 5256 §3): threads from Message-ID and References (or In-Reply-To), with
 * dummies for messages that are referred to but absent, then roots grouped by base subject,
 * every level ordered by sent date.
 */
export function threadReferences(messages: readonly ThreadInput[]): ThreadNode[] {
  const byId = new Map<string, Container>();
  const all: Container[] = [];
  const container = (id: string): Container => {
    let c = byId.get(id);
    if (!c) {
      c = { children: [] };
      byId.set(id, c);
      all.push(c);
    }
    return c;
  };
  const ordered = [...messages].sort((a, b) => a.seq - b.seq);
  for (const message of ordered) {
    // Step 1A: a message without a Message-ID, or whose Message-ID is taken, gets a unique one.
    const known = message.messageId === undefined ? undefined : byId.get(message.messageId);
    let c: Container;
    if (message.messageId !== undefined && (!known || !known.message)) {
      c = container(message.messageId);
    } else {
      c = { children: [] };
      all.push(c);
    }
    c.message = message;
    // Step 1B: each reference is the parent of the next, unless already linked or a loop.
    let previous: Container | undefined;
    for (const ref of message.references) {
      const r = container(ref);
      if (previous && !r.parent && !isAncestor(r, previous)) link(previous, r);
      previous = r;
    }
    // Step 1C: the last reference is the message's parent; an older link is broken first.
    unlink(c);
    if (previous && !isAncestor(c, previous)) link(previous, c);
  }
  // Step 2: the root set.
  let roots = all.filter((c) => !c.parent);
  roots = prune(roots);
  roots = groupBySubject(roots);
  return sortTree(roots);
}

/**
 * Step 4: dummies without children go; a dummy's children take its place, except at the root
 * when there are several of them. Children are pruned before their parents.
 */
function prune(roots: Container[]): Container[] {
  const splice = (list: Container[], root: boolean): Container[] => {
    const out: Container[] = [];
    for (const c of list) {
      if (c.message || (root && c.children.length > 1)) out.push(c);
      else out.push(...c.children);
    }
    return out;
  };
  const nodes = descendants(roots);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    node.children = splice(node.children, false);
    for (const child of node.children) child.parent = node;
  }
  const out = splice(roots, true);
  for (const c of out) c.parent = undefined;
  return out;
}

/** The subject a root goes by: its message's, or a dummy's first child's. */
function rootSubject(c: Container): BaseSubject & { key: string } {
  const message = c.message ?? c.children[0]?.message;
  const base = baseSubject(message?.subject ?? "");
  return { ...base, key: casemap(base.subject) };
}

/** Step 5: roots with the same base subject are gathered under one. */
function groupBySubject(roots: Container[]): Container[] {
  const table = new Map<string, { c: Container; reply: boolean }>();
  for (const c of roots) {
    const { key, reply } = rootSubject(c);
    if (key === "") continue;
    const held = table.get(key);
    // A dummy wins over a message, and a message that is not a reply over one that is.
    if (
      !held || (!c.message && held.c.message) ||
      (c.message && held.c.message && held.reply && !reply)
    ) {
      table.set(key, { c, reply });
    }
  }
  const added: Container[] = [];
  for (const c of roots) {
    if (c.parent || c.gone) continue;
    const { key, reply } = rootSubject(c);
    const held = table.get(key);
    if (key === "" || !held || held.c === c) continue;
    const t = held.c;
    if (!t.message && !c.message) {
      // Both dummies: one holds all the children.
      for (const child of c.children) link(t, child);
      c.children = [];
      c.gone = true;
    } else if (!t.message) {
      link(t, c);
    } else if (!held.reply && reply) {
      link(t, c);
    } else {
      // Neither is evidently the other's reply: siblings under a new dummy.
      const dummy: Container = { children: [] };
      link(dummy, t);
      link(dummy, c);
      added.push(dummy);
      table.set(key, { c: dummy, reply: false });
    }
  }
  return [...roots, ...added].filter((c) => !c.parent && !c.gone);
}

/**
 * Step 6: every child list by sent date; a dummy goes by its first child after that child
 * list is sorted (RFC 5256 §3).
 */
function sortTree(roots: Container[]): ThreadNode[] {
  const first = new Map<Container, ThreadInput>();
  const nodes = descendants(roots);
  const byDate = (a: Container, b: Container) => compareMessages(first.get(a)!, first.get(b)!);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    node.children.sort(byDate);
    first.set(node, node.message ?? first.get(node.children[0])!);
  }
  roots.sort(byDate);
  const toNode = (c: Container): ThreadNode => {
    const node: ThreadNode = { children: [] };
    if (c.message) node.message = c.message;
    return node;
  };
  const made = new Map<Container, ThreadNode>();
  const out = roots.map((c) => {
    const node = toNode(c);
    made.set(c, node);
    return node;
  });
  for (const c of descendants(roots)) {
    const node = made.get(c)!;
    for (const child of c.children) {
      const n = toNode(child);
      made.set(child, n);
      node.children.push(n);
    }
  }
  return out;
}

/**
 * The thread lists of an untagged THREAD response (RFC 5256 §4), e.g. `(1 2)(3 (4)(5))`:
 * a single child continues its parent's list, several children are nested lists.
 */
export function renderThreads(roots: readonly ThreadNode[]): string {
  let out = "";
  const stack: (string | ThreadNode)[] = [];
  for (let i = roots.length - 1; i >= 0; i--) stack.push(")", roots[i], "(");
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item === "string") {
      out += item;
      continue;
    }
    const parts: (string | ThreadNode)[] = [];
    if (item.message) parts.push(String(item.message.id));
    if (item.message && item.children.length === 1) {
      parts.push(" ", item.children[0]);
    } else if (item.children.length > 0) {
      if (item.message) parts.push(" ");
      for (const child of item.children) parts.push("(", child, ")");
    }
    for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]);
  }
  return out;
}
