# syntax=docker/dockerfile:1
#
# One image for every component:
#   docker build -t hikyaku:0.1.0 .
#   docker run hikyaku:0.1.0 ingress|scheduler|sender|operator
# The sources run as TypeScript through tsx (a runtime dependency), so there is no build
# step: the image holds the production dependencies and the sources, nothing else.

ARG NODE_IMAGE=node:20-bookworm-slim

# Production dependencies only, installed exactly as package-lock.json pins them. Install
# scripts stay off: no dependency needs one (esbuild, tsx's compiler, finds its platform
# binary through its optional dependency).
FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the user the process runs as: the code cannot be
# changed at run time even where the root file system is writable.
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY services ./services
COPY operator ./operator
COPY crds ./crds
# The demo pool, so `hikyaku local` also runs inside the image.
COPY examples ./examples
# A fixed numeric user, so that Kubernetes' runAsNonRoot can verify it; the chart runs
# the same user. tsx caches compiled sources under /tmp (an emptyDir in the pods).
USER 10001:10001
EXPOSE 2525 2587 2465 9101 9102 9103 9104
ENTRYPOINT ["node", "--import", "tsx", "bin/hikyaku.ts"]
CMD ["--help"]
