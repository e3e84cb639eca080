/** curl against fsmtp's HTTP server: each call one real curl process, its answer parsed. */
import { runProgram } from "./test_server.ts";

/** What curl received. */
export interface CurlAnswer {
  status: number;
  /** Lower-cased names; the last value of a repeated field. */
  headers: Record<string, string>;
  body: string;
}

/**
 * Runs `curl -sS -i` with `args` (a URL among them) and parses the response; `Expect:` is
 * sent empty so a large body gets no 100-continue round first.
 */
export async function curl(args: string[], stdin?: string | Uint8Array): Promise<CurlAnswer> {
  const r = await runProgram("curl", ["-sS", "-i", "-H", "Expect:", ...args], stdin);
  if (r.code !== 0) throw new Error(`curl ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  const cut = r.stdout.indexOf("\r\n\r\n");
  const head = r.stdout.slice(0, cut).split("\r\n");
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head[0])?.[1]);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: r.stdout.slice(cut + 4) };
}

/** The JSON body of an answer. */
export function json<T = Record<string, unknown>>(answer: CurlAnswer): T {
  try {
    return JSON.parse(answer.body) as T;
  } catch {
    throw new Error(`not JSON (${answer.status}): ${answer.body}`);
  }
}
