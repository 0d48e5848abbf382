/**
 * A small Dockerfile reader for the tests: instructions (continuations joined, comments dropped),
 * grouped by stage, with ARG defaults substituted in FROM. Enough for our Dockerfile, not general.
 */
import { readFileSync } from 'node:fs';

export interface Instruction {
  op: string;
  args: string;
}
export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    if (current.trim() !== '') lines.push(current.trim());
    current = '';
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/s.exec(line);
    if (!m) throw new Error(`cannot read Dockerfile line: ${line}`);
    const op = m[1]!.toUpperCase();
    const rest = m[2]!.trim();
    if (op === 'FROM') {
      const [image, as, name] = rest.split(/\s+/);
      const from = image!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => args[(a ?? b)!] ?? '');
      stages.push({ from, ...(as?.toUpperCase() === 'AS' && name ? { name } : {}), instructions: [] });
    } else if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=');
      args[k!] = v ?? '';
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${op} before FROM`);
      stage.instructions.push({ op, args: rest });
    }
  }
  return { args, stages };
}

/** ENV lines of a stage, in order (`ENV A=1 B=2` and `ENV A 1` forms; `A=` is the empty string). */
export function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage.instructions.filter((x) => x.op === 'ENV')) {
    if (!i.args.includes('=')) {
      const [k, ...v] = i.args.split(/\s+/);
      env[k!] = v.join(' ');
      continue;
    }
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S*)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  }
  return env;
}

/** The one instruction `op` of a stage (the last, as Docker uses the last CMD/USER/…). */
export function last(stage: Stage, op: string): string | undefined {
  return stage.instructions.filter((i) => i.op === op).at(-1)?.args;
}

/** JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD; shell form is refused (no signal forwarding). */
export function execForm(text: string): string[] {
  const parsed = JSON.parse(text) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new Error(`not exec form: ${text}`);
  return parsed as string[];
}

/** HEALTHCHECK [--opt=value …] CMD [...] */
export function healthcheck(text: string): { options: Record<string, string>; command: string[] } {
  const m = /^((?:--[\w-]+=\S+\s+)*)CMD\s+(\[.*\])$/s.exec(text);
  if (!m) throw new Error(`cannot read HEALTHCHECK ${text}`);
  const options = Object.fromEntries([...m[1]!.matchAll(/--([\w-]+)=(\S+)/g)].map((x) => [x[1]!, x[2]!]));
  return { options, command: execForm(m[2]!) };
}

/** Docker duration ("30s", "1m", "500ms") in seconds. */
export function seconds(duration: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(duration);
  if (!m) throw new Error(`bad duration ${duration}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

export const DOCKERFILE = new URL('../../../Dockerfile', import.meta.url);

export function readDockerfile() {
  const parsed = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
  const runtime = parsed.stages.at(-1)!;
  const build = parsed.stages.find((s) => s.name === 'build');
  if (!build) throw new Error('the Dockerfile has no `build` stage');
  return { ...parsed, runtime, build };
}
