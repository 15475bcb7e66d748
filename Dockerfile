# syntax=docker/dockerfile:1
#
# One image for every component:
#   docker build -t hikyaku:0.1.0 .
#   docker run hikyaku:0.1.0 ingress|scheduler|sender|operator
# The image runs the compiled JavaScript (`npm run build`, tsc) on Node 24 LTS: it holds the
# production dependencies, each workspace package's package.json and dist/, and nothing else.

ARG NODE_IMAGE=node:24-bookworm-slim

# Compile every workspace package (and the command) to dist/, and bundle the command for the
# operator into dist/operator/ (the chart's operator container runs it: docs/operator.md#footprint).
# Install scripts stay off: the
# image brings its own Node, so the `node` devDependency that pins Node 24 for development
# is not needed here.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json tsconfig.build.json ./
COPY bin ./bin
COPY services ./services
COPY operator ./operator
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npx tsc -b tsconfig.build.json \
 && npm run build:operator \
 && find services operator -maxdepth 2 \( -name src -o -name 'tsconfig.build.json' -o -name '*.tsbuildinfo' \) -prune -exec rm -rf {} + \
 && find dist services operator -name '*.tsbuildinfo' -delete

# Production dependencies only, installed exactly as package-lock.json pins them. npm needs
# each workspace's package.json to link the workspace packages into node_modules.
FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/services ./services
COPY --from=build /app/operator ./operator
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the user the process runs as: the code cannot be
# changed at run time even where the root file system is writable. node_modules/@hikyaku/*
# are relative links to services/* and operator/, so both keep their places.
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /app/services ./services
COPY --from=build /app/operator ./operator
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY crds ./crds
# The demo pool, so `hikyaku local` also runs inside the image.
COPY examples ./examples
# A fixed numeric user, so that Kubernetes' runAsNonRoot can verify it; the chart runs
# the same user.
USER 10001:10001
EXPOSE 2525 2587 2465 9101 9102 9103 9104
# The services' Node flags, as local mode starts them (SERVICE_NODE_FLAGS in
# services/local/src/service-process.ts): a young generation capped at 4 MiB per semi-space,
# an old generation that grows by 30 % between full collections instead of up to 4x, no
# mid-tier optimizing compiler (Maglev), which took the ingress over 128 MiB, and scavenges
# of that small young generation done by the main thread alone.
ENTRYPOINT ["node", "--max-semi-space-size=4", "--heap-growing-percent=30", "--no-maglev", "--no-parallel-scavenge", "--enable-source-maps", "dist/bin/hikyaku.js"]
CMD ["--help"]
