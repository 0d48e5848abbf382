# The processor image (docs/deployment.md). Two stages: `build` compiles TypeScript with the dev
# dependencies; the runtime stage has Node 22 LTS, production dependencies and the compiled JS only.
# The ECS task definition (ecs/processor-service.ts) mirrors the port, health check, user and state
# directory below; deploy/test/cdk/image.test.ts checks that they agree.
ARG NODE_IMAGE=node:22-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/ scripts/
COPY common/src/ common/src/
COPY cardgen/src/ cardgen/src/
COPY simulator/src/ simulator/src/
COPY processor/src/ processor/src/
COPY deploy/delivery-stream.ts deploy/
COPY deploy/local/ deploy/local/
COPY deploy/warehouse/ deploy/warehouse/
# /out/dist: the compiled processor, simulator, cardgen and Firehose stand-in, with the warehouse
# .sql files beside the JS that reads them; /out/data/cards.csv: the card list both the processor
# and the simulator task read (the same seed always gives the same file).
RUN sh scripts/build-dist.sh /out

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /out/dist ./dist
COPY --from=build /out/data ./data
COPY scripts/healthcheck.mjs ./scripts/
# The state directory belongs to the unprivileged user before it becomes a volume, so that Docker
# volumes and Fargate's ephemeral bind mount inherit the ownership.
RUN mkdir -p /var/lib/processor/state && chown -R node:node /var/lib/processor
# KINESIS_ENDPOINT empty: AWS's endpoint for AWS_REGION (set it to reach an emulator).
ENV HTTP_PORT=8080 \
    STATE_DIR=/var/lib/processor/state \
    CARDS_FILE=/app/data/cards.csv \
    KINESIS_ENDPOINT= \
    SHUTDOWN_TIMEOUT_MS=25000 \
    LOG_LEVEL=info
USER node
VOLUME ["/var/lib/processor/state"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.mjs"]
# The processor is PID 1 and handles SIGTERM itself (drain, flush, checkpoint, exit 0 within
# SHUTDOWN_TIMEOUT_MS); give it `docker run --init` or ECS initProcessEnabled to reap zombies.
STOPSIGNAL SIGTERM
CMD ["node", "dist/processor/src/main.js"]
