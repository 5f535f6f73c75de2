// `node-vmm serve`: what orchestrators run one Firecracker process as. It takes Firecracker's own
// options (--api-sock, --config-file, --no-api, --id, --metrics-path, --log-path), serves its REST API
// on the socket for one VM, sends the guest's console to stdout, and ends when the VM ends.
import * as http from 'node:http';
import { prometheusText } from '../api/firecracker/prometheus';
import { ApiServer, createApiServer } from '../api/firecracker/api-server';
import { readFirecrackerConfigFile } from '../api/firecracker/config-file';
import { FirecrackerInstance } from '../api/firecracker/instance';
import { VmSpec } from '../api/firecracker/vm-spec';
import type { VmExit } from '../api/vm-exit';
import { exitCodeFor, parseOptions, UsageError } from './run';

export const SERVE_USAGE = `usage: node-vmm serve --api-sock PATH [options]
       node-vmm serve --no-api --config-file vm.json [options]

Serves Firecracker's REST API for one VM on the Unix socket PATH (curl --unix-socket PATH ...).
The guest's console goes to stdout; the process ends when the VM ends.

options:
  --api-sock PATH      the API socket (a stale socket file there is replaced)
  --config-file PATH   a Firecracker config file: the VM is configured from it and started at once
  --no-api             no API socket (needs --config-file)
  --id ID              the instance id GET / reports (default anonymous-instance)
  --log-path PATH      log to this file or FIFO (opened without blocking)
  --metrics-path PATH  write Firecracker's metrics (JSON lines) to this file or FIFO
  --metrics-port N     serve the VM's counters in Prometheus' text format on http://127.0.0.1:N/metrics
  --metrics-host ADDR  the address for --metrics-port (default 127.0.0.1)
  -h, --help           show this help
`;

export interface ServeArgs {
  apiSock?: string;
  configFile?: string;
  id?: string;
  logPath?: string;
  metricsPath?: string;
  metricsPort?: number;
  metricsHost?: string;
}

/** Parses `serve`'s arguments (after the word 'serve'). */
export function parseServeArgs(argv: string[]): ServeArgs | { help: true } {
  const values = parseOptions(argv, {
    'api-sock': { type: 'string' },
    'config-file': { type: 'string' },
    'no-api': { type: 'boolean' },
    id: { type: 'string' },
    'log-path': { type: 'string' },
    'metrics-path': { type: 'string' },
    'metrics-port': { type: 'string' },
    'metrics-host': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return { help: true };
  const text = (name: string): string | undefined => values[name] as string | undefined;
  if (values['no-api'] === true) {
    if (text('config-file') === undefined) throw new UsageError('--no-api needs --config-file (nothing else could configure the VM)');
    if (text('api-sock') !== undefined) throw new UsageError('--no-api and --api-sock contradict each other');
  } else if (text('api-sock') === undefined) {
    throw new UsageError('--api-sock PATH is required (or --no-api with --config-file)');
  }
  const args: ServeArgs = {};
  if (values['no-api'] !== true) args.apiSock = text('api-sock') as string;
  const port = text('metrics-port');
  if (port !== undefined) {
    if (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new UsageError(`--metrics-port must be a port number from 1 to 65535, got '${port}'`);
    args.metricsPort = Number(port);
  }
  for (const [key, name] of [['configFile', 'config-file'], ['id', 'id'], ['logPath', 'log-path'], ['metricsPath', 'metrics-path'], ['metricsHost', 'metrics-host']] as const) {
    const value = text(name);
    if (value !== undefined) args[key] = value;
  }
  return args;
}

const DEFAULT_METRICS_HOST = '127.0.0.1';

/** GET /metrics: the VM's counters as Prometheus text (empty before the VM starts). */
function servePrometheus(instance: FirecrackerInstance, port: number, host: string): Promise<http.Server> {
  const server = http.createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    const metrics = instance.vm?.metrics();
    response.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(metrics === undefined ? '' : prometheusText(metrics, instance.id));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function specOf(args: ServeArgs): VmSpec {
  const spec = args.configFile !== undefined ? readFirecrackerConfigFile(args.configFile) : new VmSpec();
  if (args.logPath !== undefined) spec.logger = { log_path: args.logPath, level: spec.logger?.level ?? 'Info', show_level: spec.logger?.show_level ?? false, show_log_origin: spec.logger?.show_log_origin ?? false };
  if (args.metricsPath !== undefined) spec.metrics = { metrics_path: args.metricsPath, emit_id: false };
  return spec;
}

/** Runs `node-vmm serve ARGS`; resolves with the process exit code once the VM (or the server) ends. */
export async function serveCommand(argv: string[]): Promise<number> {
  let parsed: ServeArgs | { help: true };
  try {
    parsed = parseServeArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`node-vmm serve: ${error.message}\n${SERVE_USAGE}`);
    return 2;
  }
  if ('help' in parsed) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  const args = parsed;
  const spec = specOf(args);
  const id = args.id ?? 'anonymous-instance';
  let server: ApiServer | undefined;
  let instance: FirecrackerInstance;
  if (args.apiSock !== undefined) {
    server = await createApiServer({ socketPath: args.apiSock, id, spec, input: process.stdin });
    instance = server.instance;
  } else {
    instance = new FirecrackerInstance({ id, spec, console: process.stdout, input: process.stdin });
  }
  const prometheus = args.metricsPort === undefined ? undefined : await servePrometheus(instance, args.metricsPort, args.metricsHost ?? DEFAULT_METRICS_HOST);
  const ended = new Promise<VmExit | undefined>((resolve) => {
    instance.once('exit', resolve);
    const onSignal = (): void => resolve(undefined);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  try {
    if (args.configFile !== undefined) await instance.start();
    const exit = await ended;
    return exit === undefined ? 0 : exitCodeFor(exit);
  } finally {
    if (prometheus !== undefined) await new Promise<void>((resolve) => prometheus.close(() => resolve()).closeAllConnections());
    if (server !== undefined) await server.close();
    else await instance.dispose();
    process.stdin.destroy(); // else a terminal or pipe keeps the process alive
  }
}
