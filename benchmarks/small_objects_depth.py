"""W1 on localbucket by GETs in flight: what bounds small objects on a one-process server.

Standalone: starts localbucket (tuned as in ``make bench``) and uploads ``--count`` objects of
64 KiB under one prefix. Then, in a fresh process per run, it reads them all: with
``S3IterableDataset.from_prefix`` for s3torch at each ``--depths`` value of
``prefetch_objects`` and for s3torchconnector (one GET at a time), and for obstore as
``make bench`` does (list, then ``get_async`` with ``--obstore`` requests in flight, by batches
of 1,024). Runs are interleaved, each round in another order, and run to the end unless
``--max-run-s`` stops them (as ``make bench`` stops W1 after 3 s; obstore between batches).

Printed per client: objects/s (median and range), the server's CPU milliseconds per object,
the client's CPU milliseconds per object, and s3torch's ListObjectsV2 pages (from its client's
metrics), which show how far its listing ran ahead of a stopped run.

    python benchmarks/small_objects_depth.py                   # 10,000 objects, 3 rounds
    python benchmarks/small_objects_depth.py --max-run-s 3     # stopped as in make bench
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import datagen
from harness.crt import RawS3
from harness.servers import client_env, make_server
from harness.spec import FULL, REGION

# One run, in a process of its own: argv = library, depth, endpoint, uri, server pid, cap (s).
_RUN = r"""
import json, os, sys, time
from harness.measure import server_cpu_reader
library, depth, endpoint, uri, pid, cap = sys.argv[1:7]
cap = float(cap)
server_cpu = server_cpu_reader(int(pid))

def datasets():
    if library == "s3torch":
        import s3torch as module
        settings = {"prefetch_objects": int(depth)}
    else:
        import s3torchconnector as module
        settings = {}

    def build():
        return module.S3IterableDataset.from_prefix(
            uri, region=os.environ["AWS_REGION"], endpoint=endpoint, s3client_config=config,
            **settings)

    build()  # the client, built before the clock as make bench does
    return lambda: (len(reader.read()) for reader in build())

def obstore_batches():
    # As make bench's obstore peer: list, then get_async with `depth` in flight, by batches.
    import asyncio, obstore
    from harness.stores import obstore_store
    bucket, prefix = uri[len("s3://"):].split("/", 1)
    store = obstore_store(_Server(), bucket)

    async def fetch_all(keys):
        slots = asyncio.Semaphore(int(depth))
        async def fetch(key):
            async with slots:
                return len(await (await obstore.get_async(store, key)).bytes_async())
        return await asyncio.gather(*(fetch(key) for key in keys))

    def sizes():
        keys = [meta["path"] for page in obstore.list(store, prefix=prefix) for meta in page]
        for start in range(0, len(keys), 1024):
            yield from asyncio.run(fetch_all(keys[start:start + 1024]))
    return sizes

class _Server:
    endpoint, region = endpoint, os.environ["AWS_REGION"]
    access_key, secret_key = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]

if library != "obstore":
    config = __import__(library).S3ClientConfig(force_path_style=True)
sizes = obstore_batches() if library == "obstore" else datasets()
server0, client0, started = server_cpu(), time.process_time(), time.perf_counter()
count = 0
for size in sizes():
    if size != 65536:
        raise SystemExit(f"object {count}: {size} bytes")
    count += 1
    if cap and time.perf_counter() - started >= cap:
        break
wall = time.perf_counter() - started
result = {
    "rate": count / wall,
    "server_ms": 1000 * (server_cpu() - server0) / count,
    "client_ms": 1000 * (time.process_time() - client0) / count,
}
if library == "s3torch":
    from s3torch._datasets.clients import dataset_client
    metrics = dataset_client(os.environ["AWS_REGION"], endpoint, config).metrics()
    result["pages"] = metrics.get("requests.ListObjectsV2", 0)
print(json.dumps(result), flush=True)
os._exit(0)  # measured: skip teardown (obstore's runtime sometimes aborts at interpreter exit)
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=FULL.small_count, help="objects (10,000)")
    parser.add_argument("--depths", default="32,8,2,1", help="s3torch prefetch_objects values")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each client")
    parser.add_argument(
        "--obstore", type=int, default=64, help="obstore's GETs in flight (0: leave it out)"
    )
    parser.add_argument("--max-run-s", type=float, default=0.0, help="stop a run after S s")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    clients = [("s3torch", depth.strip()) for depth in args.depths.split(",")]
    clients.append(("s3torchconnector", "1"))
    if args.obstore:
        clients.append(("obstore", str(args.obstore)))
    with tempfile.TemporaryDirectory(prefix="s3torch-depth-") as scratch:
        server = make_server("localbucket", Path(scratch) / "data")
        server.start()
        try:
            raw = RawS3(
                server.endpoint,
                region=REGION,
                access_key=server.access_key,
                secret_key=server.secret_key,
            )
            scale = replace(FULL, small_count=args.count)
            manifest = datagen.generate(
                raw, scale, {"small"}, log=print, data_root=server.object_files
            )["small"]
            uri = f"s3://{manifest['bucket']}/{manifest['prefix']}"
            env = client_env(server)
            results: dict[tuple[str, str], list[dict[str, Any]]] = {c: [] for c in clients}
            for round_ in range(args.rounds):
                turn = round_ % len(clients)
                for library, depth in clients[turn:] + clients[:turn]:
                    command = [sys.executable, "-c", _RUN, library, depth, server.endpoint, uri]
                    command += [str(server.pid), str(args.max_run_s)]
                    out = subprocess.run(command, env=env, capture_output=True, text=True)
                    if out.returncode:
                        why = (out.stderr + out.stdout)[-3000:]
                        raise SystemExit(f"{library} failed ({out.returncode}):\n{why}")
                    results[(library, depth)].append(json.loads(out.stdout.splitlines()[-1]))
        finally:
            server.stop()
    print(f"{'client':<32} {'objects/s':>20} {'server ms':>10} {'client ms':>10} {'pages':>6}")
    for (library, depth), runs in results.items():
        rates = sorted(run["rate"] for run in runs)
        name = f"{library} ({depth} in flight)"
        pages = statistics.median(run.get("pages", 0) for run in runs)
        print(
            f"{name:<32} {statistics.median(rates):>8,.0f} ({rates[0]:,.0f}-{rates[-1]:,.0f})"
            f" {statistics.median(run['server_ms'] for run in runs):>10.2f}"
            f" {statistics.median(run['client_ms'] for run in runs):>10.2f}"
            f" {pages if library == 's3torch' else '':>6}"
        )


if __name__ == "__main__":
    main()
