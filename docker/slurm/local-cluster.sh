#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for testing docker/slurm/pdlf.sbatch.
#
#   docker/slurm/local-cluster.sh [start]   install (Debian: slurm-wlm, munge), configure, start
#   docker/slurm/local-cluster.sh status    print what is running
#   docker/slurm/local-cluster.sh stop      stop slurmd, slurmctld and munged
#
# Needs root. Idempotent: running `start` again leaves running daemons alone. The node is this
# machine at 127.0.0.1 with PDLF_SLURM_CPUS CPUs (default 2); every daemon binds to loopback
# (CommunicationParameters=NoInAddrAny,NoCtldInAddrAny and a hostname that resolves to
# 127.0.0.1), so nothing listens on or talks to another address. An /etc/slurm/slurm.conf that
# this script did not write is never touched: the script stops with a message instead.
set -euo pipefail

CPUS=${PDLF_SLURM_CPUS:-2}
CONF=/etc/slurm/slurm.conf
MARK="# written by pdlf docker/slurm/local-cluster.sh"
STATE=/var/lib/pdlf-slurm
LOGS=/var/log/pdlf-slurm
NODE=$(hostname -s)

say() { echo "local-cluster: $*" >&2; }
die() { say "$*"; exit 1; }

pidfile() {
    case "$1" in
        munged) echo /run/munge/munged.pid ;;
        *) echo "$STATE/$1.pid" ;;
    esac
}

daemon_pid() {  # the daemon's pid from its pid file, if that process is alive and is the daemon
    local f pid
    f=$(pidfile "$1")
    [[ -s $f ]] || return 1
    pid=$(<"$f")
    [[ -r /proc/$pid/comm && $(<"/proc/$pid/comm") == "$1" ]] || return 1
    echo "$pid"
}

running() { daemon_pid "$1" >/dev/null; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null; then
        return
    fi
    command -v apt-get >/dev/null || die "slurm-wlm/munge are not installed and there is no apt-get"
    say "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
        || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null; } \
        || die "apt-get could not install slurm-wlm and munge"
}

check_loopback() {
    # the node's name must resolve to loopback, or NoInAddrAny would bind another address
    local addr
    addr=$(getent ahostsv4 "$NODE" | awk 'NR == 1 {print $1}')
    case "$addr" in
        127.*) ;;
        *) die "hostname '$NODE' resolves to '${addr:-nothing}', not 127.x: add '127.0.0.1 $NODE' to /etc/hosts" ;;
    esac
}

write_config() {
    if [[ -e $CONF ]] && ! grep -qxF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script; leaving this machine's SLURM alone"
    fi
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" "$LOGS"
    local new
    new=$(cat <<EOF
$MARK
# One node: this machine at 127.0.0.1 with $CPUS CPUs; daemons run as root and bind to loopback.
ClusterName=pdlf-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=30
InactiveLimit=0
MinJobAge=300
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
)
    if [[ ! -e $CONF ]] || [[ "$(cat "$CONF")" != "$new" ]]; then
        printf '%s\n' "$new" >"$CONF"
        say "wrote $CONF"
        if running slurmctld; then scontrol reconfigure >/dev/null 2>&1 || true; fi
    fi
}

start_munge() {
    if running munged; then return; fi
    [[ -s /etc/munge/munge.key ]] || {
        command -v mungekey >/dev/null && mungekey --create --keyfile=/etc/munge/munge.key \
            || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null
    }
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    chmod 0400 /etc/munge/munge.key
    if id munge >/dev/null 2>&1 && command -v runuser >/dev/null; then
        runuser -u munge -- munged
    else
        munged --force
    fi
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2 t0=$SECONDS
    shift 2
    until "$@" >/dev/null 2>&1; do
        (( SECONDS - t0 < limit )) || die "$what did not happen within ${limit}s (logs: $LOGS)"
        sleep 0.5
    done
}

node_idle() {
    local state
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null) || return 1
    [[ $state == idle* || $state == mix* || $state == alloc* ]]
}

start() {
    [[ $(id -u) == 0 ]] || die "needs root (it installs packages and runs the SLURM daemons)"
    install_packages
    check_loopback
    write_config
    start_munge
    wait_for 20 "munge answering" sh -c 'munge -n | unmunge'
    running slurmctld || slurmctld
    wait_for 30 "slurmctld answering" scontrol ping
    running slurmd || slurmd -N "$NODE"
    wait_for 60 "node $NODE becoming idle" node_idle
    # a node left DOWN/DRAIN by an earlier run (e.g. a killed slurmd) is put back in service
    if ! node_idle; then scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true; fi
    say "one-node SLURM up: node $NODE, $CPUS CPUs, 127.0.0.1"
}

stop() {
    local d pid
    for d in slurmd slurmctld munged; do
        if pid=$(daemon_pid "$d"); then kill "$pid" || true; fi
    done
    say "stopped"
}

status() {
    local d
    for d in munged slurmctld slurmd; do
        if running "$d"; then echo "$d: running"; else echo "$d: not running"; fi
    done
    sinfo 2>/dev/null || true
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 [start|stop|status]" ;;
esac
