"""The PyData stack over s3torch.fsspec, with s3fs not importable: pandas and PyArrow Parquet,
torch.distributed.checkpoint's FsspecWriter/FsspecReader, and a Lightning Trainer whose
``default_root_dir`` is an ``s3://`` URL (in a subprocess, where ``s3://`` is served by
s3torch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

import s3torch
from s3torch.fsspec import S3TorchFileSystem
from support.fault_proxy import FaultProxy

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
ds = pytest.importorskip("pyarrow.dataset")


@pytest.fixture
def no_s3fs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import s3fs`` fail, so nothing can fall back to it."""
    monkeypatch.setitem(sys.modules, "s3fs", None)


@pytest.fixture
def fs(s3_env: Any, no_s3fs: None) -> S3TorchFileSystem:
    """The filesystem fsspec builds for s3torch:// URLs from the AWS_* environment."""
    import fsspec

    built = fsspec.filesystem("s3torch")
    assert isinstance(built, S3TorchFileSystem)
    return built


def _frame(rows: int) -> Any:
    import numpy as np

    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype="int64"),
            "value": rng.random(rows),
            "label": [f"row-{i % 97}" for i in range(rows)],
        }
    )


def test_pandas_parquet_round_trip(fs: S3TorchFileSystem, bucket: str) -> None:
    frame = _frame(50_000)
    frame.to_parquet(f"s3torch://{bucket}/table.parquet", row_group_size=10_000)
    assert fs.isfile(f"{bucket}/table.parquet")
    back = pd.read_parquet(f"s3torch://{bucket}/table.parquet")
    pd.testing.assert_frame_equal(back, frame)
    some = pd.read_parquet(f"s3torch://{bucket}/table.parquet", columns=["value"])
    pd.testing.assert_frame_equal(some, frame[["value"]])


def test_pandas_storage_options_reach_the_filesystem(
    s3_server: Any, no_s3fs: None, bucket: str
) -> None:
    options = {
        "endpoint_url": s3_server.endpoint,
        "key": s3_server.access_key,
        "secret": s3_server.secret_key,
        "region": s3_server.region,
    }
    frame = _frame(100)
    frame.to_parquet(f"s3torch://{bucket}/t.parquet", storage_options=options)
    pd.testing.assert_frame_equal(
        pd.read_parquet(f"s3torch://{bucket}/t.parquet", storage_options=options), frame
    )


def test_pyarrow_dataset_over_s3torch_urls(fs: S3TorchFileSystem, bucket: str) -> None:
    frame = _frame(20_000)
    frame["part"] = frame["id"] % 3
    frame.to_parquet(f"s3torch://{bucket}/ds", partition_cols=["part"])
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{bucket}/ds", detail=False)) == [
        "part=0",
        "part=1",
        "part=2",
    ]
    # PyArrow takes the filesystem and a path without the scheme: url_to_fs gives both.
    import fsspec

    url_fs, path = fsspec.core.url_to_fs(f"s3torch://{bucket}/ds")
    assert url_fs is fs
    dataset = ds.dataset(path, filesystem=url_fs, format="parquet", partitioning="hive")
    table = dataset.to_table(filter=ds.field("part") == 1, columns=["id", "value"])
    expected = frame[frame["part"] == 1]
    assert sorted(table.column("id").to_pylist()) == expected["id"].tolist()
    assert dataset.count_rows() == len(frame)
    # pandas reads the partitioned directory through the same filesystem.
    back = pd.read_parquet(f"s3torch://{bucket}/ds")
    assert sorted(back["id"].tolist()) == frame["id"].tolist()


def test_pyarrow_parquet_file_reads_footer_and_row_groups(
    fs: S3TorchFileSystem, bucket: str
) -> None:
    table = pa.Table.from_pandas(_frame(30_000), preserve_index=False)
    with fs.open(f"{bucket}/t.parquet", "wb") as f:
        pq.write_table(table, f, row_group_size=5_000)
    with fs.open(f"{bucket}/t.parquet", "rb") as f:
        parquet = pq.ParquetFile(f)
        assert parquet.metadata.num_row_groups == 6
        assert parquet.read_row_group(4).column("id").to_pylist() == list(range(20_000, 25_000))


def test_failed_parquet_writer_leaves_previous_object(fs: S3TorchFileSystem, bucket: str) -> None:
    path = f"{bucket}/t.parquet"
    previous = _frame(1_000)
    previous.to_parquet(f"s3torch://{path}")
    table = pa.Table.from_pandas(_frame(50_000), preserve_index=False)
    with pytest.raises(RuntimeError, match="interrupted"):
        with pq.ParquetWriter(path, table.schema, filesystem=fs) as writer:
            writer.write_table(table.slice(0, 25_000))
            raise RuntimeError("interrupted while writing")
    # ParquetWriter closed the file on its way out (with a footer, a valid Parquet file of
    # half the rows): the upload was aborted instead of completed.
    pd.testing.assert_frame_equal(pd.read_parquet(f"s3torch://{path}"), previous)
    with pytest.raises(RuntimeError):
        with pq.ParquetWriter(f"{bucket}/new.parquet", table.schema, filesystem=fs) as writer:
            writer.write_table(table)
            raise RuntimeError("interrupted")
    assert not fs.exists(f"{bucket}/new.parquet")


@pytest.fixture
def proxy(s3_server: Any) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.endpoint) as running:
        yield running


def test_failed_to_parquet_leaves_no_object_and_the_previous_one(
    s3_server: Any, no_s3fs: None, proxy: FaultProxy, bucket: str, client: Any
) -> None:
    """An upload part fails mid-write (the store answers 500 to every attempt): to_parquet
    raises, no new object appears and the previous one is untouched."""
    options = {
        "endpoint_url": proxy.endpoint,
        "key": s3_server.access_key,
        "secret": s3_server.secret_key,
        "region": s3_server.region,
        "s3client_config": s3torch.S3ClientConfig(part_size=5 * 1024 * 1024, max_attempts=1),
    }
    import numpy as np

    big = pd.DataFrame({"x": np.random.default_rng(1).random(3_000_000)})  # ~24 MB: 5 parts
    previous = _frame(10)
    previous.to_parquet(f"s3torch://{bucket}/t.parquet", storage_options=options)
    for key in ("t.parquet", "new.parquet"):
        # Enough failures for every attempt the client makes at the second part.
        proxy.fail_next("internal_error", "UploadPart", count=20, where="partNumber=2&")
        with pytest.raises(Exception) as raised:
            big.to_parquet(f"s3torch://{bucket}/{key}", storage_options=options, compression=None)
        assert proxy.injected().get("internal_error", 0) >= 1, raised.value
    direct = S3TorchFileSystem(client=client)
    assert not direct.exists(f"{bucket}/new.parquet")
    pd.testing.assert_frame_equal(
        pd.read_parquet(f"s3torch://{bucket}/t.parquet", storage_options=options), previous
    )


def test_dcp_fsspec_writer_and_reader(s3_env: Any, no_s3fs: None, bucket: str) -> None:
    torch = pytest.importorskip("torch")
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint import FsspecReader, FsspecWriter

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    state = {"model": model.state_dict(), "step": 7}
    dcp.save(state, storage_writer=FsspecWriter(f"s3torch://{bucket}/ckpt", thread_count=2))
    fs = S3TorchFileSystem()
    names = [p.rsplit("/", 1)[-1] for p in fs.ls(f"{bucket}/ckpt", detail=False)]
    assert ".metadata" in names and any(n.endswith(".distcp") for n in names)
    fresh = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    target = {"model": fresh.state_dict(), "step": 0}
    dcp.load(target, storage_reader=FsspecReader(f"s3torch://{bucket}/ckpt"))
    assert target["step"] == 7
    for name, tensor in model.state_dict().items():
        assert torch.equal(target["model"][name], tensor), name


_LIGHTNING_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["s3fs"] = None   # s3fs must not be needed
    import torch
    import lightning.pytorch as pl
    import s3torch.fsspec
    from s3torch.lightning import S3ModelCheckpoint

    s3torch.fsspec.register(overwrite_s3=True)
    root = sys.argv[1]

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)
            self.first_epoch = None
        def on_train_epoch_start(self):
            if self.first_epoch is None:
                self.first_epoch = self.current_epoch
        def training_step(self, batch, index):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss)
            return loss
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)
        def train_dataloader(self):
            x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
            data = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))
            return torch.utils.data.DataLoader(data, batch_size=16)

    def trainer(epochs):
        return pl.Trainer(
            default_root_dir=root, max_epochs=epochs, logger=False, accelerator="cpu",
            enable_progress_bar=False, enable_model_summary=False,
            callbacks=[S3ModelCheckpoint(save_top_k=2, monitor="train_loss", save_last=True)],
        )

    first = trainer(3)
    model = Tiny()
    first.fit(model)
    fs = s3torch.fsspec.S3TorchFileSystem()
    after_first = fs.ls(root + "/checkpoints", detail=False)

    second = trainer(4)
    resumed = Tiny()
    second.fit(resumed, ckpt_path="last")
    print(json.dumps({
        "after_first": after_first,
        "after_second": fs.ls(root + "/checkpoints", detail=False),
        "resumed_from_epoch": resumed.first_epoch,
        "global_step": second.global_step,
        "s3fs_imported": sys.modules.get("s3fs") is not None,
    }))
    """
)


def test_lightning_default_root_dir_on_s3_with_top_k_and_resume_from_last(
    s3_env: Any, bucket: str, tmp_path: Any
) -> None:
    pytest.importorskip("lightning")
    script = tmp_path / "train.py"
    script.write_text(_LIGHTNING_SCRIPT)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, str(script), f"s3://{bucket}/run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    names = lambda paths: sorted(p.rsplit("/", 1)[-1] for p in paths)  # noqa: E731
    # save_top_k=2 kept the two best epochs (the loss falls every epoch) and deleted the first.
    assert names(result["after_first"]) == [
        "epoch=1-step=8.ckpt",
        "epoch=2-step=12.ckpt",
        "last.ckpt",
    ]
    # The second fit resumed from s3://.../last.ckpt: it trained only epoch 3.
    assert result["resumed_from_epoch"] == 3
    assert result["global_step"] == 16
    assert names(result["after_second"]) == [
        "epoch=2-step=12.ckpt",
        "epoch=3-step=16.ckpt",
        "last.ckpt",
    ]
    assert not result["s3fs_imported"]
