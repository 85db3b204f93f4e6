/**
 * Codec payload parsing: key frames, picture sizes, VP8/VP9 descriptors and their mungers.
 *
 * @module
 */

export {
  codecFromRtpmap,
  type CodecName,
  inspectVideoPayload,
  type VideoFrameInfo,
} from "./codec.ts";
export { H264Nal, inspectH264, parseH264Sps } from "./h264.ts";
export { H265Nal, inspectH265, parseH265Sps } from "./h265.ts";
export { inspectVp8, readVp8Descriptor, Vp8Descriptor } from "./vp8.ts";
export { inspectVp9, readVp9Descriptor, Vp9Descriptor } from "./vp9.ts";
export {
  NullPayloadMunger,
  PayloadMungeCode,
  type PayloadMunger,
  payloadMungerFor,
} from "./payload-munger.ts";
export { Vp8Munger } from "./vp8-munger.ts";
export { Vp9Munger } from "./vp9-munger.ts";
export { Av1Obu, inspectAv1, parseAv1SequenceHeader } from "./av1.ts";
