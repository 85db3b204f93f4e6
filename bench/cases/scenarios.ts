/**
 * Case 3, scenarios in the row format LiveKit publishes (publishers, subscribers, bytes and
 * packets in and out, CPU %):
 * - one stream to many viewers at 2.5 Mbit/s: taken from the e2e ramp's largest step (the same
 *   topology, not run twice);
 * - voice chat: 10 speakers (10 audio-only streams), listeners subscribed to every speaker;
 * - N×N meeting with three-layer simulcast (meeting.ts): 4×4 in quick mode, 10×10 in full mode
 *   (90 werift viewer handshakes take about two minutes on a two-core machine); the werift-only
 *   baseline has no layer selection and gets an unmeasured row.
 */
import type { Row } from "../lib/report.ts";
import { Rig, type SfuImpl, sleep } from "../lib/rig.ts";
import { type E2eOptions, windowRow } from "./e2e.ts";
import {
  MEETING_FULL,
  MEETING_QUICK,
  MEETING_SMOKE,
  meetingBaselineRow,
  type MeetingOptions,
  runMeeting,
} from "./meeting.ts";

export interface ScenarioOptions {
  speakers: number;
  listeners: number;
  windowMs: number;
  meeting: MeetingOptions;
  verbose?: boolean;
}

export const SCENARIO_QUICK: ScenarioOptions = {
  speakers: 10,
  listeners: 3,
  windowMs: 2500,
  meeting: MEETING_QUICK,
};
export const SCENARIO_FULL: ScenarioOptions = {
  speakers: 10,
  listeners: 10,
  windowMs: 8000,
  meeting: MEETING_FULL,
};
export const SCENARIO_SMOKE: ScenarioOptions = {
  speakers: 2,
  listeners: 1,
  windowMs: 1000,
  meeting: MEETING_SMOKE,
};

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

/** The simulcast meeting: Quetzal measured, the werift-only baseline marked n/a. */
export async function runMeetingScenario(
  options: ScenarioOptions,
  log: (s: string) => void,
): Promise<Row[]> {
  const meeting = { ...options.meeting, verbose: options.verbose };
  log(`case 3: meeting ${meeting.participants}×${meeting.participants} with simulcast`);
  return [
    await runMeeting(meeting, log),
    meetingBaselineRow(meeting.participants),
  ];
}

export type { E2eOptions };
