#!/bin/sh
# Make a Docker engine reachable, idempotently: install Debian's docker.io and debootstrap when
# missing, and start dockerd in the background when no engine answers. Needs root for the install.
set -eu

log=${VMAPP_DOCKERD_LOG:-/var/log/vmapp-build-dockerd.log}

engine_up() {
    if command -v docker >/dev/null 2>&1; then
        docker info >/dev/null 2>&1
    else
        [ -S /var/run/docker.sock ]
    fi
}

missing=""
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing="$missing debootstrap"
if ! engine_up && [ -z "${DOCKER_HOST:-}" ]; then
    command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing="$missing docker.io"
fi
if [ -n "$missing" ]; then
    echo "ensure-engine: installing$missing"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi

if engine_up; then
    exit 0
fi
if [ -n "${DOCKER_HOST:-}" ]; then
    echo "ensure-engine: DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST" >&2
    exit 1
fi
echo "ensure-engine: starting dockerd (log: $log)"
PATH="$PATH:/usr/sbin:/sbin" nohup dockerd >"$log" 2>&1 &
i=0
while ! engine_up; do
    i=$((i + 1))
    if [ "$i" -gt 60 ]; then
        echo "ensure-engine: dockerd did not come up in 60 s; see $log" >&2
        tail -20 "$log" >&2 || :
        exit 1
    fi
    sleep 1
done
echo "ensure-engine: engine is up"
