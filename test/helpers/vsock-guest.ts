// A virtio-vsock guest driver for unit tests, on the main thread (so Stryker sees the back end run):
// the rings live in guest memory, the test decides which receive buffers exist and which packets go
// out, and reads back exactly what the device put in the used rings. Host-side peers (a program that
// connects to the Unix socket, a listener on `<path>_<port>`) record what they got.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { DeviceCounters } from '../../lib/devices/counters';
import { DeviceStatus, VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { createVirtioMmioState } from '../../lib/devices/virtio/transport/mmio-state';
import { VirtioMmioTransport } from '../../lib/devices/virtio/transport/mmio-transport';
import { DescFlag } from '../../lib/devices/virtio/transport/split-ring-layout';
import { VirtioVsockBackend, VSOCK_COUNTERS, VSOCK_EVENT_QUEUE, VSOCK_RX_QUEUE, VSOCK_TX_QUEUE } from '../../lib/devices/virtio/vsock/backend';
import { vsockDescription } from '../../lib/devices/virtio/vsock/device';
import { decodeVsockHeader, encodeVsockHeader, VSOCK_HEADER_SIZE, VSOCK_HOST_CID, VSOCK_TYPE_STREAM, type VsockHeader, VsockOp } from '../../lib/devices/virtio/vsock/packet';
import { GuestMemory } from '../../lib/memory/guest-memory';
import { ramLayout } from '../../lib/memory/layout';
import { MmioDriver } from './mmio-driver';
import { makeSocketDir } from './socket-dir';
import { until as pollUntil } from './until';
import { TestDriver } from './virtqueue-driver';

export const GUEST_CID = 3n;
export const RING_SIZE = 256;
const EVENT_RING_SIZE = 8;
const RAM = 16 * 1024 * 1024;
const RINGS = [0x10000, 0x20000, 0x30000] as const;
/** Every receive descriptor owns a fixed region this big. */
export const RX_DESCRIPTOR_MAX = 0x2000;
const RX_ARENA = 0x100000;
const TX_ARENA = 0x400000;
const TX_ARENA_END = 0xe00000;
const EVENT_ARENA = 0xf00000;
const EVENT_BUFFER_MAX = 0x100;

export type VsockCounters = DeviceCounters<(typeof VSOCK_COUNTERS)[number]>;

/** A chain the device returned on the receive queue: its used length and the packet in it. */
export interface RxPacket {
  head: number;
  len: number;
  /** The header, when the device wrote at least one. */
  header: VsockHeader | undefined;
  payload: Buffer;
  /** Everything the device wrote (len bytes over the chain's buffers). */
  bytes: Buffer;
  /** The chain's buffers in guest memory. */
  buffers: { address: number; length: number }[];
}

interface Chain {
  descriptors: number[];
  buffers: { address: number; length: number }[];
}

/** Descriptor bookkeeping for one queue: free indices, and the chains the device holds. */
class Ring {
  readonly driver: TestDriver;
  readonly #free: number[];
  readonly #chains = new Map<number, Chain>();
  #usedSeen = 0;

  constructor(memory: GuestMemory, base: number, size: number) {
    this.driver = new TestDriver(memory, base, size);
    this.#free = Array.from({ length: size }, (_, i) => i);
  }

  get outstanding(): number {
    return this.#chains.size;
  }

  /** Writes and offers a chain of these buffers. */
  offer(buffers: readonly { address: number; length: number }[], writable: boolean): number {
    if (buffers.length === 0 || buffers.length > this.#free.length) throw new Error(`no room for a ${buffers.length}-descriptor chain`);
    const descriptors = this.#free.splice(0, buffers.length);
    descriptors.forEach((d, i) => {
      const last = i === descriptors.length - 1;
      const { address, length } = buffers[i] as { address: number; length: number };
      this.driver.writeDescriptor(d, { address, length, flags: (writable ? DescFlag.WRITE : 0) | (last ? 0 : DescFlag.NEXT), next: last ? 0 : (descriptors[i + 1] as number) });
    });
    const head = descriptors[0] as number;
    this.#chains.set(head, { descriptors, buffers: buffers.slice() });
    this.driver.makeAvailable(head);
    return head;
  }

  /** The descriptor indices the next chain of `count` will use. */
  peekFree(count: number): number[] {
    return this.#free.slice(0, count);
  }

  /** The used entries published since the last call, with their chains (whose descriptors are free again). */
  reap(): { head: number; len: number; chain: Chain }[] {
    const entries: { head: number; len: number; chain: Chain }[] = [];
    while (this.#usedSeen !== this.driver.usedIndex()) {
      const { id, len } = this.driver.usedEntry(this.#usedSeen);
      this.#usedSeen = (this.#usedSeen + 1) & 0xffff;
      const chain = this.#chains.get(id);
      if (chain === undefined) throw new Error(`the device returned head ${id}, which it did not hold`);
      this.#chains.delete(id);
      this.#free.push(...chain.descriptors);
      entries.push({ head: id, len, chain });
    }
    return entries;
  }
}

/** The guest's half: its receive buffers, its sends, and what it read back. */
export class VsockGuest {
  readonly memory: GuestMemory;
  readonly backend: VirtioVsockBackend;
  readonly rx: Ring;
  readonly tx: Ring;
  readonly events: Ring;
  /** The buf_alloc and fwd_cnt this guest puts in its headers. */
  bufAlloc = 64 * 1024;
  fwdCnt = 0;
  /** Tx chains the device has returned, with the length it reported for each. */
  readonly txReturned: { head: number; len: number }[] = [];
  /** Everything pump() moved out of the used ring, in order. */
  readonly inbox: RxPacket[] = [];
  /** Tx buffers go round the arena: the device copies a packet when it takes the chain. */
  #txNext = TX_ARENA;

  constructor(memory: GuestMemory, backend: VirtioVsockBackend) {
    this.memory = memory;
    this.backend = backend;
    this.rx = new Ring(memory, RINGS[0], RING_SIZE);
    this.tx = new Ring(memory, RINGS[1], RING_SIZE);
    this.events = new Ring(memory, RINGS[2], EVENT_RING_SIZE);
  }

  /** A header from this guest (CID 3) to the host (CID 2), stream type, with our credit. */
  header(op: number, srcPort: number, dstPort: number, fields: Partial<VsockHeader> = {}): VsockHeader {
    return { srcCid: GUEST_CID, dstCid: VSOCK_HOST_CID, srcPort, dstPort, len: 0, type: VSOCK_TYPE_STREAM, op, flags: 0, bufAlloc: this.bufAlloc, fwdCnt: this.fwdCnt, ...fields };
  }

  /** Sends one packet (len is the payload's unless `fields` says otherwise) and notifies the tx queue. */
  send(op: number, srcPort: number, dstPort: number, fields: Partial<VsockHeader> & { payload?: Uint8Array; notify?: boolean } = {}): number {
    const { payload = new Uint8Array(0), notify = true, ...header } = fields;
    const packet = Buffer.concat([encodeVsockHeader(this.header(op, srcPort, dstPort, { len: payload.length, ...header })), payload]);
    return this.sendRaw([packet], notify);
  }

  /** Sends raw bytes as a chain of readable descriptors, one per part. */
  sendRaw(parts: readonly Uint8Array[], notify = true): number {
    this.#reapTx();
    const buffers = parts.map((part) => {
      const address = this.#txAddress(part.length);
      this.memory.writeBytes(address, part);
      return { address, length: part.length };
    });
    const head = this.tx.offer(buffers, false);
    if (notify) this.kick();
    return head;
  }

  kick(): void {
    this.backend.notify(VSOCK_TX_QUEUE);
  }

  /** Tx chains returned so far (the device never writes into them). */
  txUsed(): number {
    this.#reapTx();
    return this.txReturned.length;
  }

  /** Offers receive chains: `count` chains of one descriptor of `size` bytes each, then notifies. */
  postRx(count = 1, size = 4096, notify = true): void {
    for (let i = 0; i < count; i++) this.postRxChain([size], false);
    if (notify) this.backend.notify(VSOCK_RX_QUEUE);
  }

  /** Offers one receive chain with descriptors of these sizes (filled with `fill` first, when given). */
  postRxChain(sizes: readonly number[], notify = true, fill?: number): number {
    if (sizes.some((s) => s > RX_DESCRIPTOR_MAX)) throw new Error(`receive descriptors hold at most ${RX_DESCRIPTOR_MAX} bytes`);
    const buffers = this.rx.peekFree(sizes.length).map((descriptor, i) => ({ address: RX_ARENA + descriptor * RX_DESCRIPTOR_MAX, length: sizes[i] as number }));
    if (fill !== undefined) for (const { address, length } of buffers) this.memory.writeBytes(address, new Uint8Array(length).fill(fill));
    const head = this.rx.offer(buffers, true);
    if (notify) this.backend.notify(VSOCK_RX_QUEUE);
    return head;
  }

  /** The receive chains the device returned since the last call, parsed. */
  receive(): RxPacket[] {
    return this.rx.reap().map(({ head, len, chain }) => {
      const pieces: Uint8Array[] = [];
      let left = len;
      for (const { address, length } of chain.buffers) {
        if (left === 0) break;
        const n = Math.min(left, length);
        pieces.push(this.memory.readBytes(address, n));
        left -= n;
      }
      const bytes = Buffer.concat(pieces);
      const header = bytes.length >= VSOCK_HEADER_SIZE ? decodeVsockHeader(bytes) : undefined;
      const payload = header === undefined ? Buffer.alloc(0) : bytes.subarray(VSOCK_HEADER_SIZE, VSOCK_HEADER_SIZE + header.len);
      return { head, len, header, payload, bytes, buffers: chain.buffers };
    });
  }

  /** Moves newly returned receive chains to `inbox`, offering as many fresh ones of `repostSize` bytes (none for 0). */
  pump(repostSize = 4096): RxPacket[] {
    const got = this.receive();
    this.inbox.push(...got);
    if (repostSize > 0 && got.length > 0) this.postRx(got.length, repostSize);
    return got;
  }

  /** Pumps until a packet in `inbox` matches (op, and the ports when given); returns the first such. */
  async expect(op: number, ports: { guestPort?: number; hostPort?: number } = {}, repostSize = 4096): Promise<RxPacket> {
    const find = (): RxPacket | undefined =>
      this.inbox.find((p) => p.header?.op === op && (ports.guestPort === undefined || p.header.dstPort === ports.guestPort) && (ports.hostPort === undefined || p.header.srcPort === ports.hostPort));
    await until(() => {
      this.pump(repostSize);
      return find() !== undefined;
    }, `op ${op} ${JSON.stringify(ports)} (inbox ops ${this.inbox.map((p) => p.header?.op).join(',')})`);
    return find() as RxPacket;
  }

  /** Offers an event buffer (5.10.6.7) and notifies the event queue. */
  postEvent(size = 8, notify = true): number {
    const [descriptor = 0] = this.events.peekFree(1);
    const head = this.events.offer([{ address: EVENT_ARENA + descriptor * EVENT_BUFFER_MAX, length: size }], true);
    if (notify) this.backend.notify(VSOCK_EVENT_QUEUE);
    return head;
  }

  /** The event buffers the device returned: the used length and the event id in the first 4 bytes. */
  receiveEvents(): { len: number; id: number }[] {
    return this.events.reap().map(({ len, chain }) => ({ len, id: this.memory.readU32((chain.buffers[0] as { address: number }).address) }));
  }

  #reapTx(): void {
    for (const { head, len } of this.tx.reap()) this.txReturned.push({ head, len });
  }

  #txAddress(length: number): number {
    if (this.#txNext + length > TX_ARENA_END) this.#txNext = TX_ARENA;
    const address = this.#txNext;
    this.#txNext += (length + 15) & ~15;
    return address;
  }
}

export interface VsockRig {
  memory: GuestMemory;
  transport: VirtioMmioTransport;
  driver: MmioDriver;
  backend: VirtioVsockBackend;
  counters: VsockCounters;
  guest: VsockGuest;
  /** Interrupts the back end injected (context.signal calls). */
  signals(): number;
  dir: string;
  socketPath: string;
  /** Sets the queues up and DRIVER_OK, then activates the back end (done already unless `activate: false`). */
  start(): void;
  /** A host program connecting to the device's socket (closed with the rig). */
  connectHost(): HostPeer;
  /** A host listener on `<socketPath>_<port>` (closed with the rig). */
  listen(port: number, onPeer?: (peer: HostPeer) => void): Promise<HostListener>;
  close(): Promise<void>;
}

export interface RigOptions {
  /** Set up the event queue (default true). */
  eventQueue?: boolean;
  /** Activate the back end before returning (default true). */
  activate?: boolean;
  /** Receive buffers offered once active (default 16 of 4 KiB). */
  rxBuffers?: number;
  rxSize?: number;
  /** Hand the back end its counters (default true; the rig's stay at zero otherwise). */
  counters?: boolean;
}

/** A negotiated vsock device on the main thread with its back end listening in a fresh directory. */
export async function vsockRig(options: RigOptions = {}): Promise<VsockRig> {
  const memory = GuestMemory.allocate(ramLayout(RAM));
  const dir = makeSocketDir('vsock-unit-');
  const socketPath = path.join(dir, 'v.sock');
  const transport = new VirtioMmioTransport(createVirtioMmioState(vsockDescription(GUEST_CID)));
  const counters: VsockCounters = new DeviceCounters(VSOCK_COUNTERS);
  let signals = 0;
  const signal = (): void => {
    signals++;
  };
  const backend = new VirtioVsockBackend({ transport, memory, signal, ...((options.counters ?? true) ? { counters } : {}) }, { guestCid: GUEST_CID, socketPath });
  const driver = new MmioDriver(transport);
  const guest = new VsockGuest(memory, backend);
  const peers: HostPeer[] = [];
  const listeners: HostListener[] = [];
  const start = (): void => {
    if ((driver.negotiate(1n << VirtioFeature.VERSION_1) & DeviceStatus.FEATURES_OK) === 0) throw new Error('FEATURES_OK refused');
    driver.setupQueue(VSOCK_RX_QUEUE, guest.rx.driver.config);
    driver.setupQueue(VSOCK_TX_QUEUE, guest.tx.driver.config);
    if (options.eventQueue ?? true) driver.setupQueue(VSOCK_EVENT_QUEUE, guest.events.driver.config);
    driver.driverOk();
    backend.activate();
    guest.postRx(options.rxBuffers ?? 16, options.rxSize ?? 4096);
  };
  await backend.ready();
  if (options.activate ?? true) start();
  return {
    memory,
    transport,
    driver,
    backend,
    counters,
    guest,
    signals: () => signals,
    dir,
    socketPath,
    start,
    connectHost: () => {
      const peer = HostPeer.connect(socketPath);
      peers.push(peer);
      return peer;
    },
    listen: async (port, onPeer) => {
      const listener = await HostListener.listen(socketPath, port, onPeer);
      listeners.push(listener);
      return listener;
    },
    close: async () => {
      for (const peer of peers.splice(0)) peer.socket.destroy();
      for (const listener of listeners.splice(0)) await listener.close();
      await backend.quiesce();
      memory.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A host-side socket that records everything it read, and whether the other side ended or closed it. */
export class HostPeer {
  readonly socket: net.Socket;
  data: Buffer = Buffer.alloc(0);
  ended = false;
  closed = false;
  connected = false;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
    });
    socket.on('end', () => {
      this.ended = true;
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
  }

  /** Connects to the device's Unix socket (the connection is not yet accepted by the guest). */
  static connect(socketPath: string): HostPeer {
    const peer = new HostPeer(net.connect(socketPath));
    peer.socket.once('connect', () => {
      peer.connected = true;
    });
    return peer;
  }

  text(): string {
    return this.data.toString('latin1');
  }
}

/** A listener on `<socketPath>_<port>` (where a guest's connection to host port `port` lands). */
export class HostListener {
  readonly server: net.Server;
  readonly peers: HostPeer[] = [];

  private constructor(server: net.Server) {
    this.server = server;
  }

  static async listen(socketPath: string, port: number, onPeer?: (peer: HostPeer) => void): Promise<HostListener> {
    let listener: HostListener | undefined;
    const server = net.createServer((socket) => {
      const peer = new HostPeer(socket);
      peer.connected = true;
      listener?.peers.push(peer);
      onPeer?.(peer);
    });
    listener = new HostListener(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(`${socketPath}_${port}`, resolve);
    });
    return listener;
  }

  async close(): Promise<void> {
    for (const peer of this.peers) peer.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** How long a vsock test waits for what the device or a host program should do. */
const VSOCK_WAIT_MS = 8000;

/** Waits (polling, bounded) until `condition` holds; fails saying `what` otherwise. */
export function until(condition: () => boolean, what: string, limitMs = VSOCK_WAIT_MS): Promise<void> {
  return pollUntil(condition, what, limitMs);
}

/** Lets pending socket I/O and immediates run (for checking that something did NOT happen). */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setTimeout(resolve, 1));
}

/**
 * A host program connects to the device's socket asking for guest port `guestPort` (and sends `early`
 * right after the CONNECT line); the guest accepts (offering receive buffers of `repostSize` for those it used). Returns the peer, the host port the device chose
 * and the REQUEST the guest got.
 */
export async function acceptFromHost(rig: VsockRig, guestPort: number, early = '', repostSize = 4096): Promise<{ peer: HostPeer; hostPort: number; request: VsockHeader }> {
  const peer = rig.connectHost();
  await until(() => peer.connected, 'the host program to connect');
  peer.socket.write(`CONNECT ${guestPort}\n${early}`);
  const request = (await rig.guest.expect(VsockOp.REQUEST, { guestPort }, repostSize)).header as VsockHeader;
  rig.guest.send(VsockOp.RESPONSE, guestPort, request.srcPort);
  await until(() => peer.text().includes('\n'), 'the OK line');
  return { peer, hostPort: request.srcPort, request };
}

/** The guest connects from `guestPort` to host port `hostPort`, where a listener waits; returns the accepted peer. */
export async function connectFromGuest(rig: VsockRig, guestPort: number, hostPort: number): Promise<{ listener: HostListener; peer: HostPeer; response: VsockHeader }> {
  const listener = await rig.listen(hostPort);
  rig.guest.send(VsockOp.REQUEST, guestPort, hostPort);
  const response = (await rig.guest.expect(VsockOp.RESPONSE, { guestPort, hostPort })).header as VsockHeader;
  await until(() => listener.peers.length > 0, 'the listener to accept');
  return { listener, peer: listener.peers[0] as HostPeer, response };
}
