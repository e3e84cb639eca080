/** The SMTP client's settings from `[outbound]`, for the queue runner and `--mailtest --direct`. */
import type { Config } from "../config/config.ts";
import { parseListen } from "../config/load_config.ts";
import { SystemResolver } from "../dns/resolver.ts";
import type { LogFields, Logger } from "../log.ts";
import type { DeliveryOptions } from "../smtp_client/deliver.ts";

/** How the SMTP client delivers under `config`, logging to `log`. */
export function deliveryOptions(
  config: Config,
  log: Logger,
  onLine?: DeliveryOptions["onLine"],
): DeliveryOptions {
  const out = config.outbound;
  const resolver = out.resolver ? parseListen(out.resolver) : undefined;
  const relay = out.relay_host ? parseListen(out.relay_host) : undefined;
  return {
    resolver: new SystemResolver(
      resolver ? { ipAddr: resolver.host, port: resolver.port } : undefined,
    ),
    heloName: config.hostname,
    port: out.port,
    requireTls: out.require_tls,
    relay: relay && {
      host: relay.host,
      port: relay.port,
      user: out.relay_user || undefined,
      password: out.relay_password || undefined,
    },
    log: (event, fields) => log.info(`outbound.${event}`, loggable(fields)),
    onLine,
  };
}

/** Client log fields as log values: objects become JSON text. */
function loggable(fields: Record<string, unknown>): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = value === undefined || ["string", "number", "boolean"].includes(typeof value)
      ? value as string | number | boolean | undefined
      : JSON.stringify(value);
  }
  return out;
}
