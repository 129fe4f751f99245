# Intelli Assets: the code location image.
#
# Dagster's official Helm chart (deploy/helm/values.yaml) runs it as the code location's gRPC
# server, `dagster api grpc -h 0.0.0.0 -p 3030 -m intelli_assets.definitions -a defs` (the CMD
# below; the chart passes the same words as the container's args), and the K8sRunLauncher starts
# every run in a pod of this same image. It also holds dagster-webserver, dagster-daemon,
# dagster-postgres and dagster-k8s, so the chart's webserver and daemon can run it too.
#
#   docker build -t intelli-assets:0.1.0 .
#
# No ENTRYPOINT: the chart sets the command itself (`args:` for the code location, `command:`
# for the webserver and daemon), which an ENTRYPOINT would swallow.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Charts are drawn by a real headless Chromium, Debian's (the project never downloads one).
# Not pinned: a rebuild takes bookworm's security updates of Chromium. The Noto fonts draw
# CJK names (57 MB) and emoji (10 MB), which would otherwise print as empty boxes.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-liberation \
    fonts-noto-cjk fonts-noto-color-emoji \
 && rm -rf /var/lib/apt/lists/*

# Everything runs as this non-root user (uid/gid 10001; deploy/helm/values.yaml uses the same
# numbers in its securityContext). Chromium sandboxes itself as a non-root user with user
# namespaces: a pod whose seccomp profile forbids them fails to start Chromium ("No usable
# sandbox"). Allow them for these pods rather than turning the sandbox off.
RUN groupadd --system --gid 10001 intelli \
 && useradd --system --uid 10001 --gid intelli --create-home --home-dir /home/intelli \
        --shell /usr/sbin/nologin intelli

# The project only, no dev extras; `deploy` adds dagster-k8s (the K8sRunLauncher), pinned with
# the rest of the Dagster family in pyproject.toml.
WORKDIR /tmp/intelli-src
COPY pyproject.toml setup.py README.md ./
COPY intelli_assets ./intelli_assets
# Bytecode is compiled now: at run time the non-root user cannot write it into site-packages,
# and every run pod would otherwise compile the imports again (~3x slower start).
# The Dagster family is pinned in pyproject.toml; the rest resolves as `scripts/install.sh` does.
# hadolint ignore=DL3013
RUN pip install ".[deploy]" \
 && python -m compileall -q -j 0 "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && rm -rf /tmp/intelli-src
WORKDIR /

# The chart's DAGSTER_HOME: it mounts its instance ConfigMap (PostgreSQL storage, run launcher,
# queue, run monitoring) as dagster.yaml here. The folder belongs to the user, so an `intelli`
# command run in a pod (`kubectl exec`) can take its set-up lock beside that file.
#
# Artifacts (kept inputs, datasets, chart files) and the inbox live under /data, which MUST be
# shared storage (a ReadWriteMany PersistentVolumeClaim, mounted at /data in every pod): the
# code location server (the inbox sensor copies each dropped file into the store), every run
# pod (a run in one pod writes the charts that a later retry or description run in another
# pod reads back) and the webserver and daemon pods (where `intelli audit` or `intelli doctor`
# are run with `kubectl exec`) must all see the same files. A volume local to one pod or node
# loses them: a retry or description run would not find its dataset or render.
ENV DAGSTER_HOME=/opt/dagster/dagster_home \
    BROWSER_PATH=/usr/bin/chromium \
    INTELLI_ARTIFACTS_DIR=/data/artifacts \
    INTELLI_INBOX=/data/inbox
RUN mkdir -p "$DAGSTER_HOME" "$INTELLI_ARTIFACTS_DIR" "$INTELLI_INBOX" \
 && chown -R intelli:intelli /opt/dagster /data
VOLUME ["/data"]

USER 10001:10001
WORKDIR /home/intelli

# The gRPC server has no authentication: keep port 3030 inside the cluster (the chart's
# Service for it is ClusterIP), never published.
EXPOSE 3030
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", "intelli_assets.definitions", "-a", "defs", "--location-name", "intelli_assets"]
