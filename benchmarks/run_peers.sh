#!/usr/bin/env bash
# Run the peer (MLflow) tracking benchmark in its own virtualenv, created on first use.
#   benchmarks/run_peers.sh [--quick] [--only NAME] [--search-runs 5000,100000]
# With --pipelines first, the pipeline peers (Prefect, Dagster) instead; with --serving first,
# `mlflow models serve` (benchmarks/peers/mlflow_serving.py); with --server first, `mlflow
# server` (benchmarks/peers/mlflow_server.py); with --scheduling first, Airflow 3's scheduler
# (benchmarks/peers/airflow_scheduling.py): see below.
# MLFLOW_VENV (default .venv-peers/mlflow) and MLFLOW_VERSION (default 3.17.2) override the defaults.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

# --- pipelines: Prefect and Dagster (benchmarks/peers/*_pipelines.py) ----------------------
#   benchmarks/run_peers.sh --pipelines [--quick] [--only NAME]
# PIPELINE_PEERS (default "prefect dagster") chooses the peers; PREFECT_VERSION (3.9.1) and
# DAGSTER_VERSION (1.13.*) the releases. Each gets .venv-peers/<peer> (with numpy) once.
if [ "${1:-}" = "--pipelines" ]; then
    shift
    prefect_version="${PREFECT_VERSION:-3.9.1}"
    dagster_version="${DAGSTER_VERSION:-1.13.*}"
    status=0
    for peer in ${PIPELINE_PEERS:-prefect dagster}; do
        pvenv="$here/../.venv-peers/$peer"
        if [ ! -x "$pvenv/bin/python" ] || ! "$pvenv/bin/python" -c "import $peer, numpy" 2>/dev/null; then
            echo "creating $pvenv" >&2
            python3 -m venv "$pvenv"
            case "$peer" in
            prefect)
                if ! "$pvenv/bin/pip" install --quiet "prefect==$prefect_version" numpy >&2; then
                    # Prefect 3.9.1 pins certifi>=2026.10.19, newer than some mirrors carry:
                    # install its requirements with certifi unpinned, then Prefect alone.
                    echo "retrying prefect with its certifi pin relaxed" >&2
                    wheels="$(mktemp -d)"
                    "$pvenv/bin/pip" download --quiet --no-deps -d "$wheels" "prefect==$prefect_version" >&2
                    "$pvenv/bin/python" - "$wheels"/prefect-*.whl > "$wheels/requirements.txt" <<'PY'
import re, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    for line in wheel.read(meta).decode().splitlines():
        if line.startswith("Requires-Dist: ") and "extra ==" not in line:
            req = line.split(": ", 1)[1]
            print("certifi" if re.match(r"certifi\b", req) else req)
PY
                    "$pvenv/bin/pip" install --quiet -r "$wheels/requirements.txt" numpy >&2
                    "$pvenv/bin/pip" install --quiet --no-deps "prefect==$prefect_version" >&2
                    rm -rf "$wheels"
                fi
                ;;
            dagster) "$pvenv/bin/pip" install --quiet "dagster==$dagster_version" numpy >&2 ;;
            *) echo "unknown pipeline peer: $peer" >&2; exit 2 ;;
            esac
        fi
        "$pvenv/bin/python" "$here/peers/${peer}_pipelines.py" "$@" || status=1
    done
    exit "$status"
fi

# --- scheduling: Airflow 3 (benchmarks/peers/airflow_scheduling.py) ------------------------
#   benchmarks/run_peers.sh --scheduling [--quick] [--only ticks|backfill] [--intervals N]
# AIRFLOW_VERSION (default 3.3.2) chooses the release; .venv-peers/airflow is made once, with
# Airflow's constraints file when the registry has it, else without.
if [ "${1:-}" = "--scheduling" ]; then
    shift
    airflow_version="${AIRFLOW_VERSION:-3.3.2}"
    avenv="$here/../.venv-peers/airflow"
    if [ ! -x "$avenv/bin/python" ] || ! "$avenv/bin/python" -c "import airflow" 2>/dev/null; then
        echo "creating $avenv with apache-airflow==$airflow_version" >&2
        [ -x "$avenv/bin/python" ] || python3 -m venv "$avenv"
        "$avenv/bin/pip" install --quiet "apache-airflow==$airflow_version" >&2
    fi
    exec "$avenv/bin/python" "$here/peers/airflow_scheduling.py" "$@"
fi

venv="${MLFLOW_VENV:-$here/../.venv-peers/mlflow}"
version="${MLFLOW_VERSION:-3.17.2}"

# --- serving: `mlflow models serve` (benchmarks/peers/mlflow_serving.py) ----------------------
#   benchmarks/run_peers.sh --serving [--quick] [--only NAME]
# Uses the same virtualenv as the tracking peer, with scikit-learn added (the served model).
if [ "${1:-}" = "--serving" ]; then
    shift
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import mlflow, sklearn" 2>/dev/null; then
        echo "creating $venv with mlflow==$version and scikit-learn" >&2
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "mlflow==$version" scikit-learn >&2
    fi
    exec "$venv/bin/python" "$here/peers/mlflow_serving.py" "$@"
fi

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import mlflow, psutil" 2>/dev/null; then
    echo "creating $venv with mlflow==$version" >&2
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "mlflow==$version" psutil >&2
fi

# --- server: `mlflow server` (benchmarks/peers/mlflow_server.py) ------------------------------
#   benchmarks/run_peers.sh --server [--quick] [--only NAME] [--workers 1,4]
if [ "${1:-}" = "--server" ]; then
    shift
    exec "$venv/bin/python" "$here/peers/mlflow_server.py" "$@"
fi

exec "$venv/bin/python" "$here/peers/mlflow_tracking.py" "$@"
