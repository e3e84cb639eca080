/**
 * Reads a request body up to a size limit and within a time limit: 413 as soon as the size is
 * exceeded (never buffered past it), 408 when the client trickles it slower than the deadline
 * (a slow body would otherwise hold its connection and memory indefinitely).
 */
import { HttpError } from "./http_error.ts";

/** The body's octets; HttpError "payload_too_large" beyond `limit`, "request_timeout" late. */
export async function readBody(
  request: Request,
  limit: number,
  deadlineMs: number,
): Promise<Uint8Array> {
  const tooLarge = () =>
    new HttpError(
      "payload_too_large",
      `the request body is larger than ${limit} octets (from limits.max_message_size)`,
    );
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge();
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HttpError(
            "request_timeout",
            `the body did not arrive within ${deadlineMs / 1000} s (limits.command_timeout)`,
          ),
        ),
      deadlineMs,
    );
  });
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), late]);
      if (done) break;
      total += value.length;
      if (total > limit) throw tooLarge();
      chunks.push(value);
    }
  } catch (err) {
    await reader.cancel().catch(() => {});
    if (err instanceof HttpError) throw err;
    // The stream fails only when the client's connection does: its fault, not a server error.
    throw new HttpError("invalid_request", "the connection broke before the body was complete");
  } finally {
    clearTimeout(timer);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
