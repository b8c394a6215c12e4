#!/usr/bin/env bash
# One command: install what is missing, build with warnings as errors, run every test suite.
set -euo pipefail
cd "$(dirname "$0")"
tools/install-deps.sh
builddir="${HART_TEST_BUILDDIR:-build-test}"
if [ ! -d "$builddir" ]; then
  meson setup "$builddir" -Dwerror=true -Dtests=true
else
  meson configure "$builddir" -Dwerror=true -Dtests=true
fi
ninja -C "$builddir"
status=0
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@" || status=$?
# One closing line in the plain 'N passed, N failed, N skipped' form, from meson's JSON log.
python3 - "$builddir/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0, "TIMEOUT": 0, "ERROR": 0, "EXPECTEDFAIL": 0,
          "UNEXPECTEDPASS": 0}
with open(sys.argv[1]) as f:
    for line in f:
        line = line.strip()
        if line:
            r = json.loads(line).get("result", "ERROR")
            counts[r] = counts.get(r, 0) + 1
passed = counts["OK"] + counts["EXPECTEDFAIL"]
failed = counts["FAIL"] + counts["TIMEOUT"] + counts["ERROR"] + counts["UNEXPECTEDPASS"]
print(f"tests: {passed} passed, {failed} failed, {counts['SKIP']} skipped")
PY
exit $status
