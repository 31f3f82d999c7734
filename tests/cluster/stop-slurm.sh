#!/usr/bin/env bash
# Stop the single-node SLURM cluster that tests/cluster/start-slurm.sh started.
#
#   tests/cluster/stop-slurm.sh [STATE_DIR] [--purge]     (default: /tmp/mathformer-slurm)
#
# Cancels the jobs still queued or running on it, then ends slurmd, slurmctld and munged: only the
# processes named by the pid files in STATE_DIR, and only while those pids still run the program
# they were written for. Job records survive a stop and start (they live in STATE_DIR).
# SLURM_LOCAL_STATE sets the state dir when no argument is given.
# --purge also removes STATE_DIR and the /etc/slurm/slurm.conf link into it. Packages stay.
set -euo pipefail

purge=0
state_arg=""
for arg in "$@"; do
    case $arg in
        --purge) purge=1 ;;
        -*) echo "stop-slurm: unknown option $arg (allowed: --purge)" >&2; exit 2 ;;
        *) state_arg=$arg ;;
    esac
done
state_dir=$(realpath -m "${state_arg:-${SLURM_LOCAL_STATE:-/tmp/mathformer-slurm}}")
conf=$state_dir/etc/slurm.conf

running() {  # running PIDFILE PROGRAM
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ -r /proc/$pid/comm && $(<"/proc/$pid/comm") == "$2" ]]
}

stop() {  # stop PIDFILE PROGRAM
    local pid
    running "$1" "$2" || return 0
    pid=$(<"$1")
    kill "$pid"
    for _ in $(seq 100); do [[ -d /proc/$pid ]] || { echo "stop-slurm: stopped $2 ($pid)"; return 0; }; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    echo "stop-slurm: killed $2 ($pid) after 10 s"
}

if running "$state_dir/run/slurmctld.pid" slurmctld; then
    # Jobs left behind would keep slurmstepd processes alive after slurmd is gone.
    jobs=$(SLURM_CONF=$conf squeue -h -o %i --states=PENDING,RUNNING,SUSPENDED,CONFIGURING,COMPLETING 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        # shellcheck disable=SC2086  # one argument per job id
        SLURM_CONF=$conf scancel $jobs || true
        echo "stop-slurm: cancelled jobs" $jobs
    fi
fi
stop "$state_dir/run/slurmd.pid" slurmd
stop "$state_dir/run/slurmctld.pid" slurmctld
stop "$state_dir/munge/run/munged.pid" munged

if [[ $purge -eq 1 ]]; then
    [[ $(readlink /etc/slurm/slurm.conf 2>/dev/null || true) == "$conf" ]] && rm -f /etc/slurm/slurm.conf
    rm -rf "$state_dir"
    echo "stop-slurm: removed $state_dir"
fi
