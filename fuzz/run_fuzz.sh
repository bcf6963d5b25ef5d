#!/usr/bin/env bash
# Fuzzes one libFuzzer target for FUZZ_SECONDS (default 30), starting from its seed inputs.
#   run_fuzz.sh PROGRAM WORK_DIR INPUT_DIR...
# New inputs go to WORK_DIR/corpus (the source tree is never written); a crashing input is saved
# in WORK_DIR/artifacts/ and its path printed by libFuzzer. Copy it to fuzz/regressions/<target>/
# so that the fuzz_replay tests run it from then on.
set -euo pipefail
program=$1 work=$2
shift 2
mkdir -p "$work/corpus" "$work/artifacts"
# -error_exitcode: libFuzzer's default, 77, is what meson reads as "skipped": a crash must fail.
exec "$program" -max_total_time="${FUZZ_SECONDS:-30}" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -error_exitcode=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$@"
