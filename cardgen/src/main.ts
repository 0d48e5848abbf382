/**
 * cardgen: `npm run cardgen -- --count N [--stolen-ratio R] [--seed S] [--out PATH]`.
 * Wires the pure generator to the atomic CSV writer and reports on stderr/stdout. Exit codes:
 * 0 written, 1 could not write, 2 bad arguments, 130 interrupted (the target is left untouched).
 */
import { writeCardsCsv } from '../../common/src/cards-file.js';
import { UsageError } from '../../common/src/errors.js';
import { cardRows, stolenCount } from './generate.js';
import { parseCardgenArgs, USAGE, type CardgenOptions } from './options.js';

/** Below this many cards a run takes well under a second and progress lines are noise. */
const PROGRESS_MIN_COUNT = 100_000;

async function main(argv: readonly string[]): Promise<number> {
  let options: CardgenOptions;
  try {
    const parsed = parseCardgenArgs(argv);
    if (parsed.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    options = parsed;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`cardgen: ${error.message}\n`);
    return 2;
  }
  return generate(options);
}

async function generate({ count, stolenRatio, seed, out }: CardgenOptions): Promise<number> {
  const started = performance.now();
  // Generation yields to the event loop between written chunks, so a signal stops it there and
  // the writer removes its temp file instead of leaving half a file behind.
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let nextTenth = 1;
  const onProgress = (written: number) => {
    const tenths = Math.floor((written * 10) / count);
    if (tenths < nextTenth) return;
    nextTenth = tenths + 1;
    process.stderr.write(`cardgen: ${tenths * 10}% (${written}/${count} cards)\n`);
  };
  try {
    const written = await writeCardsCsv(out, cardRows({ count, stolenRatio, seed }), {
      signal: interrupt.signal,
      ...(count >= PROGRESS_MIN_COUNT ? { onProgress } : {}),
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    process.stdout.write(`cardgen: wrote ${written} cards (${stolenCount(count, stolenRatio)} stolen, seed ${seed}) to ${out} in ${seconds} s\n`);
    return 0;
  } catch (error) {
    if (interrupt.signal.aborted) {
      process.stderr.write(`cardgen: interrupted; ${out} was not written\n`);
      return 130;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`cardgen: cannot write ${out}: ${message.split('\n')[0]}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

process.exitCode = await main(process.argv.slice(2));
