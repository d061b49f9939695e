#!/usr/bin/env bash
# make bench-peers: our module against thumbor on the imgproxy benchmark's
# workload (imgproxy/image-servers-benchmark): JPEG originals of about 2 MP,
# fit into 512x512, JPEG q80, WebP q75 and AVIF q65 (libaom speed 8 on every
# side: the module's default), two keep-alive clients in a closed
# loop; cold (no result cache on either side, every request a new original)
# and warm (our cache; thumbor's file result storage). Rounds alternate the
# contestants. Besides, the in-process reference: our pipeline against pyvips
# `thumbnail_buffer` (libvips, imgproxy's engine) on the same originals, one
# thread each; and the outputs' DSSIM against a full-decode Lanczos3
# reference (bench/src/bin/quality.rs) with their bytes.
# Knobs: PHOTOS, ROUNDS (5), SECONDS (5: each warm run), ORIGINALS (300: a
# cold run is one pass over them), INPROC (100 originals per in-process
# run), QUALITY_IMAGES (30 originals compared by DSSIM).
set -euo pipefail
# SECONDS is bash's own clock, which starts from the environment's value:
# read it before anything else runs.
seconds=$SECONDS
[ "$seconds" -gt 0 ] || seconds=5
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

rounds=${ROUNDS:-5}
count=${ORIGINALS:-300}
inproc_count=${INPROC:-100}
quality_count=${QUALITY_IMAGES:-30}
size=512
jpeg_q=80
webp_q=75
avif_q=65
avif_speed=8

# quality_of FORMAT: the quality every contestant is asked for.
quality_of() {
    case $1 in
    jpeg) echo "$jpeg_q" ;;
    webp) echo "$webp_q" ;;
    avif) echo "$avif_q" ;;
    esac
}

need_photos
need_module_build
build_bench
[ -x "$BENCH_BIN/quality" ] || die "bench binary quality missing in $BENCH_BIN"

root=$(pwd)
work="$root/build/bench/peers"
venv="$root/build/bench/peers-venv"
mkdir -p "$work"

# thumbor 7.8 and pyvips (with its own libvips build) from PyPI, in a venv.
if ! "$venv/bin/python" -c 'import pyvips, thumbor; assert thumbor.__version__.startswith("7.8")' 2>/dev/null; then
    echo "installing thumbor 7.8 and pyvips[binary] into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "thumbor>=7.8,<7.9" "pyvips[binary]"
fi
thumbor_version=$("$venv/bin/python" -c 'import thumbor; print(thumbor.__version__)')
vips_version=$("$venv/bin/python" -c 'import pyvips; print(pyvips.version(0), pyvips.version(1), pyvips.version(2), sep=".")')

originals="$work/originals"
"$venv/bin/python" bench/peers.py originals "$PHOTOS" "$originals" "$count" >/dev/null
names=()
for ((i = 0; i < count; i++)); do names+=("$(printf 'orig-%04d.jpg' "$i")"); done

# --- servers ---------------------------------------------------------------

# Every thumbor this script starts, by PID (its forked workers are found
# from it), for the exit trap.
THUMBOR_PIDS=()

# tree_cpu_ns PID: CPU ns (all threads) of PID and its children: thumbor's
# parent and its forked processes.
tree_cpu_ns() {
    # shellcheck disable=SC2046
    process_cpu_ns "$1" $(ps -o pid= --ppid "$1")
}

# start_thumbor NAME RESULT_STORAGE(on|off): prints nothing, sets
# LAST_THUMBOR_PID and LAST_THUMBOR_PORT.
start_thumbor() {
    local name=$1 storage=$2 dir="$work/$1" port conf pid
    rm -rf "$dir"
    mkdir -p "$dir/results"
    port=$("$BENCH_BIN/loadgen" free-port)
    conf="$dir/thumbor.conf"
    {
        echo "LOADER = 'thumbor.loaders.file_loader'"
        echo "FILE_LOADER_ROOT_PATH = '$originals'"
        # No storage of originals: every request reads its file.
        echo "STORAGE = 'thumbor.storages.no_storage'"
        echo "ALLOW_UNSAFE_URL = True"
        echo "QUALITY = $jpeg_q"
        echo "AUTO_WEBP = False"
        # Pillow's AVIF through libaom at the module's speed.
        echo "AVIF_CODEC = 'aom'"
        echo "AVIF_SPEED = $avif_speed"
        echo "ENGINE_THREADPOOL_SIZE = 2"
        if [ "$storage" = on ]; then
            echo "RESULT_STORAGE = 'thumbor.result_storages.file_storage'"
            echo "RESULT_STORAGE_FILE_STORAGE_ROOT_PATH = '$dir/results'"
            echo "RESULT_STORAGE_STORES_UNSAFE = True"
            echo "RESULT_STORAGE_EXPIRATION_SECONDS = 0"
        fi
    } >"$conf"
    "$venv/bin/thumbor" -i 127.0.0.1 -p "$port" -c "$conf" -l error --processes 2 \
        >"$dir/thumbor.log" 2>&1 &
    pid=$!
    THUMBOR_PIDS+=("$pid")
    # Readiness: its port accepts, then its healthcheck answers (both within
    # a deadline; the workers import thumbor after the fork).
    "$BENCH_BIN/loadgen" wait-port "$port" 30000 || {
        tail -n 20 "$dir/thumbor.log" >&2
        die "thumbor ($name) did not open 127.0.0.1:$port"
    }
    local out
    out=$("$BENCH_BIN/loadgen" run --port "$port" --connections 2 --duration 30 \
        --max-requests 4 --label health /healthcheck)
    [ "$(field requests "$out")" = 4 ] && [ "$(field unexpected "$out")" = 0 ] ||
        die "thumbor ($name) is not healthy: $out"
    LAST_THUMBOR_PID=$pid
    LAST_THUMBOR_PORT=$port
}

# stop_thumbor PID: TERM to its forked workers and to it, then wait; KILL
# whatever is left after 10 s.
stop_thumbor() {
    local pid=$1 kids i
    kids=$(ps -o pid= --ppid "$pid" || true)
    # shellcheck disable=SC2086
    kill -TERM $kids "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1 # polling a process asked to exit, bounded
    done
    # shellcheck disable=SC2086
    kill -KILL $kids "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${THUMBOR_PIDS[@]}"; do stop_thumbor "$pid"; done
    THUMBOR_PIDS=()
    stop_all_nginx
}
trap cleanup EXIT

# Our nginx: the README's setup (implicit default thread pool, 2 workers),
# one location per cell; cold ones without cache, warm ones with it.

# ours_locations FORMAT: the cold and the warm location of one format.
ours_locations() {
    local fmt=$1 quality
    quality="image_filter_rs_${fmt}_quality $(quality_of "$fmt");"
    cat <<LOCATIONS
        location /cold-$fmt/ {
            alias $originals/;
            image_filter_rs ${size}x$size;
            image_filter_rs_format $fmt;
            $quality
        }
        location /warm-$fmt/ {
            alias $originals/;
            image_filter_rs ${size}x$size;
            image_filter_rs_format $fmt;
            $quality
            image_filter_rs_cache thumbs;
            add_header X-Image-Filter-Cache \$image_filter_rs_cache_status always;
        }
LOCATIONS
}
prefix="$work/nginx"
fresh_prefix "$prefix"
port=$("$BENCH_BIN/loadgen" free-port)
conf="$prefix/conf/nginx.conf"
{
    module_conf_head "$prefix"
    cat <<CONF
    image_filter_rs_cache_path $prefix/cache keys_zone=thumbs:10m levels=1:2 max_size=1g;
    server {
        listen 127.0.0.1:$port;
$(for fmt in jpeg webp avif; do ours_locations "$fmt"; done)
    }
}
CONF
} >"$conf"
start_nginx build/sbin/nginx "$prefix" "$conf" "$port"
ours_pid=$LAST_NGINX_PID
ours_port=$port

start_thumbor thumbor-cold off
thumbor_cold_pid=$LAST_THUMBOR_PID
thumbor_cold_port=$LAST_THUMBOR_PORT
start_thumbor thumbor-warm on
thumbor_warm_pid=$LAST_THUMBOR_PID
thumbor_warm_port=$LAST_THUMBOR_PORT

# paths CONTESTANT CELL: the URL paths of every original for one cell.
paths() {
    local who=$1 cell=$2 n fmt=${2#*-}
    for n in "${names[@]}"; do
        if [ "$who" = ours ]; then
            echo "/$cell/$n"
        elif [ "$fmt" = jpeg ]; then
            echo "/unsafe/fit-in/${size}x$size/filters:quality($jpeg_q)/$n"
        else
            echo "/unsafe/fit-in/${size}x$size/filters:format($fmt):quality($(quality_of "$fmt"))/$n"
        fi
    done
}

# measure CONTESTANT CELL: one run; prints "rps cpu_ms_per_image bytes_per_image".
# Cold: one pass over the originals, the two clients sharing one cursor, so
# every request is a new original. Warm: SECONDS of closed loop over the
# same URLs, after a pass that filled the result cache.
measure() {
    local who=$1 cell=$2 port pid expect=() mapfile_paths out before after reqs
    if [ "$who" = ours ]; then
        port=$ours_port pid=$ours_pid
    elif [ "${cell%%-*}" = cold ]; then
        port=$thumbor_cold_port pid=$thumbor_cold_pid
    else
        port=$thumbor_warm_port pid=$thumbor_warm_pid
    fi
    mapfile -t mapfile_paths < <(paths "$who" "$cell")
    local cpu=(cpu_ns "$pid")
    [ "$who" = ours ] || cpu=(tree_cpu_ns "$pid")
    if [ "${cell%%-*}" = cold ]; then
        before=$("${cpu[@]}")
        out=$("$BENCH_BIN/loadgen" run --port "$port" --connections 2 --duration 600 \
            --order shared --max-requests "$count" --label "$who-$cell" "${mapfile_paths[@]}")
        after=$("${cpu[@]}")
    else
        [ "$who" = ours ] && expect=(--expect-header 'X-Image-Filter-Cache: HIT')
        before=$("${cpu[@]}")
        out=$("$BENCH_BIN/loadgen" run --port "$port" --connections 2 --duration "$seconds" \
            "${expect[@]}" --label "$who-$cell" "${mapfile_paths[@]}")
        after=$("${cpu[@]}")
    fi
    reqs=$(field requests "$out")
    if [ "$(field errors "$out")" != 0 ] || [ "$(field unexpected "$out")" != 0 ] ||
        [ "$(field refused "$out")" != 0 ] || [ "${reqs:-0}" = 0 ]; then
        die "$who $cell: $out"
    fi
    awk -v r="$(field rps "$out")" -v c=$((after - before)) -v n="$reqs" -v b="$(field bytes "$out")" \
        'BEGIN { printf "%.1f %.2f %d\n", r, c / n / 1e6, b / n }'
}

# fill CONTESTANT CELL: one pass over a warm cell's URLs (unmeasured).
fill() {
    local who=$1 cell=$2 port mapfile_paths out
    if [ "$who" = ours ]; then port=$ours_port; else port=$thumbor_warm_port; fi
    mapfile -t mapfile_paths < <(paths "$who" "$cell")
    out=$("$BENCH_BIN/loadgen" run --port "$port" --connections 2 --duration 600 \
        --order shared --max-requests "$count" --label "fill-$who-$cell" "${mapfile_paths[@]}")
    [ "$(field unexpected "$out")" = 0 ] && [ "$(field errors "$out")" = 0 ] ||
        die "filling $who $cell: $out"
}

echo "peers: $count originals of about 2 MP made from $PHOTOS (in $originals),"
echo "fit into ${size}x$size, JPEG q$jpeg_q, WebP q$webp_q, AVIF q$avif_q (libaom speed $avif_speed);"
echo "2 keep-alive clients, closed loop;"
echo "cold: one pass over the originals per run (every request a new original, no result cache);"
echo "warm: $seconds s per run (our cache; thumbor's file result storage), after one filling pass;"
echo "$rounds rounds alternating which contestant goes first. thumbor $thumbor_version (PIL engine,"
echo "file loader, 2 processes, ENGINE_THREADPOOL_SIZE=2); libvips $vips_version through pyvips."
echo "machine load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

cells=(cold-jpeg cold-webp cold-avif warm-jpeg warm-webp warm-avif)
for cell in warm-jpeg warm-webp warm-avif; do
    fill ours "$cell"
    fill thumbor "$cell"
done

declare -A RPS CPU BYTES RPS_RATIO CPU_RATIO
inproc_files=()
for ((i = 0; i < inproc_count && i < count; i++)); do inproc_files+=("$originals/${names[$i]}"); done
declare -A IN_MS IN_CPU IN_RATIO IN_CPU_RATIO

for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then order=(ours thumbor); else order=(thumbor ours); fi
    for cell in "${cells[@]}"; do
        declare -A got=()
        for who in "${order[@]}"; do
            read -r rps cpu bytes < <(measure "$who" "$cell")
            got[$who]="$rps $cpu"
            RPS["$cell $who"]+=" $rps"
            CPU["$cell $who"]+=" $cpu"
            BYTES["$cell $who"]+=" $bytes"
            echo "round $r $cell $who: $rps req/s, $cpu CPU ms/image, $bytes bytes/image"
        done
        read -r o_rps o_cpu <<<"${got[ours]}"
        read -r t_rps t_cpu <<<"${got[thumbor]}"
        RPS_RATIO["$cell"]+=" $(ratio "$o_rps" "$t_rps")"
        CPU_RATIO["$cell"]+=" $(ratio "$o_cpu" "$t_cpu")"
    done
    # In-process: our pipeline and pyvips, one thread each, same originals.
    for fmt in jpeg webp avif; do
        q=$(quality_of "$fmt")
        declare -A line=()
        for who in "${order[@]}"; do
            if [ "$who" = ours ]; then
                line[ours]=$("$BENCH_BIN/pipeline" inproc "$size" "$fmt" "$q" "${inproc_files[@]}")
            else
                line[vips]=$(VIPS_CONCURRENCY=1 "$venv/bin/python" bench/peers.py vips "$size" "$fmt" "$q" \
                    "${inproc_files[@]}")
            fi
        done
        for who in ours vips; do
            IN_MS["$fmt $who"]+=" $(field median_ms "${line[$who]}")"
            IN_CPU["$fmt $who"]+=" $(field cpu_ms "${line[$who]}")"
            BYTES["inproc-$fmt $who"]+=" $(field bytes "${line[$who]}")"
            echo "round $r in-process $fmt $who: ${line[$who]}"
        done
        IN_RATIO["$fmt"]+=" $(ratio "$(field median_ms "${line[ours]}")" "$(field median_ms "${line[vips]}")")"
        IN_CPU_RATIO["$fmt"]+=" $(ratio "$(field cpu_ms "${line[ours]}")" "$(field cpu_ms "${line[vips]}")")"
    done
done

# span V...: "median (min–max)".
span() {
    # shellcheck disable=SC2086
    local m lo hi
    m=$(median "$@")
    lo=$(printf '%s\n' "$@" | sort -g | head -n1)
    hi=$(printf '%s\n' "$@" | sort -g | tail -n1)
    echo "$m ($lo–$hi)"
}

echo
echo "## bench-peers: medians over $rounds rounds (min–max); ratios are per round, ours / thumbor"
echo
echo "| cell | ours | thumbor | ours / thumbor |"
echo "|---|---|---|---|"
for cell in "${cells[@]}"; do
    # shellcheck disable=SC2086
    {
        echo "| $cell: req/s | $(span ${RPS["$cell ours"]}) | $(span ${RPS["$cell thumbor"]}) | $(span ${RPS_RATIO[$cell]}) |"
        echo "| $cell: CPU ms per image | $(span ${CPU["$cell ours"]}) | $(span ${CPU["$cell thumbor"]}) | $(span ${CPU_RATIO[$cell]}) |"
    }
done
for fmt in jpeg webp avif; do
    # shellcheck disable=SC2086
    echo "| cold-$fmt: bytes per image | $(median ${BYTES["cold-$fmt ours"]}) | $(median ${BYTES["cold-$fmt thumbor"]}) | $(ratio "$(median ${BYTES["cold-$fmt ours"]})" "$(median ${BYTES["cold-$fmt thumbor"]})") |"
done
echo
echo "In-process, one thread, $inproc_count originals per run (ours: thumbnailer::make_thumbnail;"
echo "libvips: pyvips thumbnail_buffer + save, VIPS_CONCURRENCY=1, operation cache off):"
echo
echo "| format | ours ms/image (median) | libvips ms/image | ours / libvips | ours CPU ms | libvips CPU ms | CPU ours / libvips | bytes ours / libvips |"
echo "|---|---|---|---|---|---|---|---|"
for fmt in jpeg webp avif; do
    # shellcheck disable=SC2086
    echo "| $fmt | $(span ${IN_MS["$fmt ours"]}) | $(span ${IN_MS["$fmt vips"]}) | $(span ${IN_RATIO[$fmt]}) | $(median ${IN_CPU["$fmt ours"]}) | $(median ${IN_CPU["$fmt vips"]}) | $(span ${IN_CPU_RATIO[$fmt]}) | $(ratio "$(median ${BYTES["inproc-$fmt ours"]})" "$(median ${BYTES["inproc-$fmt vips"]})") |"
done

# --- quality: every contestant's output against a full-decode Lanczos3 reference
qdir="$work/quality"
rm -rf "$qdir"
mkdir -p "$qdir"
q_files=()
for ((i = 0; i < quality_count && i < count; i++)); do q_files+=("$originals/${names[$i]}"); done
for fmt in jpeg webp avif; do
    q=$(quality_of "$fmt")
    mkdir -p "$qdir/ours-$fmt" "$qdir/thumbor-$fmt"
    "$BENCH_BIN/pipeline" inproc "$size" "$fmt" "$q" --out "$qdir/inproc-$fmt" "${q_files[@]}" >/dev/null
    VIPS_CONCURRENCY=1 "$venv/bin/python" bench/peers.py vips "$size" "$fmt" "$q" --out "$qdir/libvips-$fmt" \
        "${q_files[@]}" >/dev/null
    for ((i = 0; i < quality_count && i < count; i++)); do
        n=${names[$i]}
        curl -sf -o "$qdir/ours-$fmt/${n%.jpg}.$fmt" "http://127.0.0.1:$ours_port/cold-$fmt/$n"
        url=$(paths thumbor "cold-$fmt" | sed -n "$((i + 1))p")
        curl -sf -o "$qdir/thumbor-$fmt/${n%.jpg}.$fmt" "http://127.0.0.1:$thumbor_cold_port$url"
    done
done
echo
echo "Quality: DSSIM (bench/src/bin/quality.rs) of each output against a full decode of the original"
echo "scaled to the output's size with Lanczos3; $quality_count originals; lower is better:"
echo
echo "| format | contestant | DSSIM median | DSSIM max | bytes mean |"
echo "|---|---|---|---|---|"
for fmt in jpeg webp avif; do
    "$BENCH_BIN/quality" against "$originals" "ours=$qdir/ours-$fmt" "thumbor=$qdir/thumbor-$fmt" \
        "libvips=$qdir/libvips-$fmt" |
        while read -r line; do
            echo "| $fmt | $(field label "$line") | $(field median "$line") | $(field max "$line") | $(field bytes "$line") |"
        done
done
