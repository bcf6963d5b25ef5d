#!/usr/bin/env bash
# multisession's one entry point: installs what it needs from Debian's packages, builds, and runs.
#
#   ./run.sh demo     build and run the demo (nothing to configure)
#   ./run.sh test     build and run the whole test suite
#   ./run.sh bench    build and run the benchmarks (bench storage|oidc|session|instant [options]: one)
#   ./run.sh bench peer [options]  side by side with Inrupt's Node library (bench/peer/README.md)
#   ./run.sh coverage build with coverage (build-coverage/), run the suite, report per file (gcovr)
#   ./run.sh asan     the whole suite under AddressSanitizer + UBSan, clang 19 (build-asan/)
#   ./run.sh tsan     the concurrency suites under ThreadSanitizer, clang 19 (build-tsan/)
#   ./run.sh fuzz     each libFuzzer target for FUZZ_SECONDS (default 30) (build-asan/)
#   ./run.sh build    only build (into build/)
#   ./run.sh deps     only install the packages
#
# Environment: BUILD_DIR (default build), MESON_ARGS (extra `meson setup` arguments).
set -euo pipefail
cd "$(dirname "$0")"

BUILD_DIR=${BUILD_DIR:-build}
PACKAGES=(meson ninja-build cmake pkg-config g++ python3 libboost1.81-dev nlohmann-json3-dev libssl-dev
          libsqlite3-dev doctest-dev sqlite3 doxygen libhiredis-dev redis-server redis-tools)

log() { printf '==> %s\n' "$*" >&2; }

deps() {
    local wanted=("${PACKAGES[@]}") missing=()
    # The interoperability suite runs oidc-provider on node. Debian's node only when none is on
    # PATH: a newer one installed another way is as good.
    command -v node >/dev/null || wanted+=(nodejs)
    command -v npm >/dev/null || wanted+=(npm)
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        local sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    # The npm packages exactly as package-lock.json pins them; npm ci leaves its own copy of the
    # lock in node_modules, so a lock changed since then means a fresh install.
    local interop=tests/interop
    if [ ! -f "$interop/node_modules/.package-lock.json" ] || [ "$interop/package-lock.json" -nt "$interop/node_modules/.package-lock.json" ]; then
        log "installing the npm packages of $interop"
        npm ci --prefix "$interop" --no-audit --no-fund >/dev/null
    fi
}

configure() {
    deps
    if [ ! -f "$BUILD_DIR/build.ninja" ]; then
        log "configuring $BUILD_DIR"
        eval "meson setup \"\$BUILD_DIR\" ${MESON_ARGS:-}" >/dev/null
    fi
}

build() {
    configure
    log "building"
    ninja -C "$BUILD_DIR"
}

# Sanitizer builds: shared by asan, fuzz and tsan. The library is shared, so its sanitizer
# symbols resolve in the programs (b_lundef=false).
SANITIZER_ARGS="-Dbuildtype=plain -Db_lundef=false"
# The suites ThreadSanitizer runs, and the programs they need.
TSAN_SUITES=(storage_concurrency file_storage sqlite_storage redis_storage encrypted_storage session_manager
             keep_alive session_lifecycle http_client)
TSAN_TARGETS=(tests/storage_worker tests/storage_concurrency_test tests/file_storage_test tests/sqlite_storage_test
              tests/redis_storage_test tests/encrypted_storage_test tests/session/session_manager_test
              tests/session/keep_alive_test tests/session/session_lifecycle_test tests/http/http_client_test)

case "${1:-}" in
deps) deps ;;
build) build ;;
demo)
    build
    shift
    exec "$BUILD_DIR/examples/session_demo" "$@"
    ;;
test)
    build
    shift
    log "running the test suite"
    meson test -C "$BUILD_DIR" --print-errorlogs "$@"
    ;;
coverage)
    # A build of its own (-O0, instrumented), the whole suite, then gcovr over the library's own
    # sources (src/, include/): per-file lines and branches on stdout, an HTML report on the side.
    PACKAGES+=(gcovr)
    BUILD_DIR=build-coverage MESON_ARGS="-Db_coverage=true -Dbuildtype=debug ${MESON_ARGS:-}" build
    shift
    find build-coverage -name '*.gcda' -delete
    log "running the test suite with coverage"
    meson test -C build-coverage --num-processes 2 "$@" >/dev/null || log "some tests failed; the report covers what ran"
    mkdir -p build-coverage/coverage
    gcovr --root . --object-directory build-coverage --filter 'src/' --filter 'include/' \
        --exclude-throw-branches --exclude-unreachable-branches \
        --html-details build-coverage/coverage/index.html --print-summary --txt build-coverage/coverage/summary.txt
    log "report: build-coverage/coverage/index.html, build-coverage/coverage/summary.txt"
    ;;
asan | fuzz)
    # One clang build serves both: ASan + UBSan (every finding halts), libFuzzer's coverage hooks
    # in everything, the fuzz programs linked with libFuzzer. -O1 keeps it quick to build and run.
    PACKAGES+=(clang-19 libclang-rt-19-dev)
    what=$1
    shift
    BUILD_DIR=build-asan CXX=clang++-19 CC=clang-19 MESON_ARGS="$SANITIZER_ARGS -Db_sanitize=address,undefined \
        -Dcpp_args='-O1 -gline-tables-only -fno-omit-frame-pointer -fno-sanitize-recover=all' \
        -Dcpp_link_args=-fno-sanitize-recover=all -Dfuzzing=true -Dbenchmarks=false" build
    if [ "$what" = asan ]; then
        log "running the test suite under AddressSanitizer + UndefinedBehaviorSanitizer"
        ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1} \
            meson test -C build-asan --no-rebuild --print-errorlogs --no-suite fuzz --timeout-multiplier 3 "$@"
    else
        log "fuzzing each target for ${FUZZ_SECONDS:-30} s"
        meson test -C build-asan --no-rebuild --print-errorlogs --suite fuzz "$@"
    fi
    ;;
tsan)
    # The suites that run threads against shared state, under ThreadSanitizer. Only their programs
    # are built (the library and its Beast half included).
    PACKAGES+=(clang-19 libclang-rt-19-dev)
    shift
    BUILD_DIR=build-tsan CXX=clang++-19 CC=clang-19 MESON_ARGS="$SANITIZER_ARGS -Db_sanitize=thread \
        -Dcpp_args='-O1 -gline-tables-only -fno-omit-frame-pointer' -Dbenchmarks=false" configure
    ninja -C build-tsan "${TSAN_TARGETS[@]}"
    log "running the concurrency suites under ThreadSanitizer"
    TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
        meson test -C build-tsan --no-rebuild --print-errorlogs --timeout-multiplier 3 "${TSAN_SUITES[@]}" "$@"
    ;;
bench)
    build
    shift
    case "${1:-all}" in
    storage) shift; exec "$BUILD_DIR/bench/storage_bench" "$@" ;;
    oidc) shift; exec "$BUILD_DIR/bench/oidc_bench" "$@" ;;
    session) shift; exec "$BUILD_DIR/bench/session_bench" "$@" ;;
    instant) shift; exec "$BUILD_DIR/bench/instant_bench" "$@" ;;
    peer) shift; exec python3 bench/peer/peer.py --build-dir "$BUILD_DIR" "$@" ;;
    all) "$BUILD_DIR/bench/storage_bench" && "$BUILD_DIR/bench/oidc_bench" && "$BUILD_DIR/bench/session_bench" ;;
    *) echo "usage: ./run.sh bench [storage|oidc|session|instant|peer] [options]" >&2; exit 2 ;;
    esac
    ;;
*)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
