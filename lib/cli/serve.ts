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
import { EXIT_OK, parseCommandArgs, stringOption, UsageError, type CliCommand, type CliOption, type OptionValues } from './command';
import { exitCodeFor } from './run';

export interface ServeArgs {
  apiSock?: string;
  configFile?: string;
  id?: string;
  logPath?: string;
  metricsPath?: string;
  metricsPort?: number;
  metricsHost?: string;
}

const SERVE_OPTIONS: readonly CliOption[] = [
  { name: 'api-sock', type: 'string', value: 'PATH', summary: 'the API socket (a stale socket file there is replaced)' },
  { name: 'config-file', type: 'string', value: 'PATH', summary: 'a Firecracker config file: the VM is configured from it and started at once' },
  { name: 'no-api', type: 'boolean', summary: 'no API socket (needs --config-file)' },
  { name: 'id', type: 'string', value: 'ID', summary: 'the instance id GET / reports (default anonymous-instance)' },
  { name: 'log-path', type: 'string', value: 'PATH', summary: 'log to this file or FIFO (opened without blocking)' },
  { name: 'metrics-path', type: 'string', value: 'PATH', summary: "write Firecracker's metrics (JSON lines) to this file or FIFO" },
  { name: 'metrics-port', type: 'string', value: 'N', summary: "serve the VM's counters in Prometheus' text format on http://127.0.0.1:N/metrics" },
  { name: 'metrics-host', type: 'string', value: 'ADDR', summary: 'the address for --metrics-port (default 127.0.0.1)' },
];

/** Parses `serve`'s arguments (after the word 'serve'); throws UsageError for anything it cannot use. */
export function parseServeArgs(argv: string[]): ServeArgs | { help: true } {
  const parsed = parseCommandArgs(SERVE_COMMAND, argv);
  return parsed.help ? { help: true } : serveArgs(parsed.args.values);
}

function serveArgs(values: OptionValues): ServeArgs {
  const text = (name: string): string | undefined => stringOption(values, name);
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

/** Serves one VM as `node-vmm serve` was asked to; resolves with the process exit code once the VM (or the server) ends. */
async function serve(args: ServeArgs): Promise<number> {
  const spec = specOf(args);
  const id = args.id ?? 'anonymous-instance';
  let server: ApiServer | undefined;
  let instance: FirecrackerInstance;
  // What Prometheus is served for: time in and out of KVM_RUN too (it costs two clock reads per exit).
  const timeKvmRun = args.metricsPort !== undefined;
  if (args.apiSock !== undefined) {
    server = await createApiServer({ socketPath: args.apiSock, id, spec, input: process.stdin, timeKvmRun });
    instance = server.instance;
  } else {
    instance = new FirecrackerInstance({ id, spec, console: process.stdout, input: process.stdin, timeKvmRun });
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
    return exit === undefined ? EXIT_OK : exitCodeFor(exit);
  } finally {
    if (prometheus !== undefined) await new Promise<void>((resolve) => prometheus.close(() => resolve()).closeAllConnections());
    if (server !== undefined) await server.close();
    else await instance.dispose();
    process.stdin.destroy(); // else a terminal or pipe keeps the process alive
  }
}

export const SERVE_COMMAND: CliCommand = {
  name: 'serve',
  summary: "serve Firecracker's REST API for one VM on a Unix socket",
  usage: '--api-sock PATH [options] | --no-api --config-file vm.json [options]',
  description: `Serves Firecracker's REST API for one VM on the Unix socket PATH (curl --unix-socket PATH ...).
The guest's console goes to stdout; the process ends when the VM ends.`,
  options: SERVE_OPTIONS,
  example: 'node-vmm serve --api-sock /tmp/firecracker.socket',
  run: async ({ values }) => serve(serveArgs(values)),
};
