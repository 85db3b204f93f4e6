/**
 * The room WebSocket, `GET /rooms/{id}/signal` (docs/signalling.md): upgrades the request and
 * hands the socket's frames to a signalling connection. The room must exist before the upgrade
 * (404 otherwise); who may join is decided by the token in `join`, not here.
 */
import { Hono } from "hono";
import { ID_PATTERN, type RoomRegistry } from "../room/mod.ts";
import type { RoomSignalling, SignalConnection } from "../signal/mod.ts";
import { Problem } from "./errors.ts";

/**
 * Deno pings the client this often (seconds) and closes the socket when a pong does not come
 * within as long: a peer that vanished without a close frame frees its seat within a minute.
 */
const IDLE_TIMEOUT_S = 30;

export function signalRoutes(deps: { rooms: RoomRegistry; signalling: RoomSignalling }): Hono {
  const routes = new Hono();
  routes.get("/:room/signal", (c) => {
    const id = c.req.param("room");
    if (!ID_PATTERN.test(id) || !deps.rooms.get(id)) {
      throw new Problem(404, "unknown-room", "no room with this id (ended, or never made)");
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new Problem(426, "upgrade-required", "this is a WebSocket endpoint", {
        Upgrade: "websocket",
      });
    }
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw, {
      idleTimeout: IDLE_TIMEOUT_S,
    });
    let connection: SignalConnection | undefined;
    socket.onopen = () => {
      connection = deps.signalling.connect(id, {
        send: (frame) => {
          if (socket.readyState === WebSocket.OPEN) socket.send(frame);
        },
        close: (code, reason) => socket.close(code, reason),
      });
    };
    socket.onmessage = (event: MessageEvent<string | ArrayBuffer | Blob>) => {
      const data = event.data;
      // Any binary frame is refused (the protocol is JSON text); its bytes do not matter.
      connection?.receive(typeof data === "string" ? data : new Uint8Array(0));
    };
    socket.onclose = (event) => connection?.transportClosed(event.code, event.reason);
    return response;
  });
  return routes;
}
