/**
 * RTP header extension IDs per peer (RFC 8285).
 *
 * Each peer picks its own IDs in SDP, so every viewer may number the same extension
 * differently from the publisher: forwarded packets are rewritten in the viewer's IDs,
 * keeping only what it negotiated (werift copies the publisher's bytes verbatim; a werift
 * viewer then dropped every packet because it saw the publisher's rid).
 */

/** Extension URIs Quetzal reads or writes. */
export const ExtensionUri = {
  mid: "urn:ietf:params:rtp-hdrext:sdes:mid",
  rid: "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
  rrid: "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
  transportWideCc: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
  absSendTime: "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
  audioLevel: "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
  dependencyDescriptor:
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
} as const;

/** Extension kinds, small integers used as array indexes on the packet path. */
export const Ext = {
  none: 0,
  mid: 1,
  rid: 2,
  rrid: 3,
  transportWideCc: 4,
  absSendTime: 5,
  audioLevel: 6,
  dependencyDescriptor: 7,
} as const;
export type ExtKind = typeof Ext[keyof typeof Ext];
export const EXT_KIND_COUNT = 8;

const KIND_BY_URI = new Map<string, ExtKind>([
  [ExtensionUri.mid, Ext.mid],
  [ExtensionUri.rid, Ext.rid],
  [ExtensionUri.rrid, Ext.rrid],
  [ExtensionUri.transportWideCc, Ext.transportWideCc],
  [ExtensionUri.absSendTime, Ext.absSendTime],
  [ExtensionUri.audioLevel, Ext.audioLevel],
  [ExtensionUri.dependencyDescriptor, Ext.dependencyDescriptor],
]);

/** One peer's (one m-line's) extension ID table, both ways, as typed arrays. */
export class ExtensionMap {
  readonly #kindById = new Uint8Array(256);
  readonly #idByKind = new Uint8Array(EXT_KIND_COUNT);

  /** Builds the map from SDP `a=extmap` entries; unknown URIs are ignored. */
  static fromExtmaps(entries: ReadonlyArray<{ id: number; uri: string }>): ExtensionMap {
    const map = new ExtensionMap();
    for (const { id, uri } of entries) {
      const kind = KIND_BY_URI.get(uri);
      if (kind === undefined || id < 1 || id > 255 || map.#idByKind[kind] !== 0) continue;
      map.#kindById[id] = kind;
      map.#idByKind[kind] = id;
    }
    return map;
  }

  /** The extension kind carried under `id`, or Ext.none. */
  kindOf(id: number): ExtKind {
    return this.#kindById[id] as ExtKind;
  }

  /** The negotiated ID of `kind`, or 0 when not negotiated. */
  idOf(kind: ExtKind): number {
    return this.#idByKind[kind];
  }
}
