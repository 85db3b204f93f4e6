/**
 * `deno task start`: reads flags and QUETZAL_* variables, prints the effective configuration
 * and the OBS set-up, serves until SIGTERM/SIGINT, then drains within the grace period.
 */
import { ConfigError, describeConfig, hostIpv4Addresses, loadConfig } from "./config.ts";
import { tlsBannerLines } from "./http/tls/mod.ts";
import { type RunningServer, startServer } from "./server.ts";

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(Deno.args, Deno.env.toObject());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`quetzal: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const generated = config.publishToken === undefined;
  let server: RunningServer;
  try {
    server = await startServer(config);
  } catch (error) {
    // A certificate file that does not load is a configuration problem, named like one.
    if (error instanceof ConfigError) {
      console.error(`quetzal: ${error.message}`);
      return 2;
    }
    // The two ways listening fails on a valid configuration: say which setting to change.
    if (error instanceof Deno.errors.AddrInUse) {
      console.error(
        `quetzal: port ${config.port} on ${config.host} is in use: stop what holds it or choose ` +
          `another with --port / QUETZAL_PORT`,
      );
      return 2;
    }
    if (error instanceof Deno.errors.AddrNotAvailable || error instanceof URIError) {
      console.error(
        `quetzal: cannot listen on ${config.host}: it is not an address of this machine ` +
          `(--host / QUETZAL_HOST)`,
      );
      return 2;
    }
    throw error;
  }
  const effective = describeConfig({ ...config, publishToken: server.publishToken });
  server.logger.info("configuration", effective);
  const reachable = config.publicIps[0] ?? hostIpv4Addresses()[0] ?? "127.0.0.1";
  const scheme = server.tls ? "https" : "http";
  const base = config.host === "0.0.0.0" ? `${scheme}://${reachable}:${server.port}` : server.url;
  console.log(
    [
      "",
      "  Quetzal is running.",
      `  OBS → Settings → Stream → Service: WHIP`,
      `        Server:       ${base}/whip/live`,
      `        Bearer Token: ${server.publishToken}${
        generated ? "   (generated; set QUETZAL_PUBLISH_TOKEN to keep one)" : ""
      }`,
      `  Watch:              ${base}/watch/live`,
      `  Publish (browser):  ${base}/publish`,
      `  Metrics:            ${base}/metrics`,
      ...tlsBannerLines(server.tls, config.host),
      "",
    ].join("\n"),
  );
  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await stopped.promise;
  server.logger.info("shutting down", { graceMs: config.shutdownGraceMs });
  server.drain();
  const timeout = new Promise<"timeout">((r) =>
    setTimeout(() => r("timeout"), config.shutdownGraceMs)
  );
  const result = await Promise.race([server.close().then(() => "closed" as const), timeout]);
  if (result === "timeout") server.logger.warn("grace period over; exiting with sessions open");
  return 0;
}

if (import.meta.main) Deno.exit(await main());
