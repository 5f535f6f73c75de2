// virtio-vsock (virtio 1.2, 5.10) as a machine device: the guest's CID in config space and the back
// end (backend.ts), hosted on an I/O thread, listening on a Unix socket for the host side. The socket
// path is checked before any VM exists: a live listener there is refused, a stale socket file removed.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ConfigError } from '../../../kvm/errors';
import { claim } from '../../claims';
import { VirtioDeviceId } from '../transport/mmio-registers';
import type { VirtioDeviceDescription } from '../transport/mmio-state';
import { VirtioMmioDevice } from '../transport/mmio-device';
import { VSOCK_COUNTERS, VSOCK_EVENT_QUEUE_SIZE, VSOCK_QUEUE_SIZE, type VsockBackendArgs } from './backend';

const BACKEND_MODULE = path.join(__dirname, 'backend.js');
export const MIN_GUEST_CID = 3n;
export const MAX_GUEST_CID = 0xffffffffn;
/** sun_path holds 108 bytes with its NUL; host ports add `_<port>` to it. */
const MAX_SOCKET_PATH = 107;

export function vsockDescription(guestCid: bigint): VirtioDeviceDescription {
  if (guestCid < MIN_GUEST_CID || guestCid > MAX_GUEST_CID) throw new ConfigError(`vsock guest CID must be from ${MIN_GUEST_CID} to ${MAX_GUEST_CID}, not ${guestCid}`);
  const config = Buffer.alloc(8);
  config.writeBigUInt64LE(guestCid);
  return { deviceId: VirtioDeviceId.VSOCK, features: 0n, queueSizes: [VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE, VSOCK_EVENT_QUEUE_SIZE], config };
}

/**
 * Makes sure nobody listens on `socketPath`: a live listener is an error, a stale socket file (nobody
 * accepts) is removed, anything else there is an error.
 */
export async function claimSocketPath(socketPath: string): Promise<void> {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) throw new ConfigError(`vsock socket path is longer than ${MAX_SOCKET_PATH} bytes: ${socketPath}`);
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket()) throw new ConfigError(`vsock socket path ${socketPath} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new ConfigError(`vsock socket path ${socketPath} is in use (something listens there)`);
  fs.rmSync(socketPath, { force: true });
}

/** What a {@link VirtioVsockDevice} is made from. */
export interface VirtioVsockOptions {
  /** A stable id (default 'vsock<n>'). */
  id?: string;
  /** The guest's context id (3 to 2^32-1). */
  cid: number | bigint;
  /** The host side's Unix socket (see backend.ts); must not be in use (claimSocketPath). */
  socketPath: string;
  /** A fixed MMIO window base (default: placed by the machine). */
  base?: number;
  /** A fixed interrupt line (default: placed by the machine). */
  irq?: number;
}

/** A virtio-vsock device whose host side is Firecracker's hybrid Unix socket (`CONNECT <port>` / `OK <port>`). */
export class VirtioVsockDevice extends VirtioMmioDevice {
  /** The guest's context id. */
  readonly cid: bigint;
  /** The Unix socket the host side listens on. */
  readonly socketPath: string;
  readonly #release: () => void;

  /**
   * Checks the CID and socket path and claims the path; the socket listens once the machine starts.
   * @throws {@link ConfigError} when the CID is out of range, the path is too long, something listens there, or
   *   another live VM holds it.
   */
  constructor(options: VirtioVsockOptions) {
    const cid = BigInt(options.cid);
    const args: VsockBackendArgs = { guestCid: cid, socketPath: options.socketPath };
    const release = claim('vsock socket', path.resolve(options.socketPath), args, options.socketPath);
    try {
      super({
      ...(options.id !== undefined ? { id: options.id } : {}),
      ...(options.base !== undefined ? { base: options.base } : {}),
      ...(options.irq !== undefined ? { irq: options.irq } : {}),
      kind: 'virtio-vsock',
      idPrefix: 'vsock',
      device: vsockDescription(cid),
      backend: { module: BACKEND_MODULE, args },
      counters: VSOCK_COUNTERS,
      });
    } catch (error) {
      release();
      throw error;
    }
    this.cid = cid;
    this.socketPath = options.socketPath;
    this.#release = release;
  }

  /**
   * @throws Nothing.
   */
  override close(): void {
    super.close();
    this.#release();
  }
}
