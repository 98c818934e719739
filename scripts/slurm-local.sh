#!/usr/bin/env bash
# A one-node SLURM cluster on 127.0.0.1, for the `slurm` tests and for trying `--executor slurm`.
#
#   scripts/slurm-local.sh start    install slurm-wlm + munge if missing (Debian, root), start munged,
#                                   slurmctld, slurmd; wait until the node is idle; print SLURM_CONF
#   scripts/slurm-local.sh stop     stop every daemon this script started (by the pids it wrote)
#   scripts/slurm-local.sh env      print `export SLURM_CONF=...` (eval it to use sinfo/sbatch)
#
# Everything binds to 127.0.0.1 only (CommunicationParameters=NoCtldInAddrAny,NoInAddrAny; the
# host name must resolve to 127.0.0.1, checked). No accounting daemon: waiting on jobs uses squeue.
# State, config and logs live in $FATHOM_SLURM_DIR (default /tmp/fathom-bench-slurm).
set -euo pipefail

DIR="${FATHOM_SLURM_DIR:-/tmp/fathom-bench-slurm}"
CONF="$DIR/slurm.conf"
MUNGE_SOCKET="$DIR/munge/munge.socket"

die() { echo "slurm-local: $*" >&2; exit 2; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return
  fi
  [ "$(id -u)" = 0 ] || die "slurm-wlm/munge missing and not root: apt-get install slurm-wlm munge"
  command -v apt-get >/dev/null || die "slurm-wlm/munge missing and no apt-get: install SLURM and munge"
  echo "slurm-local: installing slurm-wlm and munge (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_conf() {
  local cpus mem
  cpus="$(nproc)"
  mem="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
  mkdir -p "$DIR/ctld" "$DIR/d" "$DIR/log" "$DIR/munge"
  chmod 755 "$DIR"  # munged runs as user munge and must reach its socket folder
  cat > "$CONF" <<EOF
ClusterName=fathom-local
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=2
MinJobAge=300
SlurmdTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  install_packages
  local resolved
  resolved="$(getent hosts "$(hostname)" | awk '{print $1; exit}')"
  [ "$resolved" = "127.0.0.1" ] || die "host name $(hostname) resolves to ${resolved:-nothing}, not 127.0.0.1: the daemons would listen beyond loopback"
  write_conf
  chown munge:munge "$DIR/munge" 2>/dev/null || true
  if ! alive "$DIR/munged.pid"; then
    [ -f /etc/munge/munge.key ] || (mungekey --create >/dev/null 2>&1 || die "no /etc/munge/munge.key")
    # as the munge user, its own socket and pid file, nothing on the network
    runuser -u munge -- munged --socket="$MUNGE_SOCKET" --pid-file="$DIR/munge/munged.pid" \
      --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"
    for _ in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
    cp "$DIR/munge/munged.pid" "$DIR/munged.pid"
  fi
  alive "$DIR/slurmctld.pid" || slurmctld -f "$CONF"
  alive "$DIR/slurmd.pid" || slurmd -f "$CONF" -N localhost
  for _ in $(seq 100); do
    state="$(SLURM_CONF="$CONF" sinfo -h -o %T 2>/dev/null || true)"
    case "$state" in idle*|mixed*|allocated*) break ;; esac
    sleep 0.2
  done
  case "$state" in idle*|mixed*|allocated*) ;; *) die "node not up after 20 s (state '${state}'); see $DIR/log" ;; esac
  echo "slurm-local: one-node cluster up on 127.0.0.1 (node localhost: $state)"
  echo "export SLURM_CONF=$CONF"
}

stop() {
  local name pid
  for name in slurmd slurmctld munged; do
    if alive "$DIR/$name.pid"; then
      pid="$(cat "$DIR/$name.pid")"
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$DIR/$name.pid"
  done
  echo "slurm-local: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
