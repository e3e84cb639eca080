/**
 * A small metrics registry rendered in the Prometheus text exposition format (version 0.0.4):
 * counters and histograms updated in place by the code they count, and gauges read when
 * scraped. In memory, per process: each node is scraped on its own.
 */

/** Label names to values. */
export type Labels = Record<string, string>;

/** One metric family's lines, without its HELP and TYPE. */
interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  samples(): Promise<string[]> | string[];
}

/** A monotonically increasing count per label set. */
export class Counter {
  readonly #values = new Map<string, number>();

  /** Adds `n` (default 1) to the count of `labels`. */
  inc(labels: Labels = {}, n = 1): void {
    const key = labelText(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + n);
  }

  /** The count of `labels` (0 when never counted). */
  get(labels: Labels = {}): number {
    return this.#values.get(labelText(labels)) ?? 0;
  }

  /** Lines of the family `name`. */
  lines(name: string): string[] {
    return [...this.#values].map(([labels, v]) => `${name}${labels} ${formatValue(v)}`);
  }
}

/** A value that goes up and down per label set (open connections). */
export class Gauge {
  readonly #values = new Map<string, number>();

  /** Adds `n` (negative to subtract). */
  add(labels: Labels, n: number): void {
    const key = labelText(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + n);
  }

  /** Lines of the family `name`. */
  lines(name: string): string[] {
    return [...this.#values].map(([labels, v]) => `${name}${labels} ${formatValue(v)}`);
  }
}

/** Observations counted into cumulative buckets, with their sum and count, per label set. */
export class Histogram {
  readonly #series = new Map<string, { buckets: number[]; sum: number; count: number }>();

  /** @param bounds the upper bounds of the buckets, ascending (`+Inf` is added). */
  constructor(readonly bounds: readonly number[]) {}

  /** Records one observation. */
  observe(labels: Labels, value: number): void {
    const key = labelText(labels);
    let s = this.#series.get(key);
    if (!s) {
      s = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    this.bounds.forEach((bound, i) => {
      if (value <= bound) s.buckets[i]++;
    });
    s.sum += value;
    s.count++;
  }

  /** Lines of the family `name`: `_bucket` per bound and `+Inf`, `_sum`, `_count`. */
  lines(name: string): string[] {
    const out: string[] = [];
    for (const [key, s] of this.#series) {
      const inner = key === "" ? "" : key.slice(1, -1) + ",";
      this.bounds.forEach((bound, i) => {
        out.push(`${name}_bucket{${inner}le="${formatValue(bound)}"} ${s.buckets[i]}`);
      });
      out.push(`${name}_bucket{${inner}le="+Inf"} ${s.count}`);
      out.push(`${name}_sum${key} ${formatValue(s.sum)}`);
      out.push(`${name}_count${key} ${s.count}`);
    }
    return out;
  }
}

/** The families of one process, in registration order. */
export class Registry {
  readonly #families: Family[] = [];

  /** Registers and returns a counter. */
  counter(name: string, help: string): Counter {
    const c = new Counter();
    this.#families.push({ name, help, type: "counter", samples: () => c.lines(name) });
    return c;
  }

  /** Registers and returns a gauge updated in place. */
  gauge(name: string, help: string): Gauge {
    const g = new Gauge();
    this.#families.push({ name, help, type: "gauge", samples: () => g.lines(name) });
    return g;
  }

  /** Registers and returns a histogram with these bucket bounds. */
  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    const h = new Histogram(bounds);
    this.#families.push({ name, help, type: "histogram", samples: () => h.lines(name) });
    return h;
  }

  /** The whole exposition, one family after another, ending with a newline. */
  async render(): Promise<string> {
    const out: string[] = [];
    for (const f of this.#families) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      out.push(`# TYPE ${f.name} ${f.type}`);
      out.push(...await f.samples());
    }
    return out.join("\n") + "\n";
  }
}

/** A gauge family read at scrape time (the queue's figures), as exposition lines. */
export function gaugeFamily(name: string, help: string, samples: [Labels, number][]): string {
  return [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} gauge`,
    ...samples.map(([labels, v]) => `${name}${labelText(labels)} ${formatValue(v)}`),
  ].join("\n") + "\n";
}

/** `{a="x",b="y"}` with names sorted (one key per label set), or "" for none. */
function labelText(labels: Labels): string {
  const names = Object.keys(labels).sort();
  if (names.length === 0) return "";
  return `{${names.map((n) => `${n}="${escapeLabel(labels[n])}"`).join(",")}}`;
}

/** Label values escape backslash, double quote and newline (exposition format). */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return Number.isNaN(v) ? "NaN" : String(v);
}
