#!/bin/sh
# Builds what the image runs into OUT (default ./build): OUT/dist holds the compiled entry points
# (processor, simulator, cardgen, Firehose stand-in) with the warehouse .sql files beside the JS
# that reads them relative to its own module; OUT/data/cards.csv is the card list.
# Used by the Dockerfile's build stage and by deploy/test/cdk/image.test.ts, so both run the same build.
set -eu
out="${1:-build}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
node_modules/.bin/tsc -p scripts/tsconfig.build.json --outDir "$out/dist"
mkdir -p "$out/dist/deploy/warehouse"
cp deploy/warehouse/*.sql "$out/dist/deploy/warehouse/"
node --import tsx cardgen/src/main.ts --count 10000 --seed 7 --out "$out/data/cards.csv" >/dev/null
