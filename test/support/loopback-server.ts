/**
 * The server most integration, browser and interop tests run against: a free port on
 * 127.0.0.1, 127.0.0.1 as its only host candidate (no test may reach a public address), no log
 * output, and viewers forwarded on the main thread (`workers: 1`, not the default one per
 * core) so a test behaves the same on any machine; tests of the workers pass their count.
 */
import { configFrom, type ConfigInput } from "../../src/config.ts";
import { createLogger } from "../../src/observability/log.ts";
import { type RunningServer, startServer } from "../../src/server.ts";

/** Starts a silent server on 127.0.0.1 and a free port; `config` adds to or overrides that. */
export function startLoopbackServer(config: Partial<ConfigInput> = {}): Promise<RunningServer> {
  return startServer(
    configFrom({
      port: 0,
      host: "127.0.0.1",
      publicIps: ["127.0.0.1"],
      logLevel: "silent",
      workers: 1,
      ...config,
    }),
    { logger: createLogger("silent") },
  );
}
