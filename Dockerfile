# syntax=docker/dockerfile:1
# pgAnalytics container image. Stage `build` compiles the single Bun executable and assembles the
# runtime root file system with container/make-rootfs.sh (the same script the tests run, see
# test/deploy/container.test.ts); the final image is that tree alone on `scratch`: the binary,
# the PostgreSQL client tools for backups with their libraries, CA certificates, a non-root user.
#
#   docker build -t pganalytics --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%FT%TZ)" .
#   docker run --read-only --tmpfs /tmp -v pga-data:/var/lib/pganalytics -p 8080:8080 pganalytics
#
# Read-only root file system: everything written goes to /tmp (PGlite unpacks its extensions
# there: mount a tmpfs) and /var/lib/pganalytics (embedded store, master key: mount a volume; it is
# owned by 10001). With DATABASE_URL and REDIS_URL set, only /tmp needs to be writable.

FROM node:20-bookworm AS build
# postgresql-client-15 brings pg_dump, pg_basebackup, pg_receivewal, psql, ...; pg_waldump ships
# in the server package, installed without creating a cluster. Build stage only: not in the image.
# Debian's package versions are not pinned: bookworm's security updates replace them.
# hadolint ignore=DL3008
RUN mkdir -p /etc/postgresql-common/createcluster.d \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main-cluster.conf \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client-15 postgresql-15 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/ensure-node-deps.sh scripts/
RUN bash scripts/ensure-node-deps.sh
COPY . .
# .git is not in the build context: the revision comes in as a build argument.
ARG REVISION=unknown
RUN PGA_BUILD_REVISION="${REVISION}" bash scripts/build.sh \
 && bash container/make-rootfs.sh /rootfs

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED
LABEL org.opencontainers.image.title="pgAnalytics" \
      org.opencontainers.image.description="PostgreSQL fleet monitoring and operations service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /rootfs/ /
# COPY from a stage keeps the owner with BuildKit; say it for builders that reset it to root.
COPY --from=build --chown=10001:10001 /rootfs/var/lib/pganalytics/ /var/lib/pganalytics/
USER 10001:10001
ENV PATH=/usr/local/bin \
    PGA_HOST=0.0.0.0 \
    PGA_PORT=8080 \
    PGA_DATA_DIR=/var/lib/pganalytics \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
VOLUME ["/var/lib/pganalytics"]
EXPOSE 8080
# No HEALTHCHECK: the orchestrator probes /livez and /readyz over HTTP (Kubernetes probes, the
# load balancer's checks), and a scratch image has no curl/wget to run one with anyway. Docker's
# HEALTHCHECK is not used by Kubernetes and would only duplicate those probes.
ENTRYPOINT ["/usr/local/bin/pganalytics"]
CMD ["serve"]
