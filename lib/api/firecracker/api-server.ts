// createApiServer(): Firecracker's REST API on node:http over a Unix socket, one VM per socket.
// Requests are served one at a time in arrival order (as Firecracker's API thread does), so concurrent
// clients cannot interleave a configuration; a client that goes away mid-request costs nothing but
// its own request, and every failure is answered 400 with {"fault_message"}.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { VmmError } from '../../kvm/errors';
import type { VmExit } from '../vm-exit';
import { FirecrackerApiError } from './errors';
import { DEFAULT_MAX_PAYLOAD_BYTES, parseJsonBody, readBody } from './http-body';
import { FirecrackerInstance } from './instance';
import { route, type RouteResult } from './routes';
import type { VmSpec } from './vm-spec';

/** What createApiServer() takes: the socket, and how the VM's console and configuration start. */
export interface ApiServerOptions {
  /** The Unix socket to listen on (a stale socket file there is replaced). */
  socketPath: string;
  /** The instance id GET / reports (Firecracker's --id; default 'anonymous-instance'). */
  id?: string;
  /** A configuration to start from (e.g. a --config-file). */
  spec?: VmSpec;
  /** Where the guest's console goes (default process.stdout). */
  console?: Writable;
  /** What the guest's console receives (default nothing; `node-vmm serve` passes its stdin, as Firecracker does). */
  input?: Readable;
  /** Largest request body accepted, in bytes (default 51200, Firecracker's). */
  maxPayloadBytes?: number;
  /** Time the VM's vCPUs in and out of KVM_RUN for its metrics (createVm's `timeKvmRun`); default false. */
  timeKvmRun?: boolean;
}

/** The events an ApiServer emits. */
export interface ApiServerEvents {
  /** The VM ended (how: a VmExit). */
  exit: [exit: VmExit];
}

const DEFAULT_ID = 'anonymous-instance';

function vmmVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(`${__dirname}/../../../../package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** A Firecracker API server listening on its Unix socket for one VM; close() stops the VM and removes the socket. */
export class ApiServer extends EventEmitter<ApiServerEvents> {
  /** The Unix socket the server listens on. */
  readonly socketPath: string;
  /** The one VM this server configures and runs (its `vm` once InstanceStart or a snapshot load made it). */
  readonly instance: FirecrackerInstance;
  readonly #server: http.Server;
  readonly #maxPayload: number;
  readonly #version = vmmVersion();
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;

  /**
   * Builds a server that does not listen yet: use createApiServer(), which also listens.
   * @internal
   * @throws Nothing.
   */
  constructor(options: ApiServerOptions) {
    super();
    this.socketPath = options.socketPath;
    this.#maxPayload = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.instance = new FirecrackerInstance({ id: options.id ?? DEFAULT_ID, console: options.console ?? process.stdout, ...(options.input !== undefined ? { input: options.input } : {}), ...(options.spec !== undefined ? { spec: options.spec } : {}), timeKvmRun: options.timeKvmRun === true });
    this.instance.on('exit', (exit) => this.emit('exit', exit));
    this.#server = http.createServer((request, response) => this.#serve(request, response));
    this.#server.on('clientError', (_error, socket) => socket.destroy());
  }

  /**
   * Starts listening on the socket, replacing a stale socket file. Internal: createApiServer() calls it.
   * @internal
   * @throws {@link FirecrackerApiError} (as a rejection) when the socket cannot be listened on.
   */
  listen(): Promise<void> {
    removeStaleSocket(this.socketPath);
    return new Promise((resolve, reject) => {
      const fail = (error: Error): void => reject(new FirecrackerApiError(`cannot listen on ${this.socketPath}: ${error.message}`, { cause: error }));
      this.#server.once('error', fail);
      this.#server.listen(this.socketPath, () => {
        this.#server.off('error', fail);
        resolve();
      });
    });
  }

  #serve(request: http.IncomingMessage, response: http.ServerResponse): void {
    response.on('error', () => undefined); // a client that left: nothing to answer
    const method = request.method ?? 'GET';
    const url = request.url ?? '/';
    const text = readBody(request, this.#maxPayload);
    const work = async (): Promise<RouteResult> => {
      const { handler, id } = route(method, url);
      const body = await text;
      return handler({
        instance: this.instance,
        body: () => parseJsonBody(body),
        id,
        vmmVersion: this.#version,
      });
    };
    text.catch(() => undefined); // seen by work(); a refused body must not be an unhandled rejection meanwhile
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    next.then(
      (result) => {
        this.instance.log.log('Debug', 'api_server', `${method} ${url}: ${result.status}`);
        if (result.status === 204) response.writeHead(204).end();
        else respondJson(response, 200, result.body);
      },
      (error: unknown) => {
        const message = error instanceof VmmError ? error.message : `internal error: ${String((error as Error)?.message ?? error)}`;
        this.instance.log.log('Error', 'api_server', `${method} ${url}: ${message}`);
        respondJson(response, 400, { fault_message: message });
      },
    );
  }

  /**
   * Stops serving, stops and releases the VM, removes the socket. Idempotent.
   * @throws Nothing.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await new Promise<void>((resolve) => {
        this.#server.close(() => resolve());
        this.#server.closeAllConnections();
      });
      await this.#queue;
      await this.instance.dispose();
      fs.rmSync(this.socketPath, { force: true });
    })();
    return this.#closing;
  }
}

/** A refused body goes on draining (it is not kept), so a client still sending it reads the answer instead of a reset. */
function respondJson(response: http.ServerResponse, status: number, body: unknown): void {
  if (response.destroyed || response.headersSent) return;
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

function removeStaleSocket(path: string): void {
  try {
    if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path);
  } catch {
    // nothing there
  }
}

/**
 * Starts a Firecracker-compatible API server for one VM on a Unix socket and resolves once it listens.
 * @throws {@link FirecrackerApiError} when the socket cannot be bound (its directory is missing, not writable, or another process listens there).
 */
export async function createApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const server = new ApiServer(options);
  await server.listen();
  return server;
}
