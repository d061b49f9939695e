# Shared helpers for the bench/*.sh scripts (sourced, not run): where things
# are, installing what is missing, building the bench binaries, starting and
# stopping nginx by PID, and waiting for its port without guessing sleeps.
# Paths are relative to the repository root; the scripts cd there first.

# The photos the benchmarks use; ../shared/photos is where the project's
# shared test data lives beside the checkout.
PHOTOS=${PHOTOS:-../shared/photos}
# The bench binaries build here; set BENCH_TARGET_DIR to keep them apart
# from the workspace's own target directory.
BENCH_TARGET_DIR=${BENCH_TARGET_DIR:-target}
BENCH_BIN="$BENCH_TARGET_DIR/release"

die() {
    echo "bench: $*" >&2
    exit 1
}

# need_packages PKG...: installs the missing Debian packages when root,
# otherwise prints the apt-get line and stops (as tools/deps.sh does).
need_packages() {
    local missing=() p status
    for p in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "installing: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        die "missing Debian packages; run: sudo apt-get install -y ${missing[*]}"
    fi
}

# build_bench: the release build of the bench crate (pipeline, loadgen).
build_bench() {
    cargo build --release --quiet -p image-filter-rs-bench --target-dir "$BENCH_TARGET_DIR"
    if [ ! -x "$BENCH_BIN/pipeline" ] || [ ! -x "$BENCH_BIN/loadgen" ]; then
        die "bench binaries missing in $BENCH_BIN"
    fi
}

# need_photos: the photo directory must exist and hold photos.
need_photos() {
    [ -d "$PHOTOS" ] || die "no photo directory $PHOTOS (set PHOTOS=DIR; the project's is ../shared/photos)"
    PHOTOS=$(cd "$PHOTOS" && pwd)
}

# need_module_build: the artefacts of `make build`.
need_module_build() {
    if [ ! -x build/sbin/nginx ] || [ ! -f build/modules/ngx_http_image_filter_rs_module.so ]; then
        die "build/sbin/nginx or the module is missing: run make build"
    fi
}

# Every nginx this script starts, by master PID, for the exit trap.
NGINX_PIDS=()

# start_nginx BINARY PREFIX CONF PORT: runs nginx in the foreground (daemon
# off) as a background job, so its PID is known without reading a pid file,
# then polls its port until it accepts or 10 s have passed.
start_nginx() {
    local bin=$1 prefix=$2 conf=$3 port=$4
    "$bin" -p "$prefix/" -e "$prefix/logs/error.log" -c "$conf" -t -q ||
        die "nginx -t failed for $conf"
    "$bin" -p "$prefix/" -e "$prefix/logs/error.log" -c "$conf" -g 'daemon off;' &
    local pid=$!
    NGINX_PIDS+=("$pid")
    if ! "$BENCH_BIN/loadgen" wait-port "$port" 10000; then
        tail -n 20 "$prefix/logs/error.log" >&2 || true
        die "nginx ($bin) did not open 127.0.0.1:$port"
    fi
    # For the caller (CPU accounting of this nginx's workers).
    # shellcheck disable=SC2034
    LAST_NGINX_PID=$pid
}

# stop_nginx PID: graceful stop, then wait so the port and CPU are free
# before the next measurement; KILL if it has not gone after 10 s.
stop_nginx() {
    local pid=$1 i
    kill -QUIT "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        # Polling a process that has been asked to exit: the 0.1 s step
        # bounds the wait, it does not guess readiness.
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_all_nginx() {
    local pid
    for pid in "${NGINX_PIDS[@]}"; do stop_nginx "$pid"; done
    NGINX_PIDS=()
}

# nginx_main_conf PREFIX: the top of a generated configuration shared by
# every nginx the benchmarks start (runs as root as tools/run-demo.sh does,
# so workers can read a checkout under a private home directory).
nginx_main_conf() {
    local prefix=$1
    if [ "$(id -u)" -eq 0 ]; then echo "user root;"; fi
    cat <<CONF
worker_processes 2;
pid $prefix/logs/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 1024; }
CONF
}

# module_conf_head PREFIX: the top of a configuration for the built nginx
# with our module, up to and including the opening of the http block and its
# shared lines; the caller adds its own http lines and the closing brace.
module_conf_head() {
    local prefix=$1
    echo "load_module $PWD/build/modules/ngx_http_image_filter_rs_module.so;"
    nginx_main_conf "$prefix"
    echo "http {"
    nginx_http_common "$prefix"
}

# nginx_http_common PREFIX: http-level lines every benchmark server shares.
# Access logs are off on every server alike: the benchmarks compare request
# paths, not log writing. Temp paths point into the prefix, since Debian's
# nginx defaults to /var/lib/nginx, which may not exist.
nginx_http_common() {
    local prefix=$1
    cat <<CONF
    types { image/jpeg jpg jpeg; image/png png; }
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
CONF
}

# fresh_prefix DIR: an empty runtime directory for one nginx.
fresh_prefix() {
    rm -rf "$1"
    mkdir -p "$1/logs" "$1/conf" "$1/tmp"
}

# field NAME LINE: the value of NAME=value in a loadgen result line.
field() {
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"
}

# median NUMBER...: the median (mean of the middle two for an even count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B with two decimals.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "inf"; else printf "%.2f\n", a / b }'
}

# verdict CONDITION-AS-AWK A B: "met" or "NOT met", e.g. verdict 'a >= 0.95 * b' 1 2.
verdict() {
    awk -v a="$2" -v b="$3" "BEGIN { if ($1) print \"met\"; else print \"NOT met\" }"
}

# process_cpu_ns PID...: CPU time (ns, user + system) used so far by each
# PID, summed, counting every thread it has had. The kernel's per-process
# total is read, not each live thread's: an encoder that starts worker
# threads for one image and joins them (libaom in Pillow does) leaves no
# task behind to read, and summing live threads missed about 45 % of
# thumbor's CPU for AVIF. Clock ticks (10 ms) are fine over a measured run.
process_cpu_ns() {
    local pid stat fields total=0 hz
    hz=$(getconf CLK_TCK)
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        # The command name may hold spaces: the fields after it start at
        # the state, so utime and stime are the 12th and 13th.
        read -r -a fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo $((total * 1000000000 / hz))
}

# cpu_ns MASTER_PID: CPU time (ns, user + system, all threads) used so far
# by the children of an nginx master, i.e. its workers and cache processes.
# Per-request CPU is a steadier measure of cost than requests/s on a shared
# machine, where throughput swings with whatever else runs.
cpu_ns() {
    # shellcheck disable=SC2046
    process_cpu_ns $(ps -o pid= --ppid "$1")
}
