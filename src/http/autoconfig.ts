/**
 * Mail client self-configuration, built from the running config: which listeners are on, on
 * which ports, implicit TLS or STARTTLS, and the login (the full address, password sent over
 * TLS). Three dialects: Thunderbird's autoconfig (clientConfig v1.1), Outlook's POX
 * autodiscover (responseschema 2006a), and an Apple configuration profile (unsigned).
 * Builders are pure; routes are in `autoconfig_routes.ts`.
 */
import type { Config, ListenerKey } from "../config/config.ts";
import { parseListen } from "../config/load_config.ts";

/** One way in for a client. */
export interface MailEndpoint {
  protocol: "imap" | "pop3" | "smtp";
  hostname: string;
  port: number;
  /** Implicit TLS (RFC 8314) or STARTTLS. */
  security: "SSL" | "STARTTLS";
}

/** Preferred first: implicit TLS (RFC 8314 §3.3 recommends it), IMAP over POP3. */
const ORDER: { key: ListenerKey; protocol: MailEndpoint["protocol"]; ssl: boolean }[] = [
  { key: "imaps", protocol: "imap", ssl: true },
  { key: "imap", protocol: "imap", ssl: false },
  { key: "pop3s", protocol: "pop3", ssl: true },
  { key: "pop3", protocol: "pop3", ssl: false },
  { key: "submissions", protocol: "smtp", ssl: true },
  { key: "submission", protocol: "smtp", ssl: false },
];

/** The enabled client listeners, preferred first. */
export function mailEndpoints(config: Config): MailEndpoint[] {
  return ORDER.flatMap(({ key, protocol, ssl }) => {
    const where = config.listen[key] === "" ? undefined : parseListen(config.listen[key]);
    return where
      ? [{
        protocol,
        hostname: config.hostname,
        port: where.port,
        security: ssl ? "SSL" : "STARTTLS",
      }]
      : [];
  }) as MailEndpoint[];
}

/** The local domain of `address` (lower-cased), or undefined when it is not one of ours. */
export function localDomainOf(config: Config, address: string): string | undefined {
  const domain = address.slice(address.lastIndexOf("@") + 1).trim().toLowerCase();
  return config.domains.includes(domain) ? domain : undefined;
}

/** Escapes text for XML content and attribute values. */
export function xml(text: string | number): string {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/** Thunderbird's clientConfig v1.1 for `domain`; the login is the whole address. */
export function thunderbirdConfig(config: Config, domain: string): string {
  const server = (e: MailEndpoint) => {
    const tag = e.protocol === "smtp" ? "outgoingServer" : "incomingServer";
    return [
      `    <${tag} type="${e.protocol}">`,
      `      <hostname>${xml(e.hostname)}</hostname>`,
      `      <port>${e.port}</port>`,
      `      <socketType>${e.security}</socketType>`,
      `      <authentication>password-cleartext</authentication>`,
      `      <username>%EMAILADDRESS%</username>`,
      `    </${tag}>`,
    ].join("\n");
  };
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<clientConfig version="1.1">`,
    `  <emailProvider id="${xml(domain)}">`,
    `    <domain>${xml(domain)}</domain>`,
    `    <displayName>${xml(domain)} mail</displayName>`,
    `    <displayShortName>${xml(domain)}</displayShortName>`,
    ...mailEndpoints(config).map(server),
    `  </emailProvider>`,
    `</clientConfig>`,
    ``,
  ].join("\n");
}

/** Outlook's autodiscover answer (POX, outlook responseschema 2006a) for `address`. */
export function autodiscoverResponse(config: Config, address: string): string {
  const chosen = new Map<string, MailEndpoint>();
  for (const e of mailEndpoints(config)) if (!chosen.has(e.protocol)) chosen.set(e.protocol, e);
  const protocol = (e: MailEndpoint) =>
    [
      `      <Protocol>`,
      `        <Type>${e.protocol === "pop3" ? "POP3" : e.protocol.toUpperCase()}</Type>`,
      `        <Server>${xml(e.hostname)}</Server>`,
      `        <Port>${e.port}</Port>`,
      `        <LoginName>${xml(address)}</LoginName>`,
      `        <DomainRequired>off</DomainRequired>`,
      `        <SPA>off</SPA>`,
      `        <SSL>on</SSL>`,
      `        <Encryption>${e.security === "SSL" ? "SSL" : "TLS"}</Encryption>`,
      `        <AuthRequired>on</AuthRequired>`,
      `      </Protocol>`,
    ].join("\n");
  return [
    `<?xml version="1.0" encoding="utf-8"?>`,
    `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">`,
    `  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">`,
    `    <Account>`,
    `      <AccountType>email</AccountType>`,
    `      <Action>settings</Action>`,
    ...[...chosen.values()].map(protocol),
    `    </Account>`,
    `  </Response>`,
    `</Autodiscover>`,
    ``,
  ].join("\n");
}

/** The address an autodiscover request asks about (`<EMailAddress>`), or undefined. */
export function autodiscoverRequestAddress(body: string): string | undefined {
  const m = /<(?:\w+:)?EMailAddress>\s*([^<\s]+)\s*<\/(?:\w+:)?EMailAddress>/i.exec(body);
  return m?.[1];
}

/**
 * An Apple configuration profile with one mail account for `address` (the first incoming
 * listener, and the first outgoing), unsigned. `uuid(seed)` makes stable UUIDs, so installing
 * it again replaces the account instead of adding a second.
 */
export function appleMobileconfig(
  config: Config,
  address: string,
  uuid: (seed: string) => string,
): string {
  const endpoints = mailEndpoints(config);
  const incoming = endpoints.find((e) => e.protocol !== "smtp");
  const outgoing = endpoints.find((e) => e.protocol === "smtp");
  const entry = (key: string, value: string | number | boolean) => {
    const v = typeof value === "boolean"
      ? `<${value}/>`
      : typeof value === "number"
      ? `<integer>${value}</integer>`
      : `<string>${xml(value)}</string>`;
    return `      <key>${xml(key)}</key>\n      ${v}`;
  };
  const id = `${config.hostname.split(".").reverse().join(".")}.fsmtp`;
  const account = [
    entry("EmailAccountDescription", address),
    entry("EmailAccountName", address),
    entry("EmailAccountType", incoming?.protocol === "pop3" ? "EmailTypePOP" : "EmailTypeIMAP"),
    entry("EmailAddress", address),
    ...(incoming
      ? [
        entry("IncomingMailServerAuthentication", "EmailAuthPassword"),
        entry("IncomingMailServerHostName", incoming.hostname),
        entry("IncomingMailServerPortNumber", incoming.port),
        entry("IncomingMailServerUseSSL", true),
        entry("IncomingMailServerUsername", address),
      ]
      : []),
    ...(outgoing
      ? [
        entry("OutgoingMailServerAuthentication", "EmailAuthPassword"),
        entry("OutgoingMailServerHostName", outgoing.hostname),
        entry("OutgoingMailServerPortNumber", outgoing.port),
        entry("OutgoingMailServerUseSSL", true),
        entry("OutgoingMailServerUsername", address),
        entry("OutgoingPasswordSameAsIncomingPassword", true),
      ]
      : []),
    entry("PayloadDescription", `Mail account ${address}`),
    entry("PayloadDisplayName", address),
    entry("PayloadIdentifier", `${id}.account.${address}`),
    entry("PayloadType", "com.apple.mail.managed"),
    entry("PayloadUUID", uuid(`account ${address}`)),
    entry("PayloadVersion", 1),
  ];
  const top = (key: string, value: string | number) => entry(key, value).replace(/^ {6}/gm, "  ");
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" ` +
    `"http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
    `<plist version="1.0">`,
    `<dict>`,
    `  <key>PayloadContent</key>`,
    `  <array>`,
    `    <dict>`,
    ...account,
    `    </dict>`,
    `  </array>`,
    top("PayloadDisplayName", `${config.hostname} mail`),
    top("PayloadIdentifier", `${id}.profile.${address}`),
    top("PayloadType", "Configuration"),
    top("PayloadUUID", uuid(`profile ${address}`)),
    top("PayloadVersion", 1),
    `</dict>`,
    `</plist>`,
    ``,
  ].join("\n");
}
