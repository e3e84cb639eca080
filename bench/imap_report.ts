/**
 * The IMAP part's table: one row per figure, a column per server, the ratios fsmtp / Dovecot
 * and fsmtp / Dovecot+mail_crypt, and the aim the figure is held to.
 */
import type { ImapComparison, ImapSide } from "./imap_bench.ts";

/** One row: a value per server (undefined: failed or not measured), higher is better. */
interface Row {
  figure: string;
  values: [number | undefined, number | undefined, number | undefined];
  digits: number;
  aim: string;
}

function row(
  figure: string,
  c: ImapComparison | undefined,
  pick: (s: ImapSide) => number | undefined,
  digits: number,
  aim = "",
): Row {
  const value = (side: ImapSide | undefined) => side ? pick(side) : undefined;
  return {
    figure,
    values: [value(c?.sides.fsmtp), value(c?.sides.Dovecot), value(c?.sides.mail_crypt)],
    digits,
    aim,
  };
}

/** The table's lines. */
export function imapTable(c: ImapComparison | undefined): string[] {
  const rounds = `median of ${c?.rounds ?? "-"}`;
  const rows: Row[] = [
    row(
      "list msg/s, first read",
      c,
      (s) => s.listFirst?.perSecond,
      0,
      "fsmtp ≥ 3 × mail_crypt",
    ),
    row(`list msg/s, repeated (${rounds})`, c, (s) => s.listRepeat, 0, "fsmtp ≥ Dovecot"),
    row(
      "BODY.PEEK[] MB/s, first read",
      c,
      (s) => s.bodyFirst?.megabytesPerSecond,
      2,
      "fsmtp ≥ 3 × mail_crypt",
    ),
    row(`BODY.PEEK[] MB/s, repeated (${rounds})`, c, (s) => s.bodyRepeat, 2, "fsmtp ≥ Dovecot"),
    row("logins/s, first per user", c, (s) => s.firstLogins?.perSecond, 1),
    row(`logins/s, ${c?.loginClients ?? "-"} clients`, c, (s) => s.logins?.perSecond, 1),
    row("imaptest stress sessions/s", c, (s) => s.stress?.sessionsPerSecond, 1),
    row("imaptest stress commands/s", c, (s) => s.stress?.commandsPerSecond, 0),
  ];
  const fmt = (v: number | undefined, digits: number) => v === undefined ? "-" : v.toFixed(digits);
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? "-" : (a / b).toFixed(2);
  const table: string[][] = [
    ["figure", "fsmtp", "Dovecot", "mail_crypt", "÷Dovecot", "÷mail_crypt", "aim"],
    ...rows.map((r) => [
      r.figure,
      ...r.values.map((v) => fmt(v, r.digits)),
      ratio(r.values[0], r.values[1]),
      ratio(r.values[0], r.values[2]),
      r.aim,
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) =>
      i === 0 || i === cells.length - 1 ? cell.padEnd(widths[i]) : cell
        .padStart(widths[i])
    ).join("  ").trimEnd();
  return [
    line(table[0]),
    line(widths.map((w) => "-".repeat(w))),
    ...table.slice(1).map(line),
  ];
}
