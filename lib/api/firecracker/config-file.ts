// Firecracker's --config-file: one JSON document with every section, read into a VmSpec. Sections
// node-vmm does not have (balloon, cpu-config, mmds-config, ...) are accepted when null or empty and
// refused, with their path and why, otherwise.
import * as fs from 'node:fs';
import { VmFileError } from '../errors';
import { FirecrackerConfigError } from './errors';
import { jsonPath, JsonObject, requireArray } from './json-reader';
import { parseBootSource, parseDrive, parseEntropy, parseLogger, parseMachineConfig, parseMetricsConfig, parseNetworkInterface, parseVsock } from './sections';
import { VmSpec } from './vm-spec';

/** Sections of Firecracker's config that node-vmm lacks, and why. */
const UNSUPPORTED_SECTIONS: Record<string, string> = {
  balloon: 'node-vmm has no virtio-balloon device',
  'cpu-config': 'node-vmm has no CPU templates (its guests see the host CPUID, filtered)',
  'mmds-config': 'node-vmm has no microVM metadata service',
  'memory-hotplug': 'node-vmm has no memory hotplug',
  pmem: 'node-vmm has no virtio-pmem device',
  serial: "the guest's console goes to stdout; serial_out_path is not supported",
};

const SECTIONS = ['boot-source', 'drives', 'machine-config', 'network-interfaces', 'vsock', 'entropy', 'logger', 'metrics', ...Object.keys(UNSUPPORTED_SECTIONS)];

function isEmpty(value: unknown): boolean {
  return (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && value !== null && Object.keys(value).length === 0);
}

/** Reads a list section whose entries have ids; an id listed twice is refused (the API would replace it). */
function readList<T>(body: JsonObject, key: string, parse: (value: unknown, path: string) => T, idField: string, idOf: (entry: T) => string, put: (entry: T, path: string) => void): void {
  if (!body.has(key)) return;
  const seen = new Set<string>();
  requireArray(body.raw(key), key).forEach((value, i) => {
    const path = jsonPath(key, i);
    const entry = parse(value, path);
    if (seen.has(idOf(entry))) throw new FirecrackerConfigError(`${path}.${idField}`, `${idOf(entry)} is listed twice`);
    seen.add(idOf(entry));
    put(entry, path);
  });
}

/**
 * Reads a parsed Firecracker config document (JSON.parse of a --config-file) into a VmSpec.
 * @throws {@link FirecrackerConfigError} when a section is malformed, out of range, unknown, or asks for what node-vmm lacks (its `field` is the JSON path).
 */
export function parseFirecrackerConfig(document: unknown): VmSpec {
  const body = new JsonObject(document, '', SECTIONS);
  for (const [section, why] of Object.entries(UNSUPPORTED_SECTIONS)) body.unsupported(section, why, isEmpty);
  const spec = new VmSpec();
  if (!body.has('boot-source')) throw new FirecrackerConfigError('boot-source', 'is required (kernel_image_path)');
  spec.bootSource = parseBootSource(body.raw('boot-source'), 'boot-source');
  if (body.has('machine-config')) spec.machineConfig = parseMachineConfig(body.raw('machine-config'), 'machine-config');
  readList(body, 'drives', parseDrive, 'drive_id', (d) => d.drive_id, (drive, path) => spec.putDrive(drive, path));
  readList(body, 'network-interfaces', parseNetworkInterface, 'iface_id', (n) => n.iface_id, (iface, path) => spec.putNetworkInterface(iface, path));
  if (body.has('vsock')) spec.vsock = parseVsock(body.raw('vsock'), 'vsock');
  if (body.has('entropy')) spec.entropy = parseEntropy(body.raw('entropy'), 'entropy');
  if (body.has('logger')) spec.logger = parseLogger(body.raw('logger'), 'logger');
  if (body.has('metrics')) spec.metrics = parseMetricsConfig(body.raw('metrics'), 'metrics');
  return spec;
}

/**
 * Reads and parses a Firecracker config file (`--config-file`).
 * @throws {@link VmFileError} when the file cannot be read.
 * @throws {@link FirecrackerConfigError} when it is not JSON or not a valid configuration.
 */
export function readFirecrackerConfigFile(path: string): VmSpec {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    throw new VmFileError('--config-file', path, error);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new FirecrackerConfigError(path, `is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  return parseFirecrackerConfig(document);
}
