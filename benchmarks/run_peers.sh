#!/usr/bin/env bash
# Run the peer (MLflow) tracking benchmark in its own virtualenv, created on first use.
#   benchmarks/run_peers.sh [--quick] [--only NAME] [--search-runs 5000,100000]
# MLFLOW_VENV (default .venv-peers/mlflow) and MLFLOW_VERSION (default 3.17.2) override the defaults.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
venv="${MLFLOW_VENV:-$here/../.venv-peers/mlflow}"
version="${MLFLOW_VERSION:-3.17.2}"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import mlflow" 2>/dev/null; then
    echo "creating $venv with mlflow==$version" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "mlflow==$version" >&2
fi

exec "$venv/bin/python" "$here/peers/mlflow_tracking.py" "$@"
