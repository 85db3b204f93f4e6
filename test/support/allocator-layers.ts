/**
 * Synthetic simulcast layers for LayerAllocator tests: a fixed mean bitrate and size, switched
 * on and off by the test rather than by packets.
 */
import type { AllocatorLayer } from "../../src/sfu/allocator.ts";

/** A layer that has been stable since it last started (at 0 unless `start` says otherwise). */
export class FakeLayer implements AllocatorLayer {
  active = true;
  stalled = false;
  hasKeyFrame = true;
  activeSinceMs = 0;
  constructor(
    readonly rank: number,
    readonly rid: string,
    readonly meanBitrateBps: number,
    readonly width: number,
    readonly height: number,
  ) {}
  stableForMs(nowMs: number): number {
    return this.active && !this.stalled ? nowMs - this.activeSinceMs : 0;
  }
  stop(): void {
    this.active = false;
    this.stalled = true;
  }
  start(nowMs: number): void {
    this.active = true;
    this.stalled = false;
    this.activeSinceMs = nowMs;
  }
}
