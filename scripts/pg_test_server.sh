#!/usr/bin/env bash
# pg_test_server.sh - a throwaway PostgreSQL server for the store tests.
#
#   scripts/pg_test_server.sh start      initdb into a new temporary folder, start the server on
#                                        a free loopback port, print its URL on stdout
#   scripts/pg_test_server.sh stop URL   stop that server and delete its folder
#
# The server runs as the `postgres` user when started by root (initdb refuses root), else as the
# caller; it listens on 127.0.0.1 only, trusts local connections (nothing but the tests can reach
# it), and runs without fsync (its data is thrown away).  Its folder is /tmp/visage-pg.PORT, so
# `stop` finds it from the URL alone.  Binaries: $PG_BIN, else Debian's newest
# /usr/lib/postgresql/*/bin (package postgresql-15).  Messages go to stderr; exit status 1 with
# the reason when the server cannot start.
set -euo pipefail

die() {
    echo "pg_test_server: $*" >&2
    exit 1
}

find_bin() {
    local d=${PG_BIN:-}
    [ -n "$d" ] || d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    if [ ! -x "$d/initdb" ]; then
        die "no PostgreSQL server binaries (apt-get install postgresql-15)"
    fi
    echo "$d"
}

# Runs a command as the server's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    local bin dir port tries
    bin=$(find_bin)
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "no postgres user (the postgresql package makes it)"
    fi
    for tries in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 20000))
        port_in_use "$port" && continue
        dir=/tmp/visage-pg.$port
        mkdir -m 0700 "$dir" 2>/dev/null || continue # taken by another run
        [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
        if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C \
            --no-sync >"$dir/initdb.log" 2>&1; then
            cat "$dir/initdb.log" >&2
            rm -rf "$dir"
            die "initdb failed"
        fi
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir \
                -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                -c max_connections=60 -c shared_buffers=16MB" start >/dev/null 2>&1; then
            echo "postgresql://postgres@127.0.0.1:$port/postgres"
            return 0
        fi
        # Most likely the port was taken between the check and the bind: try another.
        tail -n 5 "$dir/server.log" >&2 2>/dev/null || true
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$dir"
    done
    die "could not start a server after $tries tries"
}

stop() {
    local url=${1:-} port dir bin
    port=$(printf '%s' "$url" | sed -n 's|.*:\([0-9][0-9]*\)/.*|\1|p')
    [ -n "$port" ] || die "usage: pg_test_server.sh stop postgresql://...:PORT/db"
    dir=/tmp/visage-pg.$port
    [ -d "$dir/data" ] || die "no test server folder $dir"
    bin=$(find_bin)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*)
    echo "usage: scripts/pg_test_server.sh start | stop URL" >&2
    exit 2
    ;;
esac
