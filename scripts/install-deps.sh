#!/usr/bin/env bash
# Installs the Debian packages ToolTune builds and runs against, only those missing, so it is cheap to
# run before every build. Needs root or sudo the first time.
set -euo pipefail

# libcurl4: Foundation's URLSession on Linux (FoundationNetworking), for eval's tool server and judge.
packages=(libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev libhdf5-dev hdf5-tools pkg-config libcurl4)
# --test: what `make test` adds for the cluster tests: simulated hosts (ip, tc, nsenter, unshare) and a
# Slurm test cluster (slurmctld, slurmd, the client commands, munge).
if [ "${1:-}" = "--test" ]; then
    packages+=(iproute2 util-linux slurmctld slurmd slurm-client munge)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    # apt's progress goes to a log, shown only if something fails.
    log=$(mktemp)
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
            --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "error: installing ${missing[*]} failed (output above)" >&2
        exit 1
    fi
    rm -f "$log"
    echo "installed: ${missing[*]}"
fi

command -v swift >/dev/null || {
    echo "error: no Swift toolchain on PATH; install Swift 6 (https://www.swift.org/install/linux/)" >&2
    exit 1
}
