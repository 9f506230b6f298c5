#!/usr/bin/env bash
# Back up the compose set-up's Redis: its append-only directory, as a dated .tgz in ./backups/.
# Run from the folder with docker-compose.yml, e.g. daily from cron; keep 7 days (docs/privacy.md:
# a backup keeps erased people until it is deleted). docs/deploying-and-scaling.md#backups-and-restore
# has the restore, which tests/test_redis_backup.py tries with a real Valkey.
#   deploy/backup-redis.sh            # -> backups/redis-2026-12-01-0300.tgz
set -euo pipefail
cli() { docker compose exec -T redis redis-cli "$@"; }
info() { cli INFO persistence | tr -d '\r' | sed -n "s/^$1://p"; }

mkdir -p backups
out="backups/redis-$(date +%Y-%m-%d-%H%M).tgz"
cli CONFIG SET auto-aof-rewrite-percentage 0 >/dev/null   # no automatic rewrite mid-copy
trap 'cli CONFIG SET auto-aof-rewrite-percentage 100 >/dev/null' EXIT
for attempt in 1 2 3; do
  while [ "$(info aof_rewrite_in_progress)" != "0" ]; do sleep 1; done
  before="$(info aof_rewrites)"
  docker compose exec -T redis tar -C /data -czf - appendonlydir > "$out.part"
  # A rewrite that ran during the copy (FORGET books one) replaced the files: copy again.
  if [ "$(info aof_rewrites)" = "$before" ] && [ "$(info aof_rewrite_in_progress)" = "0" ]; then
    mv "$out.part" "$out"
    find backups -name 'redis-*.tgz' -mtime +7 -delete
    echo "$out"
    exit 0
  fi
done
echo "Redis kept rewriting its append-only file; try again later" >&2
exit 1
