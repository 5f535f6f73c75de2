// Parses TAP (version 13) as the bundled guest prints it: the plan and each test line.
export interface TapResult {
  planned: number | undefined;
  tests: { ok: boolean; number: number; description: string }[];
}

export function parseTap(output: string): TapResult {
  const result: TapResult = { planned: undefined, tests: [] };
  for (const raw of output.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const plan = /^1\.\.(\d+)$/.exec(line);
    if (plan) result.planned = Number(plan[1]);
    const test = /^(not )?ok (\d+) - (.*)$/.exec(line);
    if (test) result.tests.push({ ok: test[1] === undefined, number: Number(test[2]), description: test[3] as string });
  }
  return result;
}
