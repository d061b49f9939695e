#!/usr/bin/env bash
# make bench-cluster: the cluster recipe of nginx-conf/cluster/ on this one
# machine, in three comparisons, each measured in the same run:
#  (a) cold throughput: every photo at 25 widths, each asked once (so each
#      a generation), by CONNECTIONS clients: one node alone against three
#      nodes behind the front (hash $request_uri consistent, as the recipe),
#      and against the same with the front hashing the original's path
#      ($uri: every width of a photo on one node, so its decode is shared);
#  (b) hit throughput: the same URLs again, every answer a HIT, closed
#      loop, one node alone against the three behind the front, with the
#      CPU all the nginx processes spend per request;
#  (c) the hit path through the front against the front serving a static
#      file of the same bytes (the front's own cost of proxying).
# On one machine the nodes share its cores, so (a) and (b) show what the
# extra hop costs, not what more machines bring (README, "Running several
# nodes"). Every nginx runs 2 workers on its own free 127.0.0.1 port and
# prefix under build/bench/cluster, with fresh caches each round, and is
# stopped by PID on exit.
# Knobs: PHOTOS, COLD_PHOTOS (names in PHOTOS; default every *.jpg),
# CONNECTIONS, DURATION (s of each hit run), ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

connections=${CONNECTIONS:-8}
duration=${DURATION:-3}
rounds=${ROUNDS:-3}
nodes=3
# nginx-conf/cluster/node.conf's widths.
widths=()
for ((w = 100; w <= 580; w += 20)); do widths+=("$w"); done

need_photos
need_module_build
need_packages curl
build_bench
if [ -n "${COLD_PHOTOS:-}" ]; then
    read -ra photos <<<"$COLD_PHOTOS"
else
    photos=()
    for f in "$PHOTOS"/*.jpg; do photos+=("$(basename "$f")"); done
fi
[ ${#photos[@]} -gt 0 ] || die "no photos in $PHOTOS (set COLD_PHOTOS)"
for p in "${photos[@]}"; do [ -f "$PHOTOS/$p" ] || die "no $PHOTOS/$p"; done

root=$(pwd)
base_dir="$root/build/bench/cluster"
trap stop_all_nginx EXIT
mkdir -p "$base_dir"

# Every rendition URL once, in an order shuffled once (fixed seed) and used
# by both set-ups: a photo's widths are not asked one after the other, so
# neither set-up gets its decode cache handed an easy order.
mapfile -t urls < <(
    for p in "${photos[@]}"; do for w in "${widths[@]}"; do echo "/t/$p?w=$w"; done; done |
        shuf --random-source=<(yes cluster)
)

# node_conf PREFIX PORT: a thumbnail node as nginx-conf/cluster/node.conf,
# with the benchmarks' common lines (access log off).
node_conf() {
    local prefix=$1 port=$2
    module_conf_head "$prefix"
    cat <<CONF
    image_filter_rs_cache_path $prefix/cache keys_zone=thumbs:10m levels=1:2
                               max_size=10g inactive=30d;
    server {
        listen 127.0.0.1:$port;
        location = /thumbnail-status { image_filter_rs_status; }
        location /t/ {
            alias $PHOTOS/;
            image_filter_rs query;
            image_filter_rs_sizes $(printf '%sx- ' "${widths[@]}");
            image_filter_rs_cache thumbs;
            add_header X-Image-Filter-Cache \$image_filter_rs_cache_status always;
            add_header X-Thumbnail-Node \$hostname:\$server_port always;
        }
    }
}
CONF
}

# front_conf PREFIX PORT KEY NODE_PORT...: the front as
# nginx-conf/cluster/front.conf (no module) hashing KEY, plus /static/ for
# part (c).
front_conf() {
    local prefix=$1 port=$2 key=$3 node
    shift 3
    nginx_main_conf "$prefix"
    echo "http {"
    nginx_http_common "$prefix"
    echo "    upstream thumbnails {"
    echo "        zone thumbnails 64k;"
    echo "        hash $key consistent;"
    for node in "$@"; do echo "        server 127.0.0.1:$node max_fails=1 fail_timeout=5s;"; done
    echo "        keepalive 32;"
    echo "    }"
    cat <<CONF
    server {
        listen 127.0.0.1:$port;
        location /t/ {
            proxy_pass http://thumbnails;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_timeout 35s;
        }
        # The same bytes as a hit, with the headers a node adds, so only
        # the work differs.
        location /static/ {
            alias $prefix/static/;
            add_header X-Image-Filter-Cache HIT always;
            add_header X-Thumbnail-Node static always;
        }
    }
}
CONF
}

# start_one NAME GENERATOR [ARGS...]: a fresh prefix, a port, nginx; sets
# PORT_<NAME> and PID_<NAME>.
start_one() {
    local name=$1 gen=$2 prefix="$base_dir/$1" port
    shift 2
    fresh_prefix "$prefix"
    mkdir -p "$prefix/static"
    port=$("$BENCH_BIN/loadgen" free-port)
    "$gen" "$prefix" "$port" "$@" >"$prefix/conf/nginx.conf"
    start_nginx build/sbin/nginx "$prefix" "$prefix/conf/nginx.conf" "$port"
    printf -v "PORT_$name" '%s' "$port"
    printf -v "PID_$name" '%s' "$LAST_NGINX_PID"
}

# Set-ups, fresh each round (empty caches): "single" is one node asked
# directly; "cluster" is three nodes and the front, asked at the front;
# "bypath" the same with the front hashing $uri.
start_single() {
    start_one single node_conf
    ENTRY=$PORT_single
    PIDS=("$PID_single")
    NODE_PORTS=("$PORT_single")
}
start_cluster() { start_nodes_and_front '$request_uri'; }
start_bypath() { start_nodes_and_front '$uri'; }
start_nodes_and_front() {
    local key=$1 i
    NODE_PORTS=()
    PIDS=()
    for ((i = 1; i <= nodes; i++)); do
        start_one "node$i" node_conf
        local p="PORT_node$i" q="PID_node$i"
        NODE_PORTS+=("${!p}")
        PIDS+=("${!q}")
    done
    start_one front front_conf "$key" "${NODE_PORTS[@]}"
    ENTRY=$PORT_front
    PIDS+=("$PID_front")
}
stop_setup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_nginx "$pid"; done
}

# generated_total: the nodes' generated counters, summed.
generated_total() {
    local port total=0 n
    for port in "${NODE_PORTS[@]}"; do
        n=$(curl -fsS "http://127.0.0.1:$port/thumbnail-status" | grep -o '"generated":[0-9]*' | cut -d: -f2)
        total=$((total + n))
    done
    echo "$total"
}

cpu_total() {
    local pid total=0
    for pid in "${PIDS[@]}"; do total=$((total + $(cpu_ns "$pid"))); done
    echo "$total"
}

# load LABEL ARGS...: one loadgen run at the set-up's entry port; sets LINE
# and CPU_US (CPU of every nginx of the set-up per answer, us).
load() {
    local label=$1 before after errs
    shift
    before=$(cpu_total)
    LINE=$("$BENCH_BIN/loadgen" run --port "$ENTRY" --label "$label" --connections "$connections" "$@")
    after=$(cpu_total)
    CPU_US=$(awk -v d=$((after - before)) -v n="$(field requests "$LINE")" 'BEGIN { printf "%.1f\n", n ? d / n / 1000 : 0 }')
    errs=$(($(field errors "$LINE") + $(field unexpected "$LINE") + $(field refused "$LINE")))
    [ "$errs" -eq 0 ] || die "$label: $errs failed, refused or unexpected answers ($LINE)"
}

# measure SETUP: cold then hit on a fresh set-up; appends to COLD_<SETUP>,
# HIT_<SETUP>, HITCPU_<SETUP>, and for the cluster FRONTHIT, STATIC and
# their CPU.
measure() {
    local setup=$1 made
    "start_$setup"
    load "$setup-cold" --order shared --max-requests "${#urls[@]}" --duration 600 "${urls[@]}"
    made=$(generated_total)
    [ "$made" -eq "${#urls[@]}" ] ||
        die "$setup: the nodes made $made renditions for ${#urls[@]} distinct URLs"
    printf '%-8s cold   %8s req/s  %9s us CPU/req  p99 %8s ms  (%s renditions, each made once)\n' \
        "$setup" "$(field rps "$LINE")" "$CPU_US" "$(field p99_ms "$LINE")" "$made"
    eval "COLD_$setup+=(\"$(field rps "$LINE")\")"
    eval "COLDCPU_$setup+=(\"$CPU_US\")"
    load "$setup-hit" --duration "$duration" --expect-header "X-Image-Filter-Cache: HIT" "${urls[@]}"
    printf '%-8s hit    %8s req/s  %9s us CPU/req  p99 %8s ms\n' \
        "$setup" "$(field rps "$LINE")" "$CPU_US" "$(field p99_ms "$LINE")"
    eval "HIT_$setup+=(\"$(field rps "$LINE")\")"
    eval "HITCPU_$setup+=(\"$CPU_US\")"
    if [ "$setup" = cluster ]; then
        # (c): one rendition through the front, and its bytes as a file
        # the front serves itself.
        local one=${urls[0]} static_name=one.jpg
        curl -fsS -o "$base_dir/front/static/$static_name" "http://127.0.0.1:$ENTRY$one"
        local s_rps s_cpu
        load front-static --duration "$duration" "/static/$static_name"
        s_rps=$(field rps "$LINE")
        s_cpu=$CPU_US
        load front-hit --duration "$duration" --expect-header "X-Image-Filter-Cache: HIT" "$one"
        printf '%-8s front: static %8s req/s %7s us/req | hit via front %8s req/s %7s us/req  (%s, %s bytes)\n' \
            "" "$s_rps" "$s_cpu" "$(field rps "$LINE")" "$CPU_US" "$one" \
            "$(stat -c %s "$base_dir/front/static/$static_name")"
        STATIC+=("$s_rps")
        STATICCPU+=("$s_cpu")
        FRONTHIT+=("$(field rps "$LINE")")
        FRONTHITCPU+=("$CPU_US")
    fi
    stop_setup
}

setups=(single cluster bypath)
for setup in "${setups[@]}"; do
    eval "COLD_$setup=() COLDCPU_$setup=() HIT_$setup=() HITCPU_$setup=()"
done
STATIC=() STATICCPU=() FRONTHIT=() FRONTHITCPU=()

echo "cluster recipe on one machine: $(build/sbin/nginx -v 2>&1 | sed 's/.*: //'), 2 workers per nginx,"
echo "single = 1 node asked directly; cluster = $nodes nodes behind a front (hash \$request_uri consistent);"
echo "bypath = the same cluster, the front hashing \$uri (the original's path)"
echo "${#urls[@]} renditions (${#photos[@]} photos from $PHOTOS x ${#widths[@]} widths), $connections connections,"
echo "hit runs ${duration}s, $rounds rounds alternating; load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
echo
for ((r = 1; r <= rounds; r++)); do
    echo "round $r"
    # Rotate which set-up goes first, so a drifting machine load does not
    # always favour the same one.
    for ((i = 0; i < ${#setups[@]}; i++)); do
        measure "${setups[$(((r + i) % ${#setups[@]}))]}"
    done
done

# Medians over rounds, then the ratios against the single node.
med() { local -n arr=$1; median "${arr[@]}"; }
echo
echo "medians of $rounds rounds (ratio: against single)"
printf '%-36s %10s %10s %7s %10s %7s\n' "" single cluster ratio bypath ratio
row() {
    local what=$1 kind=$2 s c b
    s=$(med "${kind}_single") c=$(med "${kind}_cluster") b=$(med "${kind}_bypath")
    printf '%-36s %10s %10s %7s %10s %7s\n' "$what" "$s" "$c" "$(ratio "$c" "$s")" "$b" "$(ratio "$b" "$s")"
}
row "cold renditions/s" COLD
row "CPU us per cold rendition, all nginx" COLDCPU
row "hits/s" HIT
row "CPU us per hit, all nginx" HITCPU
st=$(median "${STATIC[@]}") fh=$(median "${FRONTHIT[@]}")
st_cpu=$(median "${STATICCPU[@]}") fh_cpu=$(median "${FRONTHITCPU[@]}")
printf '%-36s %10s %10s %7s\n' "the front alone" static "hit" "ratio"
printf '%-36s %10s %10s %7s\n' "req/s" "$st" "$fh" "$(ratio "$fh" "$st")"
printf '%-36s %10s %10s %7s\n' "CPU us per request, all nginx" "$st_cpu" "$fh_cpu" "$(ratio "$fh_cpu" "$st_cpu")"
echo
echo "On one machine the three nodes share its $(nproc) cores with the front: these ratios are the"
echo "cost of the extra hop, not the gain of more machines (README, \"Running several nodes\")."
