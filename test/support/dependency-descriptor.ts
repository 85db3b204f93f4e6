/**
 * Dependency descriptors (AV1 RTP payload format, appendix A) for tests: a key frame's with
 * libwebrtc's L1T3 template structure, and delta frames' mandatory fields.
 */
import { BitWriter } from "../rtp/codecs/bit-writer.ts";

/**
 * A key frame's dependency descriptor with libwebrtc's L1T3 structure (templates T0 "SSS",
 * T0 "SSS", T1 "-DS", T2 "--D", T2 "--D"; A.8.3.1), template ids from `offset`.
 */
export function l1t3KeyFrameDd(offset: number, frameNumber: number): Uint8Array {
  const w = new BitWriter();
  w.u(1, 1).u(1, 1).u(6, offset).u(16, frameNumber); // start, end, template id, frame_number
  w.u(1, 1).u(1, 0).u(1, 0).u(1, 0).u(1, 0); // structure present; no custom fields
  w.u(6, offset).u(5, 2); // template_id_offset, three decode targets
  for (const idc of [0, 1, 1, 0, 3]) w.u(2, idc); // T0, T0 → T1 → T2, T2, end
  const dtis = ["SSS", "SSS", "-DS", "--D", "--D"];
  const code = { "-": 0, D: 1, S: 2, R: 3 } as const;
  for (const t of dtis) for (const c of t) w.u(2, code[c as keyof typeof code]);
  // template_fdiffs, chains and the rest: not read by the forwarder; zero bytes stand in.
  for (let i = 0; i < 24; i++) w.u(1, 0);
  return w.bytes();
}

/** A delta frame's descriptor: mandatory fields only. */
export function deltaDd(templateId: number, frameNumber: number): Uint8Array {
  return new Uint8Array([0xc0 | templateId, frameNumber >> 8, frameNumber & 0xff]);
}
