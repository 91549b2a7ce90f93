#!/usr/bin/env bash
# Debian packages some tests use (headless Chromium for the web page, tinyproxy for the proxy
# tests, nginx as a CDN we did not write, iproute2 for the kernel-shaped link); best effort,
# as root.
set -uo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver)
command -v tinyproxy >/dev/null 2>&1 || need+=(tinyproxy)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v tc >/dev/null 2>&1 || [ -x /usr/sbin/tc ] || need+=(iproute2)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: not root, not installing ${need[*]} (the tests that need them skip)" >&2
    exit 1
fi
echo "system-deps: installing ${need[*]} with apt-get (root; output in /tmp/system-deps.log)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/tmp/system-deps.log 2>&1 &&
    apt-get install -y -qq --no-install-recommends "${need[@]}" >>/tmp/system-deps.log 2>&1
