/**
 * WHEP extensions (webrtc-http-egress-events): server-sent events and layer selection.
 *
 *   POST /whep/:stream/:session/sse     JSON array of event types → 201 + Location of the stream
 *   GET  /whep/:stream/:session/sse     also accepted directly (Broadcast Box players)
 *   GET  /whep/:stream/:session/sse/:id text/event-stream
 *   POST /whep/:stream/:session/layer   {mediaId, rid|encodingId, spatialLayerId, temporalLayerId,
 *                                        maxSpatialLayerId, maxTemporalLayerId, maxWidth, maxHeight}
 */
import { Hono } from "hono";
import { z } from "zod";
import type { SessionManager, StreamEvent } from "../session/session-manager.ts";
import { type ConsumerSnapshot, HostedViewer } from "../session/subscriber-host.ts";
import type { Layer } from "../sfu/layer.ts";
import type { Producer } from "../sfu/producer.ts";
import { Problem } from "./errors.ts";
import { readText } from "./sdp-body.ts";

export const SSE_EVENTS = ["active", "inactive", "layers", "viewercount", "reconnect"] as const;
const SSE_REL = "urn:ietf:params:whep:ext:core:server-sent-events";
const LAYER_REL = "urn:ietf:params:whep:ext:core:layer";
/** Event lists and layer requests are tiny; a cap keeps a client from streaming megabytes. */
const EXTENSION_BODY_LIMIT_BYTES = 4096;
const MAX_EVENT_STREAMS_PER_VIEWER = 4;

const LayerRequest = z.object({
  mediaId: z.union([z.string(), z.number()]).transform(String).optional(),
  rid: z.string().min(1).max(32).optional(),
  encodingId: z.string().min(1).max(32).optional(),
  spatialLayerId: z.number().int().min(0).max(15).optional(),
  temporalLayerId: z.number().int().min(0).max(15).optional(),
  maxSpatialLayerId: z.number().int().min(0).max(15).optional(),
  maxTemporalLayerId: z.number().int().min(0).max(15).optional(),
  maxWidth: z.number().int().positive().optional(),
  maxHeight: z.number().int().positive().optional(),
}).strict();

/**
 * What a viewer capped at each temporal layer of `layer` receives: bitrate and frame rate of
 * temporal layers 0..t together (one entry for a layer without temporal ids).
 */
export function temporalLayers(
  layer: Layer,
  live: boolean,
): { temporalLayerId: number; bitrate: number; framerate: number }[] {
  const state = layer.state;
  const top = Math.max(0, state.maxTemporalId);
  const fps = (t: number) =>
    state.maxTemporalId < 0
      ? (state.frameIntervalMs > 0 ? 1000 / state.frameIntervalMs : 0)
      : state.temporalFrameRate(t);
  const out = [];
  for (let t = 0; t <= top; t++) {
    const share = t >= top ? 1 : state.temporalShare[t];
    out.push({
      temporalLayerId: t,
      bitrate: live ? Math.round(layer.bitrateBps * share) : 0,
      framerate: live ? Math.round(fps(t) * 10) / 10 : 0,
    });
  }
  return out;
}

export function whepExtensions(manager: SessionManager) {
  const routes = new Hono();
  const streams = new Map<string, { viewer: HostedViewer; events: Set<string> }>();

  const viewerOf = (name: string, id: string): HostedViewer => {
    const session = manager.get(id);
    if (!(session instanceof HostedViewer) || session.streamName !== name) {
      throw new Problem(404, "unknown-session", `no WHEP session "${id}" on stream "${name}"`);
    }
    return session;
  };

  /** The stream's producer a consumer forwards: layers are described from the main thread's. */
  const producerOf = (viewer: HostedViewer, consumer: ConsumerSnapshot): Producer | undefined => {
    const router = manager.routers.get(viewer.streamName);
    return router?.producer(consumer.producer) ?? router?.producerOfKind(consumer.kind);
  };

  const layersEvent = (viewer: HostedViewer) => {
    const now = performance.now();
    const data: Record<string, unknown[]> = {};
    for (const consumer of viewer.snapshot().consumers) {
      if (consumer.kind !== "video") continue;
      data[String(consumer.mlineIndex)] = (producerOf(viewer, consumer)?.layers ?? []).map(
        (layer) => {
          const active = consumer.current?.ssrc === layer.ssrc;
          const live = layer.isActive(now);
          const top = Math.max(0, layer.state.maxTemporalId);
          return {
            rid: layer.rid ?? String(layer.ssrc),
            spatialLayerId: Math.max(0, layer.state.rank),
            // The layer's highest temporal layer; its lower ones are listed in temporalLayers.
            temporalLayerId: top,
            bitrate: live ? layer.bitrateBps : 0,
            width: layer.width,
            height: layer.height,
            active,
            temporalLayers: temporalLayers(layer, live),
            ...(active
              ? {
                forwardedTemporalLayerId: consumer.temporalCurrent < 0
                  ? top
                  : Math.min(consumer.temporalCurrent, top),
              }
              : {}),
          };
        },
      );
    }
    return data;
  };

  const eventStream = (viewer: HostedViewer, wanted: Set<string>): Response => {
    let unsubscribe = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const send = (type: string, data: unknown) => {
          if (!wanted.has(type)) return;
          try {
            controller.enqueue(encoder.encode(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`));
          } catch {
            cleanup();
          }
        };
        const cleanup = () => {
          unsubscribe();
          clearInterval(timer);
        };
        const live = manager.publisherOf(viewer.streamName) !== undefined;
        if (live) send("active", {});
        send("layers", layersEvent(viewer));
        send("viewercount", { viewercount: manager.viewersOf(viewer.streamName).length });
        unsubscribe = manager.subscribe(viewer.streamName, (event: StreamEvent) => {
          if (event.type === "viewercount") send("viewercount", { viewercount: event.viewers });
          else if (event.type === "layers") send("layers", layersEvent(viewer));
          else if (event.type === "reconnect") {
            send("reconnect", { url: `/whep/${encodeURIComponent(viewer.streamName)}` });
          } else send(event.type, {});
          if (event.type === "reconnect") {
            cleanup();
            try {
              controller.close();
            } catch { /* already closed */ }
          }
        });
        timer = setInterval(() => {
          if (viewer.closed) {
            cleanup();
            try {
              controller.close();
            } catch { /* already closed */ }
            return;
          }
          send("layers", layersEvent(viewer));
        }, 2000);
      },
      cancel() {
        unsubscribe();
        clearInterval(timer);
      },
    });
    return new Response(body, {
      headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" },
    });
  };

  routes.post("/:stream/:session/sse", async (c) => {
    const viewer = viewerOf(c.req.param("stream"), c.req.param("session"));
    const text = await readText(c.req.raw, EXTENSION_BODY_LIMIT_BYTES);
    let wanted: string[] = [...SSE_EVENTS];
    if (text.trim()) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new Problem(400, "bad-json", "the body must be a JSON array of event types");
      }
      if (!Array.isArray(parsed) || parsed.some((e) => typeof e !== "string")) {
        throw new Problem(400, "bad-events", "the body must be a JSON array of event type strings");
      }
      const unknown = parsed.filter((e) => !(SSE_EVENTS as readonly string[]).includes(e));
      if (unknown.length > 0) {
        throw new Problem(
          400,
          "unsupported-event",
          `unsupported event types: ${unknown.join(", ")}`,
        );
      }
      wanted = parsed;
    }
    // Entries must not outlive their session (they hold it), nor pile up for one: sweep ended
    // viewers here and keep a viewer's newest few.
    let own = 0;
    for (const [key, entry] of streams) {
      if (entry.viewer.closed || manager.get(entry.viewer.id) !== entry.viewer) streams.delete(key);
      else if (entry.viewer === viewer) own++;
    }
    for (const [key, entry] of streams) {
      if (own < MAX_EVENT_STREAMS_PER_VIEWER) break;
      if (entry.viewer === viewer) {
        streams.delete(key);
        own--;
      }
    }
    const id = crypto.randomUUID();
    streams.set(id, { viewer, events: new Set(wanted) });
    const location = `/whep/${encodeURIComponent(viewer.streamName)}/${viewer.id}/sse/${id}`;
    return new Response(null, { status: 201, headers: { Location: location } });
  });

  routes.get("/:stream/:session/sse", (c) => {
    const viewer = viewerOf(c.req.param("stream"), c.req.param("session"));
    return eventStream(viewer, new Set(SSE_EVENTS));
  });

  routes.get("/:stream/:session/sse/:id", (c) => {
    const viewer = viewerOf(c.req.param("stream"), c.req.param("session"));
    const entry = streams.get(c.req.param("id"));
    if (!entry || entry.viewer !== viewer) {
      throw new Problem(404, "unknown-event-stream", "no such event stream");
    }
    return eventStream(viewer, entry.events);
  });

  routes.delete("/:stream/:session/sse/:id", (c) => {
    viewerOf(c.req.param("stream"), c.req.param("session"));
    if (!streams.delete(c.req.param("id"))) {
      throw new Problem(404, "unknown-event-stream", "no such event stream");
    }
    return new Response(null, { status: 200 });
  });

  routes.post("/:stream/:session/layer", async (c) => {
    const viewer = viewerOf(c.req.param("stream"), c.req.param("session"));
    const text = await readText(c.req.raw, EXTENSION_BODY_LIMIT_BYTES);
    let json: unknown;
    try {
      // The draft's own example has unquoted keys: tolerate them.
      json = JSON.parse(text.replace(/([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:/g, '$1"$2":'));
    } catch {
      throw new Problem(400, "bad-json", "the body must be a JSON object");
    }
    const parsed = LayerRequest.safeParse(json);
    if (!parsed.success) {
      throw new Problem(
        400,
        "bad-layer-request",
        parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "),
      );
    }
    const request = parsed.data;
    const consumers = viewer.snapshot().consumers;
    const video = consumers.filter((c) => c.kind === "video");
    // mediaId is the m-line index (draft); a mid is accepted too (equal for most players).
    const matches = (c: ConsumerSnapshot) =>
      String(c.mlineIndex) === request.mediaId || c.mid === request.mediaId;
    const consumer = request.mediaId === undefined
      ? video[0]
      : video.find(matches) ?? consumers.find(matches);
    if (!consumer) {
      throw new Problem(400, "unknown-media", `no video m-line with mediaId "${request.mediaId}"`);
    }
    if (consumer.kind !== "video") {
      throw new Problem(400, "not-video", "layer selection applies to video m-lines");
    }
    const producer = producerOf(viewer, consumer);
    const mid = consumer.mid;
    const rid = request.rid ?? request.encodingId;
    if (rid !== undefined) {
      const layer = producer?.layers.find((l) => (l.rid ?? String(l.ssrc)) === rid);
      if (!layer) throw new Problem(400, "unknown-layer", `stream has no layer "${rid}"`);
      viewer.command({ t: "pin", mid, rid: layer.rid ?? "" });
    } else if (request.spatialLayerId !== undefined) {
      const layer = producer?.layerOfRank(request.spatialLayerId);
      if (!layer) {
        throw new Problem(400, "unknown-layer", `no spatial layer ${request.spatialLayerId}`);
      }
      viewer.command({ t: "pin", mid, rid: layer.rid ?? "" });
    } else {
      viewer.command({
        t: "caps",
        mid,
        maxWidth: request.maxWidth,
        maxHeight: request.maxHeight,
        maxSpatial: request.maxSpatialLayerId,
      });
    }
    // Temporal layers (VP8/VP9): a pin or a cap; a request without them returns to automatic.
    viewer.command({
      t: "temporal",
      mid,
      pinned: request.temporalLayerId ?? null,
      max: request.maxTemporalLayerId,
    });
    return new Response(null, { status: 200 });
  });

  const links = (location: string) => [
    `<${location}/sse>; rel="${SSE_REL}"; events="${SSE_EVENTS.join(",")}"`,
    `<${location}/layer>; rel="${LAYER_REL}"`,
  ];

  return { routes, links };
}
