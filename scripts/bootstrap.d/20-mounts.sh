# Kernel interfaces: tracefs (tracepoint attach reads event ids), bpffs (pinning),
# securityfs (the active LSM list, for `ltrack doctor` and the BPF LSM tier).
mount_if_missing() { # type target
  mountpoint -q "$2" && return 0
  mkdir -p "$2"
  mount -t "$1" "$1" "$2" || { log "cannot mount $1 at $2"; exit 1; }
}
mount_if_missing tracefs /sys/kernel/tracing
mount_if_missing bpf /sys/fs/bpf
mount_if_missing securityfs /sys/kernel/security
