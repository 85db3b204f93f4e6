/**
 * Picks the SRTP backend at start-up: libsrtp over FFI when it loads, the TypeScript backend
 * otherwise.
 *
 * @module
 */
import type { SrtpBackend } from "./srtp.ts";
import { tsSrtpBackend } from "./srtp-ts.ts";
import { loadLibsrtp } from "./srtp-libsrtp.ts";

/** Which SRTP implementation to use (configuration value). */
export type SrtpMode = "auto" | "ts" | "libsrtp";

/**
 * auto → libsrtp when the system library loads (and Deno FFI is permitted), else ts.
 * "libsrtp" throws a clear Error when unavailable.
 *
 * @example const backend = selectSrtpBackend("auto"); // backend.name: "libsrtp" | "ts"
 */
export function selectSrtpBackend(mode: SrtpMode): SrtpBackend {
  if (mode === "ts") return tsSrtpBackend;
  if (mode !== "auto" && mode !== "libsrtp") throw new Error(`unknown SRTP mode "${mode}"`);
  const status = loadLibsrtp();
  if (status.available) return status.backend;
  if (mode === "libsrtp") {
    throw new Error(
      `SRTP backend "libsrtp" is unavailable: ${status.reason}. Install the system package ` +
        `(Debian/Ubuntu: libsrtp2-1), run with --allow-ffi, or choose "auto" or "ts".`,
    );
  }
  return tsSrtpBackend;
}
