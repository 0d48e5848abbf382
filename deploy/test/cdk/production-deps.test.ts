/**
 * The image installs production dependencies only (`npm ci --omit=dev`), so every package that the
 * code it runs imports, statically or dynamically, must be in package.json's `dependencies`. A
 * dynamic import of a dev-only package passes every local test and fails in the container only when
 * its path is taken (as the Secrets Manager client did: only with CARD_TOKEN_KEY_SECRET, i.e. in AWS).
 * The import graph is esbuild's (a development dependency), from the entry points the image builds.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';
import { ROOT } from '../../../common/test/helpers.js';

const packageName = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

t.test('every package the image runs is a production dependency', async (t) => {
  const tsconfig = JSON.parse(await readFile(join(ROOT, 'scripts/tsconfig.build.json'), 'utf8')) as { files: string[] };
  const entryPoints = tsconfig.files.map((f) => join(ROOT, 'scripts', f));
  t.ok(entryPoints.length >= 3, `the image's entry points: ${tsconfig.files.join(', ')}`);
  const { metafile } = await build({
    entryPoints,
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    write: false,
    metafile: true,
    outdir: 'out',
    logLevel: 'silent',
  });
  const builtins = new Set(builtinModules);
  const imported = new Map<string, string>();
  for (const [file, input] of Object.entries(metafile.inputs)) {
    for (const i of input.imports) {
      if (!i.external || i.path.startsWith('node:') || builtins.has(i.path)) continue;
      imported.set(packageName(i.path), `${file} (${i.kind})`);
    }
  }
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const missing = [...imported].filter(([name]) => !(name in pkg.dependencies)).map(([name, where]) => `${name}, imported by ${where}`);
  t.same(missing, [], `${imported.size} packages imported, each in dependencies`);
  t.ok(imported.has('@aws-sdk/client-kinesis') && imported.has('fastify'), 'the graph reaches the packages it must');
});
