/**
 * Where the send path tells the server it is running slower than it could: a link that sends
 * through node:dgram instead of the syscall path, or send batches that go one datagram per
 * message because the kernel refused UDP segmentation offload. Each kind is reported once per
 * isolate (process or worker); the server logs it as a warning, because both were once silent
 * (every link on node:dgram, issue 14) and each costs CPU per packet.
 *
 * @module
 */

/** What fell back. */
export type SendPathFallbackKind = "dgram" | "no-gso";

/** Told, once per isolate and kind, what fell back and why. */
export type SendPathFallbackListener = (kind: SendPathFallbackKind, reason: string) => void;

/** The warning the server logs for each kind. */
export const FALLBACK_MESSAGES: Record<SendPathFallbackKind, string> = {
  "dgram": "media link sends through node:dgram, not the syscall path",
  "no-gso": "the kernel refused UDP segmentation offload: media leaves one datagram per message",
};

let listener: SendPathFallbackListener | undefined;
const reported = new Set<SendPathFallbackKind>();

/** Sets who hears of fallbacks in this isolate; undefined stops it. */
export function onSendPathFallback(next: SendPathFallbackListener | undefined): void {
  listener = next;
}

/** Reports a fallback, the first time this isolate sees its kind (while someone listens). */
export function reportSendPathFallback(kind: SendPathFallbackKind, reason: string): void {
  if (listener === undefined || reported.has(kind)) return;
  reported.add(kind);
  listener(kind, reason);
}
