#!/usr/bin/env bash
# Makes <repo>/.tools/py the Python environment pinned in
# quant/bench/requirements.txt (TA-Lib, backtesting.py and their dependencies),
# for compare.sh and quant/tests/golden/generate.py.
#
# Creates it when missing, and recreates it from scratch when the requirements
# differ from those it was built from (a copy is kept inside it), so a fresh
# clone and an old checkout both end up with exactly the pinned packages rather
# than whatever an earlier install left behind. When it is up to date this is a
# file comparison and nothing more. The copy is written last, so an install cut
# short is retried on the next run.
#
# Usage: quant/bench/python-env.sh
# Env: PYTHON3, the interpreter the environment is made from (default python3;
#      CPython 3.11 or later, which numpy 2.4 and pandas 3 require).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/.tools/py"
requirements="$here/requirements.txt"
installed="$venv/requirements.installed.txt"
base="${PYTHON3:-python3}"

if cmp -s "$requirements" "$installed" && "$venv/bin/python" -c '' 2>/dev/null; then
    exit 0
fi

if ! "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "python-env.sh: $base is missing or older than 3.11; set PYTHON3 to a CPython 3.11+ interpreter" >&2
    exit 1
fi

echo "== Python environment: building $venv from quant/bench/requirements.txt ($("$base" --version))" >&2
mkdir -p "$(dirname "$venv")"
"$base" -m venv --clear "$venv"
# Wheels only: TA-Lib's source distribution would need the TA-Lib C library
# installed system-wide, and a failure to find a wheel is clearer than a
# failed C build.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --only-binary=:all: --requirement "$requirements" >&2
cp "$requirements" "$installed"
