// The bodies of Firecracker's action requests: PUT /actions, PATCH /vm, PUT /snapshot/create and
// PUT /snapshot/load, read with their field names from its swagger spec.
import { FirecrackerConfigError } from './errors';
import { jsonPath, JsonObject, requireArray } from './json-reader';
import type { SnapshotCreateRequest, SnapshotLoadRequest } from './instance';

export type ActionType = 'FlushMetrics' | 'InstanceStart' | 'SendCtrlAltDel';

export function parseAction(value: unknown): ActionType {
  const body = new JsonObject(value, '', ['action_type']);
  const action = body.oneOf('action_type', ['FlushMetrics', 'InstanceStart', 'SendCtrlAltDel'] as const);
  if (action === undefined) throw new FirecrackerConfigError('action_type', 'is required');
  return action;
}

export function parseVmState(value: unknown): 'Paused' | 'Resumed' {
  const body = new JsonObject(value, '', ['state']);
  const state = body.oneOf('state', ['Paused', 'Resumed'] as const);
  if (state === undefined) throw new FirecrackerConfigError('state', 'is required');
  return state;
}

export function parseSnapshotCreate(value: unknown): SnapshotCreateRequest {
  const body = new JsonObject(value, '', ['snapshot_path', 'mem_file_path', 'snapshot_type']);
  body.unsupported('snapshot_type', 'node-vmm writes full snapshots (of the pages the guest ever wrote); only "Full" is accepted', (v) => v === 'Full');
  return { snapshot_path: body.nonEmpty('snapshot_path', true), mem_file_path: body.nonEmpty('mem_file_path', true) };
}

export function parseSnapshotLoad(value: unknown): SnapshotLoadRequest {
  const body = new JsonObject(value, '', ['snapshot_path', 'mem_file_path', 'mem_backend', 'enable_diff_snapshots', 'track_dirty_pages', 'resume_vm', 'network_overrides', 'vsock_override', 'clock_realtime', 'huge_pages']);
  body.boolean('enable_diff_snapshots');
  body.boolean('track_dirty_pages'); // node-vmm always tracks the pages a guest writes
  body.unsupported('clock_realtime', 'a restored guest clock goes on from where it was saved; only false is accepted', (v) => v === false);
  body.unsupported('huge_pages', 'a restored guest is mapped with 4 KiB pages; only "Snapshot" or "None" are accepted', (v) => v === 'Snapshot' || v === 'None');
  let memFile = body.nonEmpty('mem_file_path');
  if (body.has('mem_backend')) {
    if (memFile !== undefined) throw new FirecrackerConfigError('mem_backend', 'cannot be given with mem_file_path');
    const backend = new JsonObject(body.raw('mem_backend'), 'mem_backend', ['backend_type', 'backend_path']);
    const type = backend.oneOf('backend_type', ['File', 'Uffd'] as const);
    if (type === undefined) throw new FirecrackerConfigError('mem_backend.backend_type', 'is required');
    if (type === 'Uffd') throw new FirecrackerConfigError('mem_backend.backend_type', 'is not supported by node-vmm: it maps the memory file copy-on-write; only "File" is accepted');
    memFile = backend.nonEmpty('backend_path', true);
  }
  if (memFile === undefined) throw new FirecrackerConfigError('mem_backend', 'is required (or the deprecated mem_file_path)');
  const overrides = body.has('network_overrides') ? requireArray(body.raw('network_overrides'), 'network_overrides') : [];
  const vsock = body.has('vsock_override') ? new JsonObject(body.raw('vsock_override'), 'vsock_override', ['uds_path']).nonEmpty('uds_path', true) : undefined;
  return {
    snapshot_path: body.nonEmpty('snapshot_path', true),
    mem_file_path: memFile,
    resume_vm: body.boolean('resume_vm', false),
    network_overrides: overrides.map((entry, i) => {
      const override = new JsonObject(entry, jsonPath('network_overrides', i), ['iface_id', 'host_dev_name']);
      return { iface_id: override.nonEmpty('iface_id', true), host_dev_name: override.nonEmpty('host_dev_name', true) };
    }),
    ...(vsock !== undefined ? { vsock_override: { uds_path: vsock } } : {}),
  };
}
