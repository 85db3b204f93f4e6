/**
 * The label values of the signalling metrics are listed in src/observability (which imports
 * nothing above it); they must stay the protocol's message types and error codes.
 */
import { assertEquals } from "@std/assert";
import {
  ROOM_SOURCES,
  SIGNAL_ERROR_CODES,
  SIGNAL_MESSAGE_TYPES,
} from "../../src/observability/counters.ts";
import { CLIENT_MESSAGE_TYPES, ERROR_CODES } from "../../src/signal/mod.ts";
import { SOURCES } from "../../src/sfu/router-protocol.ts";

Deno.test("signalling metric labels are the protocol's message types, error codes and sources", () => {
  assertEquals([...SIGNAL_MESSAGE_TYPES], [...CLIENT_MESSAGE_TYPES]);
  assertEquals([...SIGNAL_ERROR_CODES], [...ERROR_CODES]);
  assertEquals([...ROOM_SOURCES], [...SOURCES]);
});
