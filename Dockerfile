# Production image: build with dev dependencies, run with production ones only, as a non-root user.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY client ./client
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# glibc gives each thread that allocates (V8's GC and compiler helpers, libuv's pool) its own malloc
# arena, and freed memory stays spread over them: 2 arenas took the RSS of an idle socket from
# 5.5–5.8 KiB to ~4 KiB (npm run bench, 5000 sockets), with the V8 heap unchanged
ENV MALLOC_ARENA_MAX=2
# In the chart's 512Mi pod Node reads the limit and V8 keeps its young generation at 2 MiB (128 MiB
# on a 24 GiB machine): objects alive across a store round trip are promoted and collected by full
# GCs, and a room's fan-out cost ~25% more CPU per delivery. 16 MiB semi-spaces took back most of
# that at ~20 KiB more RSS per idle joined socket (bench/README.md, "Session 17: the pod's memory")
ENV NODE_OPTIONS=--max-semi-space-size=16
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/client/dist ./client/dist
COPY package.json ./
# local-disk uploads (UPLOAD_DIR, when S3_BUCKET is unset) go here: writable by the app, mount a volume
RUN mkdir -p /app/.data/uploads && chown -R node:node /app/.data
USER node
EXPOSE 3000
# SIGTERM → graceful shutdown (clients told 1001, replies stored), exit 0
CMD ["node", "dist/main.js"]
