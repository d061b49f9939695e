#!/usr/bin/env bash
# make bench-hit: the cache-hit path against nginx's static module serving
# the very same bytes. Starts build/sbin/nginx with the module (2 workers) on
# a free 127.0.0.1 port, makes one thumbnail, copies its body into a static
# directory, then alternates timed rounds of keep-alive load on the
# thumbnail URL (every answer must say HIT) and on the static file, and
# prints requests/s and p50/p99 latency of both and their ratios.
# Knobs: PHOTOS, HIT_PHOTO, CONNECTIONS, DURATION (s per run), ROUNDS, RATE
# (requests/s of the latency phase), OPEN_FILE_CACHE (arguments of nginx's
# open_file_cache for both locations, e.g. "max=1000 inactive=60s"; unset:
# none, every request opens its file).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

photo=${HIT_PHOTO:-seeding.jpg}
connections=${CONNECTIONS:-8}
duration=${DURATION:-1.5}
rounds=${ROUNDS:-8}
rate=${RATE:-2000}

need_photos
need_module_build
need_packages curl
build_bench
[ -f "$PHOTOS/$photo" ] || die "no $PHOTOS/$photo (set HIT_PHOTO)"

root=$(pwd)
prefix="$root/build/bench/hit"
trap stop_all_nginx EXIT
fresh_prefix "$prefix"
mkdir -p "$prefix/static"
port=$("$BENCH_BIN/loadgen" free-port)
conf="$prefix/conf/nginx.conf"
{
    module_conf_head "$prefix"
    if [ -n "${OPEN_FILE_CACHE:-}" ]; then echo "    open_file_cache $OPEN_FILE_CACHE;"; fi
    cat <<CONF
    image_filter_rs_cache_path $prefix/cache keys_zone=thumbs:10m levels=1:2
                               max_size=1g inactive=7d;
    server {
        listen 127.0.0.1:$port;
        # As in nginx-conf/demo.conf.
        location /thumb/ {
            alias $PHOTOS/;
            image_filter_rs 350x350;
            image_filter_rs_cache thumbs;
            add_header X-Image-Filter-Cache \$image_filter_rs_cache_status always;
        }
        # The same body as a plain file. The literal header gives both
        # answers the same header bytes, so only the work differs.
        location /static/ {
            alias $prefix/static/;
            add_header X-Image-Filter-Cache HIT always;
        }
    }
}
CONF
} >"$conf"

start_nginx build/sbin/nginx "$prefix" "$conf" "$port"
base="http://127.0.0.1:$port"

# Warm the cache: the first answer is made (MISS), the second must be a HIT.
status1=$(curl -fsS -o /dev/null -D - "$base/thumb/$photo" | tr -d '\r' | sed -n 's/^X-Image-Filter-Cache: //Ip')
curl -fsS -D "$prefix/thumb.headers" -o "$prefix/static/$photo" "$base/thumb/$photo"
status2=$(tr -d '\r' <"$prefix/thumb.headers" | sed -n 's/^X-Image-Filter-Cache: //Ip')
[ "$status2" = HIT ] || die "second request was not a HIT (first: $status1, second: $status2)"
curl -fsS -D "$prefix/static.headers" -o "$prefix/static.body" "$base/static/$photo"
cmp -s "$prefix/static/$photo" "$prefix/static.body" || die "static body differs from the thumbnail"

echo "hit path vs static file: $photo -> $(stat -c %s "$prefix/static/$photo") bytes, 127.0.0.1:$port,"
echo "nginx $(build/sbin/nginx -v 2>&1 | sed 's/.*: //'), 2 workers, access log off, keep-alive connections,"
echo "$rounds rounds per phase, static and hit alternating; warm-up: $status1 then $status2"
echo "open_file_cache: ${OPEN_FILE_CACHE:-off}"
echo "machine load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
echo "response header bytes: thumbnail $(wc -c <"$prefix/thumb.headers"), static $(wc -c <"$prefix/static.headers")"
echo

# Warm-up rounds (not counted): page cache, worker memory, TCP.
for path in "/thumb/$photo" "/static/$photo"; do
    "$BENCH_BIN/loadgen" run --port "$port" --connections "$connections" --duration 1 "$path" >/dev/null
done

# measure TARGET ARGS...: one loadgen run against the hit or the static URL;
# sets LINE (loadgen's result) and CPU_US (worker CPU per request, us).
measure() {
    local target=$1 before after
    shift
    local args=(--port "$port" --label "$target" "$@")
    if [ "$target" = hit ]; then
        args+=(--expect-header "X-Image-Filter-Cache: HIT" "/thumb/$photo")
    else
        args+=("/static/$photo")
    fi
    before=$(cpu_ns "$LAST_NGINX_PID")
    LINE=$("$BENCH_BIN/loadgen" run "${args[@]}")
    after=$(cpu_ns "$LAST_NGINX_PID")
    CPU_US=$(awk -v d=$((after - before)) -v n="$(field requests "$LINE")" 'BEGIN { printf "%.2f\n", n ? d / n / 1000 : 0 }')
    local errs=$(($(field errors "$LINE") + $(field unexpected "$LINE")))
    [ "$errs" -eq 0 ] || die "$target: $errs failed or non-HIT answers"
}

# phase NAME LOADGEN-ARGS...: alternating rounds of static and hit; prints
# a row per run and leaves per-round hit/static ratios in R_RPS, R_P99, R_CPU
# and per-target medians in MED_* (static) and MEH_* (hit).
phase() {
    local name=$1 i target order
    shift
    local -a h_rps=() h_p50=() h_p99=() h_cpu=() s_rps=() s_p50=() s_p99=() s_cpu=()
    R_RPS=() R_P99=() R_CPU=()
    echo "$name"
    printf '%-7s %-5s | %10s %9s %9s %9s | %10s | %8s\n' target round "req/s" "p50 ms" "p99 ms" "max ms" "CPU us/req" requests
    printf '%s\n' "-------------------------------------------------------------------------------------"
    for ((i = 1; i <= rounds; i++)); do
        # Alternate which target goes first, so a drifting machine load
        # does not always favour the same one.
        if ((i % 2)); then order="static hit"; else order="hit static"; fi
        for target in $order; do
            measure "$target" "$@"
            printf '%-7s %-5s | %10s %9s %9s %9s | %10s | %8s\n' "$target" "$i" "$(field rps "$LINE")" \
                "$(field p50_ms "$LINE")" "$(field p99_ms "$LINE")" "$(field max_ms "$LINE")" \
                "$CPU_US" "$(field requests "$LINE")"
            if [ "$target" = hit ]; then
                h_rps+=("$(field rps "$LINE")"); h_p50+=("$(field p50_ms "$LINE")")
                h_p99+=("$(field p99_ms "$LINE")"); h_cpu+=("$CPU_US")
            else
                s_rps+=("$(field rps "$LINE")"); s_p50+=("$(field p50_ms "$LINE")")
                s_p99+=("$(field p99_ms "$LINE")"); s_cpu+=("$CPU_US")
            fi
        done
        # The ratio within a round compares two runs seconds apart: far
        # less exposed to the machine's drift than a ratio of medians.
        R_RPS+=("$(ratio "${h_rps[-1]}" "${s_rps[-1]}")")
        R_P99+=("$(ratio "${h_p99[-1]}" "${s_p99[-1]}")")
        R_CPU+=("$(ratio "${h_cpu[-1]}" "${s_cpu[-1]}")")
    done
    MED_RPS=$(median "${s_rps[@]}"); MED_P50=$(median "${s_p50[@]}"); MED_P99=$(median "${s_p99[@]}"); MED_CPU=$(median "${s_cpu[@]}")
    MEH_RPS=$(median "${h_rps[@]}"); MEH_P50=$(median "${h_p50[@]}"); MEH_P99=$(median "${h_p99[@]}"); MEH_CPU=$(median "${h_cpu[@]}")
    echo
    printf '%-28s | %10s %9s %9s | %10s\n' "medians over rounds" "req/s" "p50 ms" "p99 ms" "CPU us/req"
    printf '%-28s | %10s %9s %9s | %10s\n' "static file" "$MED_RPS" "$MED_P50" "$MED_P99" "$MED_CPU"
    printf '%-28s | %10s %9s %9s | %10s\n' "thumbnail hit" "$MEH_RPS" "$MEH_P50" "$MEH_P99" "$MEH_CPU"
    printf '%-28s | %10s %9s %9s | %10s\n' "hit/static, median of rounds" "$(median "${R_RPS[@]}")" "" \
        "$(median "${R_P99[@]}")" "$(median "${R_CPU[@]}")"
    echo "per-round hit/static: req/s ${R_RPS[*]}; p99 ${R_P99[*]}; CPU/req ${R_CPU[*]}"
    echo
}

# Throughput: closed loop, every connection sends again as soon as it has
# its answer, so the workers (or the machine) are the limit.
phase "throughput: $connections connections, closed loop, ${duration}s per run" \
    --connections "$connections" --duration "$duration"
tp_rps=$(median "${R_RPS[@]}"); tp_cpu=$(median "${R_CPU[@]}")

# Latency: a fixed, moderate request rate (latency counted from the
# scheduled send time), so p99 reflects the work per request and stalls,
# not the queue a saturating client builds.
phase "latency: $rate requests/s over 4 connections, paced, ${duration}s per run" \
    --connections 4 --rate "$(awk -v r="$rate" 'BEGIN { print r / 4 }')" --duration "$duration"
lat_p99=$(median "${R_P99[@]}")

echo "targets (medians of the per-round hit/static ratios):"
echo "  [$(verdict 'a >= 0.95' "$tp_rps" 0)] hit throughput >= 0.95 x static: $tp_rps" \
    "(worker CPU per request, hit/static: $tp_cpu, i.e. $(ratio 1 "$tp_cpu") x static's throughput where CPU is the limit)"
echo "  [$(verdict 'a <= 1.2' "$lat_p99" 0)] hit p99 <= 1.2 x static p99 (paced): $lat_p99"
