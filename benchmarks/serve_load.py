"""Load test of ``explainmyxray serve`` on loopback: a fixed number of one-radiograph jobs from
concurrent clients; stops by itself.

Starts the server (a subprocess on a free loopback port, fresh data folder), then N async httpx
clients submit JOBS jobs in total (each with an Idempotency-Key, so a retried submission cannot
duplicate a job) and poll each to its end. Afterwards every job is checked: it finished, it holds
exactly one case, that case's report.json is served and lists the supplied findings, and the job
folders on disk hold exactly one case each (0 lost, 0 duplicated). Beside the service's figures:
the one-shot CLI (``explainmyxray run`` on the one image, a new process each time, models loaded
each time) and an offline batch run of the CLI over several copies of the image.

    python benchmarks/serve_load.py                       # 200 jobs, 20 clients, default, CPU
    python benchmarks/serve_load.py --pipeline full --device cuda --offline-images 200

Prints a table and writes benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REPORT = (
    "FINDINGS: Cardiomegaly. Small left pleural effusion. No pneumothorax.\n"
    "IMPRESSION: Cardiomegaly with a small left effusion."
)
TERMINAL = {"finished", "failed", "cancelled"}


def default_image() -> Path:
    """NIH ChestX-ray14 00000001_000 (PA, labelled Cardiomegaly, as the supplied report says)."""
    shared = Path(os.environ.get("EXPLAINMYXRAY_SHARED_DATA") or REPO.parent / "shared" / "data")
    image = shared / "cxr" / "nih_00000001_000.png"
    if not image.is_file():
        raise SystemExit(f"{image} is absent: pass --image or set EXPLAINMYXRAY_SHARED_DATA")
    return image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "explainmyxray", *args]


def environment() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def start_server(args: argparse.Namespace, data: Path, log: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    command = cli("serve", args.pipeline, "--port", str(port), "--data", str(data))
    command += ["--batch-window-ms", str(args.window_ms), "--max-active-jobs", "100000"]
    command += ["--rate-limit", "1000000", "--max-upload-mb", "256"]
    if args.device:
        command += ["--device", args.device]
    if args.preload:
        command += ["--preload"]
    env = environment()
    env.pop("EXPLAINMYXRAY_API_TOKEN", None)
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server was not ready in 300 s:\n{log.read_text()[-3000:]}")


async def load(
    url: str, image: Path, jobs: int, clients: int, poll_s: float, time_limit: float | None
) -> dict:
    import httpx

    payload = image.read_bytes()
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    outcomes: dict[int, dict] = {}
    next_job = iter(range(jobs))
    stop_submitting = time.monotonic() + time_limit if time_limit else None

    async def one(client: httpx.AsyncClient, n: int) -> None:
        started = time.perf_counter()
        files = [("files", (image.name, payload, "application/octet-stream"))]
        for _attempt in range(5):
            answer = await client.post(
                "/v1/jobs",
                files=files,
                data={"report": REPORT},
                headers={"Idempotency-Key": f"load-{n}"},
            )
            statuses[answer.status_code] += 1
            if answer.status_code == 202:
                break
            await asyncio.sleep(float(answer.headers.get("retry-after", 1)))
        else:
            outcomes[n] = {"state": "not accepted"}
            return
        job_id = answer.json()["id"]
        wait = poll_s
        while True:
            answer = await client.get(f"/v1/jobs/{job_id}")
            statuses[answer.status_code] += 1
            job = answer.json()
            if job["state"] in TERMINAL:
                break
            await asyncio.sleep(wait)
            wait = min(2.0, wait * 1.5)  # back off as clients of a slow service do
        latencies.append(time.perf_counter() - started)
        outcomes[n] = job
        if len(outcomes) % 10 == 0:
            print(
                f"{len(outcomes)} jobs done after {time.perf_counter() - begun:.0f} s", flush=True
            )

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=600) as client:
            for n in next_job:
                if stop_submitting and time.monotonic() > stop_submitting:
                    break
                await one(client, n)

    started = begun = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - started
    return {"wall_s": wall, "statuses": statuses, "latencies": latencies, "outcomes": outcomes}


def check(url: str, data: Path, outcomes: dict[int, dict], jobs: int) -> dict:
    """Count lost and duplicated cases from the API and from the job folders on disk."""
    import httpx

    lost, duplicated, wrong = [], [], []
    ids = [o.get("id") for o in outcomes.values()]
    with httpx.Client(base_url=url, timeout=60) as client:
        for n in range(jobs):
            job = outcomes.get(n)
            if not job or job.get("state") != "finished":
                lost.append(n)
                continue
            if job["total"] != 1:
                duplicated.append(n)
            case = job["cases"][0]
            report = client.get(case["report"])
            if report.status_code != 200:
                lost.append(n)
                continue
            present = {f["label"] for f in (report.json()["report"] or {}).get("findings", [])}
            if "cardiomegaly" not in present:
                wrong.append(n)
            folder = data / "jobs" / job["id"] / "cases"
            if len(list(folder.iterdir())) != 1:
                duplicated.append(n)
        metrics = client.get("/metrics").text
    duplicated += [i for i, c in Counter(ids).items() if c > 1 and i]
    return {
        "lost": len(lost),
        "duplicated": len(duplicated),
        "wrong_report": len(wrong),
        "metrics": metrics,
    }


def metric_values(text: str, name: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        m = re.match(rf"^{name}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if m:
            values[m.group(1) or ""] = float(m.group(2))
    return values


def one_shot_cli(args: argparse.Namespace, image: Path, runs: int) -> dict:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            command = cli("run", args.pipeline, str(image), "--report", REPORT, "--out", out)
            if args.device:
                command += ["--device", args.device]
            started = time.perf_counter()
            subprocess.run(command, env=environment(), check=True, capture_output=True, cwd=REPO)
            times.append(time.perf_counter() - started)
    return {"runs": runs, "seconds_per_image_median": round(statistics.median(times), 3)}


def offline_batch(args: argparse.Namespace, image: Path, count: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for i in range(count):
            shutil.copyfile(image, folder / f"{i:04d}{image.suffix}")
            (folder / f"{i:04d}.txt").write_text(REPORT)
        command = cli("run", args.pipeline, str(folder), "--out", str(Path(tmp) / "out"))
        if args.device:
            command += ["--device", args.device]
        started = time.perf_counter()
        subprocess.run(command, env=environment(), check=True, capture_output=True, cwd=REPO)
        seconds = time.perf_counter() - started
    return {
        "images": count,
        "seconds": round(seconds, 2),
        "seconds_per_image": round(seconds / count, 3),
        "reports_per_minute": round(60 * count / seconds, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline", default="default")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: the pipeline's)")
    parser.add_argument("--image", type=Path, help="the radiograph (default: NIH 00000001_000.png)")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--window-ms", type=float, default=100, help="the server's batch window")
    parser.add_argument(
        "--poll", type=float, default=0.25, help="first wait between polls (backs off to 2 s)"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        help="stop submitting after this many seconds (in-flight jobs still finish)",
    )
    parser.add_argument("--preload", action="store_true", help="load models at server start")
    parser.add_argument("--one-shot-runs", type=int, default=3)
    parser.add_argument("--offline-images", type=int, default=16)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "serve_load.json")
    args = parser.parse_args()
    image = args.image or default_image()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        process, url = start_server(args, data, Path(tmp) / "server.log")
        try:
            result = asyncio.run(
                load(url, image, args.jobs, args.clients, args.poll, args.time_limit)
            )
            submitted = len(result["outcomes"])
            checked = check(url, data, result["outcomes"], submitted)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
    load_during = os.getloadavg()
    one_shot = one_shot_cli(args, image, args.one_shot_runs)
    offline = offline_batch(args, image, args.offline_images)
    load_after = os.getloadavg()

    metrics = checked.pop("metrics")
    cases_run = metric_values(metrics, "explainmyxray_batch_cases_sum").get("", 0.0)
    batches = metric_values(metrics, "explainmyxray_batch_cases_count").get("", 0.0)
    loads = metric_values(metrics, "explainmyxray_model_loads_total")
    latencies = result["latencies"]
    fivexx = sum(n for code, n in result["statuses"].items() if code >= 500)
    wall = result["wall_s"]
    report = {
        "pipeline": args.pipeline,
        "device": args.device or "pipeline default",
        "image": image.name,
        "jobs": args.jobs,
        "jobs_submitted": submitted,
        "stopped_by_time_limit": submitted < args.jobs,
        "clients": args.clients,
        "batch_window_ms": args.window_ms,
        "lost": checked["lost"],
        "duplicated": checked["duplicated"],
        "wrong_report": checked["wrong_report"],
        "http_5xx": fivexx,
        "http_statuses": {str(k): v for k, v in sorted(result["statuses"].items())},
        "latency_s": {
            "p50": round(percentile(latencies, 0.50), 3),
            "p95": round(percentile(latencies, 0.95), 3),
            "max": round(max(latencies), 3),
        },
        "wall_s": round(wall, 2),
        "throughput_jobs_per_min": round(60 * len(latencies) / wall, 2),
        "service_seconds_per_image": round(wall / max(1, len(latencies)), 3),
        "batches": int(batches),
        "mean_cases_per_batch": round(cases_run / batches, 2) if batches else None,
        "model_loads": {k.split('"')[1]: int(v) for k, v in loads.items() if '"' in k},
        "one_shot_cli": one_shot,
        "offline_batch_cli": offline,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after_load_test": [round(x, 2) for x in load_during],
            "loadavg_after_cli": [round(x, 2) for x in load_after],
        },
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    rows = [
        ("jobs (submitted) / clients", f"{args.jobs} ({submitted}) / {args.clients}"),
        ("lost / duplicated / 5xx", f"{report['lost']} / {report['duplicated']} / {fivexx}"),
        ("latency p50 / p95", f"{report['latency_s']['p50']} s / {report['latency_s']['p95']} s"),
        ("throughput", f"{report['throughput_jobs_per_min']} jobs/min"),
        ("service s/image", str(report["service_seconds_per_image"])),
        ("one-shot CLI s/image", str(one_shot["seconds_per_image_median"])),
        (f"offline CLI batch s/image ({args.offline_images})", str(offline["seconds_per_image"])),
        ("batches (mean cases)", f"{report['batches']} ({report['mean_cases_per_batch']})"),
        ("model loads", json.dumps(report["model_loads"])),
        ("load average (before → after)", f"{load_before[0]:.2f} → {load_during[0]:.2f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"wrote {args.out}")
    ok = report["lost"] == 0 and report["duplicated"] == 0 and fivexx == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
