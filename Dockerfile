# The processor image (docs/deployment.md); the ECS simulator and risk console tasks run it too,
# with their own commands (ecs/). Two stages on one
# pinned base: `build` compiles the TypeScript with every dependency; the runtime stage holds Node,
# the production dependencies and the compiled JavaScript, nothing else: no sources, no card data
# (the stolen list is mounted, or read from S3 in AWS), no emulator, no build tool.
# The ECS task definition (ecs/processor-service.ts) mirrors the port, health check, user and state
# directory below; deploy/test/cdk/image.test.ts checks that they agree, and CI builds and runs the
# image for real (deploy/image/, .ci/run).
ARG NODE_IMAGE=node:22.23.5-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the only one of ours is patch-package, which patches the local Kinesis
# emulator; compiling needs none.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/ scripts/
COPY common/src/ common/src/
COPY simulator/src/ simulator/src/
COPY processor/src/ processor/src/
COPY console/src/ console/src/
# /out/dist: the compiled processor, simulator and console.
RUN sh scripts/build-dist.sh /out

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, without install scripts (patch-package is a development tool; the
# LevelDB addon loads the prebuilt binary it ships).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force \
    && find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete
COPY --from=build /out/dist ./dist
COPY scripts/healthcheck.mjs ./scripts/
# The state directory belongs to the unprivileged user before it becomes a volume, so that Docker
# volumes and Fargate's ephemeral bind mount inherit the ownership.
RUN mkdir -p /var/lib/processor/state && chown -R node:node /var/lib/processor
# AWS's endpoints unless told otherwise (KINESIS_ENDPOINT, DYNAMODB_ENDPOINT empty). The image holds
# no card data: the stolen list (tokens) and the card token key are mounted read-only at these paths,
# or given as STOLEN_LIST=s3://bucket/key and CARD_TOKEN_KEY_SECRET (ECS).
ENV HTTP_PORT=8080 \
    STATE_DIR=/var/lib/processor/state \
    STOLEN_LIST=/etc/processor/stolen-cards.csv \
    CARD_TOKEN_KEY_FILE=/etc/processor/card-token-key.json \
    KINESIS_ENDPOINT= \
    DYNAMODB_ENDPOINT= \
    SHUTDOWN_TIMEOUT_MS=25000 \
    LOG_LEVEL=info
USER node
VOLUME ["/var/lib/processor/state"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.mjs"]
# The processor handles SIGTERM itself (drain, flush, checkpoint, exit 0 within SHUTDOWN_TIMEOUT_MS);
# run it with `--init` (docker, podman) or ECS initProcessEnabled so that PID 1 reaps zombies.
STOPSIGNAL SIGTERM
CMD ["node", "dist/processor/src/main.js"]
