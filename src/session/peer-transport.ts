/**
 * One WebRTC transport (ICE-lite + DTLS + SRTP), negotiated by werift, carrying Quetzal's own
 * data plane. werift types stop here: the rest of Quetzal sees decrypted RTP/RTCP buffers in and
 * `sendRtp`/`sendRtcp` out.
 *
 * werift is the control plane: SDP, ICE-lite connectivity checks, the DTLS handshake and the
 * SRTP key export. Its media plane is bypassed: once DTLS is up, `startSrtp` is replaced so
 * that datagrams go to Quetzal's SRTP backend and receive loop, and werift's receivers and
 * senders never see a packet (its per-packet parse, clone and promise cost ~58 µs on Deno).
 */
import { RTCPeerConnection, RTCRtpCodecParameters } from "werift";
import { guardDtlsClientFlight5 } from "../transport/dtls-client-guard.ts";
import { guardDtlsServers } from "../transport/dtls-server-guard.ts";
import { RouterError } from "../sfu/router-protocol.ts";
import {
  bindRtcPortsWithoutRace,
  exhaustedSince,
  exhaustionMark,
} from "../transport/udp-port-binder.ts";
import type { SrtpBackend, SrtpProfileId, SrtpSession } from "../transport/srtp.ts";
import { SRTCP_MAX_TRAILER } from "../transport/srtp.ts";
import type { DatagramLink } from "../transport/datagram-link.ts";
import type { DrainedMedia, MessageSocket, ReceiveDrain } from "../transport/receive-drain.ts";
import { sendBatch } from "../transport/send-batch.ts";
import { MuxLink } from "../transport/mux-link.ts";
import { endpointOf, type MuxEndpoint, udpMuxOn } from "../transport/udp-mux.ts";
import {
  type BoundSocket,
  selectSendPath,
  type SendPath,
  type SendPathMode,
} from "../transport/send-path.ts";
import {
  type LocalTransport,
  normaliseOfferForWerift,
  type OfferPlan,
  type RemoteTransport,
} from "./negotiation.ts";
import { parseSdp, type SdpCodec, type SessionDescriptionInfo } from "./sdp.ts";

/** Where media sockets bind and what addresses the answer announces. */
export interface NetworkOptions {
  /** Addresses written in ICE candidates (at least one). */
  announcedIps: string[];
  /** Bind address of the media socket; undefined binds all interfaces. */
  bindIp?: string;
  /** UDP port range. */
  portRange?: [number, number];
  /**
   * This thread's shared UDP port (`--rtc-port`, udp-mux.ts), opened with `acquireUdpMux`
   * before any transport: every transport then announces it instead of a port of its own.
   */
  rtcPort?: number;
  /** How media datagrams are sent (default auto: syscall when available). */
  sendPath?: SendPathMode;
}

/** How a transport reacts to its connection's ups and downs. */
export interface PeerOptions {
  /**
   * Whether ICE \`disconnected\` or \`failed\` ends the transport (default true: WHIP and WHEP).
   * A room participant's peers stay (false): a network that drops or switches comes back with
   * an ICE restart, and the seat's departure timeout (signalling) ends them otherwise.
   */
  iceLossIsFatal?: boolean;
}

/** Receives what a transport delivers. Set once; called per packet. */
export interface PeerListener {
  /** A decrypted RTP packet in buf[0..len); buf is reused after the call returns. */
  onRtp(buf: Uint8Array, len: number): void;
  /** A decrypted (compound) RTCP packet in buf[0..len). */
  onRtcp(buf: Uint8Array, len: number): void;
  onConnected(): void;
  /** The transport failed or was closed by the peer. */
  onFailed(stage: "ice" | "dtls"): void;
}

/** Why a datagram did not reach the listener; counted by the owner. */
export interface PeerCounters {
  srtpErrors: number;
  sendDropped: number;
  lastReceiveMs: number;
}

const AUDIO_CODECS = [
  new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2 }),
];
const VIDEO_CODECS = ["VP8", "VP9", "H264", "AV1", "H265"].map((name) =>
  new RTCRtpCodecParameters({ mimeType: `video/${name}`, clockRate: 90000 })
);

const NOOP_LISTENER: PeerListener = {
  onRtp() {},
  onRtcp() {},
  onConnected() {},
  onFailed() {},
};

// Minimal shapes of the werift internals this file reaches into (werift 0.25.2).
interface WeriftIceConnection {
  protocols: {
    transport?: object;
    onRequestReceived: {
      subscribe(fn: (msg: unknown, addr: [string, number]) => void): { unSubscribe(): void };
    };
  }[];
  localUsername: string;
  localPassword: string;
  remoteUsername: string;
  remotePassword: string;
  userHistory: Record<string, string>;
  nominated?: {
    protocol: { transport?: { socket?: unknown } };
    remoteAddr: [string, number];
  };
  onData: { subscribe(fn: (data: Uint8Array) => void): { unSubscribe(): void } };
}
interface WeriftDtlsTransport {
  state: string;
  srtpStarted: boolean;
  startSrtp: () => void;
  dtls?: {
    srtp: { srtpProfile?: number };
    extractSessionKeys(keyLength: number, saltLength: number): {
      localKey: Uint8Array;
      localSalt: Uint8Array;
      remoteKey: Uint8Array;
      remoteSalt: Uint8Array;
    };
  };
  iceTransport: { connection: WeriftIceConnection };
  onStateChange: { subscribe(fn: (state: string) => void): unknown };
}

/**
 * Datagrams one receive turn takes from a socket (one through node:dgram, the rest drained):
 * two send batches. A publisher's packet costs its fan-out (100 viewers: ~1 ms), and the
 * other sockets (joining viewers' DTLS, consent checks, RTCP) wait for the turn to end, so a
 * turn stays short (16 packets at 100 viewers: ~16 ms) even when the publisher's socket never
 * runs dry.
 */
const MAX_DRAIN_PER_TURN = 16;

// Before any transport exists, in every isolate that makes transports (main thread, workers).
guardDtlsClientFlight5();
guardDtlsServers();
bindRtcPortsWithoutRace();

export class PeerTransport {
  readonly #pc: RTCPeerConnection;
  readonly #srtpBackend: SrtpBackend;
  readonly #sendPath: SendPath;
  #srtp: SrtpSession | undefined;
  /**
   * The ICE agent of the one (bundled) DTLS transport, kept from `#hook`: werift's
   * `dtlsTransports` getter builds a new array from every transceiver on each read, which cost
   * ~11 % of a forwarding thread when read per packet (issue 14, 100 viewers). The agent is
   * fixed for the transport's life (werift makes it with the ICE transport, and an ICE
   * restart changes its credentials, not the agent).
   */
  #ice: WeriftIceConnection | undefined;
  #link: DatagramLink | undefined;
  #linkPair: WeriftIceConnection["nominated"];
  /** Reads the rest of a burst in the turn node:dgram delivered its first datagram. */
  #drain: ReceiveDrain | undefined;
  /** This transport's share of the thread's shared UDP port, when it is on one. */
  #endpoint: MuxEndpoint | undefined;
  #listener: PeerListener = NOOP_LISTENER;
  #closed = false;
  #connected = false;
  #unsubscribe: (() => void) | undefined;
  #iceLossIsFatal = true;
  /** The placeholder m-line werift offered (createOffer only). */
  #offered: { mid: string; codec: SdpCodec } | undefined;
  /** The client's transport from its first answer (createOffer only). */
  #remote: RemoteTransport | undefined;
  /** Decrypt scratch: one packet at a time, reused. */
  readonly #rx = new Uint8Array(1600);
  readonly #rtcpScratch = new Uint8Array(1600);
  readonly counters: PeerCounters = { srtpErrors: 0, sendDropped: 0, lastReceiveMs: 0 };
  /** The negotiated SRTP profile, once connected. */
  srtpProfile: SrtpProfileId | undefined;

  private constructor(pc: RTCPeerConnection, srtp: SrtpBackend, sendPath: SendPath) {
    this.#pc = pc;
    this.#srtpBackend = srtp;
    this.#sendPath = sendPath;
  }

  /**
   * Creates the werift peer for an offer and returns it with the local transport attributes
   * the answer needs. Gathering is local only (ICE-lite: no STUN lookup ever leaves the host).
   */
  static async create(
    offer: SessionDescriptionInfo,
    plan: OfferPlan,
    role: "publish" | "play",
    network: NetworkOptions,
    srtp: SrtpBackend,
    options: PeerOptions = {},
  ): Promise<{ peer: PeerTransport; local: LocalTransport }> {
    return await PeerTransport.#negotiate(network, srtp, options, async (pc) => {
      await pc.setRemoteDescription({ type: "offer", sdp: normaliseOfferForWerift(offer, plan) });
      for (const transceiver of pc.getTransceivers()) {
        transceiver.setDirection(role === "play" ? "sendonly" : "recvonly");
      }
      return await pc.createAnswer();
    });
  }

  /**
   * Creates a werift peer that offers (a subscribe connection, rooms.md §5) and returns it with
   * the transport lines every offer of this connection carries: ICE-lite credentials, the
   * fingerprint, `setup:actpass` and the socket's candidates. werift offers one placeholder
   * m-line only; the media sections of every offer are Quetzal's (subscribe-offer.ts), and
   * werift sees the client's answer once, reduced to that m-line, in `acceptAnswer`.
   */
  static async createOffer(
    network: NetworkOptions,
    srtp: SrtpBackend,
    options: PeerOptions = {},
  ): Promise<{ peer: PeerTransport; local: LocalTransport }> {
    return await PeerTransport.#negotiate(network, srtp, options, async (pc, peer) => {
      pc.addTransceiver("audio", { direction: "sendonly" });
      const description = await pc.createOffer();
      const media = parseSdp(description.sdp).media[0];
      const codec = media?.codecs.find((c) => String(c.payloadType) === media.formats[0]);
      if (!media?.mid || !codec) {
        throw new Error("werift produced an offer without a mid or codec");
      }
      peer.#offered = { mid: media.mid, codec };
      return description;
    });
  }

  /**
   * What answering and offering share: a werift peer with Quetzal's settings, the local
   * description `describe` makes set, gathering awaited (local only: ICE-lite), the data plane
   * hooked; on any failure the peer is closed before the error goes on.
   */
  static async #negotiate(
    network: NetworkOptions,
    srtp: SrtpBackend,
    options: PeerOptions,
    describe: (
      pc: RTCPeerConnection,
      peer: PeerTransport,
    ) => ReturnType<RTCPeerConnection["createAnswer"]>,
  ): Promise<{ peer: PeerTransport; local: LocalTransport }> {
    const { pc, peer, announced } = PeerTransport.#open(network, srtp);
    peer.#iceLossIsFatal = options.iceLossIsFatal ?? true;
    const ports = exhaustionMark();
    try {
      const description = await describe(pc, peer);
      const gathered = gatheringComplete(pc);
      await pc.setLocalDescription(description);
      await withTimeout(gathered, 2000, "ICE gathering timed out");
      peer.#hook();
      const local = localTransport(pc.localDescription!.sdp, announced);
      return { peer, local: { ...local, ...peer.#ownCredentials() } };
    } catch (error) {
      await peer.close();
      // A full port range is a limit like any other: the code every caller already maps.
      const full = exhaustedSince(ports);
      throw full ? new RouterError("over-capacity", full.message) : error;
    }
  }

  /**
   * Applies the client's answer to a connection this side offered (`createOffer`). The first
   * answer starts ICE and DTLS: werift takes its DTLS role from the answer's `a=setup` (active,
   * what browsers choose, makes this side the DTLS server). Later answers (to re-offers written
   * by Quetzal) must keep the transport: werift never sees them, so ICE and DTLS go on as they
   * are. Throws when a later answer changes the ICE credentials, the fingerprint or the role.
   */
  async acceptAnswer(remote: RemoteTransport): Promise<void> {
    const offered = this.#offered;
    if (!offered) throw new Error("acceptAnswer is for a transport made by createOffer");
    if (this.#closed) throw new Error("the transport is closed");
    const previous = this.#remote;
    if (previous) {
      if (previous.fingerprint.toLowerCase() !== remote.fingerprint.toLowerCase()) {
        throw new Error("the answer changes the DTLS fingerprint: a new connection is needed");
      }
      if (previous.setup !== remote.setup) {
        throw new Error(`the answer changes the DTLS role (${previous.setup} → ${remote.setup})`);
      }
      if (previous.iceUfrag !== remote.iceUfrag || previous.icePwd !== remote.icePwd) {
        throw new Error(
          "the answer changes the ICE credentials: an ICE restart calls restartIce first",
        );
      }
      return;
    }
    await this.#pc.setRemoteDescription({
      type: "answer",
      sdp: answerForWerift(offered.mid, offered.codec, remote),
    });
    this.#remote = { ...remote };
  }

  /** A werift peer with Quetzal's settings; the caller negotiates it. */
  static #open(
    network: NetworkOptions,
    srtp: SrtpBackend,
  ): { pc: RTCPeerConnection; peer: PeerTransport; announced: string[] } {
    const announced = network.announcedIps.length > 0 ? network.announcedIps : ["127.0.0.1"];
    const mux = network.rtcPort === undefined ? undefined : udpMuxOn(network.rtcPort);
    if (network.rtcPort !== undefined && !mux) {
      throw new Error(`the shared UDP port ${network.rtcPort} is not open in this thread`);
    }
    const pc = new RTCPeerConnection({
      iceLite: true,
      bundlePolicy: "max-bundle",
      iceServers: [],
      // One socket: no host-address scan; the one "additional" address only labels it.
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: [announced[0]],
      iceInterfaceAddresses: network.bindIp ? { udp4: network.bindIp } : undefined,
      // The mux's marker: werift's transports become endpoints of the shared port.
      icePortRange: mux ? mux.portRange : network.portRange,
      codecs: { audio: AUDIO_CODECS, video: VIDEO_CODECS },
      headerExtensions: { audio: [], video: [] },
    });
    const peer = new PeerTransport(pc, srtp, selectSendPath(network.sendPath ?? "auto"));
    return { pc, peer, announced };
  }

  #hook(): void {
    const dtls = this.#pc.dtlsTransports[0] as unknown as WeriftDtlsTransport | undefined;
    if (!dtls) throw new Error("werift created no DTLS transport");
    const ice = this.#ice = dtls.iceTransport.connection;
    for (const protocol of ice.protocols) {
      const endpoint = endpointOf(protocol.transport);
      if (!endpoint) continue;
      // The shared port finds this transport by the ufrag of a client's checks.
      endpoint.owner = {
        passwordOf: (ufrag) =>
          Object.hasOwn(ice.userHistory, ufrag)
            ? ice.userHistory[ufrag]
            : ufrag === ice.localUsername
            ? ice.localPassword
            : undefined,
      };
      this.#endpoint = endpoint;
    }
    dtls.startSrtp = () => this.#startSrtp(dtls);
    dtls.onStateChange.subscribe((state) => {
      if (state === "connected" && !this.#connected) {
        this.#connected = true;
        this.#listener.onConnected();
      } else if (state === "failed" && !this.#closed) {
        this.#listener.onFailed("dtls");
      }
    });
    this.#pc.iceConnectionStateChange.subscribe((state) => {
      if (
        (state === "failed" || state === "disconnected") && !this.#closed && this.#iceLossIsFatal
      ) {
        this.#listener.onFailed("ice");
      }
    });
  }

  /**
   * Replaces werift's ICE credentials before anyone sees them: its ufrag is 16 random bits
   * (RFC 8445 §5.3 asks for at least 24), and on a shared port (udp-mux.ts) the ufrag is what
   * tells transports apart: 150 transports on one port collided in about one run of six.
   */
  #ownCredentials(): { iceUfrag: string; icePwd: string } {
    const credentials = newIceCredentials();
    if (this.#ice) {
      this.#ice.localUsername = credentials.iceUfrag;
      this.#ice.localPassword = credentials.icePwd;
    }
    return credentials;
  }

  #startSrtp(dtls: WeriftDtlsTransport): void {
    if (dtls.srtpStarted || !dtls.dtls) return;
    dtls.srtpStarted = true;
    const profile = (dtls.dtls.srtp.srtpProfile ?? 1) as SrtpProfileId;
    const keys = dtls.dtls.extractSessionKeys(16, profile === 7 ? 12 : 14);
    this.srtpProfile = profile;
    this.#srtp = this.#srtpBackend.createSession({
      profile,
      localKey: new Uint8Array(keys.localKey),
      localSalt: new Uint8Array(keys.localSalt),
      remoteKey: new Uint8Array(keys.remoteKey),
      remoteSalt: new Uint8Array(keys.remoteSalt),
    });
    const connection = dtls.iceTransport.connection;
    const sub = connection.onData.subscribe((data) => this.#receive(data));
    // On the shared port, the mux hands over media read with everyone else's.
    if (this.#endpoint) this.#endpoint.media = (data, length) => this.#handle(data, length);
    // One socket per transport (ICE-lite, one component), so the nominated pair's is it.
    const socket = connection.nominated?.protocol.transport?.socket as
      | (BoundSocket & MessageSocket)
      | undefined;
    if (socket && !this.#endpoint) this.#drain = this.#sendPath.drain(socket);
    // RFC 7675: consent is STUN. A viewer that sends no RTCP is alive while its consent checks
    // (from the address media goes to) keep coming.
    const consent = connection.protocols.map((protocol) =>
      protocol.onRequestReceived.subscribe((_msg, addr) => {
        // After an ICE restart and before the next nomination: the pair media still uses.
        const pair = connection.nominated ?? this.#linkPair;
        if (pair && pair.remoteAddr[0] === addr[0] && pair.remoteAddr[1] === addr[1]) {
          this.counters.lastReceiveMs = performance.now();
        }
      })
    );
    this.#unsubscribe = () => {
      sub.unSubscribe();
      for (const c of consent) c.unSubscribe();
    };
  }

  /**
   * One datagram from werift, then what is queued behind it (the drain), in batches whose
   * sends leave together (send-batch.ts).
   */
  #receive(data: Uint8Array): void {
    const drain = this.#drain;
    if (drain === undefined) {
      this.#handle(data, data.length);
      return;
    }
    sendBatch.begin();
    try {
      this.#handle(data, data.length);
      drain.takeQueued(MAX_DRAIN_PER_TURN, this.#drained, this.#isClosed);
    } finally {
      sendBatch.end();
    }
  }

  // Made once: the drain calls them per datagram.
  readonly #drained: DrainedMedia = (_i, data, length) => this.#handle(data, length);
  readonly #isClosed = (): boolean => this.#closed;

  /** Routes one RTP or RTCP datagram data[0..length) (RFC 7983 demux: DTLS goes to werift). */
  #handle(data: Uint8Array, length: number): void {
    const first = data[0];
    if (first < 128 || first > 191 || this.#closed || !this.#srtp) return;
    this.counters.lastReceiveMs = performance.now();
    const pt = data[1] & 0x7f;
    // RFC 5761 §4: payload types 64–95 (with marker: 192–223) are RTCP.
    if (pt >= 64 && pt <= 95) {
      const len = this.#srtp.unprotectRtcp(data, length, this.#rtcpScratch);
      if (len < 0) this.counters.srtpErrors++;
      else this.#listener.onRtcp(this.#rtcpScratch, len);
      return;
    }
    if (length > this.#rx.length) return;
    const len = this.#srtp.unprotectRtp(data, length, this.#rx);
    if (len < 0) this.counters.srtpErrors++;
    else this.#listener.onRtp(this.#rx, len);
  }

  /** Sets who receives packets and state changes. */
  setListener(listener: PeerListener): void {
    this.#listener = listener;
  }

  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  /**
   * The link of the pair ICE nominated last: a plain field read per packet, and a new link only
   * when the peer nominates another pair (an ICE restart, a new network path).
   */
  #currentLink(): DatagramLink | undefined {
    const pair = this.#ice?.nominated;
    // Between an ICE restart and the next nomination, the previous pair's link.
    if (!pair) return this.#link;
    if (pair !== this.#linkPair) {
      const endpoint = endpointOf(pair.protocol.transport);
      const socket = pair.protocol.transport?.socket as BoundSocket | undefined;
      if (!endpoint && !socket) return undefined;
      this.#link?.close();
      const [address, port] = pair.remoteAddr;
      this.#link = endpoint
        ? new MuxLink(endpoint.mux, address, port)
        : this.#sendPath.link(socket!, address, port);
      this.#linkPair = pair;
    }
    return this.#link;
  }

  /** Protects and sends RTP buf[0..len). False (and counted) when it could not be queued. */
  sendRtp(buf: Uint8Array, len: number): boolean {
    const srtp = this.#srtp;
    const link = this.#connected && srtp ? this.#currentLink() : undefined;
    if (!link || !srtp) return false;
    const slot = link.acquire();
    if (slot < 0) {
      this.counters.sendDropped++;
      return false;
    }
    const n = srtp.protectRtp(buf, len, link.view(slot));
    if (n < 0) {
      link.discard(slot);
      return false;
    }
    link.send(slot, n);
    return true;
  }

  /** Protects and sends a (compound) RTCP packet. */
  sendRtcp(buf: Uint8Array, len: number): boolean {
    const srtp = this.#srtp;
    const link = this.#connected && srtp ? this.#currentLink() : undefined;
    if (!link || !srtp || len + SRTCP_MAX_TRAILER > 1536) return false;
    const slot = link.acquire();
    if (slot < 0) return false;
    const n = srtp.protectRtcp(buf, len, link.view(slot));
    if (n < 0) {
      link.discard(slot);
      return false;
    }
    link.send(slot, n);
    return true;
  }

  /**
   * ICE restart (RFC 8445 §9) for an ICE-lite agent: new local credentials, the peer's new
   * ones, same socket. A lite agent only answers checks, so nothing else must change; the pair
   * the peer nominates next (possibly from a new address) carries the media.
   */
  restartIce(
    remoteUfrag: string,
    remotePwd: string,
    local: { iceUfrag: string; icePwd: string } = newIceCredentials(),
  ): { iceUfrag: string; icePwd: string } {
    const connection = this.#ice;
    if (!connection || this.#closed) throw new Error("the transport is closed");
    // `local` is chosen by the caller when the transport lives in a worker and the HTTP
    // answer is written on the main thread before the worker applies it.
    const { iceUfrag, icePwd } = local;
    connection.userHistory[iceUfrag] = icePwd;
    connection.localUsername = iceUfrag;
    connection.localPassword = icePwd;
    connection.remoteUsername = remoteUfrag;
    connection.remotePassword = remotePwd;
    // werift nominates only while nothing is nominated: forget the old pair, so the pair the
    // peer nominates after the restart (a new address after a network change) carries media.
    // Until then the old pair keeps working (`#currentLink` keeps its link).
    connection.nominated = undefined;
    // A transport we offered: the answer carrying these credentials is then accepted.
    if (this.#remote) this.#remote = { ...this.#remote, iceUfrag: remoteUfrag, icePwd: remotePwd };
    return { iceUfrag, icePwd };
  }

  /** Closes the peer, its sockets and timers; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener = NOOP_LISTENER;
    this.#unsubscribe?.();
    this.#link?.close();
    this.#drain?.close();
    if (this.#endpoint) this.#endpoint.media = undefined;
    this.#srtp?.close();
    try {
      await this.#pc.close();
    } catch {
      // werift may throw while tearing down a half-open transport; the sockets are closed anyway.
    }
  }
}

/** ICE credentials, fingerprint and the socket's port, from werift's answer. */
function localTransport(sdp: string, announced: string[]): LocalTransport {
  const answer = parseSdp(sdp);
  const media = answer.media[0];
  const candidate = media.candidates.find((c) => / udp /i.test(c)) ?? media.candidates[0];
  const port = candidate ? Number(candidate.split(/\s+/)[5]) : NaN;
  if (!media.iceUfrag || !media.icePwd || !media.fingerprint || !Number.isInteger(port)) {
    throw new Error("werift produced an answer without ICE credentials, fingerprint or candidate");
  }
  return {
    iceUfrag: media.iceUfrag,
    icePwd: media.icePwd,
    fingerprint: media.fingerprint,
    setup: media.setup === "passive" || media.setup === "actpass" ? media.setup : "active",
    candidates: announced.map((ip, i) =>
      `candidate:${i + 1} 1 udp ${2130706431 - i} ${ip} ${port} typ host generation 0`
    ),
    address: announced[0],
    port,
  };
}

/**
 * The client's answer as werift needs it for its one placeholder m-line: the client's ICE
 * credentials, fingerprint, DTLS role and candidates. Its media sections are Quetzal's business.
 */
function answerForWerift(mid: string, codec: SdpCodec, remote: RemoteTransport): string {
  const lines = [
    "v=0",
    "o=- 1 1 IN IP4 0.0.0.0",
    "s=-",
    "t=0 0",
    `a=group:BUNDLE ${mid}`,
    `m=audio 9 UDP/TLS/RTP/SAVPF ${codec.payloadType}`,
    "c=IN IP4 0.0.0.0",
    `a=mid:${mid}`,
    `a=ice-ufrag:${remote.iceUfrag}`,
    `a=ice-pwd:${remote.icePwd}`,
    `a=fingerprint:${remote.fingerprint}`,
    `a=setup:${remote.setup}`,
    "a=recvonly",
    "a=rtcp-mux",
    `a=rtpmap:${codec.payloadType} ${codec.name}/${codec.clockRate}${
      codec.channels ? `/${codec.channels}` : ""
    }`,
    ...remote.candidates.map((c) => `a=${c}`),
  ];
  return lines.join("\r\n") + "\r\n";
}

function gatheringComplete(pc: RTCPeerConnection): Promise<void> {
  return new Promise<void>((resolve) => {
    if (pc.iceGatheringState === "complete") resolve();
    pc.iceGatheringStateChange.subscribe((state) => state === "complete" && resolve());
  });
}

/** Fresh local ICE credentials for a restart (RFC 8445 §5.3: ≥ 24 bits ufrag, ≥ 128 bits pwd). */
export function newIceCredentials(): { iceUfrag: string; icePwd: string } {
  return { iceUfrag: randomIceString(8), icePwd: randomIceString(24) };
}

function randomIceString(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = "";
  for (const b of bytes) out += alphabet[b & 63];
  return out;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
