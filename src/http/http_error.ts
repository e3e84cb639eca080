/**
 * The HTTP API's one error type and its JSON form, `{"error": {"code", "message"}}`, with the
 * status and headers each kind needs (RFC 9110 §15; 429 from RFC 6585 §4).
 */

/** Machine-readable error codes, each with its HTTP status. */
export const ERROR_STATUS = {
  malformed_json: 400,
  invalid_request: 400,
  invalid_recipient: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  unavailable: 503,
} as const;

/** One of the codes. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error answered to the client as it is: code, message, status, extra headers. */
export class HttpError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }

  /** The HTTP status of the code. */
  get status(): number {
    return ERROR_STATUS[this.code];
  }

  /** The JSON response. */
  response(): Response {
    return jsonResponse(this.status, { error: { code: this.code, message: this.message } }, {
      ...this.headers,
    });
  }
}

/** A JSON response (UTF-8, never cached: every answer here is about live state). */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body, null, 2) + "\n", {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      ...headers,
    },
  });
}
