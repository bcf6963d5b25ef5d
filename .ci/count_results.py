#!/usr/bin/env python3
"""Counts test results from meson's testlog.json and prints 'N passed, N failed[, N skipped]'.

Each meson test is a doctest binary: its own summary line gives the test cases passed and failed.
A binary that meson saw fail without doctest counting a failure (a crash, a sanitizer report at
exit, a timeout) adds one failure; a test with no doctest summary counts as one test.
"""
import json
import re
import sys

SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed \|\s*(\d+) skipped")


def main(path: str) -> int:
    passed = failed = skipped = 0
    with open(path, encoding="utf-8", errors="replace") as log:
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
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
