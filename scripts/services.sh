#!/usr/bin/env bash
# Make sure the database servers the tests use are running (this machine kind starts them at boot;
# this restarts one that has stopped). A test whose server is unreachable skips and says why.
set -uo pipefail
if command -v pg_ctlcluster >/dev/null && ! pg_isready -h 127.0.0.1 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]]; then
  if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    for _ in $(seq 1 30); do mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 && break; sleep 1; done
  fi
fi
exit 0
