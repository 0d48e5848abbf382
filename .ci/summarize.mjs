// Prints the closing line `N passed, N failed` from tap's per-file results (.tap/test-results),
// counting each file's top-level tests. A file that crashed before its plan, or whose result tap
// marked failed without a failing test inside, counts as one failed test, so a broken file is
// never hidden. Usage: node .ci/summarize.mjs <exit code of the test command>
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const runnerCode = Number(process.argv[2] ?? 0);
const root = '.tap/test-results';
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.tap')) files.push(path);
  }
};
try {
  walk(root);
} catch {
  // no results at all: the runner failed before any file ran
}

let passed = 0;
let failed = 0;
const broken = [];
for (const file of files) {
  const lines = readFileSync(file, 'utf8').split('\n');
  let filePassed = 0;
  let fileFailed = 0;
  let plan = false;
  for (const line of lines) {
    if (/^ok \d+/.test(line)) filePassed++;
    else if (/^not ok \d+/.test(line) && !/# TODO/.test(line)) fileFailed++;
    else if (/^1\.\.\d+/.test(line)) plan = true;
  }
  if (!plan && fileFailed === 0) {
    fileFailed = 1;
    broken.push(file);
  }
  passed += filePassed;
  failed += fileFailed;
}
if (files.length === 0 || (runnerCode !== 0 && failed === 0)) failed += 1;
for (const file of broken) console.log(`broken test file (no plan): ${file}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || runnerCode !== 0 ? 1 : 0);
