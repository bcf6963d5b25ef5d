#!/usr/bin/env python3
"""Counts test results from meson's test logs (JSON, one or more: the suite and the sanitizer and
fuzz runs) and prints one line 'N passed, N failed[, N skipped]' for all of them together. A log
that is missing (its build failed) counts as one failure.

Each meson test is a doctest binary: its own summary line gives the test cases passed and failed.
A binary that meson saw fail without doctest counting a failure (a crash, a sanitizer report at
exit, a timeout) adds one failure; a test with no doctest summary counts as one test.
"""
import json
import re
import sys

SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed \|\s*(\d+) skipped")


def count(path: str) -> tuple[int, int, int]:
    passed = failed = skipped = 0
    try:
        log = open(path, encoding="utf-8", errors="replace")
    except OSError:
        print(f"{path}: no test log", file=sys.stderr)
        return 0, 1, 0
    with log:
        for line in log:
            line = line.strip()
            if not line:
                continue
            test = json.loads(line)
            result = test.get("result", "")
            output = (test.get("stdout") or "") + (test.get("stderr") or "")
            found = SUMMARY.findall(output)
            ok = result in ("OK", "EXPECTEDFAIL")
            if result == "SKIP":
                skipped += 1
            elif found:
                # doctest's own "skipped" counts test cases left out by a filter: not results.
                _, p, f, _ = (int(x) for x in found[-1])
                passed += p
                failed += f
                if not ok and f == 0:
                    failed += 1
            elif ok:
                passed += 1
            else:
                failed += 1
    return passed, failed, skipped


def main(paths: list[str]) -> int:
    passed = failed = skipped = 0
    for path in paths:
        p, f, s = count(path)
        print(f"{path}: {p} passed, {f} failed" + (f", {s} skipped" if s else ""), file=sys.stderr)
        passed, failed, skipped = passed + p, failed + f, skipped + s
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
