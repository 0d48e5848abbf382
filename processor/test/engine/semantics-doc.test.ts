import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const doc = readFileSync(`${root}docs/semantics.md`, 'utf8');
const LINK = /\[`([^`]+)`\]\(\.\.\/((?:processor|common)\/test\/[\w./-]+\.test\.ts)\)/g;

t.test('every rule in docs/semantics.md links to a test that exists', async (t) => {
  const section = doc.slice(0, doc.indexOf('## How the runtime drives'));
  const rules = section.split('\n').filter((l) => l.startsWith('- '));
  t.ok(rules.length >= 25, `${rules.length} rules`);
  for (const rule of rules) {
    const links = [...rule.matchAll(LINK)];
    t.ok(links.length > 0, `rule has a test link: ${rule.slice(2, 60)}…`);
    for (const [, name, file] of links) {
      const source = readFileSync(`${root}${file}`, 'utf8');
      t.ok(source.includes(`t.test('${name}'`), `${file} has t.test('${name}')`);
    }
  }
});

t.test('every test linked from docs/leases.md exists', async (t) => {
  const leases = readFileSync(`${root}docs/leases.md`, 'utf8');
  const links = [...leases.matchAll(LINK)];
  t.ok(links.length >= 8, `${links.length} links`);
  for (const [, name, file] of links) {
    const source = readFileSync(`${root}${file}`, 'utf8');
    t.ok(source.includes(`t.test('${name}'`), `${file} has t.test('${name}')`);
  }
});
