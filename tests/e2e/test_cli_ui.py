"""`heron ui`: the dashboard on the local store, on 127.0.0.1."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx


def test_heron_ui_serves_the_dashboard_of_the_local_store(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env["HERON_HOME"] = str(tmp_path / "home")
    seed = "import heron; heron.set_experiment('ui-check'); heron.start_run(); heron.end_run()"
    subprocess.run([sys.executable, "-c", seed], cwd=tmp_path, env=env, check=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "heron", "ui", "--port", "0", "--no-browser"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 60
        lines = []
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        assert url, "".join(lines)
        for _ in range(100):
            try:
                home = httpx.get(url + "/", follow_redirects=False)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert home.status_code == 307 and home.headers["location"] == "/experiments"
        page = httpx.get(url + "/experiments")
        assert page.status_code == 200 and "ui-check" in page.text
    finally:
        process.terminate()
        process.wait(30)
