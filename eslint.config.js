// One rule set, on purpose narrow: the promise rules that make "no unhandled rejection" a property
// the compiler's friends check (issue 13), on the code that runs in production. A floating promise
// (neither awaited, returned, nor handled, and not marked `void` for a reason stated beside it) or
// a promise where a callback expects a plain value fails `npm test`.
import tseslint from 'typescript-eslint';

export default tseslint.config({
  files: [
    'common/src/**/*.ts',
    'processor/src/**/*.ts',
    'console/src/**/*.ts',
    'simulator/src/**/*.ts',
    'cardgen/src/**/*.ts',
    'deploy/local/**/*.ts',
    'deploy/warehouse/**/*.ts',
    'deploy/grafana/**/*.ts',
    'deploy/cdk/**/*.ts',
    'deploy/delivery-stream.ts',
    'ecs/**/*.ts',
  ],
  languageOptions: {
    parser: tseslint.parser,
    parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
  },
  plugins: { '@typescript-eslint': tseslint.plugin },
  linterOptions: { reportUnusedDisableDirectives: 'error' },
  rules: {
    '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
    '@typescript-eslint/no-misused-promises': 'error',
  },
});
