/**
 * Test clients of the stream-status API (`GET /api/streams/:name`) and the WHEP layer
 * extension (`POST` to the layer URL a WHEP answer links), as integration and browser tests
 * use them to steer a viewer and watch what the server says it forwards.
 */
import { assertEquals } from "@std/assert";
import type { StreamInfo } from "../../src/http/api.ts";
import type { RecordingViewer } from "./simulcast-publisher.ts";

/** How often {@link waitForStreamInfo} asks the API again. */
const API_POLL_MS = 100;

/** The API's answer for stream `name`; fails the test unless the stream exists (200). */
export async function streamInfo(baseUrl: string, name: string): Promise<StreamInfo> {
  const response = await fetch(`${baseUrl}/api/streams/${name}`);
  assertEquals(response.status, 200);
  return await response.json();
}

/** The API's answer for stream `name`, or null while it is not there (not yet published). */
export async function streamInfoOrNull(baseUrl: string, name: string): Promise<StreamInfo | null> {
  const response = await fetch(`${baseUrl}/api/streams/${name}`);
  if (response.status !== 200) {
    await response.body?.cancel();
    return null;
  }
  return await response.json();
}

/** Polls the API for stream `name` until `done` holds; returns that answer. */
export async function waitForStreamInfo(
  baseUrl: string,
  name: string,
  done: (info: StreamInfo) => boolean,
  timeoutMs: number,
  what: string,
): Promise<StreamInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await streamInfo(baseUrl, name);
    if (done(info)) return info;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(info)}`);
    }
    await new Promise((r) => setTimeout(r, API_POLL_MS));
  }
}

/** POSTs a WHEP layer request (`body` as JSON) to the viewer's layer URL; returns the status. */
export async function selectLayer(
  viewer: Pick<RecordingViewer, "layerUrl">,
  body: unknown,
): Promise<number> {
  const response = await fetch(viewer.layerUrl!, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  await response.body?.cancel();
  return response.status;
}
