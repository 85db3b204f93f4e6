/**
 * The server most integration, browser and interop tests run against: a free port on
 * 127.0.0.1, 127.0.0.1 as its only host candidate (no test may reach a public address), and
 * no log output.
 */
import type { ConfigInput } from "../../src/config.ts";
import { createLogger } from "../../src/observability/log.ts";
import { type RunningServer, startServer } from "../../src/server.ts";

/** Starts a silent server on 127.0.0.1 and a free port; `config` adds to or overrides that. */
export function startLoopbackServer(config: Partial<ConfigInput> = {}): Promise<RunningServer> {
  return startServer({
    port: 0,
    host: "127.0.0.1",
    publicIps: ["127.0.0.1"],
    logLevel: "silent",
    ...config,
  }, { logger: createLogger("silent") });
}
