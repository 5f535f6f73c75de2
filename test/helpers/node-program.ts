// Running a user's program as a user would: a node child process in a directory where
// `require('node-vmm')` finds this package through node_modules (the README and examples tests).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

export interface ProgramResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node file ...args` in `cwd`, killed after `timeoutMs`; resolves with its exit code and output. */
export function runNodeProgram(file: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Makes `require('node-vmm')` find this package from `dir`: a node_modules link there. */
export function linkPackage(dir: string): void {
  fs.mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
  fs.symlinkSync(PACKAGE_ROOT, path.join(dir, 'node_modules', 'node-vmm'), 'dir');
}
