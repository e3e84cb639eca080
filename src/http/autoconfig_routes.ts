/**
 * The autoconfig URLs clients ask: Thunderbird's (on the domain's `autoconfig.` host, and
 * under `/.well-known/` on the domain itself), Outlook's autodiscover (POST with the request
 * XML, or GET), and an Apple profile to download. Unknown domains get 404.
 */
import { createHash } from "node:crypto";
import {
  appleMobileconfig,
  autodiscoverRequestAddress,
  autodiscoverResponse,
  localDomainOf,
  thunderbirdConfig,
} from "./autoconfig.ts";
import { HttpError } from "./http_error.ts";
import type { HttpPorts } from "./ports.ts";
import { readBody } from "./read_body.ts";
import type { Route, RouteContext } from "./router.ts";

/** An autodiscover request is a few hundred octets. */
const MAX_REQUEST = 16 * 1024;

/** The routes. */
export function autoconfigRoutes(ports: HttpPorts): Route[] {
  const thunderbird = (_: Request, ctx: RouteContext) => {
    const config = ports.config();
    const address = ctx.url.searchParams.get("emailaddress");
    const domain = address !== null
      ? localDomainOf(config, address)
      : localDomainOf(config, hostDomain(ctx.url));
    if (!domain) throw new HttpError("not_found", "no mail domain of this server");
    return xmlResponse(thunderbirdConfig(config, domain), "application/xml");
  };
  const autodiscover = async (request: Request, ctx: RouteContext) => {
    const address = request.method === "POST"
      ? autodiscoverRequestAddress(
        new TextDecoder().decode(
          await readBody(request, MAX_REQUEST, ports.config().limits.command_timeout),
        ),
      )
      : ctx.url.searchParams.get("emailaddress") ?? ctx.url.searchParams.get("email") ??
        undefined;
    return xmlResponse(
      autodiscoverResponse(ports.config(), checkedAddress(ports, address)),
      "application/xml",
    );
  };
  const apple = (_: Request, ctx: RouteContext) => {
    const address = checkedAddress(ports, ctx.url.searchParams.get("emailaddress") ?? undefined);
    return new Response(appleMobileconfig(ports.config(), address, stableUuid), {
      headers: {
        "content-type": "application/x-apple-aspen-config; charset=utf-8",
        "content-disposition": `attachment; filename="${address.replace(/[^\w.@+-]/g, "_")}` +
          `.mobileconfig"`,
        "cache-control": "no-store",
      },
    });
  };
  return [
    {
      method: "GET",
      pattern: "/.well-known/autoconfig/mail/config-v1.1.xml",
      name: "autoconfig.thunderbird",
      handler: thunderbird,
    },
    {
      method: "GET",
      pattern: "/mail/config-v1.1.xml",
      name: "autoconfig.thunderbird",
      handler: thunderbird,
    },
    ...["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"].flatMap((
      pattern,
    ) => [
      { method: "POST" as const, pattern, name: "autodiscover", handler: autodiscover },
      { method: "GET" as const, pattern, name: "autodiscover", handler: autodiscover },
    ]),
    {
      method: "GET",
      pattern: "/apple/mail.mobileconfig",
      name: "autoconfig.apple",
      handler: apple,
    },
  ];
}

/** A plain address at one of our domains, lower-cased; 400 or 404 otherwise. */
function checkedAddress(ports: HttpPorts, address: string | undefined): string {
  if (!address || !/^[^\s@<>"]+@[^\s@<>"]+$/.test(address)) {
    throw new HttpError("invalid_request", "give the mail address: ?emailaddress=user@domain");
  }
  if (!localDomainOf(ports.config(), address)) {
    throw new HttpError("not_found", "no mail domain of this server");
  }
  return address.toLowerCase();
}

/** The domain a request's Host names, without `autoconfig.`/`autodiscover.` and port. */
function hostDomain(url: URL): string {
  return "@" + url.hostname.toLowerCase().replace(/^(autoconfig|autodiscover)\./, "");
}

/** A UUID derived from the seed (SHA-256), so a profile made twice is the same profile. */
function stableUuid(seed: string): string {
  const h = createHash("sha256").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${
    h.slice(20, 32)
  }`.toUpperCase();
}

function xmlResponse(body: string, type: string): Response {
  return new Response(body, {
    headers: { "content-type": `${type}; charset=utf-8`, "cache-control": "no-store" },
  });
}
