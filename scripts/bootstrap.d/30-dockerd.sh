# Start dockerd in the background when no daemon answers on its socket (no systemd here).
docker_answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
if ! docker_answers; then
  log "starting dockerd (log: /var/log/ltrack-dockerd.log)"
  setsid nohup dockerd >/var/log/ltrack-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do docker_answers && break; sleep 0.5; done
  docker_answers || { log "dockerd did not answer within 30 s; last lines of /var/log/ltrack-dockerd.log:"; tail -5 /var/log/ltrack-dockerd.log >&2; exit 1; }
fi
