"""Benchmarks: s3torch side by side with s3torchconnector, boto3 and raw awscrt.

``make bench`` (or ``python benchmarks/run.py``) starts each server on loopback, uploads the data
once, then runs every (workload, client) pair ``--runs`` times, each run in a fresh process, and
writes ``benchmarks/results/latest.{json,md}`` and ``ratios.png``. See doc/benchmarks.md.

    python benchmarks/run.py                      # everything, full sizes (~15 minutes)
    python benchmarks/run.py --quick              # small sizes, one run each (a few minutes)
    python benchmarks/run.py --only W1,W3 --servers localbucket --runs 5
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "python"))

from harness import datagen, report  # noqa: E402
from harness.crt import RawS3  # noqa: E402
from harness.proxy import DelayProxy  # noqa: E402
from harness.servers import Server, client_env, make_server  # noqa: E402
from harness.spec import (  # noqa: E402
    ADDED_RTT_MS,
    CLIENTS,
    FULL,
    GIB,
    QUICK,
    S3_NET_DATA,
    S3_NET_SUFFIX,
    SCALE,
    SERVERS,
    WORKLOADS,
    S3Net,
    Scale,
    Workload,
    data_sets_needed,
    s3_net_data_sets_needed,
)
from harness.workloads import implementations  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="s3torch benchmarks against s3torchconnector, boto3 and raw awscrt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="workloads: " + ", ".join(f"{w.id} ({w.title})" for w in WORKLOADS),
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 run each")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="full sizes, but 1,000,000 keys for W6/W6n (generating them takes long)",
    )
    parser.add_argument("--only", help="comma-separated workload ids (default: all)")
    parser.add_argument("--clients", help=f"comma-separated, from {','.join(CLIENTS)}")
    parser.add_argument("--servers", help=f"comma-separated, from {','.join(SERVERS)}")
    parser.add_argument("--runs", type=int, help="runs per figure (default 3; 1 with --quick)")
    parser.add_argument(
        "--matrix",
        choices=("default", "all"),
        default="default",
        help="'all' runs every workload on every server (slower)",
    )
    parser.add_argument(
        "--data-dir",
        help="where servers keep data (default: /dev/shm if it has room to spare, else /tmp)",
    )
    parser.add_argument(
        "--plain-localbucket",
        action="store_true",
        help="run localbucket as installed (Nagle's algorithm on, request log on)",
    )
    parser.add_argument("--output", default=str(HERE / "results"), help="results directory")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run")
    parser.add_argument(
        "--max-run-s",
        type=float,
        help="stop a loop over many objects (W1, W1n, W2, W6, W6n, W7, a peer's M1) after this "
        "many seconds and report its rate so far; 0: never (default 3)",
    )
    parser.add_argument(
        "--net",
        default="loopback,s3",
        help="networks to run on, comma-separated: 'loopback' (as is, some workloads +10 ms), "
        "'s3' (every client through a proxy shaped like S3; see doc/benchmarks.md)",
    )
    parser.add_argument(
        "--net-rate-mib",
        type=float,
        default=S3Net.rate_mib,
        help=f"--net s3: MiB/s per connection (default {S3Net.rate_mib:g})",
    )
    parser.add_argument(
        "--net-first-byte-ms",
        type=float,
        default=S3Net.first_byte_ms,
        help=f"--net s3: ms to each response's first byte (default {S3Net.first_byte_ms:g})",
    )
    parser.add_argument("--caveat", default="", help="a line to print above the results")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: write latest.md and ratios.png again from --output's latest.json",
    )
    args = parser.parse_args(argv)
    args.workloads = _pick(args.only, [w.id for w in WORKLOADS], "workload")
    args.client_list = _pick(args.clients, list(CLIENTS), "client")
    args.server_list = _pick(args.servers, list(SERVERS), "server")
    args.net_list = _pick(args.net, ["loopback", "s3"], "network")
    if args.net_rate_mib <= 0 or args.net_first_byte_ms < 0:
        parser.error("--net-rate-mib must be positive and --net-first-byte-ms not negative")
    args.s3_net = S3Net(rate_mib=args.net_rate_mib, first_byte_ms=args.net_first_byte_ms)
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.max_run_s is None:
        args.max_run_s = 3.0
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.quick and args.scale:
        parser.error("--quick and --scale are two different sizes: choose one")
    return args


def _pick(text: str | None, choices: list[str], what: str) -> list[str]:
    if not text:
        return list(choices)
    picked = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in picked if item not in choices]
    if unknown:
        raise SystemExit(f"unknown {what}(s): {', '.join(unknown)}; choose from {choices}")
    return [item for item in choices if item in picked]


def log(text: str) -> None:
    print(text, flush=True)


class Zygote:
    """The process that forks one child per measured run (see harness/zygote.py)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.last_stacks = ""  # of a run that timed out, if py-spy could read them
        self.child: int | None = None  # the run in progress

    def start(self) -> None:
        with open(self.log_path, "a") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "harness.zygote"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
                env=self.env,
                cwd=str(ROOT),
                start_new_session=True,
            )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        if self._line(300) != "ready":
            raise RuntimeError(f"the benchmark zygote did not start; see {self.log_path}")

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def _line(self, timeout: float) -> str | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return "timeout"

    def run(self, spec_path: Path, result_path: Path, timeout: float) -> str | None:
        """Run one spec in a forked child; returns why it failed, or None."""
        self.last_stacks = ""
        if self.process is None or self.process.poll() is not None:
            self.lines = queue.Queue()
            self.start()
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"{spec_path} {result_path}\n")
        self.process.stdin.flush()
        started = self._line(60)
        if started is None or not started.startswith("started "):
            self.stop()
            return f"the zygote did not fork ({started!r}); see {self.log_path}"
        pid = self.child = int(started.split()[1])
        done = self._line(timeout)
        if done == "timeout":
            self.last_stacks = _stacks(pid)
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(OSError):
                    kill(pid, signal.SIGKILL)
            self._line(60)
            self.child = None
            return f"timed out after {timeout:.0f} s"
        if done is None or not done.startswith("done "):
            self.stop()
            return f"the zygote went away; see {self.log_path}"
        self.child = None
        status = int(done.split()[2])
        return None if status == 0 else f"exit status {status}; see {self.log_path}"

    def stop(self) -> None:
        child, self.child = self.child, None
        if child is not None:  # interrupted in the middle of a run: its group goes too
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(OSError):
                    kill(child, signal.SIGKILL)
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGKILL)
        process.wait()
        for stream in (process.stdin, process.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


def _stacks(pid: int) -> str:
    """The Python (and native) stacks of a process, by py-spy, if it is installed and allowed."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        return ""
    try:
        out = subprocess.run(
            [str(py_spy), "dump", "--native", "--pid", str(pid)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"py-spy failed: {err}"
    return (out.stdout + out.stderr)[-12000:]


def run_worker(spec: dict[str, Any], zygote: Zygote, timeout: float, scratch: Path) -> dict:
    spec_path, result_path = scratch / "spec.json", scratch / "result.json"
    spec_path.write_text(json.dumps(spec))
    result_path.unlink(missing_ok=True)
    started = time.monotonic()
    failure = zygote.run(spec_path, result_path, timeout)
    if result_path.exists():
        result: dict[str, Any] = json.loads(result_path.read_text())
    else:
        result = {"status": "error", "note": failure or "no result"}
        if zygote.last_stacks:
            result["stacks"] = zygote.last_stacks
    result["process_s"] = time.monotonic() - started
    return result


def proxy_round_trip_ms(endpoint: str, samples: int = 7) -> float:
    """Median time of a ListBuckets on a warm connection, in milliseconds."""
    parts = urlsplit(endpoint)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    times = []
    try:
        for _ in range(samples + 1):
            started = time.perf_counter()
            connection.request("GET", "/")
            connection.getresponse().read()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return statistics.median(times[1:])


def bytes_needed(
    server: str, scale: Scale, data_sets: set[str], workloads: list[str], runs: int
) -> int:
    """Bytes a server's data takes at most (generated data, and what the writes leave)."""
    need = 0
    if "small" in data_sets:
        need += scale.small_count * scale.small_size
    if "rtt" in data_sets:
        need += scale.rtt_count * scale.small_size
    if "blob" in data_sets:
        need += scale.blob_size
    if "netblob" in data_sets:
        need += scale.net_blob_size
    if "checkpoint" in data_sets:
        need += scale.checkpoint_bytes
    if "netcheckpoint" in data_sets:
        need += scale.net_checkpoint_bytes
    if "stream" in data_sets:  # localbucket keeps the parts until it joins them
        need += scale.stream_size * (2 if server == "localbucket" else 1)
    if "shards" in data_sets:
        need += scale.shard_count * scale.shard_members * (scale.member_size + 512)
    saves = sum(1 for workload in ("W4", "W4n") if workload in workloads)
    if saves:
        # A checkpoint and its parts; SeaweedFS keeps deleted ones until it compacts.
        copies = 2 if server == "localbucket" else saves * len(CLIENTS) * runs
        need += copies * scale.checkpoint_bytes
    return int(need * 1.3) + GIB


def plan(
    args: argparse.Namespace,
) -> tuple[dict[str, list[Workload]], dict[str, list[Workload]], list[dict[str, str]]]:
    """Which workloads run on which server, on loopback and through the S3-shaped network, and
    what is left out and why."""
    chosen: dict[str, list[Workload]] = {}
    shaped: dict[str, list[Workload]] = {}
    skipped: list[dict[str, str]] = []
    for name in args.server_list:
        for workload in WORKLOADS:
            if workload.id not in args.workloads:
                continue
            if "s3" in args.net_list and name in workload.s3_net_servers:
                shaped.setdefault(name, []).append(workload)
            if "loopback" not in args.net_list:
                continue
            if args.matrix == "default" and name not in workload.servers:
                why = workload.skipped_because.get(name, "not in the default matrix")
                skipped.append({"server": name, "workload": workload.id, "why": why})
                continue
            chosen.setdefault(name, []).append(workload)
    return chosen, shaped, skipped


def data_sets_of(workloads: list[Workload], shaped: list[Workload]) -> set[str]:
    return data_sets_needed([w.id for w in workloads]) | s3_net_data_sets_needed(
        [w.id for w in shaped]
    )


def data_base(args: argparse.Namespace, need: int, scale: Scale) -> Path:
    """Where the servers keep their data: ``--data-dir``, else memory if there is room."""
    if args.data_dir:
        return Path(args.data_dir)
    shm = Path("/dev/shm")
    # Room for the clients too: s3torchconnector keeps all of M1's object in memory, and W5
    # holds a checkpoint several times over.
    headroom = 4 * GIB + max(2 * scale.stream_size, 4 * scale.checkpoint_bytes)
    if shm.is_dir() and os.access(shm, os.W_OK):
        available = _mem_available()
        if shutil.disk_usage(shm).free > need + GIB and available > need + headroom:
            return shm
    return Path(tempfile.gettempdir())


def _mem_available() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def bench_server(
    name: str,
    workloads: list[Workload],
    shaped: list[Workload],
    args: argparse.Namespace,
    scale: Scale,
    data_root: Path,
    runs: dict[tuple[str, str, str], list[dict[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """All chosen workloads on one server, on loopback and then through the S3-shaped proxy.

    Returns the description of each section of results: ``name``, and ``name --net s3``.
    """
    data_sets = data_sets_of(workloads, shaped)
    server_dir = data_root / name
    ids = [w.id for w in workloads] + [w.id for w in shaped]
    need = bytes_needed(name, scale, data_sets, ids, args.runs)
    free = shutil.disk_usage(data_root).free
    if free < need:
        raise SystemExit(
            f"{data_root} has {free / GIB:.1f} GiB free; the {name} data needs about "
            f"{need / GIB:.1f} GiB (use --data-dir, or --quick)"
        )
    server = make_server(name, server_dir, tuned=not args.plain_localbucket)
    sections: dict[str, dict[str, Any]] = {}
    log(f"== {name}: starting")
    server.start()
    try:
        description = server.describe()
        raw = RawS3(
            server.endpoint,
            region=server.region,
            access_key=server.access_key,
            secret_key=server.secret_key,
        )
        started = time.monotonic()
        log(f"== {name}: uploading data ({', '.join(sorted(data_sets)) or 'none'})")
        manifest = datagen.generate(raw, scale, data_sets, log=log, data_root=server.object_files)
        description["data_upload_s"] = time.monotonic() - started
        del raw
        env = client_env(server)
        with tempfile.TemporaryDirectory(prefix="s3torch-bench-") as scratch:
            zygote = Zygote(env, Path(scratch) / "workers.log")
            try:
                if workloads:
                    sections[name] = description
                    proxy = None
                    if any(w.proxied for w in workloads):
                        proxy = DelayProxy(server.endpoint, ADDED_RTT_MS / 2)
                    with _running(proxy, server, description, "proxy", name):
                        run_all(
                            name, workloads, args, scale, server, proxy, False, manifest,
                            zygote, Path(scratch), runs,
                        )  # fmt: skip
                if shaped:
                    net = args.s3_net
                    section = name + S3_NET_SUFFIX
                    sections[section] = {**description, "net": net.as_dict()}
                    proxy = DelayProxy(
                        server.endpoint, net.delay_ms, net.rate_mib, net.first_byte_ms
                    )
                    # The s3 runs read the smaller large objects, under the usual names.
                    net_manifest = dict(manifest)
                    for usual, smaller in S3_NET_DATA.items():
                        if smaller in manifest:
                            net_manifest[usual] = manifest[smaller]
                    with _running(proxy, server, sections[section]["net"], None, section):
                        run_all(
                            section, shaped, args, scale.for_s3_net(), server, proxy, True,
                            net_manifest, zygote, Path(scratch), runs,
                        )  # fmt: skip
            finally:
                zygote.stop()
                log_tail = _tail(Path(scratch) / "workers.log")
                if log_tail:
                    description["workers_log_tail"] = log_tail
        return sections
    finally:
        server.stop()
        shutil.rmtree(server_dir, ignore_errors=True)
        log(f"== {name}: stopped")


@contextlib.contextmanager
def _running(
    proxy: DelayProxy | None,
    server: Server,
    description: dict[str, Any],
    key: str | None,
    section: str,
) -> Any:
    """Starts the proxy (if any) for a section, notes the round trip it adds, stops it after."""
    if proxy is None:
        yield
        return
    proxy.start()
    try:
        direct = proxy_round_trip_ms(server.endpoint)
        delayed = proxy_round_trip_ms(proxy.endpoint)
        measured = {
            "delay_ms": proxy.delay_ms,
            "direct_rtt_ms": direct,
            "proxied_rtt_ms": delayed,
            "added_rtt_ms": delayed - direct,
        }
        if key is None:
            description.update(measured)
        else:
            description[key] = measured
        log(f"== {section}: the proxy adds {delayed - direct:.1f} ms to a small request")
        yield
    finally:
        proxy.stop()


def _tail(path: Path, size: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-size:]
    return ""


def run_all(
    name: str,
    workloads: list[Workload],
    args: argparse.Namespace,
    scale: Scale,
    server: Server,
    proxy: DelayProxy | None,
    shaped: bool,
    manifest: dict[str, Any],
    zygote: Zygote,
    scratch: Path,
    runs: dict[tuple[str, str, str], list[dict[str, Any]]],
) -> None:
    """Every run of every (workload, client) pair on one server, runs of clients interleaved
    (each round in another order).

    ``shaped``: every workload goes through ``proxy``; otherwise only the ``proxied`` ones.
    """
    for workload in workloads:
        through_proxy = proxy is not None and (shaped or workload.proxied)
        endpoint = proxy.endpoint if proxy is not None and through_proxy else server.endpoint
        pids = {"server": server.pid}
        if proxy is not None and through_proxy:
            pids["proxy"] = proxy.pid
        implemented = implementations(workload.id)
        shared = share_runs(name, workload, args.client_list, runs)
        for run in range(args.runs):
            # Each round starts with another client, so that no client always runs first after
            # the previous workload (or the upload) has left the server and the caches busy.
            turn = run % len(args.client_list)
            for client in args.client_list[turn:] + args.client_list[:turn]:
                if client not in implemented or client in shared:
                    continue  # a peer with no natural way to do this workload, or done
                key = (name, workload.id, client)
                earlier = runs.get(key, [])
                if earlier and earlier[-1].get("status") == "n/a":
                    continue  # an API that is missing stays missing
                spec = {
                    "workload": workload.id,
                    "client": client,
                    "endpoint": endpoint,
                    "server_endpoint": server.endpoint,
                    "region": server.region,
                    "access_key": server.access_key,
                    "secret_key": server.secret_key,
                    "manifest": manifest,
                    "scale": scale.as_dict(),
                    "run": run,
                    "pids": pids,
                    "max_run_s": args.max_run_s,
                }
                if through_proxy and proxy is not None:
                    proxy.counters()  # from zero for this run
                result = run_worker(spec, zygote, args.timeout, scratch)
                if through_proxy and proxy is not None and result.get("status") == "ok":
                    counted = proxy.counters()
                    result["proxy_bulk_connections"] = counted["bulk"]
                    result["proxy_peak_connections"] = counted["peak_open"]
                    result["proxy_connections_opened"] = counted["opened"]
                runs.setdefault(key, []).append(result)
                log(_progress(name, workload.id, client, run, args.runs, result))


def share_runs(
    section: str,
    workload: Workload,
    clients: list[str],
    runs: dict[tuple[str, str, str], list[dict[str, Any]]],
) -> set[str]:
    """Copy the runs of the clients that do ``workload`` as they did an earlier workload of this
    section (``Workload.runs_of``); returns those clients, whose runs need not be repeated."""
    if workload.runs_of is None:
        return set()
    source, sharing = workload.runs_of
    shared = set()
    for client in sharing:
        earlier = runs.get((section, source, client))
        if client in clients and earlier:
            runs[(section, workload.id, client)] = [
                {**run, "shared_from": source} for run in earlier
            ]
            shared.add(client)
            log(f"[{section} {workload.id} {client}] the {len(earlier)} run(s) of {source} serve")
    return shared


def _progress(server: str, workload: str, client: str, run: int, total: int, result: dict) -> str:
    head = f"[{server} {workload} {client} {run + 1}/{total}]"
    if result.get("status") != "ok":
        note = " ".join(str(result.get("note", "")).split())[:300]
        return f"{head} {result.get('status')}: {note}"
    unit = next(w.unit for w in WORKLOADS if w.id == workload)
    extra = f", server {result['server_cores']:.2f} cores" if result.get("server_cores") else ""
    if result.get("proxy_cores") is not None:
        extra += f", proxy {result['proxy_cores']:.2f} cores"
    return (
        f"{head} {result['rate']:,.1f} {unit} in {result['wall_s']:.2f} s, "
        f"client {result['client_cores']:.2f} cores{extra}, "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB"
    )


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for package in ("s3torch", "s3torchconnector", "boto3", "awscrt", "torch", "localbucket"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[package] = metadata.version(package)
    with contextlib.suppress(Exception):
        import s3torch

        out["s3torch"] = s3torch.__version__
    with contextlib.suppress(Exception):
        out["s3torch_commit"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return f"{os.cpu_count()} CPUs ({cpu}), {memory:.0f} GiB RAM, Linux {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        output = Path(args.output)
        document = report.rebuild(json.loads((output / "latest.json").read_text()))
        log("wrote " + ", ".join(str(p) for p in report.write(document, output)))
        return 0
    scale = QUICK if args.quick else SCALE if args.scale else FULL
    started_at = datetime.now(timezone.utc)
    started = time.monotonic()
    chosen, shaped, skipped = plan(args)
    names = [name for name in args.server_list if name in chosen or name in shaped]
    need = max(
        (
            bytes_needed(
                name,
                scale,
                data_sets_of(chosen.get(name, []), shaped.get(name, [])),
                [w.id for w in chosen.get(name, []) + shaped.get(name, [])],
                args.runs,
            )
            for name in names
        ),
        default=0,
    )
    base = data_base(args, need, scale)
    base.mkdir(parents=True, exist_ok=True)
    data_root = Path(tempfile.mkdtemp(prefix="s3torch-bench-data-", dir=base))
    runs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    servers: dict[str, Any] = {}
    mode = "quick" if args.quick else "scale" if args.scale else "full"
    log(
        f"s3torch benchmarks: {mode} sizes, {args.runs} run(s), "
        f"servers {','.join(args.server_list)}, data in {data_root}"
    )
    try:
        for name in names:
            servers.update(
                bench_server(
                    name, chosen.get(name, []), shaped.get(name, []), args, scale, data_root, runs
                )
            )
    finally:
        shutil.rmtree(data_root, ignore_errors=True)
    meta = {
        "mode": mode,
        "started": started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "total_s": time.monotonic() - started,
        "runs": args.runs,
        "machine": machine(),
        "load_average_at_end": os.getloadavg(),
        "versions": versions(),
        "scale": scale.as_dict(),
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "caveat": args.caveat,
        "max_run_s": args.max_run_s,
        "net": args.net_list,
    }
    document = report.build(meta, servers, runs, skipped)
    paths = report.write(document, Path(args.output))
    log(f"done in {meta['total_s'] / 60:.1f} min: " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
