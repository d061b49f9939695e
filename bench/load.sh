#!/usr/bin/env bash
# make bench-load: the module under cold load, in four parts.
#  (a) event-loop health: p99 latency of a small static file, idle and while
#      4 clients keep requesting cold thumbnails of large photos, with the
#      module's default (thread pool) and with `image_filter_rs_thread_pool
#      off;` when the built module knows that directive, with
#      `image_filter_rs_concurrency 1;` (one generation at a time, so a core
#      stays free), and as a control a plain nginx without the module probed
#      while ours makes thumbnails;
#  (b) cold thumbnails/s against Debian's nginx 1.22 with its
#      image_filter module (libgd), same photos, same clients, same run;
#  (c) a srcset burst: 6 widths of one large photo requested at once, cold,
#      with the decode cache on and off;
#  (d) memory: every worker's peak RSS in a storm of cold requests against
#      the memory budget plus a stated overhead.
# Every nginx runs with 2 workers on its own free 127.0.0.1 port and prefix
# under build/bench/load, and is stopped by PID on exit.
# Knobs: PHOTOS, LOAD_PHOTOS, BURST_PHOTO, DURATION (s of each loaded run),
# ROUNDS (of part b), PROBE_RATE (static requests/s of the probe),
# STORM_REQUESTS and STORM_SLACK_MB (part d), CAP (the
# image_filter_rs_concurrency of the capped server, default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

read -ra load_photos <<<"${LOAD_PHOTOS:-elephants.jpg kleiber.jpg painting.jpg seeding.jpg}"
burst_photo=${BURST_PHOTO:-elephants.jpg}
widths=(320 480 640 960 1280 1920)
duration=${DURATION:-8}
rounds=${ROUNDS:-2}
probe_rate=${PROBE_RATE:-400}

need_photos
need_module_build
need_packages curl
build_bench
for p in "${load_photos[@]}" "$burst_photo"; do
    [ -f "$PHOTOS/$p" ] || die "no $PHOTOS/$p (set LOAD_PHOTOS / BURST_PHOTO)"
done

root=$(pwd)
base_dir="$root/build/bench/load"
trap stop_all_nginx EXIT
mkdir -p "$base_dir"

# Debian's nginx and its image_filter module, as the reference. They are
# fetched with apt-get download and unpacked under build/ rather than
# installed: installing the nginx package starts a system nginx on port 80
# (where policy-rc.d allows it), and unpacking needs no root. Only libgd3,
# the module's library, is installed when missing. An nginx 1.22 already
# installed with the module is used as it is.
debian_nginx() {
    if [ -x /usr/sbin/nginx ] && [ -f /usr/lib/nginx/modules/ngx_http_image_filter_module.so ] &&
        /usr/sbin/nginx -v 2>&1 | grep -q 'nginx/1\.22\.'; then
        DEB_NGINX=/usr/sbin/nginx
        DEB_MODULE=/usr/lib/nginx/modules/ngx_http_image_filter_module.so
        return
    fi
    local dir="$root/build/bench/debian-nginx"
    DEB_NGINX="$dir/root/usr/sbin/nginx"
    DEB_MODULE="$dir/root/usr/lib/nginx/modules/ngx_http_image_filter_module.so"
    need_packages libgd3
    if [ ! -x "$DEB_NGINX" ] || [ ! -f "$DEB_MODULE" ]; then
        echo "fetching Debian's nginx and libnginx-mod-http-image-filter with apt-get download"
        rm -rf "$dir" && mkdir -p "$dir/debs"
        local apt_opts=()
        # As root, apt downloads as the _apt user, who may not be able to
        # write here; download as root instead.
        [ "$(id -u)" -eq 0 ] && apt_opts=(-o APT::Sandbox::User=root)
        (cd "$dir/debs" && apt-get download -q "${apt_opts[@]}" nginx libnginx-mod-http-image-filter) ||
            die "apt-get download failed (as root, run apt-get update first)"
        local deb
        for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
    fi
    if [ ! -x "$DEB_NGINX" ] || [ ! -f "$DEB_MODULE" ]; then
        die "Debian nginx or image_filter module missing in $dir"
    fi
}
debian_nginx

# Our nginx: /static/ a small file, /cold/ a 350x350 thumbnail made on every
# request (no cache), /w/W/ the srcset widths, also uncached.
# our_conf PREFIX PORT EXTRA-HTTP-LINE
our_conf() {
    local prefix=$1 port=$2 extra=$3 w
    module_conf_head "$prefix"
    echo "    $extra"
    echo "    server {"
    echo "        listen 127.0.0.1:$port;"
    echo "        location /static/ { alias $prefix/static/; }"
    echo "        location /cold/ {"
    echo "            alias $PHOTOS/;"
    echo "            image_filter_rs 350x350;"
    echo "            image_filter_rs_cache off;"
    echo "            add_header X-Image-Filter-Cache \$image_filter_rs_cache_status always;"
    echo "        }"
    for w in "${widths[@]}"; do
        echo "        location /w/$w/ { alias $PHOTOS/; image_filter_rs ${w}x-; image_filter_rs_cache off; }"
    done
    # The srcset widths as a page asks for them: one location, the widths
    # as its allow-list (which is what lets one decode serve them all).
    echo "        location /srcset/ {"
    echo "            alias $prefix/burst/;"
    echo "            image_filter_rs query;"
    echo "            image_filter_rs_sizes $(printf '%sx- ' "${widths[@]}");"
    echo "            image_filter_rs_cache off;"
    echo "        }"
    echo "    }"
    echo "}"
}

# Debian's image_filter: the same locations, the same quality as ours (82),
# a buffer large enough for every photo.
deb_conf() {
    local prefix=$1 port=$2 w
    echo "load_module $DEB_MODULE;"
    nginx_main_conf "$prefix"
    echo "http {"
    nginx_http_common "$prefix"
    echo "    image_filter_buffer 64M;"
    echo "    image_filter_jpeg_quality 82;"
    echo "    server {"
    echo "        listen 127.0.0.1:$port;"
    echo "        location /static/ { alias $prefix/static/; }"
    echo "        location /cold/ { alias $PHOTOS/; image_filter resize 350 350; }"
    for w in "${widths[@]}"; do
        echo "        location /w/$w/ { alias $PHOTOS/; image_filter resize $w -; }"
    done
    echo "    }"
    echo "}"
}

# The control for part (a): the same nginx build without the module, serving
# only the static file.
plain_conf() {
    local prefix=$1 port=$2
    nginx_main_conf "$prefix"
    echo "http {"
    nginx_http_common "$prefix"
    echo "    server {"
    echo "        listen 127.0.0.1:$port;"
    echo "        location /static/ { alias $prefix/static/; }"
    echo "    }"
    echo "}"
}

# start_server NAME GENERATOR [EXTRA]: a prefix, a port, a config, nginx;
# sets PORT_<NAME> and PID_<NAME>.
start_server() {
    local name=$1 gen=$2 extra=${3:-} prefix="$base_dir/$1" port bin
    fresh_prefix "$prefix"
    mkdir -p "$prefix/static"
    port=$("$BENCH_BIN/loadgen" free-port)
    "$gen" "$prefix" "$port" "$extra" >"$prefix/conf/nginx.conf"
    bin=build/sbin/nginx
    [ "$gen" = deb_conf ] && bin=$DEB_NGINX
    start_nginx "$bin" "$prefix" "$prefix/conf/nginx.conf" "$port"
    printf -v "PORT_$name" '%s' "$port"
    printf -v "PID_$name" '%s' "$LAST_NGINX_PID"
    if [ "$gen" = plain_conf ]; then
        cp "$base_dir/ours/static/small.jpg" "$prefix/static/small.jpg"
        return
    fi
    # Copies of the burst photo, one per burst: the decode cache keeps a
    # decode per original, so each burst gets an original of its own and
    # stays cold.
    mkdir -p "$prefix/burst"
    for i in 1 2 3 seq; do cp "$PHOTOS/$burst_photo" "$prefix/burst/$i-$burst_photo"; done
    # The probe's static file: one 350x350 thumbnail, ~10-20 KB, the size
    # of what such a server mostly sends.
    curl -fsS -o "$prefix/static/small.jpg" "http://127.0.0.1:$port/cold/${load_photos[-1]}" ||
        die "$name: the first cold thumbnail failed (see $prefix/logs/error.log)"
}

# Does the built module know image_filter_rs_thread_pool? Ask nginx -t,
# which knows the module actually built, not the source being edited.
have_pool_directive() {
    local prefix="$base_dir/probe-t" port=1
    fresh_prefix "$prefix"
    our_conf "$prefix" "$port" "image_filter_rs_thread_pool off;" >"$prefix/conf/nginx.conf"
    build/sbin/nginx -p "$prefix/" -e "$prefix/logs/error.log" -c "$prefix/conf/nginx.conf" -t -q 2>/dev/null
}

echo "cold-load benchmark: $(build/sbin/nginx -v 2>&1 | sed 's/.*: //') + image_filter_rs vs Debian" \
    "$("$DEB_NGINX" -v 2>&1 | sed 's/.*: //') + image_filter (libgd), 2 workers each, access log off"
echo "photos: ${load_photos[*]} (from $PHOTOS); machine load average at start:" \
    "$(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
echo

# Parts (a) and (b) ask for the same four photos again and again, with the
# thumbnail cache off; the decode cache would keep their decodes and make
# every request after the first nearly free, so it is off there: each
# request decodes. Part (c) measures it.
start_server ours our_conf "image_filter_rs_decode_cache off;"
configs=(ours)
if have_pool_directive; then
    start_server nopool our_conf "image_filter_rs_thread_pool off; image_filter_rs_decode_cache off;"
    configs+=(nopool)
else
    echo "(image_filter_rs_thread_pool is not known to the built module: the 'thread pool off' contrast is skipped)"
fi
# One generation at a time on the whole machine: a core stays free for the
# event loops (and, here, the clients).
start_server capped our_conf "image_filter_rs_decode_cache off; image_filter_rs_concurrency ${CAP:-1};"
configs+=(capped)
start_server deb deb_conf
cold_paths=()
for p in "${load_photos[@]}"; do cold_paths+=("/cold/$p"); done

label() {
    case $1 in
    ours) echo "image_filter_rs (thread pool)" ;;
    share) echo "image_filter_rs, decode_cache on" ;;
    nopool) echo "image_filter_rs, thread_pool off" ;;
    plain) echo "control: nginx without the module" ;;
    capped) echo "image_filter_rs, concurrency ${CAP:-1}" ;;
    deb) echo "Debian image_filter (libgd)" ;;
    esac
}
port_of() { local v="PORT_$1"; echo "${!v}"; }
pid_of() { local v="PID_$1"; echo "${!v}"; }

# probe PORT SECONDS: the static-file latency probe, paced at PROBE_RATE over
# 4 keep-alive connections (latency from the scheduled send time).
probe() {
    "$BENCH_BIN/loadgen" run --port "$1" --connections 4 \
        --rate "$(awk -v r="$probe_rate" 'BEGIN { print r / 4 }')" --duration "$2" \
        --label probe /static/small.jpg
}

# cold NAME SECONDS: 4 clients requesting cold thumbnails, closed loop.
cold() {
    local args=(--port "$(port_of "$1")" --connections 4 --duration "$2" --label cold)
    # Ours must have made every answer itself (no cache: BYPASS).
    [ "$1" != deb ] && args+=(--expect-header "X-Image-Filter-Cache: BYPASS")
    "$BENCH_BIN/loadgen" run "${args[@]}" "${cold_paths[@]}"
}

check_clean() {
    local line=$1 what=$2
    local errs=$(($(field errors "$line") + $(field unexpected "$line")))
    [ "$errs" -eq 0 ] || die "$what: $errs failed or unexpected answers"
}

echo "(a) static-file latency, idle vs 4 clients requesting cold 350x350 thumbnails"
echo "    probe: /static/small.jpg at $probe_rate req/s over 4 keep-alive connections," \
    "latency from the scheduled send time"
echo "    (p99 sent: from the moment the request went out, i.e. without the backlog of a client that fell behind);"
echo "    idle ${duration}s, loaded ${duration}s; thumbs/s and thumb p99 (ms): the 4 cold clients meanwhile"
printf '%-40s %-6s | %8s %8s %9s %9s | %9s | %9s %9s %5s\n' server state "p50 ms" "p99 ms" "p99.9 ms" "max ms" "p99 sent" "thumbs/s" "thumb p99" "503s"
printf '%s\n' "--------------------------------------------------------------------------------------------------------------------------------"
for c in "${configs[@]}"; do
    port=$(port_of "$c")
    idle=$(probe "$port" "$duration")
    check_clean "$idle" "$c idle probe"
    printf '%-40s %-6s | %8s %8s %9s %9s | %9s | %9s %9s %5s\n' "$(label "$c")" idle "$(field p50_ms "$idle")" \
        "$(field p99_ms "$idle")" "$(field p999_ms "$idle")" "$(field max_ms "$idle")" "$(field p99_sent_ms "$idle")" - - -
    # The cold clients start first and run a second longer, so the whole
    # probe window is under load.
    cold_out="$base_dir/cold-$c.out"
    cold "$c" "$((duration + 1))" >"$cold_out" &
    cold_pid=$!
    loaded=$(probe "$port" "$duration")
    wait "$cold_pid" || die "$c: cold clients failed"
    cold_line=$(cat "$cold_out")
    check_clean "$loaded" "$c loaded probe"
    check_clean "$cold_line" "$c cold clients"
    printf '%-40s %-6s | %8s %8s %9s %9s | %9s | %9s %9s %5s\n' "$(label "$c")" loaded "$(field p50_ms "$loaded")" \
        "$(field p99_ms "$loaded")" "$(field p999_ms "$loaded")" "$(field max_ms "$loaded")" "$(field p99_sent_ms "$loaded")" \
        "$(field ok_rps "$cold_line")" "$(field p99_ms "$cold_line")" "$(field refused "$cold_line")"
    printf -v "P99_IDLE_$c" '%s' "$(field p99_ms "$idle")"
    printf -v "P99_LOADED_$c" '%s' "$(field p99_ms "$loaded")"
    printf -v "THUMBS_$c" '%s' "$(field ok_rps "$cold_line")"
done
# The control: a second nginx on the same machine, without the module,
# probed while ours makes cold thumbnails. Its event loop does nothing for
# the thumbnails, so its loaded p99 is what the scheduler gives any process
# on this machine under that CPU load, the client's own wake-ups included.
start_server plain plain_conf
idle=$(probe "$(port_of plain)" "$duration")
check_clean "$idle" "control idle probe"
cold ours "$((duration + 1))" >"$base_dir/cold-control.out" &
cold_pid=$!
loaded=$(probe "$(port_of plain)" "$duration")
wait "$cold_pid" || die "control: cold clients failed"
cold_line=$(cat "$base_dir/cold-control.out")
check_clean "$loaded" "control loaded probe"
for state in idle loaded; do
    line=${!state}
    more=(- - -)
    [ "$state" = loaded ] && more=("$(field ok_rps "$cold_line")" "$(field p99_ms "$cold_line")" "$(field refused "$cold_line")")
    printf '%-40s %-6s | %8s %8s %9s %9s | %9s | %9s %9s %5s\n' "$(label plain)" "$state" "$(field p50_ms "$line")" \
        "$(field p99_ms "$line")" "$(field p999_ms "$line")" "$(field max_ms "$line")" "$(field p99_sent_ms "$line")" "${more[@]}"
done
echo "    (control: the cold clients ask the first server above for thumbnails while the probe asks this one)"
P99_IDLE_plain=$(field p99_ms "$idle")
P99_LOADED_plain=$(field p99_ms "$loaded")
stop_nginx "$(pid_of plain)"
echo

echo "(b) cold thumbnails/s, 350x350 fit, 4 clients, closed loop, ${duration}s per run, $rounds rounds alternating"
printf '%-40s %-5s | %8s %8s %8s %8s %7s | %12s\n' server round "thumbs/s" "p50 ms" "p99 ms" thumbs "503s" "CPU ms/thumb"
printf '%s\n' "-------------------------------------------------------------------------------------------------------"
declare -a tp_ours=() tp_deb=() cpu_ours=() cpu_deb=() r_tp=() r_cpu=()
for ((i = 1; i <= rounds; i++)); do
    if ((i % 2)); then order="ours deb"; else order="deb ours"; fi
    for c in $order; do
        before=$(cpu_ns "$(pid_of "$c")")
        line=$(cold "$c" "$duration")
        after=$(cpu_ns "$(pid_of "$c")")
        check_clean "$line" "$c cold run"
        thumbs=$(($(field requests "$line") - $(field refused "$line")))
        cpu=$(awk -v d=$((after - before)) -v n="$thumbs" 'BEGIN { printf "%.1f\n", n ? d / n / 1e6 : 0 }')
        printf '%-40s %-5s | %8s %8s %8s %8s %7s | %12s\n' "$(label "$c")" "$i" "$(field ok_rps "$line")" \
            "$(field p50_ms "$line")" "$(field p99_ms "$line")" "$thumbs" "$(field refused "$line")" "$cpu"
        if [ "$c" = ours ]; then tp_ours+=("$(field ok_rps "$line")"); cpu_ours+=("$cpu")
        else tp_deb+=("$(field ok_rps "$line")"); cpu_deb+=("$cpu"); fi
    done
    r_tp+=("$(ratio "${tp_ours[-1]}" "${tp_deb[-1]}")")
    r_cpu+=("$(ratio "${cpu_ours[-1]}" "${cpu_deb[-1]}")")
done
echo "ours / Debian image_filter, median of rounds: thumbnails/s $(median "${r_tp[@]}")" \
    "(per round: ${r_tp[*]}); CPU per thumbnail $(median "${r_cpu[@]}") (per round: ${r_cpu[*]})"
echo "(CPU per thumbnail: all threads of the workers, so our thread pool's work is counted)"
echo

start_server share our_conf ""
echo "(c) srcset burst: ${#widths[@]} widths (${widths[*]}) of $burst_photo requested at once, cold," \
    "median of 3 bursts;"
echo "    ours as /srcset/N-$burst_photo?w=W (one location, the widths its allow-list; a fresh copy N of the photo per burst,"
echo "    so no burst reuses a kept decode), Debian's as one location per width;"
echo "    1-by-1: the same 6 requests one after another; non-200: refused answers over the 3 bursts"
printf '%-40s | %10s %10s %8s %7s | %s\n' server "burst ms" "1-by-1 ms" "ratio" "non-200" "per-width ms in the median burst, (status) if not 200"
printf '%s\n' "---------------------------------------------------------------------------------------------------------------"
for c in share "${configs[@]}" deb; do
    port=$(port_of "$c")
    # burst_paths N: the six widths of burst photo copy N.
    burst_paths() {
        local w
        BURST_PATHS=()
        for w in "${widths[@]}"; do
            if [ "$c" = deb ]; then BURST_PATHS+=("/w/$w/$burst_photo")
            else BURST_PATHS+=("/srcset/$1-$burst_photo?w=$w"); fi
        done
    }
    totals=()
    outs=()
    refused=0
    for ((i = 1; i <= 3; i++)); do
        burst_paths "$i"
        out=$("$BENCH_BIN/loadgen" burst --port "$port" "${BURST_PATHS[@]}")
        grep -q 'failed=false' <<<"$out" || die "$c: burst failed: $out"
        totals+=("$(field total_ms "$(grep '^burst ' <<<"$out")")")
        refused=$((refused + $(field refused "$(grep '^burst ' <<<"$out")")))
        outs+=("$out")
    done
    med=$(median "${totals[@]}")
    # The per-width times of the burst whose total is the median; a width
    # the module refused shows its status.
    per=""
    for out in "${outs[@]}"; do
        if [ "$(field total_ms "$(grep '^burst ' <<<"$out")")" = "$med" ]; then
            per=$(grep '^request ' <<<"$out" |
                sed -n 's/.* status=\([0-9]*\) .* ms=\([^ ]*\).*/\2 \1/p' |
                awk '{ printf "%s%s%s", (NR > 1 ? " " : ""), $1, ($2 == 200 ? "" : "(" $2 ")") }')
        fi
    done
    seq_total=0
    burst_paths seq
    for p in "${BURST_PATHS[@]}"; do
        one=$("$BENCH_BIN/loadgen" burst --port "$port" "$p")
        seq_total=$(awk -v a="$seq_total" -v b="$(field total_ms "$(grep '^burst ' <<<"$one")")" 'BEGIN { printf "%.1f", a + b }')
    done
    printf '%-40s | %10s %10s %8s %7s | %s\n' "$(label "$c")" "$med" "$seq_total" "$(ratio "$med" "$seq_total")" "$refused" "$per"
    printf -v "BURST_$c" '%s' "$med"
    printf -v "BURST_REFUSED_$c" '%s' "$refused"
done
echo
# (d) Memory: a storm of cold requests over the largest photos against the
# default budget (image_filter_rs_memory 256m, shared by the workers), the
# decode cache off so that every request decodes (a storm over distinct
# originals). Every worker's peak RSS (VmHWM) must stay within the budget
# plus the stated overhead: its RSS before the storm and STORM_SLACK_MB for
# allocator slack and thread stacks.
storm_requests=${STORM_REQUESTS:-500}
storm_slack_mb=${STORM_SLACK_MB:-64}
start_server storm our_conf "image_filter_rs_decode_cache off;"
echo "(d) memory: $storm_requests cold 350x350 requests over ${load_photos[*]}, 16 connections," \
    "image_filter_rs_memory 256m (default), decode cache off"
declare -A rss_before=()
for pid in $(ps -o pid= --ppid "$PID_storm"); do
    rss_before[$pid]=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
done
storm=$("$BENCH_BIN/loadgen" run --port "$PORT_storm" --connections 16 --duration 600 \
    --max-requests "$storm_requests" --label storm "${cold_paths[@]}")
check_clean "$storm" "memory storm"
printf '%-8s | %12s %12s %14s | %s\n' worker "RSS before" "peak RSS" "bound" verdict
printf '%s\n' "------------------------------------------------------------------"
storm_ok=met
for pid in "${!rss_before[@]}"; do
    peak_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
    bound_kb=$(((256 + storm_slack_mb) * 1024 + rss_before[$pid]))
    verdict=met
    [ "$peak_kb" -le "$bound_kb" ] || { verdict="NOT met"; storm_ok="NOT met"; }
    printf '%-8s | %9d MB %9d MB %11d MB | %s\n' "$pid" $((rss_before[$pid] / 1024)) $((peak_kb / 1024)) \
        $((bound_kb / 1024)) "$verdict"
done
echo "storm: $(field requests "$storm") requests, $(field ok_rps "$storm") thumbs/s, $(field refused "$storm") 503s;" \
    "bound = 256 MB budget + ${storm_slack_mb} MB slack + the worker's RSS before"
echo
echo "summary:"
for c in "${configs[@]}"; do
    p_idle="P99_IDLE_$c"; p_loaded="P99_LOADED_$c"
    echo "  $(label "$c"): static p99 idle ${!p_idle} ms -> under cold load ${!p_loaded} ms" \
        "(x$(ratio "${!p_loaded}" "${!p_idle}"))"
done
echo "  control, nginx without the module on the same machine: static p99 idle $P99_IDLE_plain ms ->" \
    "while ours makes cold thumbnails $P99_LOADED_plain ms (x$(ratio "$P99_LOADED_plain" "$P99_IDLE_plain"));" \
    "ours loaded / control loaded: $(ratio "$P99_LOADED_ours" "$P99_LOADED_plain")"
echo "  cold thumbnails/s, ours / Debian image_filter: $(median "${r_tp[@]}")"
echo "  with image_filter_rs_concurrency ${CAP:-1}: $THUMBS_capped thumbnails/s under the probe in (a)," \
    "/ Debian image_filter's median in (b): $(ratio "$THUMBS_capped" "$(median "${tp_deb[@]}")")"
b_ours=BURST_share b_deb=BURST_deb r_ours=BURST_REFUSED_share r_deb=BURST_REFUSED_deb b_noshare=BURST_ours
echo "  srcset burst, decode cache on / off: $(ratio "${!b_ours}" "${!b_noshare}")"
echo "  memory storm: every worker's peak RSS within the bound: $storm_ok"
echo "  srcset burst of ${#widths[@]} widths, ours / Debian image_filter: $(ratio "${!b_ours}" "${!b_deb}")" \
    "(non-200 answers in 3 bursts: ours ${!r_ours}, Debian ${!r_deb})"
