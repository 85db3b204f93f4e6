/**
 * Tests that inspect a session's live objects (transport counters, consumers, the tick) reach
 * them here, narrowed by type: a WHEP viewer's ViewerSession exists on the main thread only
 * when the server runs without viewer workers (`workers: 1`).
 */
import { LocalSubscriberHost } from "../../src/session/local-subscriber-host.ts";
import type { PeerSession, SessionManager } from "../../src/session/session-manager.ts";
import { HostedViewer } from "../../src/session/subscriber-host.ts";
import type { ViewerSession } from "../../src/session/viewer-session.ts";

/** The ViewerSession of a WHEP viewer hosted on the main thread. */
export function localViewer(manager: SessionManager, id: string): ViewerSession {
  const host = manager.subscribers;
  if (!(host instanceof LocalSubscriberHost)) {
    throw new Error("viewers run in workers: start the server with workers: 1");
  }
  const session = host.sessions.get(id);
  if (!session) throw new Error(`no viewer session "${id}" on the main thread`);
  return session;
}

/** A session with its transport on the main thread (a publisher or a room peer). */
export function peerSession(manager: SessionManager, id: string): PeerSession {
  const session = manager.get(id);
  if (!session || session instanceof HostedViewer) {
    throw new Error(`no publisher or room peer "${id}"`);
  }
  return session;
}

/** Every session with its transport on the main thread. */
export function peerSessions(manager: SessionManager): PeerSession[] {
  return [...manager.sessions.values()].filter((s): s is PeerSession =>
    !(s instanceof HostedViewer)
  );
}
