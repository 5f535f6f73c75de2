// virtio-net (virtio 1.2, 5.1) as a machine device: a TAP interface opened on the main thread (a TAP
// that cannot be opened is refused before any VM exists), a MAC address in config space, and the back
// end (backend.ts) hosted on an I/O thread, where it reads and writes the TAP's fd.
import * as path from 'node:path';
import { TapDevice } from '../../../net/tap';
import { claim } from '../../claims';
import { VirtioDeviceId, VirtioFeature } from '../transport/mmio-registers';
import type { VirtioDeviceDescription } from '../transport/mmio-state';
import { VirtioMmioDevice } from '../transport/mmio-device';
import { NET_COUNTERS, type NetBackendArgs } from './backend';
import { formatMac, parseMac } from './mac';

export const NET_QUEUE_SIZE = 256;
export const NetFeature = { MAC: 5n } as const;
const BACKEND_MODULE = path.join(__dirname, 'backend.js');

export function netDescription(mac: Uint8Array): VirtioDeviceDescription {
  return {
    deviceId: VirtioDeviceId.NET,
    features: (1n << NetFeature.MAC) | (1n << VirtioFeature.INDIRECT_DESC) | (1n << VirtioFeature.EVENT_IDX),
    queueSizes: [NET_QUEUE_SIZE, NET_QUEUE_SIZE],
    config: mac,
  };
}

/** What a {@link VirtioNetDevice} is made from. */
export interface VirtioNetOptions {
  /** A stable id (default 'net<n>'). */
  id?: string;
  /** The TAP interface's name (created if it does not exist; needs CAP_NET_ADMIN). */
  tap: string;
  /** "52:54:00:12:34:56" (default: random, locally administered). */
  mac?: string;
  /** A fixed MMIO window base (default: placed by the machine). */
  base?: number;
  /** A fixed interrupt line (default: placed by the machine). */
  irq?: number;
}

/** A virtio-net interface on a TAP device of the host. */
export class VirtioNetDevice extends VirtioMmioDevice {
  /** The open TAP device. */
  readonly tap: TapDevice;
  /** The guest's MAC address, as "52:54:00:12:34:56". */
  readonly mac: string;
  readonly #release: () => void;

  /**
   * Opens (or creates) the TAP device and makes the device.
   * @throws {@link ConfigError} when the TAP name or MAC is invalid or the TAP is claimed by another live VM.
   * @throws {@link KvmIoctlError} when the TAP cannot be opened (e.g. no CAP_NET_ADMIN).
   */
  constructor(options: VirtioNetOptions) {
    const mac = parseMac(options.mac);
    const owner = {};
    const release = claim('TAP', options.tap, owner);
    let tap: TapDevice;
    try {
      tap = TapDevice.open(options.tap);
    } catch (error) {
      release();
      throw error;
    }
    const args: NetBackendArgs = { tapFd: tap.fd };
    try {
      super({
        ...(options.id !== undefined ? { id: options.id } : {}),
        ...(options.base !== undefined ? { base: options.base } : {}),
        ...(options.irq !== undefined ? { irq: options.irq } : {}),
        kind: 'virtio-net',
        idPrefix: 'net',
        device: netDescription(mac),
        backend: { module: BACKEND_MODULE, args },
        counters: NET_COUNTERS,
      });
    } catch (error) {
      tap.close();
      release();
      throw error;
    }
    this.tap = tap;
    this.#release = release;
    this.mac = formatMac(mac);
  }

  /**
   * @throws Nothing.
   */
  override close(): void {
    super.close();
    this.tap.close();
    this.#release();
  }
}
