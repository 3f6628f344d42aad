// The "source address" that per-address connection limits count by. An IPv4 address is itself
// (also when it arrives IPv4-mapped, ::ffff:10.0.0.7, on a dual-stack socket). An IPv6 address
// counts by its /64 prefix: a host is given a whole /64 and picks addresses in it freely (SLAAC,
// privacy addresses, RFC 8981), so counting single IPv6 addresses would limit nothing.
import { isIPv6 } from 'node:net';

export function addressKey(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined) return '?';
  const address = remoteAddress.toLowerCase().replace(/%.*$/, ''); // zone id (fe80::1%eth0)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (!isIPv6(address)) return address;
  return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, as hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  const split = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const front = split(head!);
  const back = tail === undefined ? [] : split(tail);
  // A trailing dotted IPv4 part (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) stands for two groups.
  const last = (back.length > 0 ? back : front).at(-1) ?? '';
  const width = front.length + back.length + (last.includes('.') ? 1 : 0);
  const groups = [...front, ...Array<string>(tail === undefined ? 0 : 8 - width).fill('0'), ...back];
  return groups.map((g) => (g.includes('.') ? g : parseInt(g, 16).toString(16)));
}
