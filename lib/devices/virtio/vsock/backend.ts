// The virtio-vsock back end without vhost, with Firecracker's hybrid host side: it listens on a Unix
// socket; a host program connects and writes `CONNECT <port>\n`, the guest's listener on that port
// accepts and the program reads `OK <host port>\n`, then bytes flow. A guest that connects to host
// port P reaches whoever listens on the Unix socket `<path>_<P>`. Stream sockets only, with the spec's
// credit-based flow control both ways.
//
// What a guest can make the host hold is bounded (README: Bounds):
// - per connection, host -> guest: a host socket is not read while VSOCK_HOST_PENDING_MAX bytes wait
//   for the guest's credit (plus at most one socket read);
// - per connection, guest -> host: what the guest sent beyond the VSOCK_BUF_ALLOC credit we advertised
//   and the host side has not taken yet is a protocol violation: the connection is reset;
// - replies waiting for receive buffers: at most a receive queue's worth; while that many wait, the
//   transmit queue is not served (the guest's own sends wait in its ring);
// - connections: at most VSOCK_MAX_CONNECTIONS (more are refused with RST / by closing the socket).
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { DeviceCounters } from '../../counters';
import type { BackendContext, VirtioBackend } from '../transport/backend';
import { deviceBroken, openQueues, signalUsed } from '../transport/backend-support';
import type { DescriptorChain, SplitVirtqueue } from '../transport/split-virtqueue';
import { take } from '../transport/views';
import { decodeVsockHeader, encodeVsockHeader, ShutdownFlag, VSOCK_HEADER_SIZE, VSOCK_HOST_CID, VSOCK_TYPE_STREAM, type VsockHeader, VsockOp } from './packet';

export const VSOCK_RX_QUEUE = 0;
export const VSOCK_TX_QUEUE = 1;
export const VSOCK_EVENT_QUEUE = 2;
export const VSOCK_QUEUE_SIZE = 256;
export const VSOCK_EVENT_QUEUE_SIZE = 64;
/** Receive buffer we advertise per connection (bytes the guest may send before we forward them). */
export const VSOCK_BUF_ALLOC = 256 * 1024;
/** Host-socket reads are at most this big (Node's stream chunk). */
const HOST_READ_MAX = 64 * 1024;
/** Bytes from a host socket held for the guest before the socket is paused. */
export const VSOCK_HOST_PENDING_MAX = VSOCK_BUF_ALLOC - HOST_READ_MAX;
/** Connections at once (both directions), as Firecracker's limit. */
export const VSOCK_MAX_CONNECTIONS = 1023;
/** Header-only packets (replies, credit updates) waiting for receive buffers. */
export const VSOCK_CONTROL_BACKLOG = VSOCK_QUEUE_SIZE;
/**
 * Host connections opened per turn of the event loop for guest requests (a connect costs ~0.1 ms of
 * the thread): a guest asking for thousands waits its turns instead of stalling the loop.
 */
export const VSOCK_CONNECTS_PER_TURN = 16;
/** VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (5.10.6.7): all connections are gone (after a restore). */
const EVENT_TRANSPORT_RESET = 0;
const EVENT_SIZE = 4;
const FIRST_HOST_PORT = 0x40000000;
const CONNECT_LINE_MAX = 64;

export const VSOCK_COUNTERS = [
  'connections',
  'resets',
  'toGuestBytes',
  'fromGuestBytes',
  'refusedConnections',
  'creditViolations',
  /** Gauges and high-water marks of what the bounds limit (see the header). */
  'openConnections',
  'openConnectionsPeak',
  'controlBacklogPeak',
  'hostPendingPeak',
  'unforwardedPeak',
] as const;
type VsockCounter = (typeof VSOCK_COUNTERS)[number];

export interface VsockBackendArgs {
  guestCid: bigint;
  socketPath: string;
}

export function createBackend(context: BackendContext, args: VsockBackendArgs): VirtioVsockBackend {
  return new VirtioVsockBackend(context, args);
}

interface Connection {
  key: string;
  hostPort: number;
  guestPort: number;
  socket: net.Socket;
  connected: boolean;
  hostInitiated: boolean;
  peerBufAlloc: number;
  peerFwdCnt: number;
  /** Payload bytes sent to the guest (mod 2^32). */
  txCnt: number;
  /** Payload bytes from the guest that the host socket has taken. */
  fwdCnt: number;
  /** Payload bytes from the guest handed to the host socket, taken or not. */
  received: number;
  advertisedFwdCnt: number;
  pending: Buffer[];
  pendingBytes: number;
}

export class VirtioVsockBackend implements VirtioBackend {
  readonly #context: BackendContext;
  readonly #guestCid: bigint;
  readonly #socketPath: string;
  readonly #server: net.Server;
  readonly #counters: DeviceCounters<VsockCounter> | undefined;
  readonly #connections = new Map<string, Connection>();
  /** Connections with data for the guest, in arrival order. */
  readonly #withData = new Set<Connection>();
  readonly #control: Buffer[] = [];
  /** Every socket a host program opened, until it closes: quiesce() closes those still open. */
  readonly #hostSockets = new Set<net.Socket>();
  #rx: SplitVirtqueue | undefined;
  #tx: SplitVirtqueue | undefined;
  #events: SplitVirtqueue | undefined;
  #nextHostPort = FIRST_HOST_PORT;
  #running = true;
  #closed = false;
  #transportResetPending = false;
  #connectsThisTurn = 0;
  #txContinuation: NodeJS.Immediate | undefined;
  readonly #listening: Promise<void>;
  /** A host-side failure that stopped the device (guest errors only set NEEDS_RESET). */
  error: Error | undefined;

  constructor(context: BackendContext, options: VsockBackendArgs) {
    this.#context = context;
    this.#guestCid = options.guestCid;
    this.#socketPath = options.socketPath;
    this.#counters = context.counters as DeviceCounters<VsockCounter> | undefined;
    this.#server = net.createServer((socket) => this.#acceptHost(socket));
    this.#listening = new Promise((resolve, reject) => {
      this.#server.once('listening', resolve);
      this.#server.once('error', reject);
    });
    this.#listening.catch((error: unknown) => {
      this.error ??= error instanceof Error ? error : new Error(String(error));
    });
    this.#server.listen(options.socketPath);
  }

  /** Resolves once the host socket listens (rejects with the listen error). */
  ready(): Promise<void> {
    return this.#listening;
  }

  /** What the back end holds for the guest and the host right now (each within its bound). */
  usage(): { connections: number; controlBacklog: number; maxHostPendingBytes: number; maxUnforwardedBytes: number } {
    let maxHostPendingBytes = 0;
    let maxUnforwardedBytes = 0;
    for (const connection of this.#connections.values()) {
      maxHostPendingBytes = Math.max(maxHostPendingBytes, connection.pendingBytes);
      maxUnforwardedBytes = Math.max(maxUnforwardedBytes, connection.received - connection.fwdCnt);
    }
    return { connections: this.#connections.size, controlBacklog: this.#control.length, maxHostPendingBytes, maxUnforwardedBytes };
  }

  activate(): void {
    // The event queue is only needed for a transport reset; a driver that never sets it up still works.
    const withEvents = this.#context.transport.queueConfig(VSOCK_EVENT_QUEUE) !== undefined;
    const queues = openQueues(this.#context, withEvents ? [VSOCK_RX_QUEUE, VSOCK_TX_QUEUE, VSOCK_EVENT_QUEUE] : [VSOCK_RX_QUEUE, VSOCK_TX_QUEUE]);
    if (queues === undefined) return;
    [this.#rx, this.#tx, this.#events] = queues;
    if (this.#transportResetPending) this.#sendTransportReset();
    this.#flushRx();
  }

  reset(): void {
    this.#cancelTxContinuation();
    this.#dropConnections();
    this.#rx = undefined;
    this.#tx = undefined;
    this.#events = undefined;
  }

  notify(queue: number): void {
    if (queue === VSOCK_TX_QUEUE) this.#drainTx();
    else if (queue === VSOCK_EVENT_QUEUE && this.#transportResetPending) this.#sendTransportReset();
    this.#flushRx();
  }

  pause(): void {
    this.#running = false;
    this.#cancelTxContinuation();
    for (const connection of this.#connections.values()) connection.socket.pause();
  }

  resume(): void {
    this.#running = true;
    this.#drainTx();
    for (const connection of this.#connections.values()) if (connection.connected && connection.pendingBytes < VSOCK_HOST_PENDING_MAX) connection.socket.resume();
    this.#flushRx();
  }

  /** Stops listening (and removes the socket file), closes every connection. */
  async quiesce(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#running = false;
    this.#cancelTxContinuation();
    this.#dropConnections();
    // Not only connections: a socket still before its CONNECT line, or refused and left half open by
    // its program, would keep the server from closing.
    for (const socket of this.#hostSockets) socket.destroy();
    this.#rx = undefined;
    this.#tx = undefined;
    this.#events = undefined;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    fs.rmSync(this.#socketPath, { force: true });
  }

  /** Connections do not survive a snapshot: the restored guest is told with a transport reset. */
  saveState(): unknown {
    return { connections: this.#connections.size };
  }

  restoreState(_state: unknown): void {
    this.#transportResetPending = true;
  }

  #cancelTxContinuation(): void {
    if (this.#txContinuation !== undefined) clearImmediate(this.#txContinuation);
    this.#txContinuation = undefined;
  }

  #dropConnections(): void {
    for (const connection of this.#connections.values()) connection.socket.destroy();
    this.#connections.clear();
    this.#withData.clear();
    this.#control.length = 0;
    this.#countOpen();
  }

  #key(hostPort: number, guestPort: number): string {
    return `${hostPort}:${guestPort}`;
  }

  #header(connection: Pick<Connection, 'hostPort' | 'guestPort'>, op: number, extra: Partial<VsockHeader> = {}): VsockHeader {
    const c = this.#connections.get(this.#key(connection.hostPort, connection.guestPort));
    return {
      srcCid: VSOCK_HOST_CID,
      dstCid: this.#guestCid,
      srcPort: connection.hostPort,
      dstPort: connection.guestPort,
      len: 0,
      type: VSOCK_TYPE_STREAM,
      op,
      flags: 0,
      bufAlloc: VSOCK_BUF_ALLOC,
      fwdCnt: c?.fwdCnt ?? 0,
      ...extra,
    };
  }

  /** Queues a header-only packet for the guest; false when the backlog is full (the caller refuses). */
  #sendControl(header: VsockHeader): boolean {
    if (this.#control.length >= VSOCK_CONTROL_BACKLOG) return false;
    const connection = this.#connections.get(this.#key(header.srcPort, header.dstPort));
    if (connection !== undefined) connection.advertisedFwdCnt = connection.fwdCnt;
    this.#control.push(encodeVsockHeader(header));
    this.#counters?.max('controlBacklogPeak', this.#control.length);
    return true;
  }

  #acceptHost(socket: net.Socket): void {
    this.#hostSockets.add(socket);
    socket.once('close', () => this.#hostSockets.delete(socket));
    if (this.#closed || this.#connections.size >= VSOCK_MAX_CONNECTIONS) {
      this.#counters?.add('refusedConnections');
      socket.destroy();
      return;
    }
    let line = '';
    const onData = (chunk: Buffer): void => {
      const text = line + chunk.toString('latin1');
      const newline = text.indexOf('\n');
      if (newline < 0) {
        line = text;
        if (line.length > CONNECT_LINE_MAX) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      const match = /^CONNECT (\d+)\r?$/.exec(text.slice(0, newline));
      const guestPort = match ? Number(match[1]) : NaN;
      if (!Number.isInteger(guestPort) || guestPort > 0xffffffff || this.#rx === undefined || this.#closed || this.#connections.size >= VSOCK_MAX_CONNECTIONS || this.#control.length >= VSOCK_CONTROL_BACKLOG) {
        this.#counters?.add('refusedConnections');
        socket.end();
        return;
      }
      const connection = this.#open(socket, this.#nextHostPort++, guestPort, true);
      const rest = Buffer.from(text.slice(newline + 1), 'latin1');
      if (rest.length > 0) this.#queueToGuest(connection, rest);
      this.#sendControl(this.#header(connection, VsockOp.REQUEST));
      this.#flushRx();
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }

  #open(socket: net.Socket, hostPort: number, guestPort: number, hostInitiated: boolean): Connection {
    const key = this.#key(hostPort, guestPort);
    const connection: Connection = { key, hostPort, guestPort, socket, connected: false, hostInitiated, peerBufAlloc: 0, peerFwdCnt: 0, txCnt: 0, fwdCnt: 0, received: 0, advertisedFwdCnt: 0, pending: [], pendingBytes: 0 };
    this.#connections.set(key, connection);
    this.#counters?.add('connections');
    this.#countOpen();
    socket.on('data', (data: Buffer) => {
      this.#queueToGuest(connection, data);
      this.#flushRx();
    });
    socket.on('end', () => {
      if (this.#connections.get(key) !== connection) return;
      this.#sendControl(this.#header(connection, VsockOp.SHUTDOWN, { flags: ShutdownFlag.RECEIVE | ShutdownFlag.SEND }));
      this.#flushRx();
    });
    socket.on('error', () => this.#reset(connection));
    socket.on('close', () => this.#reset(connection));
    return connection;
  }

  #queueToGuest(connection: Connection, data: Buffer): void {
    if (this.#connections.get(connection.key) !== connection) return;
    connection.pending.push(data);
    connection.pendingBytes += data.length;
    this.#counters?.max('hostPendingPeak', connection.pendingBytes);
    this.#withData.add(connection);
    // Back-pressure: stop reading the host socket while a window's worth waits for the guest.
    if (connection.pendingBytes >= VSOCK_HOST_PENDING_MAX) connection.socket.pause();
  }

  /** Forgets a connection and tells the guest (RST), e.g. when its host socket went away. */
  #reset(connection: Connection): void {
    if (this.#connections.get(connection.key) !== connection) return;
    this.#forget(connection);
    this.#sendControl(this.#header(connection, VsockOp.RST));
    this.#counters?.add('resets');
    this.#flushRx();
  }

  #forget(connection: Connection): void {
    this.#connections.delete(connection.key);
    this.#withData.delete(connection);
    connection.socket.destroy();
    this.#countOpen();
  }

  #countOpen(): void {
    this.#counters?.set('openConnections', this.#connections.size);
    this.#counters?.max('openConnectionsPeak', this.#connections.size);
  }

  #drainTx(): void {
    if (this.#txContinuation !== undefined) return; // the next turn takes them
    const tx = this.#tx;
    if (!this.#running || tx === undefined || tx.failure !== undefined) return;
    this.#connectsThisTurn = 0;
    let used = false;
    try {
      // While replies wait for receive buffers, the guest's sends wait in its ring (bounded backlog).
      while (this.#control.length < VSOCK_CONTROL_BACKLOG) {
        if (this.#connectsThisTurn >= VSOCK_CONNECTS_PER_TURN) {
          this.#txContinuation = setImmediate(() => {
            this.#txContinuation = undefined;
            this.#drainTx();
            this.#flushRx();
          });
          break;
        }
        const chain = tx.pop();
        if (chain === undefined) break;
        this.#fromGuestChain(chain);
        tx.pushUsed(chain.head, 0);
        used = true;
      }
    } catch (error) {
      this.error = deviceBroken(this.#context, error) ?? this.error;
      return;
    }
    if (used) signalUsed(this.#context, tx);
  }

  /** Reads one packet from a transmit chain (copying only the header and a credit-bounded payload). */
  #fromGuestChain(chain: DescriptorChain): void {
    if (chain.readableBytes < VSOCK_HEADER_SIZE) return;
    const header = decodeVsockHeader(Buffer.concat(take(chain.readable, 0, VSOCK_HEADER_SIZE)));
    if (header.len > VSOCK_BUF_ALLOC || header.len > chain.readableBytes - VSOCK_HEADER_SIZE) {
      this.#fromGuest(header, undefined);
      return;
    }
    const payload = Buffer.allocUnsafe(header.len);
    let offset = 0;
    for (const view of take(chain.readable, VSOCK_HEADER_SIZE, header.len)) {
      payload.set(view, offset);
      offset += view.length;
    }
    this.#fromGuest(header, payload);
  }

  #fromGuest(h: VsockHeader, payload: Buffer | undefined): void {
    const reply = (op: number): void => {
      this.#sendControl(this.#header({ hostPort: h.dstPort, guestPort: h.srcPort }, op));
    };
    if (h.type !== VSOCK_TYPE_STREAM || h.dstCid !== VSOCK_HOST_CID || h.srcCid !== this.#guestCid) {
      if (h.op !== VsockOp.RST) reply(VsockOp.RST);
      return;
    }
    const connection = this.#connections.get(this.#key(h.dstPort, h.srcPort));
    if (payload === undefined) {
      // A len past the chain or the window: the guest takes our RST as the connection's end, so end it here too.
      if (connection !== undefined) this.#forget(connection);
      if (h.op !== VsockOp.RST) reply(VsockOp.RST);
      return;
    }
    if (connection !== undefined) {
      connection.peerBufAlloc = h.bufAlloc;
      connection.peerFwdCnt = h.fwdCnt;
      if (connection.pendingBytes > 0) this.#withData.add(connection);
    }
    switch (h.op) {
      case VsockOp.REQUEST:
        if (connection !== undefined || this.#connections.size >= VSOCK_MAX_CONNECTIONS) {
          if (connection === undefined) this.#counters?.add('refusedConnections');
          reply(VsockOp.RST);
        } else {
          this.#connectToHost(h.dstPort, h.srcPort, h.bufAlloc, h.fwdCnt);
        }
        return;
      case VsockOp.RESPONSE:
        if (connection === undefined || connection.connected || !connection.hostInitiated) {
          reply(VsockOp.RST);
          return;
        }
        connection.connected = true;
        connection.socket.write(`OK ${connection.hostPort}\n`);
        connection.socket.resume();
        return;
      case VsockOp.RW:
        if (connection === undefined || !connection.connected) {
          reply(VsockOp.RST);
          return;
        }
        this.#forwardToHost(connection, payload);
        return;
      case VsockOp.CREDIT_UPDATE:
        return;
      case VsockOp.CREDIT_REQUEST:
        if (connection !== undefined) this.#sendControl(this.#header(connection, VsockOp.CREDIT_UPDATE));
        return;
      case VsockOp.SHUTDOWN:
        if (connection !== undefined) {
          connection.socket.end();
          this.#reset(connection);
        }
        return;
      case VsockOp.RST:
        if (connection !== undefined) this.#forget(connection);
        return;
      default:
        reply(VsockOp.RST);
    }
  }

  #forwardToHost(connection: Connection, payload: Buffer): void {
    // The guest may have at most VSOCK_BUF_ALLOC bytes unforwarded: more means it ignored our credit.
    if (connection.received + payload.length - connection.fwdCnt > VSOCK_BUF_ALLOC) {
      this.#counters?.add('creditViolations');
      this.#reset(connection);
      return;
    }
    connection.received += payload.length;
    this.#counters?.max('unforwardedPeak', connection.received - connection.fwdCnt);
    this.#counters?.add('fromGuestBytes', payload.length);
    connection.socket.write(payload, () => {
      connection.fwdCnt += payload.length;
      // Tell the guest about freed room once half the window has been forwarded.
      if (connection.fwdCnt - connection.advertisedFwdCnt >= VSOCK_BUF_ALLOC / 2 && this.#connections.get(connection.key) === connection) {
        this.#sendControl(this.#header(connection, VsockOp.CREDIT_UPDATE));
        this.#flushRx();
      }
    });
  }

  #connectToHost(hostPort: number, guestPort: number, bufAlloc: number, fwdCnt: number): void {
    this.#connectsThisTurn++;
    const socket = net.connect(`${this.#socketPath}_${hostPort}`);
    const connection = this.#open(socket, hostPort, guestPort, false);
    connection.peerBufAlloc = bufAlloc;
    connection.peerFwdCnt = fwdCnt;
    socket.once('connect', () => {
      if (this.#connections.get(connection.key) !== connection) return;
      connection.connected = true;
      this.#sendControl(this.#header(connection, VsockOp.RESPONSE));
      this.#flushRx();
    });
  }

  /** Room the guest has for more payload on this connection. */
  #credit(connection: Connection): number {
    return Math.max(0, connection.peerBufAlloc - ((connection.txCnt - connection.peerFwdCnt) >>> 0));
  }

  /** The next connection with data the guest has room for (others stay queued until credit comes). */
  #nextWithData(): Connection | undefined {
    for (const connection of this.#withData) {
      if (connection.pendingBytes === 0) {
        this.#withData.delete(connection);
        continue;
      }
      if (connection.connected && this.#credit(connection) > 0) return connection;
    }
    return undefined;
  }

  /** Fills receive buffers: control packets first, then data the guest has credit for. */
  #flushRx(): void {
    const rx = this.#rx;
    if (!this.#running || rx === undefined || rx.failure !== undefined) return;
    const backlogWasFull = this.#control.length >= VSOCK_CONTROL_BACKLOG;
    let used = false;
    try {
      for (;;) {
        const control = this.#control[0];
        const data = control === undefined ? this.#nextWithData() : undefined;
        if (control === undefined && data === undefined) break;
        const chain = rx.pop();
        if (chain === undefined) break;
        if (control !== undefined) {
          this.#control.shift();
          this.#deliver(rx, chain, [control]);
        } else {
          this.#deliverData(rx, chain, data as Connection);
        }
        used = true;
      }
    } catch (error) {
      this.error = deviceBroken(this.#context, error) ?? this.error;
      return;
    }
    if (used) signalUsed(this.#context, rx);
    if (backlogWasFull && this.#control.length < VSOCK_CONTROL_BACKLOG) this.#drainTx();
  }

  #deliverData(rx: SplitVirtqueue, chain: DescriptorChain, connection: Connection): void {
    if (chain.writableBytes < VSOCK_HEADER_SIZE) {
      rx.pushUsed(chain.head, 0); // a receive buffer too small for a header: the guest's error
      return;
    }
    const room = Math.min(this.#credit(connection), chain.writableBytes - VSOCK_HEADER_SIZE, connection.pendingBytes);
    const parts = takePending(connection, room);
    connection.txCnt = (connection.txCnt + room) >>> 0;
    this.#counters?.add('toGuestBytes', room);
    if (connection.pendingBytes === 0) this.#withData.delete(connection);
    if (this.#running && connection.pendingBytes < VSOCK_HOST_PENDING_MAX / 2) connection.socket.resume();
    connection.advertisedFwdCnt = connection.fwdCnt;
    this.#deliver(rx, chain, [encodeVsockHeader(this.#header(connection, VsockOp.RW, { len: room })), ...parts]);
  }

  /** Copies a packet into a receive chain and returns it; a chain too small for it gets nothing. */
  #deliver(rx: SplitVirtqueue, chain: DescriptorChain, parts: readonly Uint8Array[]): void {
    const length = parts.reduce((sum, part) => sum + part.length, 0);
    if (length > chain.writableBytes) {
      rx.pushUsed(chain.head, 0);
      return;
    }
    let offset = 0;
    for (const part of parts) {
      copyInto(take(chain.writable, offset, part.length), part);
      offset += part.length;
    }
    rx.pushUsed(chain.head, length);
  }

  #sendTransportReset(): void {
    const events = this.#events;
    if (events === undefined || events.failure !== undefined) return;
    try {
      const chain = events.pop();
      if (chain === undefined) return; // sent once the driver posts an event buffer
      this.#transportResetPending = false;
      const event = Buffer.alloc(EVENT_SIZE);
      event.writeUInt32LE(EVENT_TRANSPORT_RESET, 0);
      this.#deliver(events, chain, [event]);
      signalUsed(this.#context, events);
    } catch (error) {
      this.error = deviceBroken(this.#context, error) ?? this.error;
    }
  }
}

/** Takes `bytes` from the front of a connection's pending data, as views (no concatenation). */
function takePending(connection: Connection, bytes: number): Buffer[] {
  const parts: Buffer[] = [];
  let left = bytes;
  while (left > 0 && connection.pending.length > 0) {
    const head = connection.pending[0] as Buffer;
    const part = head.subarray(0, left);
    parts.push(part);
    left -= part.length;
    if (part.length === head.length) connection.pending.shift();
    else connection.pending[0] = head.subarray(part.length);
  }
  connection.pendingBytes -= bytes - left;
  return parts;
}

function copyInto(views: readonly Uint8Array[], bytes: Uint8Array): void {
  let offset = 0;
  for (const view of views) {
    view.set(bytes.subarray(offset, offset + view.length));
    offset += view.length;
  }
}
