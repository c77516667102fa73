#!/usr/bin/env bash
# Optional system library: OpenBLAS lets PyTensor's compiled C code use a real BLAS.
# Installed only when we are root on a Debian/Ubuntu machine and it is missing;
# without it everything still works, matrix products are just slower.
set -u
if ls /usr/lib/*/libopenblas.so >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev) >/dev/null 2>&1 \
    || echo "note: could not install libopenblas-dev; continuing without a system BLAS"
else
  echo "note: libopenblas-dev not found; install it for faster PyTensor matrix products"
fi
exit 0
