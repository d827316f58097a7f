#!/bin/sh
# `make cache-proxy`: start the caching proxy every builder shares (Debian's apt-cacher-ng, issue 13),
# idempotently: the image is built locally from debian:12 when missing (no registry needed), and a
# proxy container that is already running is left as it is (a stopped one is started again).
# Builders then use `vmapp-build recipe ... --proxy http://THIS_HOST:3142` (or VMAPP_BUILD_PROXY).
set -eu

image=${VMAPP_PROXY_IMAGE:-vmapp-build/apt-cacher-ng:12}
name=${VMAPP_PROXY_NAME:-vmapp-build-cache-proxy}
volume=${VMAPP_PROXY_VOLUME:-vmapp-build-cache-proxy}
port=${VMAPP_PROXY_PORT:-3142}  # docker run -p's host part: 3142, 10.0.0.5:3142, 127.0.0.1: (any free port)
here=$(cd "$(dirname "$0")/.." && pwd)

if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "cache-proxy: building $image"
    docker build -q -t "$image" "$here/images/apt-cacher-ng" >/dev/null
fi

state=$(docker container inspect -f '{{.State.Status}}' "$name" 2>/dev/null || true)
case "$state" in
    running)
        ;;
    "")
        docker run -d --name "$name" --restart unless-stopped -p "$port:3142" \
            -v "$volume:/var/cache/apt-cacher-ng" "$image" >/dev/null
        ;;
    *)
        docker start "$name" >/dev/null
        ;;
esac

published=$(docker port "$name" 3142/tcp | head -n 1)
bridge=$(docker container inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$name")
echo "cache-proxy: $name is running, cache in volume $volume, port 3142 published on $published"
echo "cache-proxy: builders use --proxy http://ADDRESS:PORT (an address of this host they reach;"
echo "cache-proxy: containers of this engine also reach http://${bridge%% *}:3142)"
