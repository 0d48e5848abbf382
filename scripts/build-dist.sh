#!/bin/sh
# Builds what the image runs into OUT (default ./build): OUT/dist holds the compiled entry points
# the image needs, the processor, the simulator and the risk console (their ECS tasks). Used by the
# Dockerfile's build stage and by deploy/test/cdk/image-run.test.ts, so both run the same build.
set -eu
out="${1:-build}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
node_modules/.bin/tsc -p scripts/tsconfig.build.json --outDir "$out/dist"
