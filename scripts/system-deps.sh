#!/usr/bin/env bash
# Debian packages some tests use (headless Chromium for the web page, tinyproxy for the proxy
# tests); best effort, as root.
set -uo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver)
command -v tinyproxy >/dev/null 2>&1 || need+=(tinyproxy)
[ ${#need[@]} -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || exit 1
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
