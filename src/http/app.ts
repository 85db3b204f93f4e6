/**
 * The Hono application: every HTTP route of Quetzal, assembled from small route modules.
 * `app.onError` is the only place errors become responses.
 */
import type { ProducerInfo } from "../sfu/router-protocol.ts";
import { Hono } from "hono";
import type { Config } from "../config.ts";
import type { Logger } from "../observability/log.ts";
import type { Metrics } from "../observability/metrics.ts";
import { metricsMiddleware } from "../observability/metrics-middleware.ts";
import { httpSpanMiddleware } from "../observability/tracing.ts";
import type { SessionManager } from "../session/session-manager.ts";
import type { RoomRegistry, RoomTokens } from "../room/mod.ts";
import type { RoomSignalling } from "../signal/mod.ts";
import { apiRoutes } from "./api.ts";
import { bearerAuth } from "./auth.ts";
import { cors } from "./cors.ts";
import { endpointRoutes } from "./endpoint.ts";
import { errorHandler, Problem } from "./errors.ts";
import { playerRoutes } from "./player.ts";
import type { RateLimiter } from "./rate-limit.ts";
import { roomsApiRoutes } from "./rooms-api.ts";
import { sdkRoutes } from "./sdk.ts";
import { signalRoutes } from "./signal-ws.ts";
import { whepExtensions } from "./whep-extensions.ts";

export interface AppDeps {
  config: Config;
  manager: SessionManager;
  metrics: Metrics;
  logger: Logger;
  rateLimiter: RateLimiter;
  /** False while draining (SIGTERM). */
  ready: () => boolean;
  /** Rooms and their token signer. */
  rooms: {
    registry: RoomRegistry;
    tokens: RoomTokens;
    signalling: RoomSignalling;
    /** A room's published tracks, from its Router's snapshot. */
    tracksOf?: (roomId: string) => readonly ProducerInfo[];
  };
}

export async function createApp(deps: AppDeps): Promise<Hono> {
  const { config, manager, metrics, logger } = deps;
  const app = new Hono();
  app.use("*", metricsMiddleware(metrics));
  app.use("*", httpSpanMiddleware());
  app.use("*", cors(config.corsOrigin));
  app.use("/whip/*", deps.rateLimiter.middleware);
  app.use("/whep/*", deps.rateLimiter.middleware);
  app.onError(errorHandler(logger));
  app.notFound((c) =>
    new Problem(404, "not-found", `no route for ${c.req.method} ${c.req.path}`).toResponse(
      c.req.path,
    )
  );

  const extensions = whepExtensions(manager);
  app.route("/whip", endpointRoutes({ role: "whip", manager, config }));
  app.route("/whep", extensions.routes);
  app.route(
    "/whep",
    endpointRoutes({ role: "whep", manager, config, extensionLinks: extensions.links }),
  );
  // Before the viewer-token middleware of /api/*: rooms are the operator's (publish token), and
  // a route answered here never reaches middleware registered after it.
  app.use("/api/rooms/*", deps.rateLimiter.middleware); // also matches /api/rooms
  app.route(
    "/api/rooms",
    roomsApiRoutes({
      rooms: deps.rooms.registry,
      tokens: deps.rooms.tokens,
      publishToken: config.publishToken,
      publicUrl: config.publicUrl,
      tracksOf: deps.rooms.tracksOf,
    }),
  );
  app.route(
    "/rooms",
    signalRoutes({ rooms: deps.rooms.registry, signalling: deps.rooms.signalling }),
  );
  // Stream names are not public when watching needs a token.
  app.use("/api/*", bearerAuth({ token: config.viewerToken, realm: "watch", what: "/api" }));
  app.route("/api", apiRoutes(manager));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get(
    "/readyz",
    (c) => deps.ready() ? c.json({ status: "ready" }) : c.json({ status: "draining" }, 503),
  );
  app.use(
    "/metrics",
    bearerAuth({ token: config.metricsToken, realm: "metrics", what: "/metrics" }),
  );
  app.get("/metrics", async () => {
    return new Response(await metrics.render(), {
      headers: { "Content-Type": metrics.contentType },
    });
  });
  app.route("/", await playerRoutes());
  app.route("/", await sdkRoutes());
  return app;
}
