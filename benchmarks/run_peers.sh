#!/usr/bin/env bash
# Run the peer (MLflow) tracking benchmark in its own virtualenv, created on first use.
#   benchmarks/run_peers.sh [--quick] [--only NAME] [--search-runs 5000,100000]
# With --pipelines first, the pipeline peers (Prefect, Dagster) instead; with --serving first,
# `mlflow models serve` (benchmarks/peers/mlflow_serving.py); with --server first, `mlflow
# server` (benchmarks/peers/mlflow_server.py); with --scheduling first, Airflow 3's scheduler
# (benchmarks/peers/airflow_scheduling.py); with --monitoring first, Evidently's data-drift
# preset (benchmarks/peers/evidently_drift.py); with --distributed first, Prefect on Dask and Ray
# (benchmarks/peers/prefect_distributed.py); with --mlflow-compat first, the MLflow client against
# both servers (benchmarks/mlflow_compat.py); with --dashboard first, MLflow's UI in headless
# chromium (benchmarks/peers/mlflow_ui.py): see below.
# MLFLOW_VENV (default .venv-peers/mlflow) and MLFLOW_VERSION (default 3.17.2) override the defaults.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

# peer_venv DIR IMPORTS PACKAGE...: make DIR a virtualenv that can import IMPORTS (a Python
# import list), installing PACKAGE... into it the first time.
peer_venv() {
    local dir="$1" imports="$2"
    shift 2
    if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c "import $imports" 2>/dev/null; then
        echo "creating $dir with $*" >&2
        [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
        "$dir/bin/pip" install --quiet "$@" >&2
    fi
}

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

# --- distributed: Prefect on Dask and Ray (benchmarks/peers/prefect_distributed.py) ----------
#   benchmarks/run_peers.sh --distributed [--quick] [--only dask|ray|NAME]
# PREFECT_VERSION (default 3.9.1) chooses the release; .venv-peers/prefect-distributed gets
# prefect-dask, prefect-ray, dask[distributed], ray and numpy beside it once, with the same
# certifi workaround as the pipelines peer.
if [ "${1:-}" = "--distributed" ]; then
    shift
    prefect_version="${PREFECT_VERSION:-3.9.1}"
    dvenv="$here/../.venv-peers/prefect-distributed"
    dimports="prefect, prefect_dask, prefect_ray, distributed, ray, numpy"
    dextras=(prefect-dask prefect-ray "dask[distributed]" ray numpy)
    if [ ! -x "$dvenv/bin/python" ] || ! "$dvenv/bin/python" -c "import $dimports" 2>/dev/null; then
        echo "creating $dvenv" >&2
        [ -x "$dvenv/bin/python" ] || python3 -m venv "$dvenv"
        if ! "$dvenv/bin/pip" install --quiet "prefect==$prefect_version" "${dextras[@]}" >&2; then
            # Prefect 3.9.1 pins certifi>=2026.10.19, newer than some mirrors carry: install
            # its requirements with certifi unpinned, then Prefect alone, then the rest
            # (prefect-dask and prefect-ray need prefect, already there, so no pin again).
            echo "retrying prefect with its certifi pin relaxed" >&2
            wheels="$(mktemp -d)"
            "$dvenv/bin/pip" download --quiet --no-deps -d "$wheels" "prefect==$prefect_version" >&2
            "$dvenv/bin/python" - "$wheels"/prefect-*.whl > "$wheels/requirements.txt" <<'PY'
import re, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    for line in wheel.read(meta).decode().splitlines():
        if line.startswith("Requires-Dist: ") and "extra ==" not in line:
            req = line.split(": ", 1)[1]
            print("certifi" if re.match(r"certifi\b", req) else req)
PY
            "$dvenv/bin/pip" install --quiet -r "$wheels/requirements.txt" >&2
            "$dvenv/bin/pip" install --quiet --no-deps "prefect==$prefect_version" >&2
            # The integrations with their own requirements, Prefect's left as installed.
            for pkg in prefect-dask prefect-ray; do
                "$dvenv/bin/pip" install --quiet --no-deps "$pkg" >&2
            done
            "$dvenv/bin/pip" install --quiet "dask[distributed]" "ray[default]" numpy >&2
            rm -rf "$wheels"
        fi
    fi
    exec "$dvenv/bin/python" "$here/peers/prefect_distributed.py" "$@"
fi

# --- scheduling: Airflow 3 (benchmarks/peers/airflow_scheduling.py) ------------------------
#   benchmarks/run_peers.sh --scheduling [--quick] [--only ticks|backfill] [--intervals N]
# AIRFLOW_VERSION (default 3.3.2) chooses the release; .venv-peers/airflow is made once, with
# Airflow's constraints file when the registry has it, else without.
if [ "${1:-}" = "--scheduling" ]; then
    shift
    airflow_version="${AIRFLOW_VERSION:-3.3.2}"
    avenv="$here/../.venv-peers/airflow"
    peer_venv "$avenv" airflow "apache-airflow==$airflow_version"
    exec "$avenv/bin/python" "$here/peers/airflow_scheduling.py" "$@"
fi

# --- monitoring: Evidently (benchmarks/peers/evidently_drift.py) -----------------------------
#   benchmarks/run_peers.sh --monitoring [--quick]
# EVIDENTLY_VERSION (default 0.7.23) chooses the release; .venv-peers/evidently is made once,
# with pandas < 3 (Evidently 0.7 imports a helper pandas 3 removed).
if [ "${1:-}" = "--monitoring" ]; then
    shift
    evidently_version="${EVIDENTLY_VERSION:-0.7.23}"
    evenv="$here/../.venv-peers/evidently"
    peer_venv "$evenv" "evidently.presets, psutil" "evidently==$evidently_version" "pandas<3" psutil
    exec "$evenv/bin/python" "$here/peers/evidently_drift.py" "$@"
fi

venv="${MLFLOW_VENV:-$here/../.venv-peers/mlflow}"
version="${MLFLOW_VERSION:-3.17.2}"

# --- serving: `mlflow models serve` (benchmarks/peers/mlflow_serving.py) ----------------------
#   benchmarks/run_peers.sh --serving [--quick] [--only NAME]
# Uses the same virtualenv as the tracking peer, with scikit-learn added (the served model).
if [ "${1:-}" = "--serving" ]; then
    shift
    peer_venv "$venv" "mlflow, sklearn" "mlflow==$version" scikit-learn
    exec "$venv/bin/python" "$here/peers/mlflow_serving.py" "$@"
fi

peer_venv "$venv" "mlflow, psutil" "mlflow==$version" psutil

# --- server: `mlflow server` (benchmarks/peers/mlflow_server.py) ------------------------------
#   benchmarks/run_peers.sh --server [--quick] [--only NAME] [--workers 1,4]
if [ "${1:-}" = "--server" ]; then
    shift
    exec "$venv/bin/python" "$here/peers/mlflow_server.py" "$@"
fi

# --- dashboard: MLflow's UI in headless chromium (benchmarks/peers/mlflow_ui.py) ----------------
#   benchmarks/run_peers.sh --dashboard [--quick] [--only runs_table|compare] [--runs 100000]
# Uses the same virtualenv, with Playwright added (it drives Debian's chromium; no browser is
# downloaded).
if [ "${1:-}" = "--dashboard" ]; then
    shift
    peer_venv "$venv" "mlflow, psutil, playwright.sync_api" "mlflow==$version" psutil playwright
    exec "$venv/bin/python" "$here/peers/mlflow_ui.py" "$@"
fi

# --- MLflow compatibility: the MLflow client against `mlflow server` and `heron server` ------
#   benchmarks/run_peers.sh --mlflow-compat [--quick] [--only NAME] (benchmarks/mlflow_compat.py)
if [ "${1:-}" = "--mlflow-compat" ]; then
    shift
    exec "$venv/bin/python" "$here/mlflow_compat.py" "$@"
fi

exec "$venv/bin/python" "$here/peers/mlflow_tracking.py" "$@"
