// Driving the CLI as its users do: a child process whose stdout (the guest's console) is watched for
// patterns (`node-vmm run`, `node-vmm serve`), and HTTP requests over its Unix socket with node's http client.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '..', '..', 'lib', 'cli', 'main.js');
const STALL_MS = 60_000;

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** One request over the socket; `body` is sent as JSON (a string is sent as it is). */
export function apiRequest(socketPath: string, method: string, urlPath: string, body?: unknown): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const request = http.request({ socketPath, method, path: urlPath, headers: { Accept: 'application/json', ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}) } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode ?? 0, body: text.length === 0 ? undefined : (JSON.parse(text) as unknown) });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(payload);
  });
}

/** A `node-vmm COMMAND ...` child process whose stdout is watched. */
export class CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly closed: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('latin1')));
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.closed = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** Resolves with the offset after `pattern`'s first match at or after `from` in stdout. */
  waitFor(pattern: RegExp, from = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const match = pattern.exec(this.stdout.slice(from));
        if (!match) return false;
        clearTimeout(timer);
        this.child.stdout.off('data', onData);
        this.child.off('close', onClose);
        resolve(from + match.index + match[0].length);
        return true;
      };
      const onData = (): void => {
        timer.refresh();
        check();
      };
      const onClose = (): void => {
        clearTimeout(timer);
        reject(new Error(`node-vmm exited before printing ${pattern}; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
      };
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`no ${pattern} after ${STALL_MS / 1000} s of silence; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`));
      }, STALL_MS);
      this.child.stdout.on('data', onData);
      this.child.once('close', onClose);
      check();
    });
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.closed;
  }
}

/** A `node-vmm serve` child process. */
export class ServeProcess extends CliProcess {
  constructor(args: string[]) {
    super(['serve', ...args]);
  }

  /** Waits until the socket answers GET /. */
  async listening(socketPath: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (fs.existsSync(socketPath)) {
        try {
          await apiRequest(socketPath, 'GET', '/');
          return;
        } catch {
          // not yet
        }
      }
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`node-vmm serve did not listen on ${socketPath}; stderr:\n${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
