/**
 * What a participant can publish. A source names a track's purpose, not its codec or m-line:
 * a publish offer maps each of its mids to one source (rooms.md §5).
 */

export const SOURCES = ["camera", "microphone", "screen", "screenAudio"] as const;
export type Source = typeof SOURCES[number];

/** Sources that carry video and count against `maxVideoPublishers`. */
export const VIDEO_SOURCES: readonly Source[] = ["camera", "screen"];

export function isVideoSource(source: Source): boolean {
  return source === "camera" || source === "screen";
}
