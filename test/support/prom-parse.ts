/**
 * A parser for the Prometheus text exposition format (version 0.0.4), strict enough to catch
 * what a scrape would reject: https://prometheus.io/docs/instrumenting/exposition_formats/
 *
 * It groups samples into families by their `# TYPE` line, checks names and label syntax, and
 * `checkHistogram` verifies the `_bucket`/`_sum`/`_count` invariants.
 */

export interface PromSample {
  /** Sample name as written (`x_bucket`, `x_sum`, …). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string;
  samples: PromSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Throws on any syntax error, naming the line. */
export function parseExposition(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const lines = text.split("\n");
  if (text.length > 0 && !text.endsWith("\n")) {
    throw new Error("exposition must end with a newline");
  }
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const where = `line ${i + 1}: ${raw}`;
    if (line === "") return;
    if (line.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ""] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`bad metric name: ${where}`);
      const family = families.get(name) ?? { name, type: "untyped", help: "", samples: [] };
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) throw new Error(`bad type: ${where}`);
        if (family.samples.length > 0) throw new Error(`TYPE after samples: ${where}`);
        family.type = rest as PromFamily["type"];
      } else {
        family.help = unescapeHelp(rest);
      }
      families.set(name, family);
      return;
    }
    const sample = parseSample(line, where);
    const family = familyOf(families, sample.name);
    if (!family) {
      families.set(sample.name, {
        name: sample.name,
        type: "untyped",
        help: "",
        samples: [sample],
      });
    } else {
      family.samples.push(sample);
    }
  });
  for (const family of families.values()) {
    const seen = new Set<string>();
    for (const s of family.samples) {
      const key = s.name + JSON.stringify(Object.entries(s.labels).sort());
      if (seen.has(key)) throw new Error(`duplicate series ${key}`);
      seen.add(key);
    }
    if (family.type === "histogram") checkHistogram(family);
    if (family.type === "counter") {
      for (const s of family.samples) {
        if (!(s.value >= 0)) throw new Error(`negative or NaN counter ${s.name}`);
      }
    }
  }
  return families;
}

function familyOf(families: Map<string, PromFamily>, sampleName: string): PromFamily | undefined {
  const direct = families.get(sampleName);
  if (direct) return direct;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (sampleName.endsWith(suffix)) {
      const f = families.get(sampleName.slice(0, -suffix.length));
      if (f && (f.type === "histogram" || f.type === "summary")) return f;
    }
  }
  return undefined;
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(\\|n)/g, (_, c) => (c === "n" ? "\n" : "\\"));
}

function parseValue(s: string, where: string): number {
  if (s === "+Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value: ${where}`);
  return Number(s);
}

function parseSample(line: string, where: string): PromSample {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) throw new Error(`bad sample name: ${where}`);
  const name = nameMatch[0];
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === "{") {
    pos++;
    while (true) {
      while (line[pos] === " ") pos++;
      if (line[pos] === "}") {
        pos++;
        break;
      }
      const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(pos));
      if (!ln || !LABEL_NAME.test(ln[0])) throw new Error(`bad label name: ${where}`);
      pos += ln[0].length;
      if (line[pos] !== "=" || line[pos + 1] !== '"') throw new Error(`expected ="…": ${where}`);
      pos += 2;
      let value = "";
      while (pos < line.length && line[pos] !== '"') {
        if (line[pos] === "\\") {
          const next = line[pos + 1];
          if (next === "n") value += "\n";
          else if (next === "\\" || next === '"') value += next;
          else throw new Error(`bad escape: ${where}`);
          pos += 2;
        } else {
          value += line[pos++];
        }
      }
      if (line[pos] !== '"') throw new Error(`unterminated label value: ${where}`);
      pos++;
      if (ln[0] in labels) throw new Error(`duplicate label ${ln[0]}: ${where}`);
      labels[ln[0]] = value;
      if (line[pos] === ",") pos++;
      else if (line[pos] !== "}") throw new Error(`expected , or }: ${where}`);
    }
  }
  const rest = line.slice(pos).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2 || rest[0] === "") throw new Error(`bad sample: ${where}`);
  const value = parseValue(rest[0], where);
  if (rest.length === 2 && !/^-?\d+$/.test(rest[1])) throw new Error(`bad timestamp: ${where}`);
  return { name, labels, value };
}

/** Histogram invariants: buckets cumulative with `+Inf` last, `_count` = `+Inf` bucket. */
export function checkHistogram(family: PromFamily): void {
  const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name === family.name + "_bucket") {
      if (le === undefined) throw new Error(`${family.name}: bucket without le`);
      g.buckets.push([parseValue(le, le), s.value]);
    } else if (s.name === family.name + "_sum") g.sum = s.value;
    else if (s.name === family.name + "_count") g.count = s.value;
    else throw new Error(`${family.name}: unexpected sample ${s.name}`);
  }
  for (const [key, g] of groups) {
    const where = `${family.name}${key}`;
    if (g.sum === undefined || g.count === undefined) {
      throw new Error(`${where}: missing _sum/_count`);
    }
    if (g.buckets.length === 0) throw new Error(`${where}: no buckets`);
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i][0] > g.buckets[i - 1][0])) throw new Error(`${where}: le not increasing`);
      if (g.buckets[i][1] < g.buckets[i - 1][1]) {
        throw new Error(`${where}: buckets not cumulative`);
      }
    }
    const last = g.buckets[g.buckets.length - 1];
    if (last[0] !== Infinity) throw new Error(`${where}: no +Inf bucket`);
    if (last[1] !== g.count) {
      throw new Error(`${where}: _count ${g.count} != +Inf bucket ${last[1]}`);
    }
  }
}

/** The value of one series, or undefined. */
export function sampleValue(
  families: Map<string, PromFamily>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(labels);
      if (keys.length !== Object.keys(s.labels).length) continue;
      if (keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return undefined;
}
