// virtio-blk (virtio 1.2, 5.2) as a machine device: a host file (BlockFile), the features and config
// space a driver sees, and the back end (backend.ts) hosted on an I/O thread. One request queue.
import * as path from 'node:path';
import { VirtioDeviceId, VirtioFeature } from '../transport/mmio-registers';
import type { VirtioDeviceDescription } from '../transport/mmio-state';
import { claim } from '../../claims';
import { VirtioMmioDevice } from '../transport/mmio-device';
import { BLK_COUNTERS, type BlkBackendArgs } from './backend';
import { BlockFile, type BlockFileOptions } from './file';
import { MAX_DISCARD_SECTORS, MAX_DISCARD_SEGMENTS, SECTOR_SIZE } from './request';

export const BLK_QUEUE_SIZE = 256;
const SEG_MAX = BLK_QUEUE_SIZE - 2;
const CONFIG_SIZE = 60;
/** Where the capacity (in sectors) sits in virtio-blk's config space. */
const CAPACITY_OFFSET = 0;
const BACKEND_MODULE = path.join(__dirname, 'backend.js');

export const BlkFeature = { SEG_MAX: 2n, RO: 5n, BLK_SIZE: 6n, FLUSH: 9n, DISCARD: 13n, WRITE_ZEROES: 14n } as const;

export function blkDescription(file: Pick<BlockFile, 'sectors' | 'readOnly'>): VirtioDeviceDescription {
  const config = Buffer.alloc(CONFIG_SIZE);
  config.writeBigUInt64LE(file.sectors, CAPACITY_OFFSET);
  config.writeUInt32LE(SEG_MAX, 12);
  config.writeUInt32LE(SECTOR_SIZE, 20); // blk_size
  config.writeUInt32LE(MAX_DISCARD_SECTORS, 36);
  config.writeUInt32LE(MAX_DISCARD_SEGMENTS, 40);
  config.writeUInt32LE(1, 44); // discard_sector_alignment
  config.writeUInt32LE(MAX_DISCARD_SECTORS, 48); // max_write_zeroes_sectors
  config.writeUInt32LE(MAX_DISCARD_SEGMENTS, 52);
  const bits = [VirtioFeature.INDIRECT_DESC, VirtioFeature.EVENT_IDX, BlkFeature.SEG_MAX, BlkFeature.BLK_SIZE, BlkFeature.FLUSH, ...(file.readOnly ? [BlkFeature.RO] : [BlkFeature.DISCARD, BlkFeature.WRITE_ZEROES])];
  return { deviceId: VirtioDeviceId.BLOCK, features: bits.reduce((all, bit) => all | (1n << bit), 0n), queueSizes: [BLK_QUEUE_SIZE], config };
}

/** What a {@link VirtioBlkDevice} is made from. */
export interface VirtioBlkOptions extends BlockFileOptions {
  /** A stable id (default 'blk<n>'); also GET_ID's answer unless `serial` is given. */
  id?: string;
  /** The backing file or block device. */
  path: string;
  /** A fixed MMIO window base (default: placed by the machine). */
  base?: number;
  /** A fixed interrupt line (default: placed by the machine). */
  irq?: number;
}

/** A virtio-blk disk on a host file or block device, served by synchronous preadv/pwritev on an I/O thread. */
export class VirtioBlkDevice extends VirtioMmioDevice {
  #file: BlockFile;
  #release: () => void;
  readonly #idOption: string | undefined;

  /**
   * Opens the backing file and makes the device.
   * @throws {@link ConfigError} when the file cannot be opened or is not a regular file or block device,
   *   or (writable) another live VM holds it.
   */
  constructor(options: VirtioBlkOptions) {
    const file = new BlockFile(options.path, { ...(options.readOnly !== undefined ? { readOnly: options.readOnly } : {}), ...(options.id !== undefined ? { id: options.id } : {}) });
    const args: BlkBackendArgs = { fd: file.fd, sectors: file.sectors, readOnly: file.readOnly, id: file.id };
    let release: () => void = () => undefined;
    try {
      // A disk the guest may write is this VM's alone; any number may share a read-only one.
      if (!file.readOnly) release = claim('writable disk', file.identity, args, options.path);
      super({
        ...(options.id !== undefined ? { id: options.id } : {}),
        ...(options.base !== undefined ? { base: options.base } : {}),
        ...(options.irq !== undefined ? { irq: options.irq } : {}),
        kind: 'virtio-blk',
        idPrefix: 'blk',
        device: blkDescription(file),
        backend: { module: BACKEND_MODULE, args },
        counters: BLK_COUNTERS,
      });
    } catch (error) {
      release();
      file.close();
      throw error;
    }
    this.#file = file;
    this.#release = release;
    this.#idOption = options.id;
  }

  /** The open backing file. */
  get file(): BlockFile {
    return this.#file;
  }

  /**
   * Swaps the backing file of the running disk (Firecracker's `PATCH /drives/{id}` with `path_on_host`): the back
   * end takes the new file between two requests, the capacity in config space follows it, and the driver gets a
   * config-change interrupt (Linux's virtio_blk then reads the new size). The old file is closed. The disk stays
   * read-only or writable as it was; a writable file must not be another live VM's.
   * @throws {@link ConfigError} when the new file cannot be opened or is held by another VM: the disk keeps its file.
   * @throws {@link DeviceError} when the VM is not running.
   */
  async swapFile(path: string): Promise<void> {
    const readOnly = this.#file.readOnly;
    const file = new BlockFile(path, { readOnly, ...(this.#idOption !== undefined ? { id: this.#idOption } : {}) });
    const args: BlkBackendArgs = { fd: file.fd, sectors: file.sectors, readOnly, id: file.id };
    // The same file under another path keeps the claim it has; a new writable file is claimed first.
    const sameFile = file.identity === this.#file.identity;
    let release: () => void = () => undefined;
    try {
      if (!readOnly && !sameFile) release = claim('writable disk', file.identity, args, path);
      await this.reconfigureBackend(args);
    } catch (error) {
      release();
      file.close();
      throw error;
    }
    this.#file.close();
    this.#file = file;
    if (!sameFile) {
      this.#release();
      this.#release = release;
    }
    const capacity = Buffer.alloc(8);
    capacity.writeBigUInt64LE(file.sectors);
    this.configChanged(CAPACITY_OFFSET, capacity);
  }

  /**
   * @throws Nothing.
   */
  override close(): void {
    super.close();
    this.#file.close();
    this.#release();
  }
}
