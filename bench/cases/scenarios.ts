/**
 * Case 3, scenarios in the row format LiveKit publishes (publishers, subscribers, bytes and
 * packets in and out, CPU %):
 * - one stream to many viewers at 2.5 Mbit/s: taken from the e2e ramp's largest step (the same
 *   topology, not run twice);
 * - voice chat: 10 speakers (10 audio-only streams), listeners subscribed to every speaker;
 * - 10×10 meeting with three-layer simulcast: pending (the bench's werift publisher cannot
 *   send simulcast: werift's RTCRtpSender has no simulcast send).
 */
import { emptyRow, type Row } from "../lib/report.ts";
import { Rig, type SfuImpl, sleep } from "../lib/rig.ts";
import { type E2eOptions, windowRow } from "./e2e.ts";

export interface ScenarioOptions {
  speakers: number;
  listeners: number;
  windowMs: number;
  verbose?: boolean;
}

export const SCENARIO_QUICK: ScenarioOptions = { speakers: 10, listeners: 3, windowMs: 2500 };
export const SCENARIO_FULL: ScenarioOptions = { speakers: 10, listeners: 10, windowMs: 8000 };
export const SCENARIO_SMOKE: ScenarioOptions = { speakers: 2, listeners: 1, windowMs: 1000 };

/** The one-to-many row, from the ramp's largest measured step. */
export function oneToManyRow(rampRows: Row[]): Row | undefined {
  const last = rampRows[rampRows.length - 1];
  if (!last) return undefined;
  return {
    ...last,
    case: "scenario-one-to-many",
    note: `2.5 Mbit/s, from the e2e step N=${last.subscribers}`,
  };
}

/** Voice chat: `speakers` audio-only streams, each heard by every listener. */
export async function runVoiceChat(
  impl: SfuImpl,
  options: ScenarioOptions,
  log: (s: string) => void,
): Promise<Row> {
  const rig = await Rig.start({ impl, verbose: options.verbose, viewersPerProcess: 20 });
  try {
    const streams = Array.from({ length: options.speakers }, (_, i) => `voice${i}`);
    await rig.publish(streams, { video: false, audio: true, videoBitrateBps: 0, fps: 30 });
    await rig.addViewers(options.listeners, streams, ["audio"]);
    await sleep(1500);
    const row = windowRow(
      "scenario-voice-chat",
      impl,
      await rig.measure(options.windowMs),
      options.speakers,
    );
    row.subscribers = options.listeners;
    row.sessions = options.listeners * options.speakers + options.speakers;
    row.note = `${options.speakers} speakers × ${options.listeners} listeners, audio only`;
    log(
      `voice chat ${impl}: ${row.forwarded_pps?.toFixed(0)} pkt/s out, delivered ${
        ((row.delivered_ratio ?? 0) * 100).toFixed(2)
      } %, CPU ${row.cpu_percent?.toFixed(0)} %`,
    );
    return row;
  } finally {
    await rig.stop();
  }
}

/** The simulcast meeting, marked pending. */
export function meetingPendingRow(): Row {
  const row = emptyRow("scenario-meeting-10x10-simulcast", "quetzal");
  row.publishers = 10;
  row.subscribers = 10;
  row.note = "pending: simulcast (werift cannot send simulcast for the load generator)";
  return row;
}

export type { E2eOptions };
