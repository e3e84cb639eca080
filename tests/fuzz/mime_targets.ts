/**
 * Fuzz targets for the MIME structure parser (src/mime/structure.ts) and the summary codec
 * (src/mime/summary.ts): a generated MIME tree parses back to its shape with each leaf's body at
 * the right offsets; any octets give a structure whose offsets nest within the message; a
 * summary round trips through its encoding; and `decodeSummary` answers garbage with an Error of
 * its own ("summary: …"), never another exception.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type MimePart, parseStructure } from "../../src/mime/structure.ts";
import {
  buildSummary,
  decodeSummary,
  encodeSummary,
  type MessageSummary,
} from "../../src/mime/summary.ts";
import {
  concat,
  type FuzzTarget,
  mixCase,
  target,
  timed,
  utf8,
  validAndMutated,
} from "./harness.ts";

/** A MIME tree to render. */
type Node =
  | { kind: "leaf"; type: string; subtype: string; body: string }
  | { kind: "multipart"; subtype: string; children: Node[] }
  | { kind: "message"; inner: Node };

// Body lines never start with "-", so no line of a body can be taken for a boundary.
const bodyLine = fc.array(fc.constantFrom("a", "b", " ", "=", ".", "é", "\t", "Z"), {
  maxLength: 20,
}).map((a) => a.join(""));
const body = fc.array(bodyLine, { maxLength: 4 }).map((l) => l.join("\r\n"));

const { node } = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.tuple(
      fc.constantFrom(["text", "plain"], ["text", "html"], ["application", "octet-stream"], [
        "image",
        "png",
      ]),
      body,
    ).map(([[type, subtype], b]): Node => ({ kind: "leaf", type, subtype, body: b })),
    fc.tuple(
      fc.constantFrom("mixed", "alternative", "related"),
      fc.array(tie("node"), { maxLength: 3 }),
    ).map((
      [subtype, children],
    ): Node => ({ kind: "multipart", subtype, children })),
    tie("node").map((inner): Node => ({ kind: "message", inner })),
  ),
}));

/** Renders a part (header and body); boundaries are numbered and of one length, so none is a prefix of another. */
function render(n: Node, next: { id: number }, caseMask: number): string {
  const ct = (t: string) => `${mixCase("Content-Type", caseMask)}: ${t}`;
  switch (n.kind) {
    case "leaf":
      return `${ct(`${n.type}/${n.subtype}`)}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${n.body}`;
    case "message":
      return `${ct("message/rfc822")}\r\n\r\nSubject: inner\r\n${render(n.inner, next, caseMask)}`;
    case "multipart": {
      const b = `=_b${String(next.id++).padStart(6, "0")}`;
      const parts = n.children.map((c) => `--${b}\r\n${render(c, next, caseMask)}\r\n`).join("");
      return `${
        ct(`multipart/${n.subtype}; boundary="${b}"`)
      }\r\n\r\npreamble\r\n${parts}--${b}--\r\nepilogue`;
    }
  }
}

/** Checks the parsed part against the tree it was rendered from. */
function assertShape(msg: Uint8Array, part: MimePart, n: Node): void {
  switch (n.kind) {
    case "leaf":
      assert.deepEqual([part.type, part.subtype], [n.type, n.subtype]);
      assert.deepEqual(
        msg.subarray(part.headerEnd, part.bodyEnd),
        utf8(n.body),
        "leaf body offsets",
      );
      return;
    case "message":
      assert.deepEqual([part.type, part.subtype], ["message", "rfc822"]);
      assert.ok(part.message, "no encapsulated message");
      return assertShape(msg, part.message, n.inner);
    case "multipart":
      assert.deepEqual([part.type, part.subtype], ["multipart", n.subtype]);
      assert.equal(part.children.length, n.children.length, "child count");
      part.children.forEach((c, i) => assertShape(msg, c, n.children[i]));
  }
}

/**
 * Offsets are ordered and within the message; with `strict`, every part also lies within its
 * parent's body, children in order without overlap.
 */
function assertNested(
  part: MimePart,
  from: number,
  to: number,
  depth: number,
  strict: boolean,
): number {
  assert.ok(from <= part.headerStart && part.headerStart <= part.headerEnd, "header offsets");
  assert.ok(part.headerEnd <= part.bodyEnd && part.bodyEnd <= to, "body offsets");
  const end = strict ? part.bodyEnd : to;
  assert.ok(depth <= 2 * 100 + 2, "nested deeper than MAX_DEPTH");
  assert.ok(part.type !== "" && part.type === part.type.toLowerCase(), `type ${part.type}`);
  assert.equal(part.subtype, part.subtype.toLowerCase());
  let parts = 1;
  let at = part.headerEnd;
  for (const child of part.children) {
    parts += assertNested(child, strict ? at : 0, end, depth + 1, strict);
    at = child.bodyEnd;
  }
  if (part.message) {
    parts += assertNested(part.message, strict ? part.headerEnd : 0, end, depth + 1, strict);
  }
  return parts;
}

const generated = fc.tuple(node, fc.nat()).map(([n, mask]) => ({
  node: n,
  message: utf8(
    `From: a@b.example\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n${render(n, { id: 0 }, mask)}`,
  ),
}));

const anyMessage = validAndMutated(generated.map((g) => g.message));

/** Mutations that keep the encoding's frame but change its JSON: values swapped, removed, added. */
const jsonMutation = fc.tuple(
  fc.nat(),
  fc.constantFrom<unknown>(
    null,
    -1,
    1.5,
    2 ** 60,
    "x",
    [],
    {},
    [1, 2, 3, 4],
    ["a", "b", "c"],
    true,
  ),
  fc.constantFrom("o", "t", "p", "c", "r", "x", "g", "i", "d", "__proto__", "s"),
);

function mutateJson(
  encoded: Uint8Array,
  [pick, value, key]: [number, unknown, string],
): Uint8Array {
  const length = new DataView(encoded.buffer, encoded.byteOffset).getUint32(1);
  const json = JSON.parse(new TextDecoder().decode(encoded.subarray(5, 5 + length)));
  const objects: Record<string, unknown>[] = [];
  const walk = (v: unknown) => {
    if (typeof v !== "object" || v === null) return;
    if (!Array.isArray(v)) objects.push(v as Record<string, unknown>);
    for (const x of Object.values(v)) walk(x);
  };
  walk(json);
  const target = objects[pick % objects.length];
  if (pick % 3 === 0) delete target[key];
  else target[key] = value;
  const text = utf8(JSON.stringify(json));
  const head = new Uint8Array(5);
  head[0] = encoded[0];
  new DataView(head.buffer).setUint32(1, text.length);
  return concat(head, text, encoded.subarray(5 + length));
}

const encodedSummary = anyMessage.map((m) => encodeSummary(buildSummary(m)));
const garbage = fc.oneof(
  validAndMutated(encodedSummary),
  fc.tuple(encodedSummary, jsonMutation).map(([e, m]) => mutateJson(e, m)),
);

/** The MIME targets. */
export const mimeTargets: FuzzTarget[] = [
  target("mime", "structure-generated", [generated], ({ node, message }) => {
    const root = timed(() => parseStructure(message));
    assertShape(message, root, node);
  }),
  target("mime", "structure-any", [anyMessage], (message) => {
    const root = timed(() => parseStructure(message));
    assert.equal(root.headerStart, 0);
    assertNested(root, 0, message.length, 0, false);
  }),
  target(
    "mime",
    "structure-nesting",
    [anyMessage],
    (message) => {
      assertNested(timed(() => parseStructure(message)), 0, message.length, 0, true);
    },
  ),
  target("mime", "summary-roundtrip", [anyMessage], (message) => {
    const summary = timed(() => buildSummary(message));
    assert.deepEqual(decodeSummary(encodeSummary(summary)), summary);
  }),
  target("mime", "summary-garbage", [garbage], (bytes) => {
    let decoded: MessageSummary;
    try {
      decoded = timed(() => decodeSummary(bytes));
    } catch (error) {
      // decodeSummary promises its own Error for anything it did not write.
      assert.ok(error instanceof Error && error.constructor === Error, `threw ${String(error)}`);
      assert.match(error.message, /^summary: /);
      return;
    }
    assert.deepEqual(
      decodeSummary(encodeSummary(decoded)),
      decoded,
      "a decoded summary does not round trip",
    );
  }),
];
