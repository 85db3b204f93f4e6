/**
 * A room participant's publish connection (rooms.md §5): the client offers, as in WHIP, and
 * re-offers on the same connection to add or stop a source (a screen share beside the camera,
 * unpublish, republish) or to restart ICE after a network change.
 *
 * werift answers the first offer only (`PeerTransport.create`); every later answer is written
 * by Quetzal with the first answer's transport lines, as the subscribe connection's offers are,
 * so ICE and DTLS go on untouched. New ICE credentials in a re-offer are an ICE restart
 * (`PeerTransport.restartIce`): the answer carries our new ones.
 */
import type { Source } from "../sfu/router-protocol.ts";
import type { Producer } from "../sfu/producer.ts";
import {
  buildAnswer,
  InvalidOfferError,
  type LocalTransport,
  type OfferPlan,
  planPublish,
  requireTransport,
} from "./negotiation.ts";
import { PeerTransport } from "./peer-transport.ts";
import { PublisherSession } from "./publisher-session.ts";
import { parseSdp, type SessionDescriptionInfo } from "./sdp.ts";
import type { SessionManager } from "./session-manager.ts";

/** Two tracks of a kind: camera and screen, microphone and screen audio. */
const ROOM_MAX_PER_KIND = 2;
/** Added to the video fmtp so Chromium ramps its layers up quickly (as for WHIP). */
const START_BITRATE_KBPS = 2500;

export class RoomPublisher {
  readonly session: PublisherSession;
  #local: LocalTransport;
  #remoteUfrag: string;

  private constructor(session: PublisherSession, local: LocalTransport, remoteUfrag: string) {
    this.session = session;
    this.#local = local;
    this.#remoteUfrag = remoteUfrag;
  }

  /**
   * Negotiates the first offer of `participant`'s publish connection and registers the peer
   * with `manager` (counted, ticked, ended on shutdown). Throws CapacityError,
   * SdpParseError, InvalidOfferError or UnsupportedOfferError.
   */
  static async create(
    manager: SessionManager,
    streamName: string,
    participant: string,
    offerSdp: string,
    sources: Readonly<Record<string, Source>>,
  ): Promise<{ publisher: RoomPublisher; answer: string }> {
    manager.admit();
    const offer = parseSdp(offerSdp);
    const plan = planRoomPublish(offer, sources);
    if (plan.tracks.length === 0) {
      throw new InvalidOfferError("the first publish offer has no track to publish");
    }
    requireTransport(offer, plan);
    manager.pending(1);
    let created: Awaited<ReturnType<typeof PeerTransport.create>>;
    try {
      created = await PeerTransport.create(offer, plan, "publish", manager.network, manager.srtp, {
        iceLossIsFatal: false,
      });
    } finally {
      manager.pending(-1);
    }
    const { peer, local } = created;
    const session = new PublisherSession(crypto.randomUUID(), streamName, peer, plan, participant);
    const remoteUfrag = offer.media[plan.tracks[0].index].iceUfrag ?? "";
    session.remoteIceUfrag = remoteUfrag;
    manager.addRoomPeer(session);
    const publisher = new RoomPublisher(session, local, remoteUfrag);
    return { publisher, answer: publisher.#answer(offer, plan) };
  }

  /**
   * A later offer on the same connection: the producers it keeps, adds and drops, and the
   * answer. New ICE credentials restart ICE on the same socket.
   */
  reoffer(
    offerSdp: string,
    sources: Readonly<Record<string, Source>>,
  ): { answer: string; added: Producer[]; removed: Producer[] } {
    if (this.session.closed) throw new InvalidOfferError("the publish connection has ended");
    const offer = parseSdp(offerSdp);
    const plan = planRoomPublish(offer, sources);
    const bundled = offer.media.find((m) => m.port !== 0 || m.bundleOnly) ?? offer.media[0];
    if (!bundled?.iceUfrag || !bundled.icePwd || !bundled.fingerprint) {
      throw new InvalidOfferError("the offer has no a=ice-ufrag, a=ice-pwd or a=fingerprint");
    }
    if (bundled.iceUfrag !== this.#remoteUfrag) {
      // RFC 8445 §9: new credentials in a re-offer are an ICE restart; ours change too.
      const fresh = this.session.peer.restartIce(bundled.iceUfrag, bundled.icePwd);
      this.#local = { ...this.#local, ...fresh };
      this.#remoteUfrag = bundled.iceUfrag;
      this.session.remoteIceUfrag = bundled.iceUfrag;
    }
    const { added, removed } = this.session.update(plan);
    return { answer: this.#answer(offer, plan), added, removed };
  }

  #answer(offer: SessionDescriptionInfo, plan: OfferPlan): string {
    return buildAnswer(offer, plan, this.#local, "publish", (track) => ({
      fmtpSuffix: track.kind === "video"
        ? `x-google-start-bitrate=${START_BITRATE_KBPS}`
        : undefined,
    }));
  }
}

function planRoomPublish(
  offer: SessionDescriptionInfo,
  sources: Readonly<Record<string, Source>>,
): OfferPlan {
  return planPublish(offer, { maxPerKind: ROOM_MAX_PER_KIND, sources, idleInactive: true });
}
