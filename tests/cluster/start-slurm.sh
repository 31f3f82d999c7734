#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine, for testing the SLURM profile.
#
#   tests/cluster/start-slurm.sh [STATE_DIR]        (default: /tmp/mathformer-slurm)
#
# Needs root. Installs Debian's slurmctld, slurmd, slurm-client and munge when they are missing,
# writes every config, key, socket, spool and log under STATE_DIR, starts munged, slurmctld and
# slurmd directly (no systemd, no cgroups) and waits until the node is idle. Running it again while
# the cluster is up does nothing; if the generated config changed, the daemons are restarted.
# Stop with tests/cluster/stop-slurm.sh [STATE_DIR], which ends only the daemons started here.
#
# Environment:
#   SLURM_LOCAL_STATE       the state dir when no argument is given
#   SLURM_LOCAL_PARTITION   partition name (default: main)
#   SLURM_LOCAL_FAKE_GPUS   number of placeholder GPUs the node advertises (default: 0); jobs that
#                           ask for them are scheduled and get CUDA_VISIBLE_DEVICES, nothing more
#   SLURM_LOCAL_NO_ETC=1    do not link /etc/slurm/slurm.conf; use `source STATE_DIR/env.sh` instead
set -euo pipefail

state_dir=$(realpath -m "${1:-${SLURM_LOCAL_STATE:-/tmp/mathformer-slurm}}")
partition=${SLURM_LOCAL_PARTITION:-main}
fake_gpus=${SLURM_LOCAL_FAKE_GPUS:-0}
conf=$state_dir/etc/slurm.conf
munge_socket=$state_dir/munge/run/munge.socket.2

say() { echo "start-slurm: $*"; }
die() { echo "start-slurm: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (it installs packages and runs the daemons as root)"
[[ $fake_gpus =~ ^[0-9]+$ ]] || die "SLURM_LOCAL_FAKE_GPUS=$fake_gpus is not a whole number"
[[ $partition =~ ^[A-Za-z0-9_-]+$ ]] || die "SLURM_LOCAL_PARTITION=$partition: use letters, digits, _ or -"

install_packages() {
    local packages=(slurmctld slurmd slurm-client munge)
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return
    fi
    say "installing ${packages[*]}"
    # The packages' postinst scripts try to start the daemons through invoke-rc.d; a temporary
    # policy-rc.d (exit 101 = "action forbidden") keeps them from starting on their own.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
    fi
    # --no-install-recommends: 8 packages instead of 42 (hdf5, rrd, influxdb plugins, -dev...).
    local apt=(apt-get install -y -qq --no-install-recommends "${packages[@]}")
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${apt[@]}" >/dev/null; } \
        || { [[ $added_policy -eq 1 ]] && rm -f "$policy"; die "apt-get install failed"; }
    [[ $added_policy -eq 1 ]] && rm -f "$policy"
    return 0
}

# A pid file names a live daemon only if that pid still runs the program it was written for.
running() {  # running PIDFILE PROGRAM
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ -r /proc/$pid/comm && $(<"/proc/$pid/comm") == "$2" ]]
}

node_line() {
    # Topology from slurmd -C; RealMemory at 85 % of what it detects, since a node that claims
    # more than slurmd finds is marked INVAL and never runs anything.
    local detected memory
    detected=$(slurmd -C | head -n 1)
    memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")
    echo "$detected" | sed -e "s/^NodeName=[^ ]* //" -e "s/RealMemory=[0-9]*/RealMemory=$((memory * 85 / 100))/"
}

write_config() {  # write_config FILE
    local host node cpus memory gres=""
    host=$(hostname -s)
    node=$(node_line)
    cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$node")
    memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
    [[ $fake_gpus -gt 0 ]] && gres="Gres=gpu:$fake_gpus"
    cat >"$1" <<EOF
# Written by tests/cluster/start-slurm.sh; edits are overwritten on the next start.
ClusterName=mathformer-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
StateSaveLocation=$state_dir/spool/ctld
SlurmdSpoolDir=$state_dir/spool/d
SlurmctldPidFile=$state_dir/run/slurmctld.pid
SlurmdPidFile=$state_dir/run/slurmd.pid
SlurmctldLogFile=$state_dir/log/slurmctld.log
SlurmdLogFile=$state_dir/log/slurmd.log
# No cgroups and no systemd here: plain process tracking, no task confinement.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd, so no sacct: finished jobs stay visible to squeue for MinJobAge seconds, long
# enough for the Snakemake plugin's squeue status mode (it needs >= 3x its first poll delay).
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$state_dir/log/jobcomp.txt
MinJobAge=600
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job with no --mem takes the whole node and jobs run one at a time.
DefMemPerCPU=$((memory / cpus / 2))
GresTypes=gpu
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
NodeName=$host NodeAddr=127.0.0.1 $node $gres State=UNKNOWN
PartitionName=$partition Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

write_gres() {  # write_gres FILE
    : >"$1"
    local i
    for ((i = 0; i < fake_gpus; i++)); do
        # slurmd drops GPUs without File=, and sets CUDA_VISIBLE_DEVICES only for character
        # devices: /dev/null's numbers (1, 3) make a harmless placeholder.
        [[ -c $state_dir/gpu/nvidia$i ]] || mknod "$state_dir/gpu/nvidia$i" c 1 3
        echo "Name=gpu File=$state_dir/gpu/nvidia$i" >>"$1"
    done
}

start_munge() {
    running "$state_dir/munge/run/munged.pid" munged && return
    [[ -s $state_dir/munge/munge.key ]] || {
        dd if=/dev/urandom of="$state_dir/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$state_dir/munge/munge.key"
    }
    # Everything under STATE_DIR, so neither /run/munge nor the packaged key is needed. --force:
    # munged otherwise refuses a state dir below world-writable /tmp.
    munged --force --key-file="$state_dir/munge/munge.key" --socket="$munge_socket" \
        --pid-file="$state_dir/munge/run/munged.pid" --seed-file="$state_dir/munge/munged.seed" \
        --log-file="$state_dir/munge/munged.log"
    munge -S "$munge_socket" -n | unmunge -S "$munge_socket" >/dev/null \
        || die "munged does not answer; see $state_dir/munge/munged.log"
}

stop_slurm_daemons() {
    local name pid
    for name in slurmd slurmctld; do
        running "$state_dir/run/$name.pid" "$name" || continue
        pid=$(<"$state_dir/run/$name.pid")
        kill "$pid"
        for _ in $(seq 50); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    done
}

link_etc() {
    # Debian's clients read /etc/slurm/slurm.conf and otherwise try a DNS "configless" lookup.
    [[ ${SLURM_LOCAL_NO_ETC:-0} == 1 ]] && return
    if [[ -e /etc/slurm/slurm.conf || -L /etc/slurm/slurm.conf ]] \
        && [[ $(readlink /etc/slurm/slurm.conf || true) != "$conf" ]]; then
        say "/etc/slurm/slurm.conf belongs to another setup; left alone (use: source $state_dir/env.sh)"
        return
    fi
    mkdir -p /etc/slurm
    ln -sfn "$conf" /etc/slurm/slurm.conf
}

wait_until_idle() {
    local host state
    host=$(hostname -s)
    for _ in $(seq 150); do
        state=$(SLURM_CONF=$conf sinfo -h -N -n "$host" -o %t 2>/dev/null || true)
        case $state in
            idle | mix | alloc) return ;;
            # A node that went down when slurmd stopped comes back with ReturnToService=2, but
            # one drained by hand does not: resume it, this cluster exists only for tests.
            drain* | down* | inval*) SLURM_CONF=$conf scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
        esac
        sleep 0.2
    done
    die "node $host is not idle after 30 s (state: ${state:-none}); see $state_dir/log/"
}

install_packages
mkdir -p "$state_dir"/{etc,run,log,gpu,spool/ctld,spool/d,munge/run}
chmod 700 "$state_dir/munge"

new_conf=$(mktemp "$state_dir/etc/.slurm.conf.XXXXXX")
new_gres=$(mktemp "$state_dir/etc/.gres.conf.XXXXXX")
write_config "$new_conf"
write_gres "$new_gres"
if cmp -s "$new_conf" "$conf" && cmp -s "$new_gres" "$state_dir/etc/gres.conf"; then
    rm -f "$new_conf" "$new_gres"
else
    say "config changed: (re)starting slurmctld and slurmd"
    stop_slurm_daemons
    mv "$new_conf" "$conf"
    mv "$new_gres" "$state_dir/etc/gres.conf"
    chmod 644 "$conf" "$state_dir/etc/gres.conf"
fi
printf 'export SLURM_CONF=%q\n' "$conf" >"$state_dir/env.sh"
link_etc

start_munge
running "$state_dir/run/slurmctld.pid" slurmctld || slurmctld -f "$conf"
running "$state_dir/run/slurmd.pid" slurmd || slurmd -f "$conf" -N "$(hostname -s)"
wait_until_idle
say "cluster up: partition $partition, state in $state_dir (SLURM_CONF=$conf)"
