#!/usr/bin/env bash
# multisession's one entry point: installs what it needs from Debian's packages, builds, and runs.
#
#   ./run.sh demo     build and run the demo (nothing to configure)
#   ./run.sh test     build and run the whole test suite
#   ./run.sh bench    build and run the benchmarks (bench storage|oidc|session|instant [options]: one)
#   ./run.sh bench peer [options]  side by side with Inrupt's Node library (bench/peer/README.md)
#   ./run.sh coverage build with coverage (build-coverage/), run the suite, report per file (gcovr)
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

build() {
    deps
    if [ ! -f "$BUILD_DIR/build.ninja" ]; then
        log "configuring $BUILD_DIR"
        # shellcheck disable=SC2086
        meson setup "$BUILD_DIR" ${MESON_ARGS:-} >/dev/null
    fi
    log "building"
    ninja -C "$BUILD_DIR"
}

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
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
