# shellcheck shell=bash
# Starts and stops the private services of scripts/test, all on 127.0.0.1, all inside
# $TEST_TMP. Sourced, never run. Needs common.sh and install.sh (pg_bindir).
#
# State kept for teardown: REDIS_PIDS (redis-server processes we started), PG_DATA and
# PG_BIN (set once initdb has run), TEST_TMP (removed last).

REDIS_PIDS=()
PG_DATA=""
PG_BIN=""

# `pick_ports N`: prints N distinct free loopback ports. Each one's Redis Cluster bus
# port (port + 10000) is free too. Ports come from 15000-21999, below the kernel's
# ephemeral range (32768+), so an outgoing connection cannot take one before its
# server binds it; the bus ports (25000-31999) stay below it as well.
pick_ports() {
    python3 - "$1" <<'EOF'
import random, socket, sys

def bind(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return s
    except OSError:
        s.close()
        return None

wanted, held, ports = int(sys.argv[1]), [], []
candidates = random.sample(range(15000, 22000), 7000)
for port in candidates:
    if len(ports) == wanted:
        break
    a = bind(port)
    if a is None:
        continue
    b = bind(port + 10000)
    if b is None:
        a.close()
        continue
    held += [a, b]  # keep them bound so later picks cannot collide with them
    ports.append(port)
if len(ports) < wanted:
    sys.exit("no free loopback ports in 15000-21999")
print(" ".join(map(str, ports)))
EOF
}

redis_ready() { [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }

# `start_redis PORT [EXTRA ARGS...]`: a redis-server in the background, no persistence.
start_redis() {
    local port=$1
    shift
    local dir=$TEST_TMP/redis-$port
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize no \
        --save '' --appendonly no --dir "$dir" --logfile "$dir/redis.log" "$@" \
        </dev/null >/dev/null 2>&1 &
    local pid=$!
    REDIS_PIDS+=("$pid")
    local tries=75
    until redis_ready "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            err "redis-server on 127.0.0.1:$port exited at start-up"
            show_log "$dir/redis.log" 30
            return 1
        fi
        if ((tries-- <= 0)); then
            err "redis-server on 127.0.0.1:$port did not answer PING within 15 s"
            show_log "$dir/redis.log" 30
            return 1
        fi
        sleep 0.2
    done
}

cluster_ok() {
    local port
    for port in "$@"; do
        redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    done
}

# `start_redis_cluster P1 P2 P3`: three masters, no replicas, slots spread over them.
start_redis_cluster() {
    local port nodes=()
    for port in "$@"; do
        start_redis "$port" --cluster-enabled yes \
            --cluster-config-file "$TEST_TMP/nodes-$port.conf" \
            --cluster-node-timeout 5000 || return 1
        nodes+=("127.0.0.1:$port")
    done
    local log=$TEST_TMP/redis-cluster-create.log
    if ! redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
        </dev/null >"$log" 2>&1; then
        err "redis-cli --cluster create ${nodes[*]} failed"
        show_log "$log" 40
        return 1
    fi
    if ! wait_until 30 cluster_ok "$@"; then
        err "Redis Cluster on ${nodes[*]} did not reach cluster_state:ok within 30 s"
        redis-cli -h 127.0.0.1 -p "$1" cluster info >&2 || true
        return 1
    fi
}

# Runs a command as the postgres OS user (PostgreSQL refuses to run as root), or as
# ourselves when we are not root.
as_postgres() {
    if [[ $EUID -ne 0 ]]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
    fi
}

# `start_postgres PORT`: a private cluster in $TEST_TMP/pg, trust auth, database twostep_test.
start_postgres() {
    local port=$1
    PG_BIN=$(pg_bindir)
    if [[ -z $PG_BIN ]]; then
        err "PostgreSQL: no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
        return 1
    fi
    if [[ $EUID -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
            --shell /bin/bash postgres
    fi
    local root=$TEST_TMP/pg
    mkdir -p "$root/sock"
    if [[ $EUID -eq 0 ]]; then
        chown -R postgres: "$root"
    fi
    local data=$root/data
    if ! as_postgres "$PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C \
        --no-sync >"$TEST_TMP/initdb.log" 2>&1; then
        err "PostgreSQL: initdb failed"
        show_log "$TEST_TMP/initdb.log" 30
        return 1
    fi
    PG_DATA=$data
    local opts="-p $port -k $root/sock -c listen_addresses=127.0.0.1 -c fsync=off"
    opts+=" -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    if ! as_postgres "$PG_BIN/pg_ctl" -D "$data" -l "$root/postgres.log" -w -t 30 \
        -o "$opts" start >"$TEST_TMP/pg_ctl.log" 2>&1; then
        err "PostgreSQL on 127.0.0.1:$port did not start"
        show_log "$TEST_TMP/pg_ctl.log" 20
        show_log "$root/postgres.log" 30
        return 1
    fi
    if ! wait_until 30 "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
        err "PostgreSQL on 127.0.0.1:$port not ready (pg_isready) within 30 s"
        show_log "$root/postgres.log" 30
        return 1
    fi
    if ! "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres twostep_test \
        >"$TEST_TMP/createdb.log" 2>&1; then
        err "PostgreSQL: createdb twostep_test failed"
        show_log "$TEST_TMP/createdb.log" 20
        return 1
    fi
}

# `start_services`: everything, then the TWOSTEP_TEST_* variables exported.
start_services() {
    local ports
    ports=$(pick_ports 5) || {
        err "could not pick free loopback ports"
        return 1
    }
    local redis c1 c2 c3 pg
    read -r redis c1 c2 c3 pg <<<"$ports"

    start_redis "$redis" || return 1
    start_redis_cluster "$c1" "$c2" "$c3" || return 1
    start_postgres "$pg" || return 1

    export TWOSTEP_TEST_REDIS_URL="redis://127.0.0.1:$redis"
    export TWOSTEP_TEST_REDIS_CLUSTER_URL="redis+cluster://127.0.0.1:$c1,127.0.0.1:$c2,127.0.0.1:$c3"
    export TWOSTEP_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg/twostep_test"
    export TWOSTEP_TEST_PG_ADMIN_URL="postgres://postgres@127.0.0.1:$pg/postgres"
    TWOSTEP_TEST_REDIS_SERVER=$(command -v redis-server)
    export TWOSTEP_TEST_REDIS_SERVER
    header "services: redis 127.0.0.1:$redis, redis cluster 127.0.0.1:$c1,$c2,$c3, postgres 127.0.0.1:$pg"
}

# Stops everything we started and removes $TEST_TMP. Prints nothing; never fails.
stop_services() {
    if [[ -n $PG_DATA && -n $PG_BIN && -f $PG_DATA/postmaster.pid ]]; then
        local postmaster
        postmaster=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
        as_postgres "$PG_BIN/pg_ctl" -D "$PG_DATA" stop -m immediate -w -t 20 >/dev/null 2>&1 || true
        # pg_ctl returns once the pid file is gone; give init a moment to reap the
        # postmaster too, so no process of ours outlives the script.
        local tries=30
        while [[ $postmaster =~ ^[0-9]+$ && -e /proc/$postmaster ]] && ((tries-- > 0)); do
            sleep 0.1
        done
    fi
    local pid
    for pid in "${REDIS_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    local tries=50
    for pid in "${REDIS_PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((tries-- > 0)); do
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    REDIS_PIDS=()
    if [[ -n ${TEST_TMP:-} && -d $TEST_TMP ]]; then
        rm -rf "$TEST_TMP" 2>/dev/null || true
    fi
}
