/**
 * A typed route table: each route names its method, a path pattern with `{param}` segments,
 * and its handler. Matching is pure; a path that exists with another method answers 405 with
 * `Allow` (RFC 9110 §15.5.6), one that does not exist 404.
 */
import { HttpError } from "./http_error.ts";

/** What a handler gets besides the request. */
export interface RouteContext {
  /** The `{param}` values of the pattern, decoded. */
  params: Record<string, string>;
  url: URL;
  /** The client's address. */
  remoteAddress: string;
}

/** One route. */
export interface Route {
  method: "GET" | "POST" | "HEAD";
  /** `/api/v1/messages/{id}`: literal segments and `{name}` parameters. */
  pattern: string;
  /** A short name for metrics and logs (`messages.send`). */
  name: string;
  handler(request: Request, ctx: RouteContext): Promise<Response> | Response;
}

/** The outcome of matching a request against the table. */
export type Match =
  | { route: Route; params: Record<string, string> }
  | { allow: string[] };

/** Matches `method` and `path`; `{ allow: [] }` when no route has the path. */
export function matchRoute(routes: readonly Route[], method: string, path: string): Match {
  const allow = new Set<string>();
  for (const route of routes) {
    const params = matchPattern(route.pattern, path);
    if (!params) continue;
    if (route.method === method || (method === "HEAD" && route.method === "GET")) {
      return { route, params };
    }
    allow.add(route.method);
    if (route.method === "GET") allow.add("HEAD");
  }
  return { allow: [...allow].sort() };
}

/** The handler for a request: the route's, or a 404/405 error. */
export function routeOrError(
  routes: readonly Route[],
  method: string,
  path: string,
): { route: Route; params: Record<string, string> } {
  const match = matchRoute(routes, method, path);
  if ("route" in match) return match;
  if (match.allow.length === 0) throw new HttpError("not_found", `no resource at ${path}`);
  throw new HttpError(
    "method_not_allowed",
    `${method} is not allowed on ${path}; use ${match.allow.join(", ")}`,
    { allow: match.allow.join(", ") },
  );
}

function matchPattern(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i];
    if (w.startsWith("{") && w.endsWith("}")) {
      if (got[i] === "") return undefined;
      try {
        params[w.slice(1, -1)] = decodeURIComponent(got[i]);
      } catch {
        return undefined;
      }
    } else if (w !== got[i]) return undefined;
  }
  return params;
}
