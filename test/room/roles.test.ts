import { assert, assertEquals } from "@std/assert";
import {
  type Action,
  ACTIONS,
  can,
  MAY_BE_HIDDEN,
  PERMISSIONS,
  ROLES,
  SOURCE_ACTION,
} from "../../src/room/mod.ts";

/** rooms.md §9, row by row: the table the code must match. */
const TABLE: Record<Action, [admin: boolean, speaker: boolean, listener: boolean]> = {
  subscribe: [true, true, true],
  raiseHand: [false, false, true],
  microphone: [true, true, false],
  camera: [true, true, false],
  screen: [true, true, false],
  unmuteLocked: [true, false, false],
  promote: [true, false, false],
  demote: [true, false, false],
  muteParticipant: [true, false, false],
  remove: [true, false, false],
  endRoom: [true, false, false],
  createInvite: [true, false, false],
  resetInvites: [true, false, false],
  record: [true, false, false],
};

Deno.test("the permission table is rooms.md §9, and every action has a row", () => {
  assertEquals([...ACTIONS].sort(), Object.keys(TABLE).sort());
  for (const action of ACTIONS) {
    ROLES.forEach((role, i) =>
      assertEquals(can(role, action), TABLE[action][i], `${role} ${action}`)
    );
  }
});

Deno.test("only listeners may be hidden; every source maps to a permission", () => {
  assertEquals(MAY_BE_HIDDEN, { admin: false, speaker: false, listener: true });
  assertEquals(SOURCE_ACTION.screenAudio, "screen");
  for (const action of Object.values(SOURCE_ACTION)) assert(PERMISSIONS.speaker.has(action));
});
