import t from 'tap';
import { UsageError } from '../../common/src/errors.js';
import { DEFAULT_OUT, parseCardgenArgs } from '../src/options.js';

t.test('defaults and explicit values', async (t) => {
  t.same(parseCardgenArgs(['--count', '10']), { help: false, count: 10, stolenRatio: 0.1, seed: 1, out: DEFAULT_OUT });
  t.equal(DEFAULT_OUT, 'data/cards.csv');
  t.same(parseCardgenArgs(['--count=7', '--stolen-ratio', '0.25', '--seed', '0', '--out', 'x/y.csv']), {
    help: false,
    count: 7,
    stolenRatio: 0.25,
    seed: 0,
    out: 'x/y.csv',
  });
  t.match(parseCardgenArgs(['--count', '1', '--stolen-ratio', '0']), { stolenRatio: 0 }, 'ratio 0 allowed');
  t.match(parseCardgenArgs(['--count', '1', '--stolen-ratio', '1']), { stolenRatio: 1 }, 'ratio 1 allowed');
  t.match(parseCardgenArgs(['--count', '10000000', '--seed', '4294967295']), { count: 10_000_000, seed: 4294967295 }, 'upper bounds allowed');
  t.same(parseCardgenArgs(['--help']), { help: true });
  t.same(parseCardgenArgs(['-h', '--count', 'nonsense']), { help: true }, 'help wins over other flags');
});

t.test('every bad argument is a one-line UsageError saying what is wrong', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /^--count is required/],
    [['--count'], /'--count <value>' argument missing/],
    [['--count', '-5'], /^--count must not be negative.*'-5'/],
    [['--count=-5'], /^--count must not be negative/],
    [['--count', 'abc'], /^--count must be an integer from 1 to 10000000, got 'abc'/],
    [['--count', '1.5'], /got '1\.5'/],
    [['--count', '1e6'], /got '1e6'/],
    [['--count', '0'], /got '0'/],
    [['--count', '10000001'], /from 1 to 10000000, got '10000001'/],
    [['--count', ''], /got ''/],
    [['--count', '5', '--stolen-ratio', '1.5'], /^--stolen-ratio must be a number from 0 to 1, got '1\.5'/],
    [['--count', '5', '--stolen-ratio', '-0.1'], /got '-0\.1'/],
    [['--count', '5', '--stolen-ratio', 'x'], /got 'x'/],
    [['--count', '5', '--stolen-ratio', ''], /got ''/],
    [['--count', '5', '--seed', '4294967296'], /^--seed must be an integer from 0 to 4294967295/],
    [['--count', '5', '--seed', '-1'], /^--seed must not be negative/],
    [['--count', '5', '--out', ''], /^--out must be a file path/],
    [['--count', '5', '--out', 'data/'], /^--out must be a file path, got a directory/],
    [['--count', '5', '--bogus'], /^unknown option '--bogus'/],
    [['--count', '5', 'extra'], /^unexpected argument 'extra'/],
    [['--count', '5', '--count', '6'], /^--count is given more than once/],
    [['--help=yes'], /does not take an argument/],
  ];
  for (const [argv, message] of cases) {
    const error = (() => {
      try {
        parseCardgenArgs(argv);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.type(error, UsageError, argv.join(' '));
    t.match((error as Error | undefined)?.message, message, argv.join(' '));
    t.notMatch((error as Error | undefined)?.message ?? '', /\n/, 'one line');
  }
});
