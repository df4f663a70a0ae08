"""Load test of ``automl serve`` on loopback: requests/s, p50/p99 latency and errors, bounded in time.

Starts ``automl serve`` as a subprocess on 127.0.0.1 (a free port), then runs ``--clients`` threads that
each send one request after another (``--rows`` rows of the training sample per request, JSON) until
``--seconds`` (at most 60) have passed. Latency is measured by the client, around the whole HTTP call.

Usage::

    python -m benchmarks.serve_load MODEL_DIR [--seconds 30] [--clients 4] [--rows 1] [--log] [--onnx] [--workers 2]

Without MODEL_DIR, a model is fitted first on the bundled credit-g data (linear + LightGBM, 30 s). The
figures go to standard output and to ``benchmarks/results/serve_load.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "serve_load.md"
MAX_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fit_model(folder: Path) -> None:
    data = ROOT / "examples" / "data" / "credit-g.csv.gz"
    subprocess.run([sys.executable, "-m", "automl.cli", "fit", str(data), "--target", "class", "--time-budget",
                    "30", "--families", "linear,lightgbm", "--out", str(folder), "--quiet"], check=True,
                   env=_env(), stdout=subprocess.DEVNULL)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def start_server(model: Path, port: int, log: Path | None, onnx: Path | None = None, workers: int = 1
                 ) -> subprocess.Popen:
    # always named: automl serve's own default is one process per usable core
    cmd = [sys.executable, "-m", "automl.cli", "serve", str(model), "--port", str(port), "--workers", str(workers)]
    if log is not None:
        cmd += ["--log", str(log)]
    if onnx is not None:
        subprocess.run([sys.executable, "-m", "automl.cli", "export", str(model), "--out", str(onnx)], check=True,
                       env=_env(), stdout=subprocess.DEVNULL)
        cmd += ["--onnx", str(onnx)]
    # the server's messages go to a file: an unread pipe fills up and blocks the server
    errors = open(Path(tempfile.gettempdir()) / f"automl_serve_{port}.log", "w")
    server = subprocess.Popen(cmd, env=_env(), stderr=errors, stdout=errors, text=True)
    _wait_healthy(f"http://127.0.0.1:{port}", server)
    return server


def _wait_healthy(url: str, server: subprocess.Popen) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}: see {tempfile.gettempdir()}/automl_serve_*.log")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the server did not answer /health within 60 s")


def run_clients(url: str, payloads: list[dict[str, Any]], clients: int, seconds: float) -> dict[str, Any]:
    """Each client thread sends requests back to back until the time is up."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        mine, bad = [], []
        with httpx.Client(base_url=url, timeout=10) as http:
            i = index
            while time.monotonic() < stop:
                started = time.perf_counter()
                try:
                    answer = http.post("/predict", json=payloads[i % len(payloads)])
                    if answer.status_code != 200:
                        bad.append(f"{answer.status_code}: {answer.text[:100]}")
                except httpx.HTTPError as exc:
                    bad.append(type(exc).__name__)
                mine.append(time.perf_counter() - started)
                i += clients
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms), "errors": len(errors), "error_examples": errors[:3], "seconds": round(wall, 1),
            "requests_per_s": round(len(ms) / wall, 1), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "max_ms": round(float(ms.max()), 2)}


def payloads_from(model: Path, rows: int) -> list[dict[str, Any]]:
    from automl.io.persist import load_sample

    sample = load_sample(model)
    if sample is None:
        raise SystemExit(f"{model} keeps no training sample (sample.csv) to send")
    records = json.loads(sample[0].to_json(orient="records"))
    return [{"rows": records[i:i + rows]} for i in range(0, len(records) - rows + 1, rows)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rows", type=int, default=1, help="rows per request")
    parser.add_argument("--log", action="store_true", help="serve with a request log (in a temporary folder)")
    parser.add_argument("--onnx", action="store_true", help="export the model and serve the ONNX export")
    parser.add_argument("--workers", type=int, default=1, help="server processes (automl serve --workers)")
    args = parser.parse_args(argv)
    seconds = min(args.seconds, MAX_SECONDS)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else Path(tmp) / "model"
        if args.model is None:
            fit_model(model)
        port = free_port()
        server = start_server(model, port, Path(tmp) / "requests.jsonl" if args.log else None,
                              Path(tmp) / "model.onnx" if args.onnx else None, args.workers)
        load = os.getloadavg()[0]  # other work on the machine, before the load test adds its own
        try:
            result = run_clients(f"http://127.0.0.1:{port}", payloads_from(model, args.rows), args.clients, seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)
        if args.log:
            result["logged_lines"] = sum(1 for _ in open(Path(tmp) / "requests.jsonl"))
    result.update({"clients": args.clients, "rows_per_request": args.rows, "request_log": args.log,
                   "runtime": "onnx" if args.onnx else "python", "workers": args.workers, "load_before": load})
    print(json.dumps(result, indent=2))
    _append_markdown(result)
    return 1 if result["errors"] else 0


def _append_markdown(result: dict[str, Any]) -> None:
    header = ("| date (UTC) | runtime | workers | clients | rows/request | log | requests | req/s | p50 ms | p99 ms "
              "| max ms | errors | load before |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    line = (f"| {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} | {result['runtime']} | {result['workers']} "
            f"| {result['clients']} | {result['rows_per_request']} "
            f"| {'yes' if result['request_log'] else 'no'} | {result['requests']} | {result['requests_per_s']} "
            f"| {result['p50_ms']} | {result['p99_ms']} | {result['max_ms']} | {result['errors']} "
            f"| {result['load_before']:.2f} |\n")
    if not RESULTS.exists():
        RESULTS.write_text("# automl serve load test (loopback, 2 cores shared by client and server)\n\n" + header)
    with open(RESULTS, "a") as out:
        out.write(line)


if __name__ == "__main__":
    sys.exit(main())
