"""Where the time goes when one large object is read: s3torch against obstore, s3dlio and boto3.

Standalone (it does not use ``benchmarks/harness``). It starts a local SeaweedFS server (or
uses ``--endpoint``), writes one object per ``--sizes`` entry (random bytes, and a
``torch.save`` of one tensor of that size for the ``torch.load`` cases), then measures each case
in a fresh child process, the cases interleaved round after round (``--rounds``), so that a
busy machine slows every client alike rather than one of them.

A child reads the object once to warm up (connections, the CRT's buffer pool), then once
measured. It reports, for the measured read only:

- wall MiB/s;
- client CPU-s/GiB: user + system time of the whole client process (every thread), from
  ``getrusage``; the server is excluded;
- server CPU-s/GiB: the same for the SeaweedFS process, from ``/proc/<pid>/stat`` (only when
  this script started the server);
- page faults per GiB (minor faults of the client process; 262,144 per GiB is one per 4 KiB
  page of the destination).

Cases: ``s3torch.read`` (``reader.read()``), ``s3torch.readinto`` (into a freshly allocated
``bytearray``, allocation included) and ``s3torch.readinto_touched`` (into a buffer already
written once, as a reused buffer would be), ``s3torch.torch_load`` (``torch.load`` straight from
the reader); ``obstore.read`` (``obstore.get(...).bytes()``), ``s3dlio.read``
(``s3dlio.get``), ``boto3.read`` (``get_object()["Body"].read()``), and ``torch.load`` over the
bytes each peer returns (``obstore.torch_load``, ``boto3.torch_load``).

Usage::

    PYTHONPATH=python ~/.cache/s3torch/venv/bin/python benchmarks/large_object_profile.py \\
        --sizes 1024 256 --rounds 5 [--cases s3torch.read obstore.read] [--json out.json]

Prints a table of medians with the spread (min-max) over the rounds.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
GIB = 1024 * MIB
BUCKET = "large-profile"
PEERS = ("obstore.read", "s3dlio.read", "boto3.read", "obstore.torch_load", "boto3.torch_load")
OURS = ("s3torch.read", "s3torch.readinto", "s3torch.readinto_touched", "s3torch.torch_load")
CASES = OURS + PEERS


def _key(size_mib: int, kind: str) -> str:
    return f"{kind}-{size_mib}MiB"


# -- the child: one case, measured --------------------------------------------------------------


def _s3torch_client() -> Any:
    import s3torch

    return s3torch.S3Client(
        os.environ["AWS_REGION"],
        endpoint=os.environ["AWS_ENDPOINT_URL"],
        s3client_config=s3torch.S3ClientConfig(force_path_style=True),
    )


def _obstore_store() -> Any:
    from obstore.store import S3Store

    return S3Store(
        BUCKET,
        endpoint=os.environ["AWS_ENDPOINT_URL"],
        region=os.environ["AWS_REGION"],
        access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )


def _boto3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(s3={"addressing_style": "path"}))


def _reader(case: str, size_mib: int) -> Any:
    """A function reading the object once the way ``case`` does, returning the bytes count."""
    client, method = case.split(".", 1)
    kind = "tensor" if method == "torch_load" else "blob"
    key = _key(size_mib, kind)
    size = size_mib * MIB
    if client == "s3torch":
        s3 = _s3torch_client()
        if method == "read":
            return lambda: len(s3.get_object(BUCKET, key).read())
        if method == "readinto":
            return lambda: s3.get_object(BUCKET, key).readinto(bytearray(size))
        if method == "readinto_touched":
            buffer = bytearray(b"\x01") * size
            return lambda: s3.get_object(BUCKET, key).readinto(buffer)
        if method == "torch_load":
            import torch

            return lambda: torch.load(s3.get_object(BUCKET, key), weights_only=True)["t"].nbytes
    if client == "obstore":
        import obstore

        store = _obstore_store()
        if method == "read":
            return lambda: len(obstore.get(store, key).bytes())
        if method == "torch_load":
            import torch

            return lambda: (
                torch.load(
                    io.BytesIO(memoryview(obstore.get(store, key).bytes())), weights_only=True
                )["t"].nbytes
            )
    if client == "s3dlio":
        import s3dlio

        return lambda: len(s3dlio.get(f"s3://{BUCKET}/{key}"))
    if client == "boto3":
        s3 = _boto3_client()

        def body() -> bytes:
            return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())

        if method == "read":
            return lambda: len(body())
        if method == "torch_load":
            import torch

            return lambda: torch.load(io.BytesIO(body()), weights_only=True)["t"].nbytes
    raise SystemExit(f"unknown case {case}")


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(case: str, size_mib: int, server_pid: int | None) -> None:
    read = _reader(case, size_mib)
    read()  # warm up: connections, buffer pools
    before = resource.getrusage(resource.RUSAGE_SELF)
    server_before = _proc_cpu(server_pid) if server_pid else 0.0
    start = time.perf_counter()
    count = read()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = _proc_cpu(server_pid) - server_before if server_pid else float("nan")
    gib = count / GIB
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        json.dumps(
            {
                "case": case,
                "size_mib": size_mib,
                "bytes": count,
                "mib_s": count / MIB / wall,
                "cpu_s_per_gib": cpu / gib,
                "user_s_per_gib": (after.ru_utime - before.ru_utime) / gib,
                "sys_s_per_gib": (after.ru_stime - before.ru_stime) / gib,
                "faults_per_gib": (after.ru_minflt - before.ru_minflt) / gib,
                "server_cpu_s_per_gib": server_cpu / gib,
            }
        )
    )


# -- the parent: server, objects, rounds, table --------------------------------------------------


def _upload(sizes: list[int], cases: list[str]) -> None:
    import torch

    import s3torch

    client = _s3torch_client()
    for size_mib in sizes:
        if any(not case.endswith("torch_load") for case in cases):
            with client.put_object(BUCKET, _key(size_mib, "blob")) as writer:
                chunk = os.urandom(8 * MIB)
                for _ in range(0, size_mib, 8):
                    writer.write(chunk)
        if any(case.endswith("torch_load") for case in cases):
            tensor = torch.randint(0, 255, (size_mib * MIB,), dtype=torch.uint8)
            s3torch.save({"t": tensor}, f"s3://{BUCKET}/{_key(size_mib, 'tensor')}", client=client)


def _summary(rows: list[dict[str, Any]], field: str) -> str:
    values = [row[field] for row in rows]
    if not values or values[0] != values[0]:  # nan: not measured
        return "-"
    fmt = "{:,.0f}" if abs(statistics.median(values)) >= 100 else "{:.2f}"
    median = fmt.format(statistics.median(values))
    return f"{median} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def _table(results: list[dict[str, Any]], sizes: list[int], cases: list[str]) -> str:
    fields = ("mib_s", "cpu_s_per_gib", "sys_s_per_gib", "faults_per_gib", "server_cpu_s_per_gib")
    lines = [
        "| size | case | MiB/s | client CPU-s/GiB | of it system | faults/GiB | server CPU-s/GiB |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = sorted({r["case"] for r in results}, key=lambda c: (cases.index(c.split("@")[0]), c))
    for size_mib in sizes:
        for case in labels:
            rows = [r for r in results if r["case"] == case and r["size_mib"] == size_mib]
            if rows:
                cells = " | ".join(_summary(rows, field) for field in fields)
                lines.append(f"| {size_mib} MiB | {case} | {cells} |")
    return "\n".join(lines)


def _run_child(
    case: str, size_mib: int, server_pid: int, pythonpath: str | None
) -> dict[str, Any] | None:
    """One measurement in a fresh process (s3torch imported from ``pythonpath`` if given)."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    command = [sys.executable, __file__, "--child", case, str(size_mib), str(server_pid)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        print(f"{case} {size_mib} MiB failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    label = case if pythonpath is None else f"{case} ({pythonpath})"
    print(
        f"{size_mib:>5} MiB {label:<40} {row['mib_s']:8.0f} MiB/s "
        f"{row['cpu_s_per_gib']:5.2f} CPU-s/GiB {row['faults_per_gib']:9.0f} faults/GiB",
        file=sys.stderr,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 256], help="MiB")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--endpoint", help="an S3 endpoint with the objects already written")
    parser.add_argument("--server-pid", type=int, default=0, help="the --endpoint server's pid")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=PYTHONPATH",
        help="also run the s3torch cases with s3torch imported from PYTHONPATH (an A/B against "
        "another build), interleaved with the others; repeatable",
    )
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument(
        "--child", nargs=3, metavar=("CASE", "SIZE", "SERVER_PID"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        case, size, pid = args.child
        child(case, int(size), int(pid) or None)
        return

    server = None
    server_pid = args.server_pid
    variants: list[tuple[str, str | None]] = [("", None)]
    for variant in args.variant:
        name, _, path = variant.partition("=")
        variants.append((f"@{name}", path))
    if args.endpoint is None:
        from s3torch.testing import LocalS3Server

        server = LocalS3Server()
        server.start()
        server.create_bucket(BUCKET)
        os.environ.update(server.env())
        server_pid = server.pid or 0
    try:
        if server is not None:
            _upload(args.sizes, args.cases)
        results: list[dict[str, Any]] = []
        for round_number in range(args.rounds):
            for size_mib in args.sizes:
                runs = [(case, suffix, path) for case in args.cases for suffix, path in variants]
                for case, suffix, path in runs:
                    if suffix and not case.startswith("s3torch."):
                        continue
                    row = _run_child(case, size_mib, server_pid, path)
                    if row is not None:
                        row["case"] = case + suffix
                        row["round"] = round_number
                        results.append(row)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        print(f"\nmedian (min-max) of {args.rounds} rounds, loadavg {os.getloadavg()[0]:.1f}")
        print(_table(results, args.sizes, args.cases))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
