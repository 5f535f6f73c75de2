// Reads one JSON object of a Firecracker config or request body: every field is checked for its type
// and range, unknown fields are refused (Firecracker's serde structs deny them too), and every error
// names the field's JSON path.
import { FirecrackerConfigError } from './errors';

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value}"` : typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/** The JSON path of `key` inside the object at `path` ('' is the document itself). */
export function jsonPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

export function requireArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new FirecrackerConfigError(path, `must be an array, got ${describe(value)}`);
  return value;
}

export class JsonObject {
  readonly path: string;
  readonly #record: Record<string, unknown>;

  constructor(value: unknown, path: string, known: readonly string[]) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FirecrackerConfigError(path || 'body', `must be a JSON object, got ${describe(value)}`);
    this.path = path;
    this.#record = value as Record<string, unknown>;
    for (const key of Object.keys(this.#record)) {
      if (!known.includes(key)) throw new FirecrackerConfigError(jsonPath(path, key), `unknown field (known: ${known.join(', ')})`);
    }
  }

  /** The raw value; null counts as absent (Firecracker's clients send null for fields left unset). */
  raw(key: string): unknown {
    const value = this.#record[key];
    return value === null ? undefined : value;
  }

  has(key: string): boolean {
    return this.raw(key) !== undefined;
  }

  string(key: string, required: true): string;
  string(key: string, required?: false): string | undefined;
  string(key: string, required = false): string | undefined {
    const value = this.raw(key);
    if (value === undefined) {
      if (required) throw new FirecrackerConfigError(jsonPath(this.path, key), 'is required');
      return undefined;
    }
    if (typeof value !== 'string') throw new FirecrackerConfigError(jsonPath(this.path, key), `must be a string, got ${describe(value)}`);
    return value;
  }

  /** A string that names a file or an id: non-empty. */
  nonEmpty(key: string, required: true): string;
  nonEmpty(key: string, required?: false): string | undefined;
  nonEmpty(key: string, required = false): string | undefined {
    const value = this.string(key, required as false);
    if (value !== undefined && value.length === 0) throw new FirecrackerConfigError(jsonPath(this.path, key), 'must not be empty');
    return value;
  }

  boolean(key: string, fallback: boolean): boolean;
  boolean(key: string, fallback?: undefined): boolean | undefined;
  boolean(key: string, fallback?: boolean): boolean | undefined {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw new FirecrackerConfigError(jsonPath(this.path, key), `must be a boolean, got ${describe(value)}`);
    return value;
  }

  integer(key: string, min: number, max: number, required: true): number;
  integer(key: string, min: number, max: number, required?: boolean): number | undefined;
  integer(key: string, min: number, max: number, required = false): number | undefined {
    const value = this.raw(key);
    if (value === undefined) {
      if (required) throw new FirecrackerConfigError(jsonPath(this.path, key), 'is required');
      return undefined;
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new FirecrackerConfigError(jsonPath(this.path, key), `must be an integer from ${min} to ${max}, got ${describe(value)}`);
    }
    return value;
  }

  /** One of `values`; absent gives `fallback`. */
  oneOf<T extends string>(key: string, values: readonly T[], fallback: T): T;
  oneOf<T extends string>(key: string, values: readonly T[], fallback?: undefined): T | undefined;
  oneOf<T extends string>(key: string, values: readonly T[], fallback?: T): T | undefined {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
      throw new FirecrackerConfigError(jsonPath(this.path, key), `must be one of ${values.map((v) => `"${v}"`).join(', ')}, got ${describe(value)}`);
    }
    return value as T;
  }

  /**
   * A field node-vmm does not support: accepted when absent, null or `isDefault`, refused otherwise
   * with why (never dropped silently).
   */
  unsupported(key: string, why: string, isDefault: (value: unknown) => boolean = () => false): void {
    const value = this.raw(key);
    if (value === undefined || isDefault(value)) return;
    throw new FirecrackerConfigError(jsonPath(this.path, key), `is not supported by node-vmm: ${why}`);
  }
}

/** A rate limiter that limits nothing: null, {}, or token buckets that are null or of size 0 (Firecracker's "unlimited"). */
export function isUnlimitedRateLimiter(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.entries(value as Record<string, unknown>).every(([key, bucket]) => {
    if (key !== 'bandwidth' && key !== 'ops') return false;
    if (bucket === null) return true;
    return typeof bucket === 'object' && !Array.isArray(bucket) && (bucket as Record<string, unknown>).size === 0;
  });
}
