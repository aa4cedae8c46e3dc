#!/usr/bin/env bash
# Set up rchain in ./.venv on a fresh machine: `bash scripts/setup.sh [EXTRA,...]`.
#   bash scripts/setup.sh            the CLI and the console
#   bash scripts/setup.sh test       plus what the test suite needs
# torch is installed first, pinned to the CPU build that ms-swift and evalscope can use here;
# any other spec would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

case ",$extras," in
    *,train,*|*,eval,*|*,all,*)
        "${pip[@]}" "torch==2.13.0" ;;
esac

if [ -n "$extras" ]; then
    "${pip[@]}" -e ".[$extras]"
else
    "${pip[@]}" -e .
fi
echo "rchain $(.venv/bin/python -c 'import rchain; print(rchain.__version__)') is set up in .venv" >&2
