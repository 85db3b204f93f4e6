// Quetzal's browser client: WHEP playback and WHIP publishing, no framework, no build step.
// Used by watch.html and publish.html, and by the browser tests through `import()`.
//
// WHEP: draft-ietf-wish-whep (POST offer → 201 answer + Location; 409 + Retry-After while the
// stream is not live; DELETE to end). Extensions: webrtc-http-egress-events (server-sent events
// and layer selection). WHIP: RFC 9725.

const SSE_REL = "urn:ietf:params:whep:ext:core:server-sent-events";
const LAYER_REL = "urn:ietf:params:whep:ext:core:layer";
const SSE_EVENTS = ["layers", "active", "inactive", "viewercount", "reconnect"];

const GATHER_TIMEOUT_MS = 1_000;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 15_000;
const DISCONNECTED_GRACE_MS = 5_000;
const STATS_INTERVAL_MS = 1_000;

// ---------------------------------------------------------------------------------------------
// Pure helpers (exported for unit tests)

/**
 * Parses an HTTP Link header (RFC 8288) into `{ url, rel, params }` entries. `fetch` joins
 * repeated headers with ", ", and quoted parameters (events="a,b") may contain commas, so this
 * scans characters instead of splitting.
 * @param {string | null} header
 * @param {string} baseUrl URL that relative targets resolve against
 * @returns {{ url: string, rel: string, params: Record<string, string> }[]}
 */
export function parseLinkHeader(header, baseUrl) {
  const links = [];
  if (!header) return links;
  let i = 0;
  while (i < header.length) {
    const open = header.indexOf("<", i);
    if (open < 0) break;
    const close = header.indexOf(">", open);
    if (close < 0) break;
    const params = {};
    i = close + 1;
    // Parameters: ; name="value" or ; name=value, until a comma outside quotes.
    while (i < header.length && header[i] !== ",") {
      const match = /^\s*;\s*([^=;,\s]+)\s*(?:=\s*(?:"((?:[^"\\]|\\.)*)"|([^;,\s]*)))?/.exec(
        header.slice(i),
      );
      if (!match) {
        i++;
        continue;
      }
      params[match[1].toLowerCase()] = (match[2] ?? match[3] ?? "").replace(/\\(.)/g, "$1");
      i += match[0].length;
    }
    i++;
    links.push({
      url: new URL(header.slice(open + 1, close), baseUrl).href,
      rel: params.rel ?? "",
      params,
    });
  }
  return links;
}

/**
 * How long to wait before retry number `attempt` (0-based): Retry-After when the server sent
 * one (delta-seconds or an HTTP-date, RFC 9110 §10.2.3), else exponential backoff.
 * @param {number} attempt
 * @param {string | null} retryAfter
 * @param {number} nowMs
 */
export function retryDelayMs(attempt, retryAfter, nowMs = Date.now()) {
  if (retryAfter) {
    const seconds = Number(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - nowMs;
    if (Number.isFinite(ms)) return Math.min(Math.max(ms, 250), 60_000);
  }
  return Math.min(RETRY_BASE_MS * 2 ** Math.min(attempt, 10), RETRY_MAX_MS);
}

/**
 * Index of the first m-line of `kind` in an SDP, as the WHEP layer extension's `mediaId`.
 * @param {string} sdp
 * @param {"audio" | "video"} kind
 */
export function mlineIndex(sdp, kind) {
  const kinds = sdp.split(/\r?\n/).filter((l) => l.startsWith("m=")).map((l) => l.slice(2, 7));
  return kinds.indexOf(kind);
}

/**
 * One-second summary of a receiver's getStats() report. `previous` is the summary returned
 * last time (or null); rates are computed from the difference.
 * @param {Iterable<any> | { values(): Iterable<any> }} report RTCStatsReport or an array of stats
 * @param {any} previous
 * @param {number} nowMs
 */
export function summarizeInboundStats(report, previous, nowMs) {
  const all = [...("values" in report ? report.values() : report)];
  const byId = new Map(all.map((s) => [s.id, s]));
  const video = all.find((s) => s.type === "inbound-rtp" && s.kind === "video");
  const audio = all.find((s) => s.type === "inbound-rtp" && s.kind === "audio");
  const pair = all.find((s) =>
    s.type === "candidate-pair" && s.nominated && s.state === "succeeded"
  );
  const bytes = (video?.bytesReceived ?? 0) + (audio?.bytesReceived ?? 0);
  const received = (video?.packetsReceived ?? 0) + (audio?.packetsReceived ?? 0);
  const lost = Math.max(0, (video?.packetsLost ?? 0) + (audio?.packetsLost ?? 0));
  const seconds = previous ? (nowMs - previous.timeMs) / 1000 : 0;
  const newReceived = previous ? received - previous.packetsReceived : received;
  const newLost = previous ? lost - previous.packetsLost : lost;
  const jitterBufferMs = video?.jitterBufferEmittedCount
    ? (video.jitterBufferDelay / video.jitterBufferEmittedCount) * 1000
    : null;
  const rttMs = pair?.currentRoundTripTime !== undefined ? pair.currentRoundTripTime * 1000 : null;
  return {
    timeMs: nowMs,
    bytesReceived: bytes,
    packetsReceived: received,
    packetsLost: lost,
    width: video?.frameWidth ?? 0,
    height: video?.frameHeight ?? 0,
    framesPerSecond: video?.framesPerSecond ?? 0,
    framesDecoded: video?.framesDecoded ?? 0,
    audioPacketsReceived: audio?.packetsReceived ?? 0,
    videoCodec: byId.get(video?.codecId)?.mimeType ?? "",
    audioCodec: byId.get(audio?.codecId)?.mimeType ?? "",
    bitrateBps: seconds > 0 ? Math.max(0, ((bytes - previous.bytesReceived) * 8) / seconds) : 0,
    lossPercent: newReceived + newLost > 0
      ? (Math.max(0, newLost) * 100) / (newReceived + newLost)
      : 0,
    jitterBufferMs,
    rttMs,
    // Glass-to-glass is unknowable here; jitter buffer plus one-way network is the part we see.
    latencyMs: jitterBufferMs === null ? null : jitterBufferMs + (rttMs ?? 0) / 2,
  };
}

// ---------------------------------------------------------------------------------------------
// Shared HTTP + SDP steps

function authHeaders(token, extra = {}) {
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

/** Resolves once ICE gathering completes, or after a cap: an ICE-lite server needs none of it. */
function waitForGathering(pc, timeoutMs = GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onChange);
      resolve();
    };
    const onChange = () => pc.iceGatheringState === "complete" && done();
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", onChange);
  });
}

class HttpError extends Error {
  constructor(response, body) {
    super(`${response.status} ${response.statusText}${body ? `: ${body.slice(0, 200)}` : ""}`);
    this.status = response.status;
    this.retryAfter = response.headers.get("Retry-After");
  }
}

/** POSTs the local offer; returns the answer, the session URL and the Link header's entries. */
async function exchangeOffer(pc, endpointUrl, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await waitForGathering(pc);
  const response = await fetch(endpointUrl, {
    method: "POST",
    headers: authHeaders(token, { "Content-Type": "application/sdp" }),
    body: pc.localDescription.sdp,
  });
  const body = await response.text();
  if (response.status !== 201) throw new HttpError(response, body);
  const location = response.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  return {
    sessionUrl: location ? new URL(location, response.url || endpointUrl).href : null,
    links: parseLinkHeader(response.headers.get("Link"), response.url || endpointUrl),
  };
}

function deleteSession(sessionUrl, token, keepalive = false) {
  if (!sessionUrl) return Promise.resolve();
  return fetch(sessionUrl, { method: "DELETE", headers: authHeaders(token), keepalive })
    .then((r) => r.body?.cancel())
    .catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// WHEP player

/**
 * A WHEP viewer that keeps itself playing: it waits while the stream is not live (409),
 * reconnects when the connection fails or the publisher comes back, and reports stats.
 *
 * Events (EventTarget, `event.detail`): "status" `{ status, message }` with status one of
 * connecting | waiting | playing | reconnecting | error | stopped; "stats" (see
 * summarizeInboundStats); "layers" `{ mediaId, layers }`; "viewercount" `{ count }`;
 * "active" / "inactive".
 */
export class WhepPlayer extends EventTarget {
  /**
   * @param {string} endpointUrl WHEP endpoint, e.g. /whep/<stream>
   * @param {{ token?: string, video?: HTMLVideoElement }} options
   */
  constructor(endpointUrl, options = {}) {
    super();
    this.endpointUrl = new URL(endpointUrl, globalThis.location?.href).href;
    this.token = options.token ?? "";
    this.video = options.video ?? null;
    this.status = "stopped";
    this.pc = null;
    this.lastStats = null;
    this.layers = null;
    this.viewerCount = null;
    this.layerUrl = null;
    this.videoMediaId = "1";
    this.sessionUrl = null;
    this._attempt = 0;
    this._retryTimer = 0;
    this._graceTimer = 0;
    this._statsTimer = 0;
    this._events = null;
    this._eventsUrl = null;
    this._generation = 0;
    this._stopped = true;
    this._onPageHide = () => deleteSession(this.sessionUrl, this.token, true);
  }

  /** Starts (or restarts) playback. */
  start() {
    this._stopped = false;
    this._attempt = 0;
    clearTimeout(this._retryTimer);
    this._teardown();
    globalThis.addEventListener?.("pagehide", this._onPageHide);
    this._connect();
    return this;
  }

  /** Ends the session (DELETE) and stops retrying. */
  async stop() {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    globalThis.removeEventListener?.("pagehide", this._onPageHide);
    await this._teardown();
    this._setStatus("stopped", "");
  }

  /**
   * Asks the server for one simulcast layer, or automatic selection when `rid` is empty; with
   * `temporalLayerId`, only that layer's temporal layers up to this one (a lower frame rate).
   * @param {string} [rid]
   * @param {number} [temporalLayerId]
   */
  async selectLayer(rid, temporalLayerId) {
    if (!this.layerUrl) throw new Error("the server offers no layer selection");
    const body = rid ? { mediaId: this.videoMediaId, rid } : { mediaId: this.videoMediaId };
    if (temporalLayerId !== undefined && temporalLayerId >= 0) {
      body.temporalLayerId = temporalLayerId;
    }
    const response = await fetch(this.layerUrl, {
      method: "POST",
      headers: authHeaders(this.token, { "Content-Type": "application/json" }),
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new HttpError(response, text);
  }

  _setStatus(status, message) {
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: { status, message } }));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async _connect() {
    const generation = ++this._generation;
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    this.pc = pc;
    // Audio first: m-line 0 audio, m-line 1 video (the layer extension's default mediaId).
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addTransceiver("video", { direction: "recvonly" });
    const media = new MediaStream();
    pc.addEventListener("track", (event) => {
      media.addTrack(event.track);
      this._attachVideo(media);
    });
    pc.addEventListener("connectionstatechange", () => this._onConnectionState(pc, generation));
    this._setStatus(this._attempt === 0 ? "connecting" : "reconnecting", "");
    try {
      const { sessionUrl, links } = await exchangeOffer(pc, this.endpointUrl, this.token);
      if (generation !== this._generation) return; // stopped or superseded meanwhile
      this.sessionUrl = sessionUrl;
      this.videoMediaId = String(Math.max(0, mlineIndex(pc.localDescription.sdp, "video")));
      this._startStats(pc, generation);
      await this._openEvents(links, generation);
    } catch (error) {
      if (generation !== this._generation) return;
      this._onConnectError(error);
    }
  }

  _onConnectError(error) {
    const status = error instanceof HttpError ? error.status : 0;
    if (status === 401 || status === 403) {
      this._teardown();
      this._setStatus("error", status === 401 ? "a viewer token is required" : "access denied");
      return;
    }
    // 409 is the WHEP "not live yet"; some servers say 404. Both mean: wait and retry.
    const waiting = status === 409 || status === 404;
    this._setStatus(
      waiting ? "waiting" : "reconnecting",
      waiting ? "" : String(error.message ?? error),
    );
    this._scheduleRetry(error.retryAfter ?? null);
  }

  _onConnectionState(pc, generation) {
    if (generation !== this._generation) return;
    clearTimeout(this._graceTimer);
    switch (pc.connectionState) {
      case "connected":
        this._attempt = 0;
        this._setStatus("playing", "");
        break;
      case "disconnected":
        // Consent freshness may recover (RFC 7675); give it a moment before starting over.
        this._graceTimer = setTimeout(
          () => this._restart("connection lost"),
          DISCONNECTED_GRACE_MS,
        );
        break;
      case "failed":
        this._restart("connection failed");
        break;
    }
  }

  /** Ends the current session and starts a new one (now, or at `url` for SSE `reconnect`). */
  _restart(reason, url) {
    if (this._stopped) return;
    if (url) this.endpointUrl = new URL(url, this.endpointUrl).href;
    this._setStatus("reconnecting", reason);
    this._teardown();
    this._scheduleRetry(null);
  }

  _scheduleRetry(retryAfter) {
    if (this._stopped) return;
    this._teardown();
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._connect(), retryDelayMs(this._attempt++, retryAfter));
  }

  /** Releases the current session. Safe to call at any time; never throws. */
  _teardown() {
    this._generation++;
    clearTimeout(this._graceTimer);
    clearInterval(this._statsTimer);
    this._events?.close();
    this._events = null;
    this._eventsUrl = null;
    this.layerUrl = null;
    this.pc?.close();
    this.pc = null;
    const sessionUrl = this.sessionUrl;
    this.sessionUrl = null;
    return deleteSession(sessionUrl, this.token);
  }

  _attachVideo(media) {
    if (!this.video || this.video.srcObject === media) return;
    this.video.srcObject = media;
    this.video.play().catch(() => {
      // Autoplay with sound needs a user gesture; muted playback never does.
      this.video.muted = true;
      this.video.play().catch(() => {});
    });
  }

  _startStats(pc, generation) {
    let previous = null;
    this._statsTimer = setInterval(() => {
      pc.getStats().then((report) => {
        if (generation !== this._generation) return;
        const summary = summarizeInboundStats(report, previous, performance.now());
        previous = summary;
        this.lastStats = summary;
        this._emit("stats", summary);
      }).catch(() => {}); // the connection closed meanwhile
    }, STATS_INTERVAL_MS);
  }

  /** Subscribes to the WHEP server-sent events when the server links them. */
  async _openEvents(links, generation) {
    const sse = links.find((l) => l.rel === SSE_REL);
    this.layerUrl = links.find((l) => l.rel === LAYER_REL)?.url ?? null;
    if (!sse) return;
    // Ask only for what the server advertises, when it says (400 otherwise).
    const offered = sse.params.events?.split(",").map((e) => e.trim());
    const wanted = offered ? SSE_EVENTS.filter((e) => offered.includes(e)) : SSE_EVENTS;
    const response = await fetch(sse.url, {
      method: "POST",
      headers: authHeaders(this.token, { "Content-Type": "application/json" }),
      body: JSON.stringify(wanted),
    });
    await response.body?.cancel();
    const location = response.headers.get("Location");
    if (response.status !== 201 || !location || generation !== this._generation) return;
    this._eventsUrl = new URL(location, sse.url).href;
    const events = new EventSource(this._eventsUrl);
    this._events = events;
    let wasInactive = false;
    const on = (type, handler) =>
      events.addEventListener(type, (event) => {
        if (generation !== this._generation) return;
        let data = {};
        try {
          data = event.data ? JSON.parse(event.data) : {};
        } catch {
          return;
        }
        handler(data);
      });
    on("layers", (data) => {
      this.layers = data[this.videoMediaId] ?? Object.values(data)[0] ?? [];
      this._emit("layers", { mediaId: this.videoMediaId, layers: this.layers });
    });
    on("viewercount", (data) => {
      this.viewerCount = data.viewercount ?? null;
      this._emit("viewercount", { count: this.viewerCount });
    });
    on("inactive", () => {
      wasInactive = true;
      this._setStatus("waiting", "the publisher went away");
      this._emit("inactive", {});
    });
    on("active", () => {
      this._emit("active", {});
      // A returning publisher may use another codec or SSRC: a fresh session is simplest.
      if (wasInactive) this._restart("the publisher is back");
    });
    on("reconnect", (data) => this._restart("the server asked to reconnect", data.url));
  }
}

/**
 * Starts playing a WHEP endpoint; see {@link WhepPlayer}.
 * @example const player = whepPlay("/whep/cam1", { video: document.querySelector("video") });
 * @param {string} endpointUrl
 * @param {{ token?: string, video?: HTMLVideoElement }} [options]
 */
export function whepPlay(endpointUrl, options = {}) {
  return new WhepPlayer(endpointUrl, options).start();
}

// ---------------------------------------------------------------------------------------------
// WHIP publisher

const SIMULCAST_ENCODINGS = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: "f", maxBitrate: 1_500_000 },
];

/** The video encodings whipPublish asks for; undefined: the browser's single default. */
function sendEncodings(options) {
  const mode = options.scalabilityMode ? { scalabilityMode: options.scalabilityMode } : {};
  if (options.simulcast) return SIMULCAST_ENCODINGS.map((e) => ({ ...e, ...mode }));
  return options.scalabilityMode ? [mode] : undefined;
}

/** Puts `codec` (e.g. "H264", "VP8") first and drops other media codecs (RTX etc. stay). */
function preferVideoCodec(transceiver, codec) {
  const capabilities = RTCRtpSender.getCapabilities("video");
  if (!capabilities || !transceiver.setCodecPreferences) return;
  const wanted = `video/${codec}`.toLowerCase();
  const chosen = capabilities.codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  if (chosen.length === 0) throw new Error(`this browser cannot send ${codec}`);
  const helpers = capabilities.codecs.filter((c) => /\/(rtx|red|ulpfec)$/i.test(c.mimeType));
  transceiver.setCodecPreferences([...chosen, ...helpers]);
}

/**
 * Publishes the camera and microphone (or `mediaStream`) to a WHIP endpoint.
 * Resolves once the server answered (201); `connected` resolves when media flows.
 * @example const pub = await whipPublish("/whip/cam1", { token: "secret", codec: "VP8" });
 * @param {string} endpointUrl
 * `scalabilityMode` (e.g. "L1T3": three temporal layers, VP8/VP9/AV1) applies to every encoding.
 * @param {{ token?: string, codec?: "H264" | "VP8" | "VP9" | "AV1", mediaStream?: MediaStream,
 *   simulcast?: boolean, scalabilityMode?: string, video?: MediaTrackConstraints | boolean,
 *   audio?: boolean }} [options]
 */
export async function whipPublish(endpointUrl, options = {}) {
  const token = options.token ?? "";
  if (!options.mediaStream && !navigator.mediaDevices) {
    throw new Error(
      globalThis.isSecureContext === false
        ? "browsers give cameras only to HTTPS pages (or localhost); open this page over https://"
        : "this browser offers no camera (navigator.mediaDevices is missing)",
    );
  }
  const mediaStream = options.mediaStream ??
    await navigator.mediaDevices.getUserMedia({
      video: options.video ?? { width: 640, height: 360, frameRate: 30 },
      audio: options.audio ?? true,
    });
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  // Audio first, then video, as OBS does: one MediaStream, at most one track per kind (RFC 9725 §4.2).
  for (const track of mediaStream.getAudioTracks().slice(0, 1)) {
    pc.addTransceiver(track, { direction: "sendonly", streams: [mediaStream] });
  }
  for (const track of mediaStream.getVideoTracks().slice(0, 1)) {
    const transceiver = pc.addTransceiver(track, {
      direction: "sendonly",
      streams: [mediaStream],
      sendEncodings: sendEncodings(options),
    });
    preferVideoCodec(transceiver, options.codec ?? "H264");
  }
  const url = new URL(endpointUrl, globalThis.location?.href).href;
  let sessionUrl = null;
  try {
    ({ sessionUrl } = await exchangeOffer(pc, url, token));
  } catch (error) {
    pc.close();
    if (!options.mediaStream) mediaStream.getTracks().forEach((t) => t.stop());
    throw error;
  }
  const onPageHide = () => deleteSession(sessionUrl, token, true);
  globalThis.addEventListener?.("pagehide", onPageHide);
  return {
    pc,
    mediaStream,
    sessionUrl,
    connected: new Promise((resolve, reject) => {
      const check = () => {
        if (pc.connectionState === "connected") resolve();
        if (pc.connectionState === "failed" || pc.connectionState === "closed") {
          reject(new Error(`publisher connection ${pc.connectionState}`));
        }
      };
      pc.addEventListener("connectionstatechange", check);
      check();
    }),
    /** Ends the session (DELETE) and releases the camera. */
    async stop() {
      globalThis.removeEventListener?.("pagehide", onPageHide);
      pc.close();
      if (!options.mediaStream) mediaStream.getTracks().forEach((t) => t.stop());
      await deleteSession(sessionUrl, token);
    },
  };
}

/**
 * Publishes to `<baseUrl>/whip/<stream>`.
 * @param {string} baseUrl server origin, e.g. location.origin
 * @param {string} token publish token ("" for none)
 * @param {string} stream stream name
 * @param {{ codec?: "H264" | "VP8" }} [options]
 */
export function publish(baseUrl, token, stream, options = {}) {
  return whipPublish(`${baseUrl.replace(/\/$/, "")}/whip/${encodeURIComponent(stream)}`, {
    ...options,
    token,
  });
}
