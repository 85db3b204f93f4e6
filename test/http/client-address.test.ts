import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  addressKey,
  addressMatcher,
  clientAddress,
  isAddressOrRange,
} from "../../src/http/client-address.ts";

Deno.test("addressKey: IPv4 as is, IPv6 by /64, IPv4-mapped IPv6 as IPv4", () => {
  assertEquals(addressKey("192.0.2.7"), "192.0.2.7");
  assertEquals(addressKey("2001:db8:1:2:a:b:c:d"), "2001:db8:1:2::/64");
  assertEquals(addressKey("2001:db8:1:2::99"), "2001:db8:1:2::/64");
  assertEquals(addressKey("2001:DB8:0001:0002:ffff::1"), "2001:db8:1:2::/64");
  assertEquals(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
  assertEquals(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assertEquals(addressKey("::1"), "0:0:0:0::/64");
  assertEquals(addressKey("::ffff:192.0.2.7"), "192.0.2.7");
  assertEquals(addressKey("::ffff:c000:207"), "192.0.2.7");
  assertEquals(addressKey("[2001:db8:1:2::5]"), "2001:db8:1:2::/64");
  // Not an address Deno would give: kept whole rather than guessed at.
  assertEquals(addressKey("1:2:3"), "1:2:3");
  assertEquals(addressKey("unknown"), "unknown");
});

Deno.test("addressMatcher: addresses and CIDR ranges of both families", () => {
  const trusted = addressMatcher(["10.0.0.0/8", "192.0.2.1", "2001:db8:ff::/48", "::1"]);
  for (const yes of ["10.1.2.3", "::ffff:10.9.9.9", "192.0.2.1", "2001:db8:ff:1::7", "::1"]) {
    assert(trusted(yes), yes);
  }
  for (const no of ["11.0.0.1", "192.0.2.2", "2001:db8:fe::1", "::2", "unknown", ""]) {
    assert(!trusted(no), no);
  }
  assert(!addressMatcher([])("127.0.0.1"));
  assert(addressMatcher(["172.16.0.0/12"])("172.31.255.255"));
  assert(!addressMatcher(["172.16.0.0/12"])("172.32.0.0"));
  assertThrows(() => addressMatcher(["nope"]), Error, "nope");
});

Deno.test("isAddressOrRange: what --trusted-proxy accepts", () => {
  for (
    const ok of ["127.0.0.1", "10.0.0.0/8", "192.0.2.7/32", "::1", "fd00::/8", "2001:db8::/128"]
  ) {
    assert(isAddressOrRange(ok), ok);
  }
  const bad = ["0.0.0.0/0", "::/0", "10.0.0.0/33", "::1/129", "10.0.0.0/", "example.org", "1.2.3"];
  for (const no of [...bad, "10.0.0.0/8/8", "256.0.0.1", ""]) assert(!isAddressOrRange(no), no);
});

Deno.test("clientAddress: X-Forwarded-For counts only behind a trusted proxy, read from the right", () => {
  const trusted = addressMatcher(["10.0.0.0/8"]);
  const none = addressMatcher([]);
  // Not from a proxy: the header is whatever the client wrote.
  assertEquals(clientAddress("198.51.100.7", "203.0.113.1", trusted), "198.51.100.7");
  assertEquals(clientAddress("10.0.0.2", "203.0.113.1", none), "10.0.0.2");
  // From the proxy: the right-most hop that is not a proxy; what the client prepended is ignored.
  assertEquals(clientAddress("10.0.0.2", "203.0.113.1", trusted), "203.0.113.1");
  assertEquals(clientAddress("10.0.0.2", "1.1.1.1, 203.0.113.1, 10.0.0.9", trusted), "203.0.113.1");
  assertEquals(clientAddress("10.0.0.2", "203.0.113.1:5123", trusted), "203.0.113.1");
  assertEquals(clientAddress("10.0.0.2", "[2001:db8::5]:443", trusted), "2001:db8::5");
  // No header, or a hop that is not an address: the proxy that wrote it.
  assertEquals(clientAddress("10.0.0.2", null, trusted), "10.0.0.2");
  assertEquals(clientAddress("10.0.0.2", "unknown", trusted), "10.0.0.2");
  assertEquals(clientAddress("10.0.0.2", "203.0.113.1, unknown, 10.0.0.3", trusted), "10.0.0.3");
});
