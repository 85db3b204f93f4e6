/**
 * What a participant can publish. A source names a track's purpose, not its codec or m-line:
 * a publish offer maps each of its mids to one source (rooms.md §5). Defined with the Router,
 * which names producers by source; the room layer uses the same words.
 */
export { isVideoSource, type Source, SOURCES, VIDEO_SOURCES } from "../sfu/router-protocol.ts";
