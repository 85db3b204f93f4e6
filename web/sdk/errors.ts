import type { ErrorCode } from "./wire.ts";

/**
 * Every failure the SDK reports: `code` is the server's error code ("unauthorized",
 * "forbidden", "room-full", …) or the SDK's own ("connection-failed", "timeout", "closed").
 *
 * @example
 * try { await joinRoom(url, { token }); } catch (e) { if (e.code === "room-full") … }
 */
export class QuetzalError extends Error {
  override name = "QuetzalError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
