#!/usr/bin/env bash
# Throwaway PostgreSQL + PostGIS and Redis servers for the nearby benchmark's server peers.
#
#   benchmarks/servers.sh install   # Debian packages (postgresql-15-postgis-3, redis-server), as root
#   benchmarks/servers.sh start     # init (first time) and start both; idempotent
#   benchmarks/servers.sh status    # is each one up? exit 0 only when both are
#   benchmarks/servers.sh stop      # stop both (the data folder stays; `clean` removes it)
#   benchmarks/servers.sh clean     # stop, then delete the data folder
#
# Both listen on 127.0.0.1 only, with no persistence worth keeping: PostgreSQL in a cluster
# initialised under $GEO_DISCOVERY_BENCH_DIR (default /tmp/geo-discovery-bench) with trust
# auth, fsync off and JIT / parallel query off (one core per query, like every other
# method); Redis with no RDB/AOF. Environment (this script and the benchmarks):
#   GEO_DISCOVERY_BENCH_DIR        data folder (default /tmp/geo-discovery-bench)
#   GEO_DISCOVERY_BENCH_PG_PORT    PostgreSQL's port (default 54329)
#   GEO_DISCOVERY_BENCH_REDIS_PORT Redis's port (default 63799)
# The benchmark reaches them through
#   GEO_DISCOVERY_BENCH_PG_DSN    (default host=127.0.0.1 port=$GEO_DISCOVERY_BENCH_PG_PORT user=postgres dbname=geo_discovery_bench)
#   GEO_DISCOVERY_BENCH_REDIS_URL (default redis://127.0.0.1:$GEO_DISCOVERY_BENCH_REDIS_PORT/0)
# (so setting the ports for both is enough) and reports them as skipped, with the reason,
# when they are not reachable.
# initdb refuses to run as root: as root the cluster belongs to the `postgres` user.
set -euo pipefail

BENCH_DIR="${GEO_DISCOVERY_BENCH_DIR:-/tmp/geo-discovery-bench}"
PG_PORT="${GEO_DISCOVERY_BENCH_PG_PORT:-54329}"
REDIS_PORT="${GEO_DISCOVERY_BENCH_REDIS_PORT:-63799}"
PG_DB="geo_discovery_bench"
PGDATA="$BENCH_DIR/pg"
PG_SOCK="$BENCH_DIR/pg-socket"

log() { echo "servers.sh: $*" >&2; }

pg_bin() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
    done
    command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" && return 0
    return 1
}

# Run a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" = "0" ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

do_install() {
    local need=()
    [ -n "$(ls /usr/share/postgresql/*/extension/postgis.control 2>/dev/null)" ] \
        || need+=(postgresql-15-postgis-3)
    command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
    if [ "${#need[@]}" = 0 ]; then
        log "packages present"
        return 0
    fi
    if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
        log "missing ${need[*]}; install them as root with apt-get"
        return 1
    fi
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null
}

pg_up() {
    local bin
    bin="$(pg_bin)" || return 1
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null
}

redis_up() {
    command -v redis-cli >/dev/null 2>&1 \
        && [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
}

start_pg() {
    local bin
    if pg_up; then
        log "postgres already up on 127.0.0.1:$PG_PORT"
    else
        bin="$(pg_bin)" || { log "PostgreSQL is not installed (run: $0 install)"; return 1; }
        mkdir -p "$BENCH_DIR"
        chmod 755 "$BENCH_DIR"
        if [ ! -s "$PGDATA/PG_VERSION" ]; then
            rm -rf "$PGDATA"
            mkdir -p "$PGDATA"
            [ "$(id -u)" = "0" ] && chown postgres:postgres "$PGDATA"
            log "initdb $PGDATA"
            as_owner "$bin/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 \
                --locale=C.UTF-8 >"$BENCH_DIR/initdb.log" 2>&1 \
                || { cat "$BENCH_DIR/initdb.log" >&2; return 1; }
        fi
        mkdir -p "$PG_SOCK"
        [ "$(id -u)" = "0" ] && chown postgres:postgres "$PG_SOCK"
        touch "$BENCH_DIR/pg.log"
        [ "$(id -u)" = "0" ] && chown postgres:postgres "$BENCH_DIR/pg.log"
        log "starting postgres on 127.0.0.1:$PG_PORT"
        as_owner "$bin/pg_ctl" -D "$PGDATA" -l "$BENCH_DIR/pg.log" -w -t 60 start -o \
            "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_SOCK -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c jit=off \
             -c max_parallel_workers_per_gather=0 -c shared_buffers=256MB \
             -c maintenance_work_mem=256MB" >/dev/null \
            || { tail -20 "$BENCH_DIR/pg.log" >&2; return 1; }
    fi
    bin="$(pg_bin)"
    if ! "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAq \
        -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
        "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -q \
            -c "CREATE DATABASE $PG_DB" >/dev/null
    fi
    PGOPTIONS="--client-min-messages=warning" "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" \
        -U postgres -d "$PG_DB" -q -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
    log "postgres ready: host=127.0.0.1 port=$PG_PORT user=postgres dbname=$PG_DB (PostGIS $(
        "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$PG_DB" -tA \
            -c 'SELECT postgis_lib_version()'))"
}

start_redis() {
    if redis_up; then
        log "redis already up on 127.0.0.1:$REDIS_PORT"
        return 0
    fi
    command -v redis-server >/dev/null 2>&1 || { log "redis-server is not installed (run: $0 install)"; return 1; }
    mkdir -p "$BENCH_DIR/redis"
    log "starting redis on 127.0.0.1:$REDIS_PORT"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
        --daemonize yes --dir "$BENCH_DIR/redis" --pidfile "$BENCH_DIR/redis/redis.pid" \
        --logfile "$BENCH_DIR/redis/redis.log" --protected-mode yes
    for _ in $(seq 50); do
        redis_up && { log "redis ready: redis://127.0.0.1:$REDIS_PORT/0"; return 0; }
        sleep 0.1
    done
    tail -20 "$BENCH_DIR/redis/redis.log" >&2
    return 1
}

stop_all() {
    local bin
    if bin="$(pg_bin)" && [ -s "$PGDATA/postmaster.pid" ]; then
        as_owner "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null && log "postgres stopped"
    fi
    if redis_up; then
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
        log "redis stopped"
    fi
}

status() {
    local rc=0
    if pg_up; then log "postgres: up on 127.0.0.1:$PG_PORT"; else log "postgres: down"; rc=1; fi
    if redis_up; then log "redis: up on 127.0.0.1:$REDIS_PORT"; else log "redis: down"; rc=1; fi
    return "$rc"
}

case "${1:-}" in
    install) do_install ;;
    start)
        rc=0
        start_pg || rc=1
        start_redis || rc=1
        exit "$rc"
        ;;
    stop) stop_all ;;
    status) status ;;
    clean)
        stop_all
        rm -rf "$BENCH_DIR"
        log "removed $BENCH_DIR"
        ;;
    *)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
