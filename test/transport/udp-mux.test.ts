/**
 * The shared port's parsing of what arrives from strangers (udp-mux.ts): the address key, the
 * local ufrag of a check's USERNAME, and MESSAGE-INTEGRITY, against STUN messages werift builds.
 * The port itself runs in test/integration/rtc-port.test.ts.
 */
import { assert, assertEquals } from "@std/assert";
import { Buffer } from "node:buffer";
import { classes, Message, methods } from "werift";
import { addressKey, integrityHolds, localUfrag } from "../../src/transport/udp-mux.ts";

function check(username: string, password: string): Uint8Array {
  const request = new Message(methods.BINDING, classes.REQUEST);
  request.setAttribute("USERNAME", username);
  request.setAttribute("PRIORITY", 1853824767);
  request.addMessageIntegrity(Buffer.from(password, "utf8"));
  request.addFingerprint();
  return new Uint8Array(request.bytes);
}

Deno.test("udp mux: one number per IPv4 address and port, the same from text as from bytes", () => {
  assertEquals(addressKey("127.0.0.1", 5000), (0x7f000001 * 65536) + 5000);
  assertEquals(addressKey("255.255.255.255", 65535), 0xffffffff * 65536 + 65535);
  assert(addressKey("10.0.0.1", 2) !== addressKey("10.0.1.0", 2));
  assert(addressKey("10.0.0.1", 2) !== addressKey("10.0.0.1", 3));
});

Deno.test("udp mux: the local ufrag is the part of USERNAME before the colon", () => {
  assertEquals(localUfrag(check("Ab3+/xYz:remote", "pw")), "Ab3+/xYz");
  assertEquals(localUfrag(check("nocolon", "pw")), undefined);
  const bare = new Message(methods.BINDING, classes.REQUEST);
  assertEquals(localUfrag(new Uint8Array(bare.bytes)), undefined);
  // A length that runs past the datagram is not read.
  const cut = check("abc:def", "pw").subarray(0, 26);
  assertEquals(localUfrag(cut), undefined);
});

Deno.test("udp mux: MESSAGE-INTEGRITY holds with the password, not with another or none", () => {
  const password = "0123456789abcdefghijkl";
  const msg = check("local:remote", password);
  assert(integrityHolds(msg, password));
  assert(!integrityHolds(msg, "another password 12345"));
  const tampered = new Uint8Array(msg);
  tampered[30] ^= 1;
  assert(!integrityHolds(tampered, password));
  const bare = new Message(methods.BINDING, classes.REQUEST);
  bare.setAttribute("USERNAME", "local:remote");
  assert(!integrityHolds(new Uint8Array(bare.bytes), password));
});
