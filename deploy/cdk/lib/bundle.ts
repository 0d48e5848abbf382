/**
 * Lambda code bundled from this repository's TypeScript with esbuild, on the machine that runs the
 * synth (no Docker: the machines that build this have none). One file, dependencies included, so
 * the Lambda runs exactly the code the tests ran.
 */
import { dirname, join } from 'node:path';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildSync, type BuildOptions } from 'esbuild';

export const LAMBDA_NODE_TARGET = 'node24';

/**
 * One CommonJS file (`index.js`, handler `index.handler`): an ES module bundle fails at import, as
 * parts of the AWS SDK resolve to CommonJS builds whose `require("node:https")` esbuild cannot turn
 * into an import. ES module sources of dependencies first: jsonc-parser's UMD `main` requires files
 * by a path esbuild cannot follow.
 */
export function lambdaBundleOptions(entry: string) {
  return {
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: LAMBDA_NODE_TARGET,
    format: 'cjs',
    mainFields: ['module', 'main'],
    legalComments: 'none',
    logLevel: 'error',
  } satisfies BuildOptions;
}

export function bundledCode(entry: string): lambda.Code {
  return lambda.Code.fromAsset(dirname(entry), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never used: local bundling below either succeeds or throws.
      image: DockerImage.fromRegistry('local-bundling-only'),
      local: {
        tryBundle(outputDir: string) {
          buildSync({ ...lambdaBundleOptions(entry), outfile: join(outputDir, 'index.js') });
          return true;
        },
      },
    },
  });
}
