import { assert, assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import {
  BEGIN_MARKER,
  CONFIG_URL,
  configOptions,
  currentTable,
  DOC_URLS,
  END_MARKER,
  readFieldComments,
  readOptions,
  renderConfigTable,
  updateDoc,
} from "../../scripts/gen-config-doc.ts";
import { ConfigError, ConfigSchema, loadConfig } from "../../src/config.ts";

const source = await Deno.readTextFile(CONFIG_URL);

for (const url of DOC_URLS) {
  const name = url.href.slice(new URL("../../", import.meta.url).href.length);
  Deno.test(`${name} has the current configuration table (run scripts/gen-config-doc.ts)`, async () => {
    const doc = await Deno.readTextFile(url);
    assertEquals(
      updateDoc(doc, await currentTable()),
      doc,
      `${name} is stale: run scripts/gen-config-doc.ts`,
    );
  });
}

Deno.test("every schema field has exactly one flag and a meaning", () => {
  const options = readOptions(source);
  const keys = Object.keys(ConfigSchema.shape).sort();
  assertEquals(options.map((o) => o.key).sort(), keys);
  for (const option of configOptions(source)) {
    assert(option.description.length > 0, `--${option.flag} has no meaning`);
  }
});

Deno.test("the flags read from the source are the ones loadConfig knows", () => {
  const error = assertThrows(() => loadConfig(["--no-such-flag"], {}), ConfigError);
  const known = /\(known: ([^)]*)\)/.exec(error.message)?.[1].split(", ") ?? [];
  assertEquals(readOptions(source).map((o) => o.flag).sort(), known.sort());
});

Deno.test("each documented variable sets its documented setting", () => {
  const defaults = loadConfig([], {});
  for (const option of readOptions(source)) {
    const key = option.key as keyof typeof defaults;
    // "!" is invalid for most settings (then the error must name flag and variable); where it is
    // accepted, it or "off" must change the value.
    const outcomes = ["!", "off"].map((value) => {
      try {
        const config = loadConfig([], { [option.env]: value });
        return JSON.stringify(config[key]) !== JSON.stringify(defaults[key]);
      } catch (error) {
        assert(error instanceof ConfigError);
        assertStringIncludes(error.message, `--${option.flag} / ${option.env}`);
        return true;
      }
    });
    assert(outcomes.some(Boolean), `${option.env} did not reach "${option.key}"`);
  }
});

Deno.test("JSDoc comments are read per field, multi-line comments joined", () => {
  const comments = readFieldComments(
    [
      "export const ConfigSchema = z.object({",
      "  /** One. */",
      "  a: z.string(),",
      "  b: z.string(),",
      "  /**",
      "   * Two",
      "   * lines.",
      "   */",
      "  c: z.object({ inner: z.string() }),",
      "});",
    ].join("\n"),
  );
  assertEquals([...comments], [["a", "One."], ["c", "Two lines."]]);
});

Deno.test("the table has a row per option with default and values from the schema", () => {
  const options = configOptions(source);
  const table = renderConfigTable(options);
  const lines = table.split("\n");
  assertEquals(lines.length, options.length + 2);
  const port = lines.find((l) => l.startsWith("| `--port`"))!;
  assertStringIncludes(port, "`QUETZAL_PORT`");
  assertStringIncludes(port, "`8080`");
  assertStringIncludes(port, "integer, 0 to 65535");
  const level = lines.find((l) => l.startsWith("| `--log-level`"))!;
  assertStringIncludes(level, "`debug`, `info`, `warn`, `error`, `silent`");
  assertStringIncludes(lines.find((l) => l.startsWith("| `--public-ip`"))!, "IPv4 addresses");
  // Every line is as wide as the header: the padding deno fmt would apply.
  assertEquals(new Set(lines.map((l) => l.length)).size, 1);
});

Deno.test("updateDoc replaces only what is between the markers", () => {
  const doc = `before\n${BEGIN_MARKER}\nold\n${END_MARKER}\nafter\n`;
  assertEquals(updateDoc(doc, "NEW"), `before\n${BEGIN_MARKER}\n\nNEW\n\n${END_MARKER}\nafter\n`);
  assertThrows(() => updateDoc("no markers", "NEW"), Error, "markers");
});
