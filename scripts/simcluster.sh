#!/usr/bin/env bash
# Simulated cluster hosts on one machine (root): each host is a network namespace with its own address
# and host name, joined to the others by a switch (a bridge in a namespace of its own) over veth links
# with an optional bandwidth (tc tbf) and latency (tc netem). No traffic leaves these namespaces.
#
#   scripts/simcluster.sh up N [--link RATE] [--delay TIME] [--slots S] [--slurm] [--name NAME]
#   scripts/simcluster.sh run [--host K] [--name NAME] CMD [ARG...]
#   scripts/simcluster.sh kill K [--name NAME]        # SIGKILL every process of host K (a lost node)
#   scripts/simcluster.sh down [--name NAME]
#   scripts/simcluster.sh prune                        # down every cluster whose --owner PID has ended
#
# up: hosts NAME-1 .. NAME-N at 10.250.0.1 .. 10.250.0.N/24 (--subnet A.B.C for another /24), each link
# RATE each way (tc units: 1gbit, 10gbit, 25gbit; default: as fast as veth goes) with TIME of added
# latency (50us; needs the kernel's netem). It writes, in /run/simcluster/NAME/:
#   hostfile  Open MPI hostfile, S slots per host (default 1)
#   agent     Open MPI rsh agent (plm_rsh_agent): runs a command on a host, as ssh would
#   enter     enter HOST CMD...: runs CMD in HOST's namespace under HOST's name
#   env       what `run` exports: the agent, the hostfile (not with --slurm), TCP on the cluster's subnet
#   tmp/      Open MPI's session directories
#   shm/HOST  HOST's /dev/shm (a tmpfs)
# --slurm also starts munged, slurmctld (on host 1) and a slurmd per host from a generated slurm.conf
# (partition "sim", S CPUs per host); submit with `run sbatch ...` (run exports SLURM_CONF).
# up again with the same N changes the link in place; up and down are idempotent, and down removes all
# that up made (processes, namespaces, files), also after a failed or interrupted up.
#
# run: CMD on host K (default 1) with the env above, e.g.
#   scripts/simcluster.sh run mpirun -n 2 .build/release/tooltune doctor --threads 1
# NAME defaults to $SIMCLUSTER_NAME or "sim" (letters, digits, "-"; at most 24 characters).
set -euo pipefail

die() { echo "simcluster: $*" >&2; exit 1; }
# die, showing the end of a daemon's log first.
die_log() { local log=$1; shift; [ ! -f "$log" ] || { echo "--- $log:"; tail -n 20 "$log"; } >&2; die "$@"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

name=${SIMCLUSTER_NAME:-sim}
root_dir=/run/simcluster

[ $# -gt 0 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
command=$1; shift
count="" link=none delay="" slots=1 slurm=0 subnet=10.250.0 host=1 owner="" kill_host=""
run_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --name) name=${2:?--name needs a value}; shift 2 ;;
        --link) link=${2:?--link needs a rate}; shift 2 ;;
        --delay) delay=${2:?--delay needs a time}; shift 2 ;;
        --slots) slots=${2:?--slots needs a number}; shift 2 ;;
        --subnet) subnet=${2:?--subnet needs A.B.C}; shift 2 ;;
        --slurm) slurm=1; shift ;;
        --owner) owner=${2:?--owner needs a pid}; shift 2 ;;
        --host) host=${2:?--host needs a number}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *)
            if [ "$command" = run ]; then run_args=("$@"); break
            elif [ "$command" = up ] && [ -z "$count" ]; then count=$1; shift
            elif [ "$command" = kill ] && [ -z "$kill_host" ]; then kill_host=$1; shift
            else die "unexpected argument '$1' (see --help)"; fi ;;
    esac
done

[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9-]{0,23}$ ]] || die "--name '$name': letters, digits and '-', at most 24 characters"
state=$root_dir/$name
# The hosts' /dev/shm: folders of a tmpfs of the cluster's (a host's own /dev/shm hides the machine's).
shm=$state/shm

require_root() {
    [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces); run it as root or with sudo"
    command -v ip >/dev/null && command -v tc >/dev/null || die "needs ip and tc (Debian: iproute2)"
    command -v unshare >/dev/null && command -v nsenter >/dev/null || die "needs unshare and nsenter (Debian: util-linux)"
}

# The namespaces of cluster $1 that exist now: hosts NAME-K and the switch NAME-sw.
namespaces_of() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$1-([0-9]+|sw)\$" || true; }

# SIGKILL every process in a namespace, then wait until they are gone (at most 10 s).
kill_namespace() {
    local ns=$1 pids tries=0
    while pids=$(ip netns pids "$ns" 2>/dev/null) && [ -n "$pids" ]; do
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        tries=$((tries + 1))
        [ $tries -le 100 ] || { echo "simcluster: processes $pids in $ns do not die" >&2; return 1; }
        sleep 0.1
    done
}

cluster_down() {
    local n=$1 ns
    for ns in $(namespaces_of "$n"); do kill_namespace "$ns" || true; done
    for ns in $(namespaces_of "$n"); do ip netns del "$ns" 2>/dev/null || true; done
    ! mountpoint -q "$root_dir/$n/shm" || umount --lazy "$root_dir/$n/shm"
    rm -rf "${root_dir:?}/$n"
}

# Bits per second of a tc rate (1gbit, 500mbit, 25Gbit, 1000000bit).
rate_bits() {
    [[ ${1,,} =~ ^([0-9]+)(bit|kbit|mbit|gbit)$ ]] || return 1
    local value=${BASH_REMATCH[1]}
    case ${BASH_REMATCH[2]} in bit) echo "$value" ;; kbit) echo $((value * 1000)) ;; mbit) echo $((value * 1000000)) ;;
        gbit) echo $((value * 1000000000)) ;; esac
}

# The link's rate and delay on device $2 of namespace $1, replacing what was there.
shape() {
    local ns=$1 dev=$2 tbf=()
    ip netns exec "$ns" tc qdisc del dev "$dev" root 2>/dev/null || true
    if [ "$link" != none ]; then
        local burst
        # A burst of 1 ms of traffic (at least one 64 KiB GSO packet), so the shaper keeps its rate while
        # the shared cores delay it by up to that; a queue of 2 ms, a datacenter switch's shallow buffer:
        # a deeper one inflates the round trips of MPI's rendezvous messages behind bulk data (20 ms cost
        # Open MPI a third of a 1 Gbit/s link; plain TCP reaches 93% of the rate each way at once with 2 ms).
        burst=$(($(rate_bits "$link") / 8 / 1000)); [ $burst -ge 65536 ] || burst=65536
        tbf=(tbf rate "$link" burst "$burst" latency 2ms)
    fi
    if [ -n "$delay" ]; then
        ip netns exec "$ns" tc qdisc add dev "$dev" root handle 1: netem delay "$delay" limit 100000 2>/dev/null || \
            die "--delay needs the kernel's netem qdisc (sch_netem), which this kernel does not have; --link works without it"
        [ ${#tbf[@]} -eq 0 ] || ip netns exec "$ns" tc qdisc add dev "$dev" parent 1:1 handle 10: "${tbf[@]}"
    elif [ ${#tbf[@]} -gt 0 ]; then
        ip netns exec "$ns" tc qdisc add dev "$dev" root "${tbf[@]}"
    fi
}

# enter (a host's namespace, name, /etc/hosts and /dev/shm; /sys stays the machine's, cgroups included)
# and the Open MPI agent on top of it.
write_launchers() {
    cat >"$state/enter" <<EOF
#!/bin/sh
# enter HOST CMD [ARG...]: CMD on simulated host HOST of cluster $name: in its network namespace, under
# its host name, with the cluster's /etc/hosts and a /dev/shm of the host's own, $shm/HOST (mounted in a
# mount namespace of CMD's own), so shared memory files of killed processes go with the cluster.
ns=\$1; shift
[ -e "/run/netns/\$ns" ] && grep -q "^\$ns " "$state/hosts" || { echo "simcluster: \$ns is not a host of cluster $name" >&2; exit 255; }
exec nsenter --net="/run/netns/\$ns" unshare --mount --uts /bin/sh -c \\
    'mount --bind "$state/etc-hosts" /etc/hosts && mount --bind "$shm/\$0" /dev/shm &&
     echo "\$0" >/proc/sys/kernel/hostname && exec "\$@"' "\$ns" "\$@"
EOF
    cat >"$state/agent" <<EOF
#!/bin/sh
# Open MPI's rsh agent for simulated cluster $name, called as ssh: [options] HOST COMMAND... runs
# COMMAND with /bin/sh on HOST (a name or address of the cluster).
while [ \$# -gt 0 ]; do case "\$1" in -*) shift ;; *) break ;; esac; done
host=\$1; shift
ns=\$(awk -v h="\$host" '\$1 == h || \$2 == h { print \$1 }' "$state/hosts")
[ -n "\$ns" ] || { echo "simcluster agent: \$host is not a host of cluster $name" >&2; exit 255; }
exec "$state/enter" "\$ns" /bin/sh -c "\$*"
EOF
    chmod 755 "$state/enter" "$state/agent"
}

# CMD on host $1 with the cluster's environment.
in_host() {
    local k=$1; shift
    "$state/enter" "$name-$k" /bin/sh -c '. "$0" && exec "$@"' "$state/env" "$@"
}

# daemon OUT CMD...: CMD, which leaves a daemon behind, with its output appended to OUT and none of this
# script's other open files: a caller that waits for them to close (a pipe of its output, Foundation's
# Process watching its child) would otherwise wait for the daemon to end.
daemon() {
    local out=$1; shift
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            [ "$fd" -le 2 ] || [ "$fd" -eq 255 ] || eval "exec $fd>&-"
        done 2>/dev/null
        "$@" </dev/null >>"$out" 2>&1
    )
}

# Starts the daemons of a Slurm cluster of $count hosts: munged, slurmctld on host 1, slurmd on each.
slurm_up() {
    for tool in munged slurmctld slurmd sbatch sinfo; do
        command -v $tool >/dev/null || die "--slurm needs $tool (Debian: slurm-wlm munge)"
    done
    local dir=$state/slurm k
    mkdir -p "$dir/ctld" "$dir/munge"
    for k in $(seq 1 "$count"); do mkdir -p "$dir/spool-$name-$k"; done
    chmod 700 "$dir/munge"
    [ -f "$dir/munge/munge.key" ] || head -c 1024 /dev/urandom >"$dir/munge/munge.key"
    chmod 400 "$dir/munge/munge.key"
    {
        echo "# Generated by scripts/simcluster.sh for simulated cluster $name."
        echo "ClusterName=${name,,}"
        echo "SlurmctldHost=$name-1($subnet.1)"
        echo "AuthType=auth/munge"
        echo "AuthInfo=socket=$dir/munge/munge.socket"
        echo "CredType=cred/munge"
        echo "SlurmUser=root"
        echo "SlurmdUser=root"
        echo "StateSaveLocation=$dir/ctld"
        echo "SlurmdSpoolDir=$dir/spool-%n"
        echo "SlurmctldPidFile=$dir/slurmctld.pid"
        echo "SlurmdPidFile=$dir/slurmd-%n.pid"
        echo "SlurmctldLogFile=$dir/slurmctld.log"
        echo "SlurmdLogFile=$dir/slurmd-%n.log"
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "JobAcctGatherType=jobacct_gather/none"
        echo "AccountingStorageType=accounting_storage/none"
        echo "SelectType=select/cons_tres"
        echo "SelectTypeParameters=CR_CPU"
        echo "MpiDefault=none"
        echo "ReturnToService=2"
        echo "SlurmdParameters=config_overrides"
        for k in $(seq 1 "$count"); do echo "NodeName=$name-$k NodeAddr=$subnet.$k CPUs=$slots State=UNKNOWN"; done
        echo "PartitionName=sim Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
    } >"$dir/slurm.conf"
    # One munged serves every simulated host: its socket is on the file system they share.
    local out=$dir/daemons.out
    daemon "$out" "$state/enter" "$name-1" munged --force --key-file="$dir/munge/munge.key" \
        --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
        --seed-file="$dir/munge/munged.seed" --origin="$subnet.1" || die_log "$dir/munge/munged.log" "munged did not start: $(cat "$out")"
    daemon "$out" in_host 1 slurmctld -f "$dir/slurm.conf" || die_log "$dir/slurmctld.log" "slurmctld did not start: $(cat "$out")"
    for k in $(seq 1 "$count"); do
        daemon "$out" in_host "$k" slurmd -f "$dir/slurm.conf" \
            || die_log "$dir/slurmd-$name-$k.log" "slurmd on $name-$k did not start: $(cat "$out")"
    done
    # Ready when every node is idle.
    local tries=0
    until [ "$(in_host 1 sinfo -h -N -o '%t' 2>/dev/null | grep -c '^idle')" -eq "$count" ]; do
        tries=$((tries + 1))
        [ $tries -le 150 ] || die_log "$dir/slurmctld.log" "the Slurm nodes did not come up: $(in_host 1 sinfo -N 2>&1)"
        sleep 0.2
    done
}

case "$command" in
up)
    require_root
    [[ $count =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 250 ] || die "up: give the number of hosts, 1 to 250"
    [[ $slots =~ ^[0-9]+$ ]] && [ "$slots" -ge 1 ] || die "--slots '$slots': expected a positive number"
    [[ $subnet =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "--subnet '$subnet': expected A.B.C (a /24)"
    [ "$link" = none ] || rate_bits "$link" >/dev/null || die "--link '$link': expected a rate such as 1gbit, 10gbit, 25gbit"
    if [ -f "$state/hosts" ]; then
        have=$(wc -l <"$state/hosts")
        [ "$have" -eq "$count" ] || die "cluster $name is up with $have hosts; run down first"
        for k in $(seq 1 "$count"); do shape "$name-$k" eth0; shape "$name-sw" "h$k"; done
        if [ $slurm -eq 1 ] && [ ! -f "$state/slurm/slurm.conf" ]; then die "cluster $name is up without Slurm; run down first"; fi
        echo "simcluster: $name: $count hosts, link $link${delay:+, delay $delay}"
        exit 0
    fi
    # What a failed up left goes first; if this up fails, what it made goes too.
    cluster_down "$name"
    trap 'status=$?; [ $status -eq 0 ] || cluster_down "$name"; exit $status' EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$state/tmp" "$shm"
    [ -z "$owner" ] || echo "$owner" >"$state/owner"
    mount -t tmpfs -o mode=755 "simcluster-$name" "$shm"
    ip netns add "$name-sw"
    ip -n "$name-sw" link set lo up
    ip -n "$name-sw" link add br0 type bridge
    ip -n "$name-sw" link set br0 up
    : >"$state/hosts"
    for k in $(seq 1 "$count"); do
        ns=$name-$k
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip link add eth0 netns "$ns" type veth peer name "h$k" netns "$name-sw"
        ip -n "$ns" addr add "$subnet.$k/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$name-sw" link set "h$k" master br0
        ip -n "$name-sw" link set "h$k" up
        shape "$ns" eth0
        shape "$name-sw" "h$k"
        mkdir -p "$shm/$ns"
        chmod 1777 "$shm/$ns"
        echo "$ns $subnet.$k" >>"$state/hosts"
    done
    { echo "127.0.0.1 localhost"; awk '{print $2, $1}' "$state/hosts"; } >"$state/etc-hosts"
    awk -v s="$slots" '{print $1, "slots=" s}' "$state/hosts" >"$state/hostfile"
    write_launchers
    {
        echo "# Sourced by simcluster.sh run: Open MPI starts remote ranks through the agent and talks TCP on"
        echo "# the cluster's subnet only. The simulated hosts share this machine's cores, so a rank waiting in"
        echo "# MPI yields its core instead of spinning on it."
        echo "export OMPI_MCA_plm_rsh_agent=$state/agent"
        [ $slurm -eq 1 ] || echo "export OMPI_MCA_orte_default_hostfile=$state/hostfile"
        echo "export OMPI_MCA_btl=self,vader,tcp"
        echo "export OMPI_MCA_btl_tcp_if_include=$subnet.0/24"
        echo "export OMPI_MCA_oob_tcp_if_include=$subnet.0/24"
        echo "export OMPI_MCA_mpi_yield_when_idle=1"
        echo "# Open MPI's session directories here, not in /tmp, so down removes those of killed hosts too."
        echo "export OMPI_MCA_orte_tmpdir_base=$state/tmp"
        echo "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
        [ $slurm -eq 0 ] || echo "export SLURM_CONF=$state/slurm/slurm.conf"
    } >"$state/env"
    [ $slurm -eq 0 ] || slurm_up
    trap - EXIT
    echo "simcluster: $name: $count hosts ($(awk '{print $1 "=" $2}' "$state/hosts" | paste -sd ' ')), link $link${delay:+, delay $delay}$([ $slurm -eq 0 ] || echo ', Slurm')"
    ;;
run)
    require_root
    [ -f "$state/hosts" ] || die "cluster $name is not up (scripts/simcluster.sh up N --name $name)"
    [ ${#run_args[@]} -gt 0 ] || die "run: give a command"
    grep -q "^$name-$host " "$state/hosts" || die "--host $host: no such host in cluster $name"
    in_host "$host" "${run_args[@]}"
    ;;
kill)
    require_root
    [ -f "$state/hosts" ] && grep -q "^$name-$kill_host " "$state/hosts" || die "kill: no host '$kill_host' in cluster $name"
    kill_namespace "$name-$kill_host"
    ;;
down)
    require_root
    cluster_down "$name"
    ;;
prune)
    require_root
    for dir in "$root_dir"/*/; do
        [ -f "$dir/owner" ] || continue
        kill -0 "$(cat "$dir/owner")" 2>/dev/null || cluster_down "$(basename "$dir")"
    done
    ;;
*) die "unknown command '$command' (up, run, kill, down, prune; see --help)" ;;
esac
