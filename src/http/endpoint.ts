/**
 * WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep) endpoints: one shape, two roles.
 *
 *   POST   /{whip|whep}/:stream              offer → 201 answer, Location, ETag, Link
 *   PATCH  /{whip|whep}/:stream/:session     trickle (204) or ICE restart (200)
 *   DELETE /{whip|whep}/:stream/:session     200, everything freed
 *   GET/HEAD on both                         2xx, no body
 *   OPTIONS                                  CORS preflight (see cors.ts), Accept-Post
 */
import { Hono } from "hono";
import type { Config } from "../config.ts";
import { SdpParseError } from "../session/sdp.ts";
import { InvalidOfferError, UnsupportedOfferError } from "../session/negotiation.ts";
import { CapacityError, NoSourceError, type SessionManager } from "../session/session-manager.ts";
import { RouterError } from "../sfu/router-protocol.ts";
import { requireBearer } from "./auth.ts";
import { Problem } from "./errors.ts";
import { readBody } from "./sdp-body.ts";

export interface EndpointOptions {
  role: "whip" | "whep";
  manager: SessionManager;
  config: Config;
  /** Extra Link headers for a new session (WHEP extensions), given its Location. */
  extensionLinks?: (location: string, sessionId: string) => string[];
}

const STREAM_NAME = /^[A-Za-z0-9._~-]{1,128}$/;

/** The routes of one endpoint kind, to mount at `/whip` or `/whep`. */
export function endpointRoutes(options: EndpointOptions): Hono {
  const { role, manager, config } = options;
  const app = new Hono();
  const token = role === "whip" ? config.publishToken : config.viewerToken;
  const realm = role === "whip" ? "publish" : "watch";

  const requireToken = (req: Request) => requireBearer(req, token, realm, role.toUpperCase());

  const streamName = (name: string) => {
    if (!STREAM_NAME.test(name)) {
      throw new Problem(
        400,
        "bad-stream-name",
        "stream names are 1-128 characters of A-Z a-z 0-9 . _ ~ -",
      );
    }
    return name;
  };

  const sessionOf = (name: string, id: string) => {
    const session = manager.get(id);
    const wanted = role === "whip" ? "publisher" : "viewer";
    if (!session || session.streamName !== name || session.role !== wanted) {
      throw new Problem(
        404,
        "unknown-session",
        `no ${role.toUpperCase()} session "${id}" on stream "${name}"`,
      );
    }
    return session;
  };

  // The answer's candidates, for ICE restart answers: an ICE-lite restart keeps the same socket,
  // and RFC 9725 §4.3.2 wants the candidates in the 200. Weak: they go with the session.
  const candidatesOf = new WeakMap<object, string[]>();

  const iceLinks = () =>
    config.iceServers.map((url) => {
      const turn = url.startsWith("turn");
      const creds = turn && config.iceUsername !== undefined
        ? `; username="${config.iceUsername}"; credential="${
          config.iceCredential ?? ""
        }"; credential-type="password"`
        : "";
      return `<${url}>; rel="ice-server"${creds}`;
    });

  app.post("/:stream", async (c) => {
    const name = streamName(c.req.param("stream"));
    requireToken(c.req.raw);
    const offer = await readBody(c.req.raw, ["application/sdp"], config.maxSdpBytes);
    let created;
    try {
      created = role === "whip"
        ? await manager.publish(name, offer)
        : await manager.play(name, offer);
    } catch (error) {
      throw toProblem(error);
    }
    const { session, answer } = created;
    candidatesOf.set(session, answer.split("\r\n").filter((l) => l.startsWith("a=candidate:")));
    const location = `/${role}/${encodeURIComponent(name)}/${session.id}`;
    const headers = new Headers({
      "Content-Type": "application/sdp",
      "Location": location,
      "ETag": session.etag,
    });
    for (const link of [...iceLinks(), ...(options.extensionLinks?.(location, session.id) ?? [])]) {
      headers.append("Link", link);
    }
    return new Response(answer, { status: 201, headers });
  });

  const endpointInfo = (c: { req: { param(name: string): string } }) => {
    streamName(c.req.param("stream"));
    return new Response(null, {
      status: 204,
      headers: { "Accept-Post": "application/sdp" },
    });
  };
  app.get("/:stream", (c) => c.req.method === "HEAD" ? endpointHead(c) : endpointInfo(c));
  // Hono dispatches HEAD to the GET handler (a HEAD route is never reached), hence the check
  // above. WHEP: HEAD → 200 with the POST's content type and no body.
  const endpointHead = (c: { req: { param(name: string): string } }) => {
    const name = streamName(c.req.param("stream"));
    if (role === "whep" && !manager.publisherOf(name)) {
      throw new Problem(404, "no-stream", `nothing is being published on stream "${name}"`);
    }
    return new Response(null, {
      status: 200,
      headers: {
        "Content-Type": "application/sdp",
        "Content-Length": "0",
        "Accept-Post": "application/sdp",
      },
    });
  };
  app.options("/:stream", (c) => endpointInfo(c));

  app.get("/:stream/:session", (c) => {
    sessionOf(c.req.param("stream"), c.req.param("session"));
    return new Response(null, { status: 204 });
  });

  app.delete("/:stream/:session", async (c) => {
    const session = sessionOf(c.req.param("stream"), c.req.param("session"));
    requireToken(c.req.raw);
    await manager.end(session.id, "deleted");
    return new Response(null, { status: 200 });
  });

  app.patch("/:stream/:session", async (c) => {
    const session = sessionOf(c.req.param("stream"), c.req.param("session"));
    requireToken(c.req.raw);
    const body = await readBody(c.req.raw, ["application/trickle-ice-sdpfrag"], config.maxSdpBytes);
    const ifMatch = c.req.header("If-Match");
    if (ifMatch === undefined) {
      if (config.strictEtag) {
        throw new Problem(
          428,
          "if-match-required",
          'PATCH needs an If-Match header (the session ETag, or "*")',
        );
      }
    } else if (ifMatch.trim() !== "*" && normaliseEtag(ifMatch) !== normaliseEtag(session.etag)) {
      throw new Problem(
        412,
        "etag-mismatch",
        "If-Match does not match the current ICE session's ETag",
      );
    }
    const fragment = parseFragment(body);
    if (fragment.iceUfrag && fragment.icePwd && fragment.iceUfrag !== session.remoteIceUfrag) {
      const local = manager.restartIce(session, fragment.iceUfrag, fragment.icePwd);
      session.remoteIceUfrag = fragment.iceUfrag;
      session.etag = `"${crypto.randomUUID()}"`;
      // RFC 9725 §4.3.2 example: the mid sits in the m= section it belongs to (RFC 8840 §4.3).
      const answer = [
        `a=ice-lite`,
        ...(fragment.media ? [fragment.media] : []),
        ...fragment.mids.slice(0, 1).map((mid) => `a=mid:${mid}`),
        `a=ice-ufrag:${local.iceUfrag}`,
        `a=ice-pwd:${local.icePwd}`,
        ...(candidatesOf.get(session) ?? []),
        "a=end-of-candidates",
      ].join("\r\n") + "\r\n";
      return new Response(answer, {
        status: 200,
        headers: { "Content-Type": "application/trickle-ice-sdpfrag", "ETag": session.etag },
      });
    }
    // ICE-lite: the server does not form pairs from trickled candidates; accepting them is enough.
    return new Response(null, { status: 204 });
  });

  // RFC 9725 §4.1 lists the methods of each resource; anything else is 405 with Allow.
  const notAllowed = (allow: string) => () => {
    throw new Problem(405, "method-not-allowed", `allowed methods: ${allow}`, { Allow: allow });
  };
  app.options(
    "/:stream/:session",
    () =>
      new Response(null, {
        status: 204,
        headers: { "Accept-Patch": "application/trickle-ice-sdpfrag" },
      }),
  );
  app.all("/:stream", notAllowed("POST, GET, HEAD, OPTIONS"));
  app.all("/:stream/:session", notAllowed("PATCH, DELETE, GET, HEAD, OPTIONS"));

  return app;
}

function normaliseEtag(tag: string): string {
  return tag.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
}

/** Reads an RFC 8840 SDP fragment: ICE credentials, mids, candidates. */
function parseFragment(
  body: string,
): { iceUfrag?: string; icePwd?: string; media?: string; mids: string[]; candidates: number } {
  const out = {
    iceUfrag: undefined as string | undefined,
    icePwd: undefined as string | undefined,
    media: undefined as string | undefined,
    mids: [] as string[],
    candidates: 0,
  };
  const lines = body.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) throw new Problem(400, "bad-sdpfrag", "the SDP fragment is empty");
  for (const line of lines) {
    if (!/^[a-z]=/.test(line)) {
      throw new Problem(400, "bad-sdpfrag", `not an SDP line: "${line.slice(0, 40)}"`);
    }
    if (line.startsWith("a=ice-ufrag:")) out.iceUfrag = line.slice(12);
    else if (line.startsWith("a=ice-pwd:")) out.icePwd = line.slice(10);
    else if (line.startsWith("a=mid:")) out.mids.push(line.slice(6));
    else if (line.startsWith("m=")) out.media ??= line;
    else if (line.startsWith("a=candidate:")) out.candidates++;
  }
  return out;
}

/** Maps session-layer errors to HTTP problems. */
export function toProblem(error: unknown): Problem {
  if (error instanceof Problem) return error;
  if (error instanceof SdpParseError || error instanceof InvalidOfferError) {
    return new Problem(400, "bad-sdp", `the offer is not valid SDP: ${error.message}`);
  }
  if (error instanceof UnsupportedOfferError) {
    return new Problem(422, "unsupported-offer", error.message);
  }
  if (error instanceof NoSourceError) {
    return new Problem(409, "no-source", `${error.message}; retry later`, { "Retry-After": "2" });
  }
  if (error instanceof CapacityError) {
    return new Problem(503, "over-capacity", error.message, { "Retry-After": "10" });
  }
  if (error instanceof RouterError) {
    // A viewer's host (this thread or a worker) reports failures by code.
    switch (error.code) {
      case "bad-request":
        return new Problem(400, "bad-sdp", `the offer is not valid SDP: ${error.message}`);
      case "unsupported":
        return new Problem(422, "unsupported-offer", error.message);
      case "no-source":
        return new Problem(409, "no-source", `${error.message}; retry later`, {
          "Retry-After": "2",
        });
      case "over-capacity":
        return new Problem(503, "over-capacity", error.message, { "Retry-After": "10" });
    }
  }
  throw error;
}
