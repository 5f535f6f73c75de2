// MAC addresses for virtio-net: a given one is checked (six hex pairs, unicast), a missing one is a
// random locally administered unicast address.
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../../kvm/errors';

export const MAC_BYTES = 6;

/** A locally administered unicast MAC (random unless given as "52:54:00:12:34:56"). */
export function parseMac(mac?: string): Uint8Array {
  if (mac === undefined) {
    const bytes = randomBytes(MAC_BYTES);
    bytes[0] = ((bytes[0] as number) & 0xfe) | 0x02;
    return Uint8Array.from(bytes);
  }
  const parts = mac.split(':');
  if (parts.length !== MAC_BYTES || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new ConfigError(`MAC address must look like 52:54:00:12:34:56, not '${mac}'`);
  const bytes = Uint8Array.from(parts.map((p) => parseInt(p, 16)));
  if (((bytes[0] as number) & 1) !== 0) throw new ConfigError(`MAC address ${mac} is a multicast address`);
  return bytes;
}

export function formatMac(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
