/**
 * A test that ends (or fails) with `npm start` still running leaves nothing behind: the teardown
 * stops the stack as Ctrl-C would, then kills whatever is left, including the components that run
 * in process groups of their own.
 */
import t from 'tap';
import { alive, descendantsOf, npmStart, untilRunning } from './npm-start.js';

t.test('the stack of a test that did not stop it is gone after its teardown', async (t) => {
  let stack: number[] = [];
  await t.test('a test that leaves npm start running', async (t) => {
    const run = await npmStart(t, {}, ['--rate', '20', '--cards', '200', '--no-console']);
    await untilRunning(run, 'npm start running');
    stack = [run.child.pid!, ...(await descendantsOf(run.child.pid!))];
    t.ok(stack.length >= 4, `npm, the supervisor and its components are running (${stack.length} processes)`);
  });
  t.same(stack.filter(alive), [], 'none of its processes is left');
});
