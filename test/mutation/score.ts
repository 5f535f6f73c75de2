// Prints Stryker's mutation score per folder from its JSON report, one line each:
// "mutation score <folder> S" (killed and timed-out mutants over all valid ones, no-coverage
// mutants counted as survivors), then the survivors of the files named on the command line.
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const REPORT = path.join(ROOT, 'reports', 'mutation', 'mutation.json');
const FOLDERS = ['lib/devices/virtio', 'lib/devices/legacy/serial'];
const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

interface Mutant {
  status: string;
  mutatorName: string;
  replacement?: string;
  location: { start: { line: number; column: number } };
}

function main(): void {
  const report = JSON.parse(fs.readFileSync(REPORT, 'utf8')) as { files: Record<string, { mutants: Mutant[] }> };
  const files = Object.entries(report.files).map(([file, { mutants }]) => [path.relative(ROOT, path.resolve(ROOT, file)), mutants] as const);
  for (const folder of FOLDERS) {
    const mutants = files.filter(([file]) => file.startsWith(`${folder}/`)).flatMap(([, m]) => m);
    const detected = mutants.filter((m) => DETECTED.has(m.status)).length;
    const valid = detected + mutants.filter((m) => UNDETECTED.has(m.status)).length;
    if (valid === 0) continue;
    console.log(`mutation score ${folder} ${((100 * detected) / valid).toFixed(1)} (${detected} of ${valid} mutants detected)`);
  }
  for (const wanted of process.argv.slice(2)) {
    const entry = files.find(([file]) => file === wanted);
    for (const m of entry?.[1] ?? []) {
      if (UNDETECTED.has(m.status)) console.log(`  ${m.status} ${wanted}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} -> ${JSON.stringify(m.replacement ?? '')}`);
    }
  }
}

main();
