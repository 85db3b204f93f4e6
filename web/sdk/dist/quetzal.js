// Quetzal browser SDK, protocol v1. Generated from web/sdk/*.ts by `deno task sdk`:
// edit the TypeScript, not this file. Guide: docs/sdk.md.
// web/sdk/errors.ts
var QuetzalError = class extends Error {
  name = "QuetzalError";
  code;
  constructor(code, message) {
    super(message);
    this.code = code;
  }
};

// web/sdk/publisher.ts
var SIMULCAST_LAYERS = [
  {
    rid: "q",
    scaleResolutionDownBy: 4
  },
  {
    rid: "h",
    scaleResolutionDownBy: 2
  },
  {
    rid: "f",
    scaleResolutionDownBy: 1
  }
];
var GATHER_TIMEOUT_MS = 2e3;
var Publisher = class {
  pc;
  published = /* @__PURE__ */ new Map();
  #sendOffer;
  #queue = Promise.resolve();
  constructor(config, sendOffer) {
    this.pc = new RTCPeerConnection(config);
    this.#sendOffer = sendOffer;
  }
  /** Adds `track` as `source` and negotiates; on refusal, the source is taken back out. */
  add(source, track, simulcast, owned) {
    return this.#serial(async () => {
      const transceiver = this.#transceiverFor(track, simulcast);
      const entry = {
        source,
        track,
        transceiver,
        simulcast,
        owned,
        muted: false,
        maxHeight: void 0
      };
      this.published.set(source, entry);
      try {
        await this.#negotiate(false);
      } catch (error) {
        this.published.delete(source);
        await this.#retire(transceiver);
        throw error;
      }
      return entry;
    });
  }
  /** Stops sending `source` and negotiates without it. */
  remove(source) {
    return this.#serial(async () => {
      const entry = this.published.get(source);
      if (!entry) return;
      this.published.delete(source);
      await this.#retire(entry.transceiver);
      if (entry.owned) entry.track.stop();
      if (this.pc.connectionState !== "closed") await this.#negotiate(false);
    });
  }
  /** A re-offer with new ICE credentials (after a network change or a failed connection). */
  restartIce() {
    return this.#serial(() => this.#negotiate(true));
  }
  /**
   * Dynacast: keep the encodings up to the first whose height is at or above `maxHeight`,
   * the others `active: false`; 0 turns all off. Without simulcast, one encoding: on unless 0.
   */
  async constrain(source, maxHeight) {
    const entry = this.published.get(source);
    if (!entry) return;
    entry.maxHeight = maxHeight;
    await applyConstraint(entry);
  }
  close() {
    for (const entry of this.published.values()) if (entry.owned) entry.track.stop();
    this.published.clear();
    this.pc.close();
  }
  /** A stopped transceiver of the same kind and shape is reused, so m-lines do not pile up. */
  #transceiverFor(track, simulcast) {
    const used = new Set([
      ...this.published.values()
    ].map((p) => p.transceiver));
    const idle = this.pc.getTransceivers().find((t) => !used.has(t) && t.direction === "inactive" && t.receiver.track.kind === track.kind && (t.sender.getParameters().encodings?.length ?? 1) === (simulcast ? 3 : 1));
    if (idle) {
      idle.direction = "sendonly";
      idle.sender.replaceTrack(track);
      return idle;
    }
    const init = {
      direction: "sendonly",
      streams: []
    };
    if (simulcast) init.sendEncodings = SIMULCAST_LAYERS.map((l) => ({
      ...l,
      active: true
    }));
    return this.pc.addTransceiver(track, init);
  }
  async #retire(transceiver) {
    if (this.pc.connectionState === "closed") return;
    await transceiver.sender.replaceTrack(null);
    transceiver.direction = "inactive";
  }
  async #negotiate(iceRestart) {
    const offer = await this.pc.createOffer({
      iceRestart
    });
    await this.pc.setLocalDescription(offer);
    await gathered(this.pc);
    const sources = {};
    for (const entry of this.published.values()) {
      const mid = entry.transceiver.mid;
      if (mid !== null) sources[mid] = entry.source;
    }
    const sdp = this.pc.localDescription?.sdp ?? offer.sdp ?? "";
    let answer;
    try {
      answer = await this.#sendOffer(sdp, sources);
    } catch (error) {
      if (this.pc.signalingState === "have-local-offer") {
        await this.pc.setLocalDescription({
          type: "rollback"
        });
      }
      throw error;
    }
    await this.pc.setRemoteDescription({
      type: "answer",
      sdp: answer
    });
    for (const entry of this.published.values()) await applyConstraint(entry);
  }
  #serial(task) {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {
    });
    return run;
  }
};
async function applyConstraint(entry) {
  const sender = entry.transceiver.sender;
  const params = sender.getParameters();
  if (!params.encodings || params.encodings.length === 0) return;
  const maxHeight = entry.maxHeight;
  const active = activeLayers(entry.track.getSettings().height ?? 720, params.encodings.map((e) => e.scaleResolutionDownBy ?? 1), maxHeight);
  let changed = false;
  params.encodings.forEach((encoding, i) => {
    if (encoding.active !== active[i]) {
      encoding.active = active[i];
      changed = true;
    }
  });
  if (changed) await sender.setParameters(params);
}
function activeLayers(trackHeight, scales, maxHeight) {
  if (maxHeight === void 0) return scales.map(() => true);
  if (maxHeight === 0) return scales.map(() => false);
  const order = scales.map((scale, i) => ({
    i,
    height: trackHeight / scale
  })).sort((a, b) => a.height - b.height);
  const active = scales.map(() => false);
  for (const layer of order) {
    active[layer.i] = true;
    if (layer.height >= maxHeight) break;
  }
  return active;
}
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onChange);
      resolve();
    };
    const onChange = () => pc.iceGatheringState === "complete" && done();
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", onChange);
  });
}

// web/sdk/signal.ts
var PING_INTERVAL_MS = 1e4;
var REQUEST_TIMEOUT_MS = 15e3;
function errorCode(code) {
  return code;
}
async function refusal(url) {
  try {
    const res = await fetch(url.replace(/^ws/, "http"), {
      signal: AbortSignal.timeout(5e3)
    });
    await res.body?.cancel();
    if (res.status === 404) return new QuetzalError("not-found", "no such room (or it ended)");
  } catch {
  }
  return new QuetzalError("connection-failed", `no WebSocket to ${url}`);
}
var Signal = class _Signal {
  #socket;
  #handlers;
  #nextId = 1;
  #pending = /* @__PURE__ */ new Map();
  #pingTimer;
  #awaitingPong = false;
  #closed = false;
  constructor(socket, handlers) {
    this.#socket = socket;
    this.#handlers = handlers;
    socket.addEventListener("message", (event) => this.#onMessage(event.data));
    socket.addEventListener("close", (event) => this.#end(event.code, true));
    this.#pingTimer = setInterval(() => this.#ping(), PING_INTERVAL_MS);
  }
  /** Opens the socket at `url` (ws: or wss:); rejects with `connection-failed`. */
  static open(url, handlers) {
    return new Promise((resolve, reject) => {
      let socket;
      try {
        socket = new WebSocket(url);
      } catch (error) {
        reject(new QuetzalError("connection-failed", `cannot open ${url}: ${error}`));
        return;
      }
      let failed = false;
      const fail = () => {
        socket.removeEventListener("open", ok);
        if (failed) return;
        failed = true;
        refusal(url).then(reject);
      };
      const ok = () => {
        socket.removeEventListener("error", fail);
        socket.removeEventListener("close", fail);
        resolve(new _Signal(socket, handlers));
      };
      socket.addEventListener("open", ok, {
        once: true
      });
      socket.addEventListener("error", fail, {
        once: true
      });
      socket.addEventListener("close", fail, {
        once: true
      });
    });
  }
  get open() {
    return !this.#closed;
  }
  /** Sends a request and resolves with its answer; a refusal rejects with the server's code. */
  request(message, timeoutMs = REQUEST_TIMEOUT_MS) {
    if (this.#closed) {
      return Promise.reject(new QuetzalError("closed", `${message.t}: not connected`));
    }
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers();
    const timer = setTimeout(() => {
      this.#pending.delete(id);
      reject(new QuetzalError("timeout", `${message.t}: no answer after ${timeoutMs} ms`));
    }, timeoutMs);
    this.#pending.set(id, {
      resolve,
      reject,
      timer
    });
    this.#socket.send(JSON.stringify({
      v: 1,
      id,
      ...message
    }));
    return promise.then((answer) => {
      if (answer.t === "reply" && !answer.ok) {
        throw new QuetzalError(errorCode(answer.error.code), answer.error.message);
      }
      return answer;
    });
  }
  /** Sends a message that needs no answer (a refusal comes back as an `error` event). */
  send(message) {
    if (!this.#closed) this.#socket.send(JSON.stringify({
      v: 1,
      ...message
    }));
  }
  /**
   * Closes the socket (1000) and fails what still waits with `closed`; no `onClose`. Resolves
   * once the socket is closed (or after a second: a dead peer never answers the close).
   */
  close() {
    if (this.#socket.readyState === WebSocket.CLOSED) {
      this.#end(1e3, false);
      return Promise.resolve();
    }
    const { promise, resolve } = Promise.withResolvers();
    const timer = setTimeout(resolve, 1e3);
    this.#socket.addEventListener("close", () => {
      clearTimeout(timer);
      resolve();
    });
    this.#end(1e3, false);
    try {
      this.#socket.close(1e3);
    } catch {
    }
    return promise;
  }
  #ping() {
    if (this.#awaitingPong) {
      this.#end(4900, true);
      try {
        this.#socket.close(4e3, "no pong");
      } catch {
      }
      return;
    }
    this.#awaitingPong = true;
    this.send({
      t: "ping"
    });
  }
  #onMessage(data) {
    if (typeof data !== "string") return;
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (message.t === "pong") this.#awaitingPong = false;
    const re = "re" in message ? message.re : void 0;
    if (re !== void 0) {
      const pending = this.#pending.get(re);
      if (pending) {
        this.#pending.delete(re);
        clearTimeout(pending.timer);
        pending.resolve(message);
        return;
      }
    }
    if (message.t === "pong") return;
    try {
      this.#handlers.onEvent(message);
    } catch (error) {
      console.error(`quetzal: handling ${message.t}`, error);
    }
  }
  #end(code, notify) {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pingTimer);
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new QuetzalError("closed", "the connection to the room closed"));
    }
    this.#pending.clear();
    if (notify) this.#handlers.onClose(code);
  }
};

// web/sdk/subscriber.ts
var Subscriber = class {
  /** Made at the first offer: `bound` and `activeSpeakers` may come before it. */
  pc = null;
  #config;
  #sendAnswer;
  #onConnectionFailed;
  #bindings = /* @__PURE__ */ new Map();
  #slots = /* @__PURE__ */ new Map();
  #queue = Promise.resolve();
  constructor(config, sendAnswer, onConnectionFailed) {
    this.#config = config;
    this.#sendAnswer = sendAnswer;
    this.#onConnectionFailed = onConnectionFailed;
  }
  /**
   * Applies an offer and answers it. Its `bound` list is taken at once, not after the
   * negotiation: a `bound` message that comes meanwhile is newer and must win.
   */
  offer(rev, sdp, bound) {
    this.bind(bound);
    const pc = this.pc ??= this.#newPc();
    return this.#serial(async () => {
      await pc.setRemoteDescription({
        type: "offer",
        sdp
      });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await gathered(pc);
      await this.#sendAnswer(rev, pc.localDescription?.sdp ?? answer.sdp ?? "");
    });
  }
  #newPc() {
    const pc = new RTCPeerConnection(this.#config);
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed") this.#onConnectionFailed();
    });
    return pc;
  }
  /** New bindings of some m-lines (`bound` messages and offers). */
  bind(bound) {
    for (const binding of bound) this.#bindings.set(binding.mid, binding);
  }
  /** Whose voice each audio slot carries now (`activeSpeakers.slots`). */
  setSlots(slots) {
    for (const [mid, participant] of Object.entries(slots)) this.#slots.set(mid, participant);
  }
  /** Resolves once the negotiations started so far are done. */
  settled() {
    return this.#queue.then(() => {
    });
  }
  /** What every mid carries now, for mids that exist on this PC. */
  carried() {
    const out = [];
    if (!this.pc) return out;
    const transceivers = new Map(this.pc.getTransceivers().filter((t) => t.mid !== null).map((t) => [
      t.mid,
      t
    ]));
    for (const binding of this.#bindings.values()) {
      const transceiver = transceivers.get(binding.mid);
      if (!transceiver || transceiver.currentDirection === "inactive") continue;
      let participant = binding.participant;
      let source = binding.source;
      if (binding.kind === "audio" && participant === null) {
        participant = this.#slots.get(binding.mid) ?? null;
        source = "microphone";
      }
      if (participant === null || source === null) continue;
      out.push({
        mid: binding.mid,
        kind: binding.kind,
        participant,
        source,
        track: transceiver.receiver.track
      });
    }
    return out;
  }
  close() {
    this.pc?.close();
  }
  #serial(task) {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {
    });
    return run;
  }
};

// web/sdk/room.ts
var DEFAULT_RECONNECT_TIMEOUT_MS = 2e4;
var SUBSCRIPTION_DEBOUNCE_MS = 100;
var DEFAULT_MAX_HEIGHT = {
  camera: 360,
  screen: 1080,
  screenAudio: 180
};
var TERMINAL_JOIN_CODES = /* @__PURE__ */ new Set([
  "unauthorized",
  "forbidden",
  "not-found",
  "room-full"
]);
var Room = class {
  roomId;
  /** The room's name and limits, as of the last join. */
  info;
  localParticipant;
  /** Everyone else present, by id. */
  participants = /* @__PURE__ */ new Map();
  /** Participants present but hidden (listeners counted, not listed). */
  hiddenListeners;
  /** The loudest speakers, loudest first. */
  activeSpeakers;
  #address;
  #options;
  #token;
  #signal;
  #resumeToken;
  #publisher = null;
  #subscriber = null;
  #producers = /* @__PURE__ */ new Map();
  #reported = /* @__PURE__ */ new Map();
  #wanted = /* @__PURE__ */ new Map();
  #lastSubscription = "[]";
  #subscriptionTimer;
  #handlers = /* @__PURE__ */ new Map();
  #state = "connected";
  #toldNoMedia = false;
  /** Use `joinRoom`. */
  constructor(address, options, token, signal, joined) {
    this.roomId = address.roomId;
    this.#address = address;
    this.#options = options;
    this.#token = token;
    this.#signal = signal;
    this.info = joined.room;
    this.#resumeToken = joined.resumeToken;
    this.localParticipant = localOf(joined.self);
    this.hiddenListeners = joined.listeners;
    this.activeSpeakers = joined.speakers;
    this.#applySnapshot(joined, false);
  }
  /** `connected`, `reconnecting` or `closed`. */
  get state() {
    return this.#state;
  }
  /** Your published tracks, by source. */
  get localTracks() {
    const out = /* @__PURE__ */ new Map();
    for (const p of this.#publisher?.published.values() ?? []) {
      out.set(p.source, {
        source: p.source,
        kind: p.track.kind === "audio" ? "audio" : "video",
        mediaStreamTrack: p.track,
        muted: p.muted,
        simulcast: p.simulcast,
        constraint: p.maxHeight
      });
    }
    return out;
  }
  /** The underlying peer connections (null until used), for diagnostics. */
  get peerConnections() {
    return {
      publish: this.#publisher?.pc ?? null,
      subscribe: this.#subscriber?.pc ?? null
    };
  }
  /** Calls `handler` on `event`; returns a function that removes it. */
  on(event, handler) {
    let set = this.#handlers.get(event);
    if (!set) this.#handlers.set(event, set = /* @__PURE__ */ new Set());
    set.add(handler);
    return () => this.off(event, handler);
  }
  off(event, handler) {
    this.#handlers.get(event)?.delete(handler);
  }
  /**
   * Publishes `source`: the given track, or one captured (camera and microphone with
   * getUserMedia, screen with getDisplayMedia; a screen capture with sound also publishes
   * `screenAudio`). A track that ends (the browser's "stop sharing") is unpublished.
   */
  async publish(source, options = {}) {
    this.#assertOpen("publish");
    let track = options.track;
    let owned = false;
    let extraAudio;
    if (!track) {
      owned = true;
      const captured = await capture(source, options.capture);
      track = captured.main;
      extraAudio = captured.audio;
    }
    const simulcast = options.simulcast ?? source === "camera";
    try {
      const local = await this.#publishTrack(source, track, simulcast, owned);
      if (extraAudio) {
        await this.#publishTrack("screenAudio", extraAudio, false, true).catch((error) => {
          extraAudio?.stop();
          console.warn(`quetzal: screen audio not published: ${error.message}`);
        });
      }
      return local;
    } catch (error) {
      if (owned) track.stop();
      extraAudio?.stop();
      throw error;
    }
  }
  /** Stops publishing `source` (and stops the track if the SDK captured it). */
  async unpublish(source) {
    this.#assertOpen("unpublish");
    await this.#publisher?.remove(source);
    if (source === "screen" && this.#publisher?.published.has("screenAudio")) {
      const audio = this.#publisher.published.get("screenAudio");
      if (audio?.owned) await this.#publisher.remove("screenAudio");
    }
  }
  /**
   * Mutes or unmutes a published source: the track is disabled locally (no camera light
   * change; silence or black) and the server stops forwarding it. Unmuting after an admin's
   * mute rejects with `forbidden` until the lock is lifted.
   */
  async setMuted(source, muted) {
    this.#assertOpen("setMuted");
    const entry = this.#publisher?.published.get(source);
    if (!entry) throw new QuetzalError("bad-request", `${source} is not published`);
    if (muted) {
      entry.track.enabled = false;
      entry.muted = true;
    }
    await this.#signal.request({
      t: "mute",
      source,
      muted
    });
    if (!muted) {
      entry.track.enabled = true;
      entry.muted = false;
    }
    this.#setLocalMuted(source, muted);
  }
  /**
   * What to receive of one participant's camera, screen or screen audio: `maxHeight` is the
   * tile's height in device pixels rounded up to a step (see {@linkcode maxHeightFor}),
   * `paused` receives nothing. Changes are sent together after 100 ms. Microphones always
   * arrive in audio slots and are not subscribed one by one (mute their element instead).
   */
  setSubscription(participantId, source, options) {
    if (source === "microphone") return;
    const key = `${participantId}/${source}`;
    this.#wanted.set(key, {
      ...this.#wanted.get(key),
      ...options
    });
    this.#scheduleSubscription();
  }
  /**
   * Plays `track` in `element` and, for video, keeps its subscription fitted to the element:
   * maxHeight from its CSS height × devicePixelRatio, 0 while it is hidden or off screen.
   * Returns a function that detaches it.
   */
  attach(track, element) {
    element.srcObject = new MediaStream([
      track.mediaStreamTrack
    ]);
    element.autoplay = true;
    if (element instanceof HTMLVideoElement) element.playsInline = true;
    element.play().catch(() => {
    });
    if (track.kind !== "video") return () => element.srcObject = null;
    let visible = true;
    let timer;
    const update = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const height = visible ? element.clientHeight * (globalThis.devicePixelRatio || 1) : 0;
        this.setSubscription(track.participant, track.source, {
          maxHeight: maxHeightFor(height)
        });
      }, SUBSCRIPTION_DEBOUNCE_MS);
    };
    const resize = new ResizeObserver(update);
    resize.observe(element);
    const intersection = new IntersectionObserver((entries) => {
      visible = entries.some((e) => e.isIntersecting);
      update();
    });
    intersection.observe(element);
    update();
    return () => {
      clearTimeout(timer);
      resize.disconnect();
      intersection.disconnect();
      element.srcObject = null;
    };
  }
  /** Raises or lowers your hand (listeners raise; anyone lowers). */
  async raiseHand(raised) {
    this.#assertOpen("raiseHand");
    await this.#signal.request({
      t: "raiseHand",
      raised
    });
  }
  // Admins (docs/rooms.md, roles): refused with `forbidden` for others.
  /** Makes a participant a speaker (default) or an admin. */
  async promote(participantId, role = "speaker") {
    await this.#signal.request({
      t: "promote",
      participant: participantId,
      role
    });
  }
  /** Makes a participant a listener (default) or a speaker; their sources stop. */
  async demote(participantId, role = "listener") {
    await this.#signal.request({
      t: "demote",
      participant: participantId,
      role
    });
  }
  /** Mutes and locks someone's source; `muted: false` lifts the lock (never unmutes). */
  async muteParticipant(participantId, source, muted = true) {
    await this.#signal.request({
      t: "muteParticipant",
      participant: participantId,
      source,
      muted
    });
  }
  /** Removes a participant from the room. */
  async remove(participantId) {
    await this.#signal.request({
      t: "remove",
      participant: participantId
    });
  }
  /** Ends the room for everyone (you get `disconnected("roomEnded")` too). */
  async endRoom() {
    this.#signal.send({
      t: "endRoom"
    });
    await new Promise((resolve) => {
      if (this.#state === "closed") return resolve();
      const off = this.on("disconnected", () => (off(), resolve()));
    });
  }
  /** A new token for `role`, valid `expiresInS` seconds (60 s – 30 days). */
  async createInvite(role, expiresInS) {
    const { token, expiresAt } = await this.#signal.request({
      t: "createInvite",
      role,
      expiresInS
    });
    return {
      role,
      token,
      expiresAt
    };
  }
  /** Voids every earlier token and link of the room (people inside stay). */
  async resetInvites() {
    await this.#signal.request({
      t: "resetInvites"
    });
  }
  /** Statistics of both connections, with a summary per received track. */
  async getStats() {
    const publish = this.#publisher ? await this.#publisher.pc.getStats() : null;
    const subscribe = this.#subscriber?.pc ? await this.#subscriber.pc.getStats() : null;
    const tracks = [];
    subscribe?.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      const track = this.#reported.get(s.mid);
      if (!track) return;
      const entry = {
        participant: track.participant,
        source: track.source,
        kind: track.kind,
        mid: track.mid,
        packetsReceived: s.packetsReceived ?? 0,
        bytesReceived: s.bytesReceived ?? 0,
        packetsLost: s.packetsLost ?? 0
      };
      if (track.kind === "video") {
        entry.framesDecoded = s.framesDecoded ?? 0;
        entry.frameWidth = s.frameWidth ?? 0;
        entry.frameHeight = s.frameHeight ?? 0;
      } else {
        entry.totalAudioEnergy = s.totalAudioEnergy ?? 0;
      }
      tracks.push(entry);
    });
    return {
      publish,
      subscribe,
      tracks
    };
  }
  /** Leaves the room: tells the server, closes both connections, stops captured tracks. */
  async leave() {
    if (this.#state === "closed") return;
    const signal = this.#signal;
    const wasConnected = this.#state === "connected";
    this.#state = "closed";
    if (wasConnected) await signal.request({
      t: "leave"
    }, 3e3).catch(() => {
    });
    await this.#teardown("left");
  }
  // ── Publishing ──────────────────────────────────────────────────────────────────────────
  async #publishTrack(source, track, simulcast, owned) {
    const publisher = this.#publisher ??= this.#newPublisher();
    if (publisher.published.has(source)) await publisher.remove(source);
    const entry = await publisher.add(source, track, simulcast, owned);
    if (this.localParticipant.muted.includes(source)) {
      entry.muted = true;
      track.enabled = false;
    }
    track.addEventListener("ended", () => {
      if (this.#publisher?.published.get(source)?.track === track && this.#state !== "closed") {
        this.unpublish(source).catch(() => {
        });
      }
    }, {
      once: true
    });
    return {
      source,
      kind: track.kind === "audio" ? "audio" : "video",
      mediaStreamTrack: track,
      muted: entry.muted,
      simulcast,
      constraint: entry.maxHeight
    };
  }
  #newPublisher() {
    const publisher = new Publisher(this.#options.rtcConfig ?? {}, async (sdp, sources) => {
      const answer = await this.#signal.request({
        t: "offer",
        pc: "pub",
        sdp,
        sources
      });
      return answer.sdp;
    });
    publisher.pc.addEventListener("connectionstatechange", () => {
      if (publisher.pc.connectionState === "failed" && this.#state === "connected") {
        publisher.restartIce().catch(() => {
        });
      }
    });
    return publisher;
  }
  // ── Subscribing ─────────────────────────────────────────────────────────────────────────
  #newSubscriber() {
    return new Subscriber(this.#options.rtcConfig ?? {}, async (rev, sdp) => {
      await this.#signal.request({
        t: "answer",
        pc: "sub",
        rev,
        sdp
      }).catch((error) => {
        if (!(error instanceof QuetzalError && error.code === "conflict")) throw error;
      });
    }, () => {
      if (this.#state !== "connected") return;
      this.#signal.request({
        t: "restartIce",
        pc: "sub"
      }).catch(() => {
      });
    });
  }
  /** Reports what changed on the subscribe PC as trackUnsubscribed / trackSubscribed. */
  #reconcile() {
    const carried = /* @__PURE__ */ new Map();
    for (const c of this.#subscriber?.carried() ?? []) {
      if (this.participants.has(c.participant)) carried.set(c.mid, c);
    }
    for (const [mid, track] of this.#reported) {
      const now = carried.get(mid);
      if (now && now.participant === track.participant && now.source === track.source && now.track === track.mediaStreamTrack) continue;
      this.#unsubscribe(mid, track);
    }
    for (const [mid, c] of carried) {
      if (this.#reported.has(mid)) continue;
      const participant = this.participants.get(c.participant);
      if (!participant) continue;
      const track = {
        source: c.source,
        kind: c.kind,
        mediaStreamTrack: c.track,
        participant: c.participant,
        mid
      };
      this.#reported.set(mid, track);
      participant.tracks.set(c.source, track);
      this.#emit("trackSubscribed", track, participant);
    }
  }
  #unsubscribe(mid, track) {
    this.#reported.delete(mid);
    const participant = this.participants.get(track.participant);
    if (!participant) return;
    if (participant.tracks.get(track.source) === track) participant.tracks.delete(track.source);
    this.#emit("trackUnsubscribed", track, participant);
  }
  #scheduleSubscription() {
    if (this.#subscriptionTimer !== void 0 || this.#state === "closed") return;
    this.#subscriptionTimer = setTimeout(() => {
      this.#subscriptionTimer = void 0;
      this.#sendSubscription();
    }, SUBSCRIPTION_DEBOUNCE_MS);
  }
  #sendSubscription() {
    if (this.#state !== "connected") return;
    const items = [];
    const autoSubscribe = this.#options.autoSubscribe ?? true;
    const listed = /* @__PURE__ */ new Set();
    for (const producer of this.#producers.values()) {
      const source = producer.source;
      if (source === "microphone" || producer.participant === this.localParticipant.id) continue;
      const key = `${producer.participant}/${source}`;
      if (listed.has(key)) continue;
      listed.add(key);
      const wanted = this.#wanted.get(key);
      if (!wanted && !autoSubscribe) continue;
      const maxHeight = wanted?.paused ? 0 : wanted?.maxHeight ?? DEFAULT_MAX_HEIGHT[source];
      const item = {
        participant: producer.participant,
        source,
        maxHeight
      };
      if (wanted?.stage) item.stage = true;
      items.push(item);
    }
    const text = JSON.stringify(items);
    if (text === this.#lastSubscription) return;
    this.#lastSubscription = text;
    this.#signal.request({
      t: "setSubscription",
      items
    }).catch((error) => {
      this.#lastSubscription = "";
      if (this.#state === "connected") console.warn(`quetzal: setSubscription: ${error.message}`);
    });
  }
  // ── Server messages ─────────────────────────────────────────────────────────────────────
  /** @internal Every event of the signalling socket. */
  handle(message) {
    switch (message.t) {
      case "participants":
        this.hiddenListeners = message.listeners;
        for (const p of message.joined) this.#upsert(p);
        for (const p of message.updated) this.#upsert(p);
        for (const id of message.left) this.#remove(id);
        break;
      case "producers":
        for (const id of message.removed) this.#producers.delete(id);
        for (const p of message.added) this.#producers.set(p.id, p);
        this.#scheduleSubscription();
        break;
      case "offer": {
        if (typeof RTCPeerConnection === "undefined") {
          if (!this.#toldNoMedia) console.warn("quetzal: no RTCPeerConnection here: no media");
          this.#toldNoMedia = true;
          break;
        }
        const subscriber = this.#subscriber ??= this.#newSubscriber();
        subscriber.offer(message.rev, message.sdp, message.bound).catch((error) => console.warn(`quetzal: subscribe offer ${message.rev}: ${error}`)).finally(() => this.#reconcile());
        break;
      }
      case "bound": {
        const subscriber = this.#subscriber ??= this.#newSubscriber();
        subscriber.bind(message.bound);
        subscriber.settled().then(() => this.#reconcile());
        break;
      }
      case "activeSpeakers": {
        this.activeSpeakers = message.speakers;
        const subscriber = this.#subscriber ??= this.#newSubscriber();
        subscriber.setSlots(message.slots);
        subscriber.settled().then(() => this.#reconcile());
        this.#emit("activeSpeakersChanged", message.speakers);
        break;
      }
      case "senderConstraint":
        this.#publisher?.constrain(message.source, message.maxHeight).catch(() => {
        });
        break;
      case "roleChanged":
        if (message.participant !== this.localParticipant.id) break;
        this.localParticipant.role = message.role;
        if (message.role === "listener") this.#stopPublishing();
        this.#emit("localParticipantUpdated", this.localParticipant);
        break;
      case "muted": {
        const entry = this.#publisher?.published.get(message.source);
        if (entry) {
          entry.muted = true;
          entry.track.enabled = false;
        }
        this.#setLocalMuted(message.source, true, true);
        break;
      }
      case "removed":
        this.#state = "closed";
        this.#teardown(message.reason);
        break;
      case "roomEnded":
        this.#state = "closed";
        this.#teardown("roomEnded");
        break;
      case "candidate":
        break;
      case "error":
        console.warn(`quetzal: ${message.about ?? "server"}: ${message.code}: ${message.message}`);
        break;
    }
  }
  #upsert(info) {
    if (info.id === this.localParticipant.id) {
      const self = localOf(info);
      const local = this.localParticipant;
      if (JSON.stringify(self) !== JSON.stringify(local)) {
        Object.assign(local, self);
        this.#emit("localParticipantUpdated", local);
      }
      return;
    }
    if (info.hidden) return;
    const existing = this.participants.get(info.id);
    if (!existing) {
      const participant = {
        ...fieldsOf(info),
        tracks: /* @__PURE__ */ new Map()
      };
      this.participants.set(info.id, participant);
      this.#emit("participantJoined", participant);
      this.#reconcile();
      return;
    }
    const fields = fieldsOf(info);
    const before = JSON.stringify(fieldsOf(existing));
    Object.assign(existing, fields);
    if (JSON.stringify(fieldsOf(existing)) !== before) this.#emit("participantUpdated", existing);
  }
  #remove(id) {
    const participant = this.participants.get(id);
    if (!participant) return;
    for (const [mid, track] of this.#reported) {
      if (track.participant === id) this.#unsubscribe(mid, track);
    }
    this.participants.delete(id);
    this.#wanted.forEach((_, key) => key.startsWith(`${id}/`) && this.#wanted.delete(key));
    this.#emit("participantLeft", participant);
  }
  #applySnapshot(joined, emit) {
    const present = /* @__PURE__ */ new Set();
    for (const p of joined.participants) {
      if (p.id === this.localParticipant.id || p.hidden) continue;
      present.add(p.id);
      if (emit) this.#upsert(p);
      else this.participants.set(p.id, {
        ...fieldsOf(p),
        tracks: /* @__PURE__ */ new Map()
      });
    }
    for (const id of [
      ...this.participants.keys()
    ]) if (!present.has(id)) this.#remove(id);
    this.#producers.clear();
    for (const p of joined.producers) this.#producers.set(p.id, p);
    this.#lastSubscription = "[]";
    this.#scheduleSubscription();
  }
  #setLocalMuted(source, muted, locked = false) {
    const local = this.localParticipant;
    const has = local.muted.includes(source);
    if (muted && !has) local.muted = [
      ...local.muted,
      source
    ];
    if (!muted && has) local.muted = local.muted.filter((s) => s !== source);
    if (locked && !local.locked.includes(source)) local.locked = [
      ...local.locked,
      source
    ];
    this.#emit("localParticipantUpdated", local);
  }
  #stopPublishing() {
    const publisher = this.#publisher;
    if (!publisher) return;
    for (const source of [
      ...publisher.published.keys()
    ]) publisher.remove(source).catch(() => {
    });
  }
  // ── Connection ──────────────────────────────────────────────────────────────────────────
  /** @internal The socket dropped without leave: hold on and rejoin with the resume token. */
  async dropped(code) {
    if (this.#state !== "connected") return;
    if (code === 4001 || code === 4002 || code === 4003) {
      this.#state = "closed";
      this.#teardown(code === 4002 ? "roomEnded" : code === 4003 ? "replaced" : "removed");
      return;
    }
    this.#state = "reconnecting";
    this.#emit("reconnecting");
    const deadline = Date.now() + (this.#options.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS);
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      if (this.#state !== "reconnecting") return;
      try {
        await this.#rejoin(Math.max(1e3, Math.min(5e3, deadline - Date.now())));
        return;
      } catch (error) {
        if (this.#state !== "reconnecting") return;
        if (error instanceof QuetzalError && TERMINAL_JOIN_CODES.has(error.code)) {
          this.#state = "closed";
          this.#teardown(error.code);
          return;
        }
      }
      const wait = Math.min(500 * 2 ** attempt, 4e3, Math.max(0, deadline - Date.now()));
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    if (this.#state !== "reconnecting") return;
    this.#state = "closed";
    this.#teardown("timeout");
  }
  async #rejoin(timeoutMs) {
    const signal = await Signal.open(this.#address.signalUrl, {
      onEvent: (message) => this.handle(message),
      onClose: (code) => this.dropped(code)
    });
    let joined;
    try {
      joined = await signal.request({
        t: "join",
        token: this.#token,
        ...this.#options.name ? {
          name: this.#options.name
        } : {},
        resume: this.#resumeToken
      }, timeoutMs);
    } catch (error) {
      await signal.close();
      throw error;
    }
    if (this.#state !== "reconnecting") {
      await signal.close();
      return;
    }
    this.#signal = signal;
    this.#resumeToken = joined.resumeToken;
    this.info = joined.room;
    this.#state = "connected";
    if (joined.resumed) {
      Object.assign(this.localParticipant, localOf(joined.self));
      this.#applySnapshot(joined, true);
      this.#publisher?.restartIce().catch(() => {
      });
      if (this.#subscriber) signal.request({
        t: "restartIce",
        pc: "sub"
      }).catch(() => {
      });
    } else {
      const republish = [
        ...this.#publisher?.published.values() ?? []
      ];
      this.#publisher?.pc.close();
      this.#publisher = null;
      this.#subscriber?.close();
      this.#subscriber = null;
      this.#reconcile();
      this.localParticipant = localOf(joined.self);
      this.#applySnapshot(joined, true);
      for (const p of republish) {
        this.#publishTrack(p.source, p.track, p.simulcast, p.owned).catch((error) => console.warn(`quetzal: republishing ${p.source}: ${error.message}`));
      }
    }
    this.activeSpeakers = joined.speakers;
    this.#emit("reconnected");
  }
  /** Ends everything; resolves once the socket is closed. */
  #teardown(reason) {
    clearTimeout(this.#subscriptionTimer);
    this.#subscriptionTimer = void 0;
    const closed = this.#signal.close();
    this.#publisher?.close();
    this.#subscriber?.close();
    for (const [mid, track] of [
      ...this.#reported
    ]) this.#unsubscribe(mid, track);
    this.#publisher = null;
    this.#subscriber = null;
    this.#emit("disconnected", reason);
    return closed;
  }
  #assertOpen(what) {
    if (this.#state === "closed") throw new QuetzalError("closed", `${what}: the room was left`);
  }
  #emit(event, ...args) {
    for (const handler of [
      ...this.#handlers.get(event) ?? []
    ]) {
      try {
        handler(...args);
      } catch (error) {
        console.error(`quetzal: a ${event} handler threw`, error);
      }
    }
  }
};
function maxHeightFor(devicePixels) {
  if (!(devicePixels > 0)) return 0;
  for (const step of [
    180,
    360,
    720
  ]) if (devicePixels <= step) return step;
  return 1080;
}
function localOf(info) {
  return {
    id: info.id,
    name: info.name,
    role: info.role,
    muted: [
      ...info.muted
    ],
    locked: [
      ...info.locked
    ]
  };
}
function fieldsOf(info) {
  return {
    id: info.id,
    name: info.name,
    role: info.role,
    hand: info.hand,
    publishing: [
      ...info.publishing
    ],
    muted: [
      ...info.muted
    ]
  };
}
async function capture(source, constraints) {
  const media = globalThis.navigator?.mediaDevices;
  if (!media) throw new QuetzalError("bad-request", "this page has no media devices (HTTPS?)");
  switch (source) {
    case "camera": {
      const stream = await media.getUserMedia({
        video: constraints ?? {
          width: {
            ideal: 1280
          },
          height: {
            ideal: 720
          }
        }
      });
      return {
        main: stream.getVideoTracks()[0]
      };
    }
    case "microphone": {
      const stream = await media.getUserMedia({
        audio: constraints ?? {
          echoCancellation: true,
          noiseSuppression: true,
          autoGainControl: true
        }
      });
      return {
        main: stream.getAudioTracks()[0]
      };
    }
    case "screen": {
      const stream = await media.getDisplayMedia({
        video: constraints ?? true,
        audio: true
      });
      return {
        main: stream.getVideoTracks()[0],
        audio: stream.getAudioTracks()[0]
      };
    }
    case "screenAudio":
      throw new QuetzalError("bad-request", 'screenAudio comes with publish("screen") or a track');
  }
}

// web/sdk/quetzal.ts
var PROTOCOL_VERSION = 1;
async function joinRoom(url, options = {}) {
  const address = roomAddress(url);
  const token = options.token ?? address.fragmentToken;
  if (!token) throw new QuetzalError("unauthorized", "joinRoom needs a token");
  let room = null;
  const early = [];
  let closedEarly = null;
  const signal = await Signal.open(address.signalUrl, {
    onEvent: (message) => room ? room.handle(message) : early.push(message),
    onClose: (code) => room ? room.dropped(code) : closedEarly = code
  });
  let joined;
  try {
    joined = await signal.request({
      t: "join",
      token,
      ...options.name ? {
        name: options.name
      } : {}
    });
  } catch (error) {
    await signal.close();
    throw error;
  }
  room = new Room(address, options, token, signal, joined);
  for (const message of early) room.handle(message);
  if (closedEarly !== null) room.dropped(closedEarly);
  return room;
}
function roomAddress(url) {
  const base = globalThis.location?.href;
  let parsed;
  try {
    parsed = base ? new URL(url, base) : new URL(url);
  } catch {
    throw new QuetzalError("bad-request", `not a room URL: ${url}`);
  }
  const match = /\/(?:rooms|call)\/([A-Za-z0-9_-]{1,64})(?:\/signal)?\/?$/.exec(parsed.pathname);
  if (!match) {
    throw new QuetzalError("bad-request", `not a room URL (\u2026/rooms/<id>): ${parsed.pathname}`);
  }
  const prefix = parsed.pathname.slice(0, match.index);
  const scheme = parsed.protocol === "https:" || parsed.protocol === "wss:" ? "wss:" : "ws:";
  const fragment = new URLSearchParams(parsed.hash.slice(1));
  return {
    signalUrl: `${scheme}//${parsed.host}${prefix}/rooms/${match[1]}/signal`,
    roomId: match[1],
    fragmentToken: fragment.get("token") ?? void 0
  };
}
export {
  PROTOCOL_VERSION,
  QuetzalError,
  Room,
  SIMULCAST_LAYERS,
  activeLayers,
  joinRoom,
  maxHeightFor,
  roomAddress
};
