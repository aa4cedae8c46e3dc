#!/usr/bin/env bash
# Set up rchain in ./.venv on a fresh machine: `bash scripts/setup.sh [EXTRA,...]`.
#   bash scripts/setup.sh            the CLI, the console, ms-swift and evalscope (the whole chain
#                                    but vLLM, which needs a GPU: add `serve` on a GPU box)
#   bash scripts/setup.sh test       plus what the test suite needs
# torch is installed first, pinned to the CPU build that ms-swift and evalscope can use here;
# any other spec would pull a multi-GB CUDA build. On a GPU box install your CUDA torch first.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="train,eval${1:+,$1}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    "${pip[@]}" "torch==2.13.0"
fi
"${pip[@]}" -e ".[$extras]"
echo "rchain $(.venv/bin/python -c 'import rchain; print(rchain.__version__)') is set up in .venv" >&2
