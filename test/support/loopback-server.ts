/**
 * The server most integration, browser and interop tests run against: a free port on
 * 127.0.0.1, 127.0.0.1 as its only host candidate (no test may reach a public address), no log
 * output, and viewers hosted in two viewer workers: the default configuration (`workers: auto`,
 * one per core) as it runs on a 2-core machine, fixed at 2 so that a test exercises the worker
 * path on any machine (auto on one core would forward on the main thread). A test that
 * truly needs the main thread (it inspects a viewer's ViewerSession) passes `workers: 1` and
 * says why. `QUETZAL_TEST_RTC_PORT=0` runs them all on one UDP port per thread (`--rtc-port`), to
 * try the shared port against the whole suite.
 */
import { configFrom, type ConfigInput } from "../../src/config.ts";
import { createLogger } from "../../src/observability/log.ts";
import { type RunningServer, startServer } from "../../src/server.ts";

const sharedPortSetting = Deno.env.get("QUETZAL_TEST_RTC_PORT");
const sharedPort = sharedPortSetting ? Number(sharedPortSetting) : undefined;

/** Starts a silent server on 127.0.0.1 and a free port; `config` adds to or overrides that. */
export function startLoopbackServer(config: Partial<ConfigInput> = {}): Promise<RunningServer> {
  return startServer(
    configFrom({
      port: 0,
      host: "127.0.0.1",
      publicIps: ["127.0.0.1"],
      logLevel: "silent",
      workers: 2,
      // QUETZAL_TEST_RTC_PORT=0 runs every such server on one UDP port per thread (--rtc-port).
      ...(sharedPort === undefined || config.rtcPorts ? {} : { rtcPort: sharedPort }),
      ...config,
    }),
    { logger: createLogger("silent") },
  );
}
