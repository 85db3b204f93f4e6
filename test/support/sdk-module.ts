/**
 * The browser SDK as users load it (web/sdk/dist/quetzal.js, the file `/sdk/quetzal.js`
 * serves), imported into Deno for the tests that need no media: Deno has WebSocket and fetch,
 * not RTCPeerConnection. Typed here by the DOM-free part of its surface the tests use (the
 * SDK's own types need the DOM library, which cannot share a type-check with Deno's).
 */

export interface SdkError extends Error {
  code: string;
}

export interface SdkParticipant {
  id: string;
  name: string;
  role: string;
  hand: boolean;
  publishing: string[];
  muted: string[];
  tracks: Map<string, unknown>;
}

/** A received track (its MediaStreamTrack is whatever the RTCPeerConnection gave). */
export interface SdkTrack {
  source: string;
  kind: string;
  mid: string;
  participant: string;
  mediaStreamTrack: unknown;
}

/** Events the tests listen to, with their arguments. */
export interface SdkEvents {
  trackSubscribed: [SdkTrack, SdkParticipant];
  trackUnsubscribed: [SdkTrack, SdkParticipant];
  participantJoined: [SdkParticipant];
  participantLeft: [SdkParticipant];
  participantUpdated: [SdkParticipant];
  reconnecting: [];
  reconnected: [];
  disconnected: [string];
}

export interface SdkRoom {
  readonly state: "connected" | "reconnecting" | "closed";
  info: { id: string; name: string };
  localParticipant: { id: string; name: string; role: string; muted: string[] };
  participants: Map<string, SdkParticipant>;
  on<E extends keyof SdkEvents>(event: E, handler: (...args: SdkEvents[E]) => void): () => void;
  leave(): Promise<void>;
  raiseHand(raised: boolean): Promise<void>;
  remove(participantId: string): Promise<void>;
  setMuted(source: string, muted: boolean): Promise<void>;
}

export interface SdkJoinOptions {
  token?: string;
  name?: string;
  reconnectTimeoutMs?: number;
}

export interface Sdk {
  joinRoom(url: string, options: SdkJoinOptions): Promise<SdkRoom>;
  QuetzalError: new (code: string, message: string) => SdkError;
  roomAddress(url: string): { signalUrl: string; roomId: string; fragmentToken?: string };
  maxHeightFor(devicePixels: number): number;
  activeLayers(trackHeight: number, scales: number[], maxHeight: number | undefined): boolean[];
}

/** The committed bundle; a specifier in a variable, so the type check does not follow it. */
const BUNDLE = new URL("../../web/sdk/dist/quetzal.js", import.meta.url).href;

export async function loadSdk(): Promise<Sdk> {
  return await import(BUNDLE);
}
