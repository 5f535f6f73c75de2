// virtio-vsock (virtio 1.2, 5.10) without vhost, with Firecracker's hybrid host side: the VMM listens
// on a Unix socket; a host program connects and writes `CONNECT <port>\n`, the guest's listener on
// that port accepts and the program reads `OK <host port>\n`, then bytes flow. A guest that connects
// to host port P reaches whoever listens on the Unix socket `<path>_<P>`. Stream sockets only, with
// the spec's credit-based flow control on both sides: we never send the guest more than it has room
// for (buf_alloc - (sent - fwd_cnt)), and we stop reading a host socket while its data waits.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { ConfigError } from '../../../kvm/errors';
import { deviceBroken, openQueues, signalUsed } from '../transport/backend-support';
import type { BackendContext, VirtioBackend } from '../transport/mmio-device';
import { VirtioDeviceId } from '../transport/mmio-registers';
import type { VirtioDeviceDescription } from '../transport/mmio-state';
import type { SplitVirtqueue } from '../transport/split-virtqueue';
import { decodeVsockHeader, encodeVsockHeader, ShutdownFlag, VSOCK_HEADER_SIZE, VSOCK_HOST_CID, VSOCK_TYPE_STREAM, VsockHeader, VsockOp } from './packet';

export const VSOCK_RX_QUEUE = 0;
export const VSOCK_TX_QUEUE = 1;
export const VSOCK_EVENT_QUEUE = 2;
const QUEUE_SIZE = 256;
const EVENT_QUEUE_SIZE = 64;
/** Receive buffer we advertise per connection (bytes the guest may send before we forward them). */
export const VSOCK_BUF_ALLOC = 256 * 1024;
const FIRST_HOST_PORT = 0x40000000;
const CONNECT_LINE_MAX = 64;
const MIN_GUEST_CID = 3n;

export function vsockDevice(guestCid: bigint): VirtioDeviceDescription {
  if (guestCid < MIN_GUEST_CID || guestCid > 0xffffffffn) throw new ConfigError(`vsock guest CID must be from 3 to 2^32-1, not ${guestCid}`);
  const config = Buffer.alloc(8);
  config.writeBigUInt64LE(guestCid);
  return { deviceId: VirtioDeviceId.VSOCK, features: 0n, queueSizes: [QUEUE_SIZE, QUEUE_SIZE, EVENT_QUEUE_SIZE], config };
}

interface Connection {
  hostPort: number;
  guestPort: number;
  socket: net.Socket;
  connected: boolean;
  hostInitiated: boolean;
  peerBufAlloc: number;
  peerFwdCnt: number;
  /** Payload bytes sent to the guest. */
  txCnt: number;
  /** Payload bytes from the guest handed to the host socket. */
  fwdCnt: number;
  advertisedFwdCnt: number;
  pending: Buffer[];
  pendingBytes: number;
}

export class VirtioVsockBackend implements VirtioBackend {
  readonly #context: BackendContext;
  readonly #guestCid: bigint;
  readonly #socketPath: string;
  readonly #server: net.Server;
  readonly #connections = new Map<string, Connection>();
  readonly #control: Buffer[] = [];
  #rx: SplitVirtqueue | undefined;
  #tx: SplitVirtqueue | undefined;
  #nextHostPort = FIRST_HOST_PORT;
  readonly stats = { toGuest: 0, fromGuest: 0, resets: 0 };
  /** A host-side failure that stopped the device (guest errors only set NEEDS_RESET). */
  error: Error | undefined;

  constructor(context: BackendContext, options: { guestCid: bigint; socketPath: string }) {
    this.#context = context;
    this.#guestCid = options.guestCid;
    this.#socketPath = options.socketPath;
    fs.rmSync(options.socketPath, { force: true });
    this.#server = net.createServer((socket) => this.#acceptHost(socket));
    this.#server.on('error', (error) => {
      // e.g. a path on a filesystem without Unix sockets: the device stays up, host connections fail.
      this.error = error;
    });
    this.#server.listen(options.socketPath);
  }

  /** Resolves once the host socket listens (rejects with the listen error). */
  listening(): Promise<void> {
    if (this.#server.listening) return Promise.resolve();
    if (this.error !== undefined) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.#server.once('listening', resolve);
      this.#server.once('error', reject);
    });
  }

  /** Stops listening and drops every connection. */
  close(): void {
    this.reset();
    this.#server.close();
  }

  activate(): void {
    const queues = openQueues(this.#context, [VSOCK_RX_QUEUE, VSOCK_TX_QUEUE]);
    if (queues === undefined) return;
    [this.#rx, this.#tx] = queues;
    this.#flushRx();
  }

  reset(): void {
    for (const connection of this.#connections.values()) connection.socket.destroy();
    this.#connections.clear();
    this.#control.length = 0;
    this.#rx = undefined;
    this.#tx = undefined;
  }

  notify(queue: number): void {
    if (queue === VSOCK_TX_QUEUE) this.#drainTx();
    this.#flushRx();
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

  #sendControl(header: VsockHeader): void {
    const connection = this.#connections.get(this.#key(header.srcPort, header.dstPort));
    if (connection !== undefined) connection.advertisedFwdCnt = connection.fwdCnt;
    this.#control.push(encodeVsockHeader(header));
  }

  #acceptHost(socket: net.Socket): void {
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
      if (!Number.isInteger(guestPort) || guestPort > 0xffffffff || this.#rx === undefined) {
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
    const connection: Connection = { hostPort, guestPort, socket, connected: false, hostInitiated, peerBufAlloc: 0, peerFwdCnt: 0, txCnt: 0, fwdCnt: 0, advertisedFwdCnt: 0, pending: [], pendingBytes: 0 };
    this.#connections.set(this.#key(hostPort, guestPort), connection);
    socket.on('data', (data: Buffer) => {
      this.#queueToGuest(connection, data);
      this.#flushRx();
    });
    socket.on('end', () => {
      if (!this.#connections.has(this.#key(hostPort, guestPort))) return;
      this.#sendControl(this.#header(connection, VsockOp.SHUTDOWN, { flags: ShutdownFlag.RECEIVE | ShutdownFlag.SEND }));
      this.#flushRx();
    });
    socket.on('error', () => this.#reset(connection));
    socket.on('close', () => this.#reset(connection));
    return connection;
  }

  #queueToGuest(connection: Connection, data: Buffer): void {
    connection.pending.push(data);
    connection.pendingBytes += data.length;
    // Back-pressure: stop reading the host socket while a full window is waiting for the guest.
    if (connection.pendingBytes >= VSOCK_BUF_ALLOC) connection.socket.pause();
  }

  #reset(connection: Connection): void {
    const key = this.#key(connection.hostPort, connection.guestPort);
    if (!this.#connections.has(key)) return;
    this.#connections.delete(key);
    this.#control.push(encodeVsockHeader(this.#header(connection, VsockOp.RST)));
    connection.socket.destroy();
    this.stats.resets++;
    this.#flushRx();
  }

  #drainTx(): void {
    const tx = this.#tx;
    if (tx === undefined || tx.failure !== undefined) return;
    try {
      for (let chain = tx.pop(); chain !== undefined; chain = tx.pop()) {
        const packet = Buffer.concat(chain.readable);
        tx.pushUsed(chain.head, 0);
        if (packet.length < VSOCK_HEADER_SIZE) continue;
        const header = decodeVsockHeader(packet);
        const payload = packet.subarray(VSOCK_HEADER_SIZE, VSOCK_HEADER_SIZE + header.len);
        this.#fromGuest(header, payload.length === header.len ? payload : undefined);
      }
    } catch (error) {
      this.error = deviceBroken(this.#context, error) ?? this.error;
      return;
    }
    signalUsed(this.#context, tx);
  }

  #fromGuest(h: VsockHeader, payload: Buffer | undefined): void {
    const reply = (op: number): void => {
      this.#control.push(encodeVsockHeader(this.#header({ hostPort: h.dstPort, guestPort: h.srcPort }, op)));
    };
    if (h.type !== VSOCK_TYPE_STREAM || h.dstCid !== VSOCK_HOST_CID || h.srcCid !== this.#guestCid || payload === undefined) {
      if (h.op !== VsockOp.RST) reply(VsockOp.RST);
      return;
    }
    const connection = this.#connections.get(this.#key(h.dstPort, h.srcPort));
    if (connection !== undefined) {
      connection.peerBufAlloc = h.bufAlloc;
      connection.peerFwdCnt = h.fwdCnt;
    }
    switch (h.op) {
      case VsockOp.REQUEST:
        if (connection !== undefined) reply(VsockOp.RST);
        else this.#connectToHost(h.dstPort, h.srcPort, h.bufAlloc, h.fwdCnt);
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
        this.stats.fromGuest += payload.length;
        connection.socket.write(payload, () => {
          connection.fwdCnt += payload.length;
          // Tell the guest about freed room once half the window has been forwarded.
          if (connection.fwdCnt - connection.advertisedFwdCnt >= VSOCK_BUF_ALLOC / 2 && this.#connections.has(this.#key(connection.hostPort, connection.guestPort))) {
            this.#sendControl(this.#header(connection, VsockOp.CREDIT_UPDATE));
            this.#flushRx();
          }
        });
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
        if (connection !== undefined) {
          this.#connections.delete(this.#key(connection.hostPort, connection.guestPort));
          connection.socket.destroy();
        }
        return;
      default:
        reply(VsockOp.RST);
    }
  }

  #connectToHost(hostPort: number, guestPort: number, bufAlloc: number, fwdCnt: number): void {
    const socket = net.connect(`${this.#socketPath}_${hostPort}`);
    const connection = this.#open(socket, hostPort, guestPort, false);
    connection.peerBufAlloc = bufAlloc;
    connection.peerFwdCnt = fwdCnt;
    socket.once('connect', () => {
      connection.connected = true;
      this.#sendControl(this.#header(connection, VsockOp.RESPONSE));
      this.#flushRx();
    });
  }

  /** Room the guest has for more payload on this connection. */
  #credit(connection: Connection): number {
    return Math.max(0, connection.peerBufAlloc - ((connection.txCnt - connection.peerFwdCnt) >>> 0));
  }

  /** Fills receive buffers: control packets first, then data the guest has credit for. */
  #flushRx(): void {
    const rx = this.#rx;
    if (rx === undefined || rx.failure !== undefined) return;
    let used = false;
    try {
      for (;;) {
        const control = this.#control[0];
        const data = control === undefined ? [...this.#connections.values()].find((c) => c.connected && c.pendingBytes > 0 && this.#credit(c) > 0) : undefined;
        if (control === undefined && data === undefined) break;
        const chain = rx.pop();
        if (chain === undefined) break;
        let packet: Buffer;
        if (control !== undefined) {
          this.#control.shift();
          packet = control;
        } else {
          const connection = data as Connection;
          const room = Math.min(this.#credit(connection), chain.writableBytes - VSOCK_HEADER_SIZE, connection.pendingBytes);
          const payload = takePending(connection, room);
          connection.txCnt = (connection.txCnt + payload.length) >>> 0;
          this.stats.toGuest += payload.length;
          if (connection.pendingBytes < VSOCK_BUF_ALLOC / 2) connection.socket.resume();
          connection.advertisedFwdCnt = connection.fwdCnt;
          packet = Buffer.concat([encodeVsockHeader(this.#header(connection, VsockOp.RW, { len: payload.length })), payload]);
        }
        if (packet.length > chain.writableBytes) {
          rx.pushUsed(chain.head, 0); // a receive buffer too small for a header: the guest's error
        } else {
          copyInto(chain.writable, packet);
          rx.pushUsed(chain.head, packet.length);
        }
        used = true;
      }
    } catch (error) {
      this.error = deviceBroken(this.#context, error) ?? this.error;
      return;
    }
    if (used) signalUsed(this.#context, rx);
  }
}

function takePending(connection: Connection, bytes: number): Buffer {
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
  const payload = Buffer.concat(parts);
  connection.pendingBytes -= payload.length;
  return payload;
}

function copyInto(views: readonly Uint8Array[], bytes: Buffer): void {
  let offset = 0;
  for (const view of views) {
    if (offset >= bytes.length) return;
    const part = bytes.subarray(offset, offset + view.length);
    view.set(part);
    offset += part.length;
  }
}
