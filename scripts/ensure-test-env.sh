#!/usr/bin/env bash
# Brings the real servers the tests use, so a fresh machine needs nothing else:
#   docker-registry (real registry), docker.io (real engine, one-node swarm), groovy (Jenkins' Groovy 2.4),
#   busybox-static (a runnable layer for test images), apache2-utils (htpasswd), skopeo (bench),
#   openssh-server + openssh-client (ssh:// Docker hosts), docker-compose (Compose projects, v1.29),
#   tinyproxy (HTTP(S)_PROXY and kubeconfig proxy-url), openssl (test CAs), kubernetes-client (kubectl, to check the exec plugin protocol),
#   dash (Jenkins' sh).
# Installs what is missing (needs root and apt) and starts dockerd when none answers.
set -euo pipefail

source "$(dirname "$0")/lib/apt.sh"
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v dockerd >/dev/null || need+=(docker.io)
command -v groovy >/dev/null || need+=(groovy)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v tinyproxy >/dev/null || need+=(tinyproxy)   # a real proxy: registry and kubeconfig proxy-url suites
command -v openssl >/dev/null || need+=(openssl)
command -v tc >/dev/null || need+=(iproute2)
command -v script >/dev/null || need+=(bsdutils)   # util-linux `script`: a real pty for the select tests
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v kubectl >/dev/null || need+=(kubernetes-client)   # the real kubectl checks the exec plugin protocol
command -v dash >/dev/null || need+=(dash)         # /bin/sh of Debian agents: the Jenkins harness runs `sh` steps with it

install_missing "The tests" ${need[@]+"${need[@]}"}

# sshd (started by the ssh suites on a loopback port) needs its privilege separation user, which the
# package's postinst creates; an image that unpacked the package without configuring it lacks it.
if [ -x /usr/sbin/sshd ] && [ "$(id -u)" = 0 ] && ! getent passwd sshd >/dev/null; then
  useradd --system --no-create-home --home-dir /run/sshd --shell /usr/sbin/nologin sshd
fi

# Real Docker engine: start one when none answers. vfs and no iptables/bridge work in a sandbox.
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "Starting dockerd ..." >&2
    mkdir -p /var/log
    nohup dockerd --iptables=false --bridge=none --storage-driver=vfs >/var/log/rollback-test-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  docker info >/dev/null 2>&1 || echo "warning: no Docker engine answers; the swarm and docker target suites will say so and fail." >&2
fi
if docker info >/dev/null 2>&1 && [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null 2>&1 || true
fi
exit 0
