"""s3torch quickstart: upload a small dataset to S3 and read it back.

Run it with `make demo`. With no endpoint configured (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 unset)
it starts a local S3 server (SeaweedFS) on 127.0.0.1 for the duration of the demo; otherwise it
uses your endpoint and credentials, and the bucket named by S3TORCH_DEMO_BUCKET.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import s3torch

SAMPLES = 200
SAMPLE_BYTES = 64 * 1024


@contextlib.contextmanager
def s3_endpoint() -> Iterator[str]:
    """Yield a bucket to use: on the user's endpoint, or on a local server started here."""
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3"):
        bucket = os.environ.get("S3TORCH_DEMO_BUCKET")
        if not bucket:
            raise SystemExit("set S3TORCH_DEMO_BUCKET to a bucket you can write to")
        yield bucket
        return
    from s3torch._local_server import LocalS3Server

    with LocalS3Server() as server:
        os.environ.update(server.env())
        print(f"started a local S3 server at {server.endpoint}")
        server.create_bucket("s3torch-demo")
        yield "s3torch-demo"


def main() -> None:
    with s3_endpoint() as bucket:
        client = s3torch.S3Client()  # region, endpoint and credentials from the environment
        print(f"client: {client}")

        # 1. Upload a small dataset: SAMPLES objects of SAMPLE_BYTES each.
        started = time.perf_counter()
        for i in range(SAMPLES):
            stream = client.put_object_stream(bucket, f"demo/train/{i:05d}.bin")
            stream.write(bytes([i % 256]) * SAMPLE_BYTES)
            stream.close()
        took = time.perf_counter() - started
        print(f"uploaded {SAMPLES} samples of {SAMPLE_BYTES // 1024} KiB in {took:.2f}s")

        # 2. List them: pages of up to 1000 keys, the next page fetched while this one is used.
        keys = [
            info.key
            for page in client.list_objects(bucket, prefix="demo/train/")
            for info in page.object_info
        ]
        print(f"listed {len(keys)} keys, first {keys[0]!r}, last {keys[-1]!r}")

        # 3. Read them back. Every stream starts its GET at once, so opening many streams
        #    before reading puts many requests in flight.
        started = time.perf_counter()
        streams = [client.get_object_stream(bucket, key) for key in keys]
        total = sum(len(stream.read()) for stream in streams)
        took = time.perf_counter() - started
        rate = len(keys) / took
        print(f"read {total / 2**20:.1f} MiB back in {took:.2f}s ({rate:,.0f} objects/s)")

        # 4. Ranged reads, straight into a preallocated buffer (a tensor's storage works too).
        buffer = bytearray(1024)
        stream = client.get_object_stream(bucket, keys[7], start=1000, end=2024)
        assert stream.readinto(buffer) == 1024 and set(buffer) == {7}
        print("read bytes 1000..2024 of one sample into a preallocated buffer")
        with contextlib.suppress(ImportError):
            import torch

            tensor = torch.empty(SAMPLE_BYTES, dtype=torch.uint8)
            client.get_object_stream(bucket, keys[3]).readinto(tensor.numpy())
            print(f"read one sample into a torch tensor: {tensor[:4].tolist()}...")

        # 5. Uploads are all-or-nothing: an aborted write leaves the previous object intact.
        stream = client.put_object_stream(bucket, keys[0])
        stream.write(b"half-written")
        stream.abort()
        assert client.head_object(bucket, keys[0]).size == SAMPLE_BYTES
        print("an aborted upload left the previous object untouched")

        # 6. Errors are typed, and say what failed.
        try:
            client.get_object_stream(bucket, "demo/missing.bin").read()
        except FileNotFoundError as error:
            print(f"missing key -> {type(error).__name__}: {error}")
    print("done")


if __name__ == "__main__":
    main()
