/**
 * Who a request comes from, for the rate limit: the TCP peer, or behind trusted reverse proxies
 * the client their `X-Forwarded-For` names; counted by IPv4 address or IPv6 /64.
 *
 * @example
 * const trusted = addressMatcher(["10.0.0.0/8"]);
 * clientAddress("10.0.0.5", "198.51.100.7, 10.0.0.9", trusted) // "198.51.100.7"
 * addressKey("2001:db8:1:2:a:b:c:d")                            // "2001:db8:1:2::/64"
 */

/** An address as eight 16-bit groups; IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
type Groups = number[];

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/**
 * The key a client's requests are counted under: its IPv4 address, or the /64 network of its
 * IPv6 address. One IPv6 host usually holds a whole /64 (SLAAC privacy addresses rotate inside
 * it) and can pick any of its 2^64 addresses per request, so counting single IPv6 addresses
 * would count nothing.
 */
export function addressKey(address: string): string {
  const groups = parseAddress(address);
  if (!groups) return address;
  if (isMappedIpv4(groups)) return ipv4Text(groups);
  return `${groups.slice(0, 4).map((h) => h.toString(16)).join(":")}::/64`;
}

/**
 * The client's address: `peer` itself unless `peer` is a trusted proxy; then the right-most
 * address of `forwardedFor` that is not a trusted proxy. Entries left of it were written by the
 * client and prove nothing; an entry that is not an address (a proxy's "unknown") ends the walk
 * at the proxy that wrote it.
 */
export function clientAddress(
  peer: string,
  forwardedFor: string | null,
  trusted: (address: string) => boolean,
): string {
  if (forwardedFor === null || !trusted(peer)) return peer;
  let client = peer;
  const hops = forwardedFor.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = stripPort(hops[i].trim());
    if (!parseAddress(hop)) break;
    client = hop;
    if (!trusted(hop)) break;
  }
  return client;
}

/** A test for "is one of these addresses or CIDR ranges" (IPv4 and IPv6). */
export function addressMatcher(list: readonly string[]): (address: string) => boolean {
  const ranges = list.map((entry) => {
    const range = parseRange(entry);
    if (!range) throw new Error(`not an IP address or CIDR range: "${entry}"`);
    return range;
  });
  if (ranges.length === 0) return () => false;
  return (address) => {
    const groups = parseAddress(address);
    return groups !== undefined && ranges.some((range) => inRange(groups, range));
  };
}

/** True for an IPv4 or IPv6 address or a CIDR range of either, except /0 (everyone). */
export function isAddressOrRange(text: string): boolean {
  const range = parseRange(text);
  return range !== undefined && range.prefix > (isMappedIpv4(range.groups) ? 96 : 0);
}

function parseRange(text: string): { groups: Groups; prefix: number } | undefined {
  const slash = text.indexOf("/");
  const groups = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (!groups) return undefined;
  const v4 = isMappedIpv4(groups) && !text.includes(":");
  if (slash < 0) return { groups, prefix: 128 };
  const bits = text.slice(slash + 1);
  const length = /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!(length <= (v4 ? 32 : 128))) return undefined;
  return { groups, prefix: v4 ? 96 + length : length };
}

function inRange(groups: Groups, range: { groups: Groups; prefix: number }): boolean {
  for (let i = 0, left = range.prefix; left > 0; i++, left -= 16) {
    const mask = left >= 16 ? 0xffff : (0xffff << (16 - left)) & 0xffff;
    if ((groups[i] & mask) !== (range.groups[i] & mask)) return false;
  }
  return true;
}

/** "192.0.2.7:5000" → "192.0.2.7", "[2001:db8::1]:443" → "2001:db8::1"; others unchanged. */
function stripPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](:\d+)?$/.exec(hop);
  if (bracketed) return bracketed[1];
  const v4 = /^([\d.]+):\d+$/.exec(hop);
  return v4 ? v4[1] : hop;
}

function parseAddress(text: string): Groups | undefined {
  if (IPV4.test(text)) {
    const [a, b, c, d] = text.split(".").map(Number);
    return [0, 0, 0, 0, 0, 0xffff, (a << 8) | b, (c << 8) | d];
  }
  return text.includes(":") ? expandIpv6(text) : undefined;
}

function isMappedIpv4(groups: Groups): boolean {
  return groups.slice(0, 5).every((h) => h === 0) && groups[5] === 0xffff;
}

function ipv4Text(groups: Groups): string {
  return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join(".");
}

/** The eight groups of an IPv6 address (zone and embedded IPv4 allowed), or undefined. */
function expandIpv6(text: string): Groups | undefined {
  let address = text.replace(/^\[|\]$/g, "");
  const zone = address.indexOf("%");
  if (zone >= 0) address = address.slice(0, zone);
  const lastColon = address.lastIndexOf(":");
  const tail = address.slice(lastColon + 1);
  if (tail.includes(".")) {
    if (!IPV4.test(tail)) return undefined;
    const [a, b, c, d] = tail.split(".").map(Number);
    address = `${address.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${
      ((c << 8) | d).toString(16)
    }`;
  }
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  const values = groups.map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN));
  return values.some(Number.isNaN) ? undefined : values;
}
