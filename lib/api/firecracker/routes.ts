// Firecracker's REST API: which method and path do what. Each route reads its body with the section
// and request parsers and calls the instance; GETs answer 200 with JSON, the rest 204. Anything that
// fails becomes 400 with {"fault_message"} in the server.
import { FirecrackerApiError, FirecrackerConfigError } from './errors';
import type { FirecrackerInstance } from './instance';
import { parseAction, parseSnapshotCreate, parseSnapshotLoad, parseVmState } from './requests';
import { parseBootSource, parseDrive, parseEntropy, parseLogger, parseMachineConfig, parseMetricsConfig, parseNetworkInterface, parsePartialDrive, parsePartialNetworkInterface, parseVsock } from './sections';

/** The Firecracker API version whose requests node-vmm answers (its swagger spec's). */
export const FIRECRACKER_API_VERSION = '1.17.0-dev';
export const APP_NAME = 'node-vmm';

export interface RouteContext {
  instance: FirecrackerInstance;
  /** The request's parsed JSON body (parsing is deferred: GETs take none). */
  body: () => unknown;
  /** The {id} part of /drives/{id} and /network-interfaces/{id}. */
  id: string;
  vmmVersion: string;
}

export type RouteResult = { status: 200; body: unknown } | { status: 204 };

type Handler = (context: RouteContext) => RouteResult | Promise<RouteResult>;

const NO_CONTENT: RouteResult = { status: 204 };

function ok(body: unknown): RouteResult {
  return { status: 200, body };
}

/** Firecracker requires the id in the path and the body to agree. */
function sameId(context: RouteContext, bodyId: string, field: string): void {
  if (bodyId !== context.id) throw new FirecrackerConfigError(field, `The id from the path ("${context.id}") does not match the id from the body ("${bodyId}").`);
}

const ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  '/': {
    GET: ({ instance, vmmVersion }) => ok({ id: instance.id, state: instance.state, vmm_version: vmmVersion, app_name: APP_NAME }),
  },
  '/version': {
    GET: () => ok({ firecracker_version: FIRECRACKER_API_VERSION }),
  },
  '/machine-config': {
    GET: ({ instance }) => ok(instance.spec.machineConfig),
    PUT: (c) => {
      c.instance.putMachineConfig(parseMachineConfig(c.body(), ''));
      return NO_CONTENT;
    },
    PATCH: (c) => {
      c.instance.requireNotStarted();
      c.instance.putMachineConfig(parseMachineConfig(c.body(), '', c.instance.spec.machineConfig));
      return NO_CONTENT;
    },
  },
  '/boot-source': {
    PUT: (c) => {
      c.instance.putBootSource(parseBootSource(c.body(), ''));
      return NO_CONTENT;
    },
  },
  '/drives/{id}': {
    PUT: (c) => {
      const drive = parseDrive(c.body(), '');
      sameId(c, drive.drive_id, 'drive_id');
      c.instance.putDrive(drive);
      return NO_CONTENT;
    },
    PATCH: async (c) => {
      const update = parsePartialDrive(c.body(), '');
      sameId(c, update.drive_id, 'drive_id');
      await c.instance.patchDrive(update);
      return NO_CONTENT;
    },
  },
  '/network-interfaces/{id}': {
    PUT: (c) => {
      const iface = parseNetworkInterface(c.body(), '');
      sameId(c, iface.iface_id, 'iface_id');
      c.instance.putNetworkInterface(iface);
      return NO_CONTENT;
    },
    PATCH: (c) => {
      const update = parsePartialNetworkInterface(c.body(), '');
      sameId(c, update.iface_id, 'iface_id');
      c.instance.patchNetworkInterface(update);
      return NO_CONTENT;
    },
  },
  '/vsock': {
    PUT: (c) => {
      c.instance.putVsock(parseVsock(c.body(), ''));
      return NO_CONTENT;
    },
  },
  '/entropy': {
    PUT: (c) => {
      parseEntropy(c.body(), '');
      c.instance.putEntropy();
      return NO_CONTENT;
    },
  },
  '/logger': {
    PUT: (c) => {
      c.instance.putLogger(parseLogger(c.body(), ''));
      return NO_CONTENT;
    },
  },
  '/metrics': {
    PUT: (c) => {
      c.instance.putMetrics(parseMetricsConfig(c.body(), ''));
      return NO_CONTENT;
    },
  },
  '/actions': {
    PUT: async (c) => {
      const action = parseAction(c.body());
      if (action === 'InstanceStart') await c.instance.start();
      else if (action === 'FlushMetrics') c.instance.flushMetrics();
      else c.instance.sendCtrlAltDel();
      return NO_CONTENT;
    },
  },
  '/vm': {
    PATCH: async (c) => {
      const state = parseVmState(c.body());
      if (state === 'Paused') await c.instance.pause();
      else await c.instance.resume();
      return NO_CONTENT;
    },
  },
  '/vm/config': {
    GET: ({ instance }) => ok(instance.spec.toJson()),
  },
  '/snapshot/create': {
    PUT: async (c) => {
      await c.instance.createSnapshot(parseSnapshotCreate(c.body()));
      return NO_CONTENT;
    },
  },
  '/snapshot/load': {
    PUT: async (c) => {
      await c.instance.loadSnapshot(parseSnapshotLoad(c.body()));
      return NO_CONTENT;
    },
  },
};

/** The handler for a method and path, with the path's {id}; unknown ones are refused as Firecracker words it. */
export function route(method: string, url: string): { handler: Handler; id: string } {
  const path = url.split('?')[0] ?? url;
  const match = /^\/(drives|network-interfaces)\/([^/]+)$/.exec(path);
  const key = match !== null ? `/${match[1]}/{id}` : path.length > 1 ? path.replace(/\/$/, '') : path;
  const handler = ROUTES[key]?.[method];
  if (handler === undefined) throw new FirecrackerApiError(`Invalid request method and/or path: ${method} ${path}.`);
  return { handler, id: match !== null ? decodeURIComponent(match[2] as string) : '' };
}
