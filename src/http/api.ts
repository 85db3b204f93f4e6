/**
 * The JSON API: live streams with their tracks, layers and viewers. Per-stream detail lives
 * here, not in metric labels.
 */
import { Hono } from "hono";
import type { SessionManager } from "../session/session-manager.ts";
import type { LayerRef } from "../session/subscriber-host.ts";
import { temporalLayers } from "./whep-extensions.ts";
import { Problem } from "./errors.ts";

/** The JSON shape of one stream in `GET /api/streams`. */
export interface StreamInfo {
  name: string;
  live: boolean;
  codecs: string[];
  tracks: {
    kind: string;
    codec: string;
    layers: {
      rid: string | null;
      ssrc: number;
      active: boolean;
      bitrateBps: number;
      width: number;
      height: number;
      /** Highest temporal layer id (VP8/VP9 TID), 0 without temporal layers. */
      temporalLayerId: number;
      /** Bitrate and frame rate of temporal layers 0..t together, per t. */
      temporalLayers: { temporalLayerId: number; bitrate: number; framerate: number }[];
    }[];
  }[];
  viewers: number;
  viewerLayers: {
    session: string;
    layer: string | null;
    target: string | null;
    reason: string | null;
    estimateBps: number;
    /** Highest temporal layer forwarded and wanted; null = all of them. */
    temporalLayer: number | null;
    temporalTarget: number | null;
  }[];
  bitrateBps: number;
  uptimeSeconds: number;
}

/** Builds the list shown by the API and the player's index page. */
export function describeStreams(manager: SessionManager): StreamInfo[] {
  const now = performance.now();
  const out: StreamInfo[] = [];
  for (const stream of manager.routers.values()) {
    const publisher = manager.publisherOf(stream.id);
    const viewers = manager.viewersOf(stream.id);
    out.push({
      name: stream.id,
      live: stream.live,
      codecs: stream.producers.map((p) => p.codecName),
      tracks: stream.producers.map((p) => ({
        kind: p.kind,
        codec: p.codecName,
        layers: p.layers.map((l) => ({
          rid: l.rid ?? null,
          ssrc: l.ssrc,
          active: l.isActive(now),
          bitrateBps: l.bitrateBps,
          width: l.width,
          height: l.height,
          temporalLayerId: Math.max(0, l.state.maxTemporalId),
          temporalLayers: p.kind === "video" ? temporalLayers(l, l.isActive(now)) : [],
        })),
      })),
      viewers: viewers.length,
      viewerLayers: viewers.map((v) => {
        // The viewer's snapshot from its host (a worker's is as of its last status report).
        const snapshot = v.snapshot();
        const video = snapshot.consumers.find((c) => c.kind === "video");
        const name = (l: LayerRef | null | undefined) => l ? (l.rid ?? String(l.ssrc)) : null;
        return {
          session: v.id.slice(0, 8),
          layer: name(video?.current),
          target: name(video?.target),
          reason: video?.reason ?? null,
          estimateBps: snapshot.estimateBps,
          temporalLayer: video && video.temporalCurrent >= 0 ? video.temporalCurrent : null,
          temporalTarget: video && video.temporalTarget >= 0 ? video.temporalTarget : null,
        };
      }),
      bitrateBps: publisher?.bitrateBps ?? 0,
      uptimeSeconds: stream.liveSinceMs > 0
        ? Math.round((Date.now() - stream.liveSinceMs) / 1000)
        : 0,
    });
  }
  return out;
}

export function apiRoutes(manager: SessionManager): Hono {
  const app = new Hono();
  app.get("/streams", (c) => c.json({ streams: describeStreams(manager) }));
  app.get("/streams/:stream", (c) => {
    const found = describeStreams(manager).find((s) => s.name === c.req.param("stream"));
    if (!found) throw new Problem(404, "no-stream", `no stream "${c.req.param("stream")}"`);
    return c.json(found);
  });
  return app;
}
