/**
 * Base subject extraction (RFC 5256 §2.1) and the i;ascii-casemap collation (RFC 4790 §9.2)
 * that SORT and THREAD compare strings with (RFC 5256 §3). Pure.
 */

/** A base subject, and whether extracting it showed the message to be a reply or forward. */
export interface BaseSubject {
  /** The base subject, as written (not case-folded). */
  subject: string;
  /**
   * A `Re:`/`Fwd:` leader, a `(fwd)` trailer or a `[fwd: ...]` wrapper was removed: RFC 5256
   * §3 REFERENCES step 5 treats the message as a reply or forward.
   */
  reply: boolean;
}

// RFC 5256 §5: subj-leader = (*subj-blob subj-refwd) / WSP, where
// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" and subj-blob = "[" *BLOBCHAR "]" *WSP.
// White space is already collapsed to single spaces here.
const LEADER = /^(?:\[[^[\]]*\] ?)*(?:re|fwd?) ?(?:\[[^[\]]*\] ?)?:/i;
const BLOB = /^\[[^[\]]*\] ?/;
const TRAILER = /\(fwd\)$/i;

/**
 * The base subject of a decoded (RFC 2047, step 1's conversion to UTF-8) Subject value,
 * RFC 5256 §2.1 steps 1-6.
 */
export function baseSubject(decoded: string): BaseSubject {
  // Step 1: folding removed, runs of white space become one space.
  let s = decoded.replace(/\r?\n/g, "").replace(/[ \t\r\n]+/g, " ");
  let reply = false;
  for (;;) {
    // Step 2: trailing "(fwd)" and white space, repeatedly.
    for (;;) {
      if (s.endsWith(" ")) s = s.slice(0, -1);
      else if (TRAILER.test(s)) {
        s = s.slice(0, -5);
        reply = true;
      } else break;
    }
    // Steps 3-5: leaders, then one leading blob unless nothing would be left; again while
    // either removed something.
    for (;;) {
      if (s.startsWith(" ")) {
        s = s.slice(1);
        continue;
      }
      const leader = LEADER.exec(s);
      if (leader) {
        s = s.slice(leader[0].length);
        reply = true;
        continue;
      }
      const blob = BLOB.exec(s);
      if (blob && blob[0].length < s.length) {
        s = s.slice(blob[0].length);
        continue;
      }
      break;
    }
    // Step 6: "[fwd:" subj-base "]" is unwrapped, and extraction starts again at step 2;
    // subj-base (§5) is not empty.
    const inner = s.slice(5, -1);
    if (s.slice(0, 5).toLowerCase() === "[fwd:" && s.endsWith("]") && inner.trim() !== "") {
      s = inner;
      reply = true;
      continue;
    }
    return { subject: s, reply };
  }
}

/** i;ascii-casemap (RFC 4790 §9.2): a-z become A-Z, every other character stays. */
export function casemap(s: string): string {
  return s.replace(/[a-z]+/g, (run) => run.toUpperCase());
}

/**
 * Orders two strings by i;ascii-casemap: case-mapped, then compared character by character
 * in Unicode code point order, which is the octet order of their UTF-8 forms.
 */
export function compareCasemap(a: string, b: string): number {
  return compareCodePoints(casemap(a), casemap(b));
}

/** Code point order (UTF-16 code unit order differs for astral characters). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const surrogateX = x >= 0xd800 && x <= 0xdfff;
    const surrogateY = y >= 0xd800 && y <= 0xdfff;
    // A surrogate stands for a code point above U+FFFF, so it is the greater one.
    if (surrogateX !== surrogateY) return surrogateX ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}
