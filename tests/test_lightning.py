"""Lightning integration (python/s3torch/lightning/): S3LightningCheckpoint as the CheckpointIO of
real Trainer runs, with the `lightning` and the `pytorch_lightning` packages, plain and under
AsyncCheckpointIO."""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
import sys
import threading
from typing import Any

import pytest
import torch

import s3torch

lightning_packages = [
    pytest.param(name, marks=pytest.mark.skipif(not importlib.util.find_spec(name), reason=name))
    for name in ("lightning", "pytorch_lightning")
]

PART = 5 * 1024 * 1024


@pytest.fixture(params=lightning_packages)
def pl(request: pytest.FixtureRequest) -> Any:
    """The ``lightning.pytorch`` or the ``pytorch_lightning`` module."""
    if request.param == "lightning":
        return importlib.import_module("lightning.pytorch")
    return importlib.import_module("pytorch_lightning")


@pytest.fixture
def plugin(s3_server: Any) -> Any:
    from s3torch.lightning import S3LightningCheckpoint

    return S3LightningCheckpoint(
        s3_server.region,
        s3client_config=s3torch.S3ClientConfig(
            access_key_id=s3_server.access_key,
            secret_access_key=s3_server.secret_key,
            session_token=s3_server.session_token,
            part_size=PART,
        ),
        endpoint=s3_server.endpoint,
    )


def tiny_model(pl: Any) -> Any:
    class TinyModel(pl.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.save_hyperparameters({"width": 8})
            self.layer = torch.nn.Linear(4, 8)
            self.head = torch.nn.Linear(8, 1)
            self.batches_seen = 0

        def training_step(self, batch: Any, batch_index: int) -> torch.Tensor:
            self.batches_seen += 1
            x, y = batch
            return torch.nn.functional.mse_loss(self.head(torch.relu(self.layer(x))), y)

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters(), lr=0.01)

        def train_dataloader(self) -> Any:
            generator = torch.Generator().manual_seed(0)
            data = torch.utils.data.TensorDataset(
                torch.randn(64, 4, generator=generator), torch.randn(64, 1, generator=generator)
            )
            return torch.utils.data.DataLoader(data, batch_size=8)

    torch.manual_seed(0)
    return TinyModel()


def save_every_step_callback(pl: Any, uri_prefix: str) -> Any:
    """A callback that saves a checkpoint to S3 after every training step, through the
    trainer (and so through its CheckpointIO plugin)."""

    class SaveEveryStep(pl.Callback):  # type: ignore[misc,name-defined]
        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            trainer.save_checkpoint(f"{uri_prefix}step-{trainer.global_step}.ckpt")

    return SaveEveryStep()


def trainer(pl: Any, tmp_path: pathlib.Path, plugin: Any, **options: Any) -> Any:
    return pl.Trainer(
        default_root_dir=tmp_path,
        plugins=[plugin],
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **options,
    )


def keys(boto3_client: Any, bucket: str) -> list[str]:
    listing = boto3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(item["Key"] for item in listing)


def saved_state(plugin: Any, uri: str, model: Any, *, step: int) -> dict[str, Any]:
    """The checkpoint at ``uri``, checked to be ``model``'s state at global step ``step``."""
    checkpoint: dict[str, Any] = plugin.load_checkpoint(uri, weights_only=False)
    assert checkpoint["global_step"] == step
    for name, value in model.state_dict().items():
        assert torch.equal(checkpoint["state_dict"][name], value), name
    return checkpoint


def fit_saving_every_step(
    pl: Any, tmp_path: pathlib.Path, checkpoint_io: Any, prefix: str, steps: int
) -> tuple[Any, Any]:
    """A tiny model fit for ``steps`` steps, saved through ``checkpoint_io`` under ``prefix``
    after each: the trainer and the model."""
    model = tiny_model(pl)
    run = trainer(
        pl,
        tmp_path,
        checkpoint_io,
        max_steps=steps,
        callbacks=[save_every_step_callback(pl, prefix)],
    )
    run.fit(model)  # the end of fit waits for saves still running (AsyncCheckpointIO)
    return run, model


def test_fit_saves_through_the_plugin_and_resumes_from_s3(
    pl: Any, plugin: Any, bucket: str, tmp_path: pathlib.Path, boto3_client: Any
) -> None:
    prefix = f"s3://{bucket}/run/"
    first, model = fit_saving_every_step(pl, tmp_path, plugin, prefix, 2)
    assert first.global_step == 2
    assert keys(boto3_client, bucket) == ["run/step-1.ckpt", "run/step-2.ckpt"]

    checkpoint = saved_state(plugin, f"{prefix}step-2.ckpt", model, step=2)
    assert checkpoint["hyper_parameters"] == {"width": 8}
    assert checkpoint["optimizer_states"][0]["state"][0]["step"] == 2

    resumed_model = tiny_model(pl)
    assert not torch.equal(resumed_model.head.weight, model.head.weight)
    resumed = trainer(pl, tmp_path, plugin, max_steps=4)
    resumed.fit(resumed_model, ckpt_path=f"{prefix}step-2.ckpt", weights_only=False)
    assert resumed.global_step == 4
    assert resumed_model.batches_seen == 2  # it went on from step 2, not from the start


def test_async_checkpoint_io_wraps_the_plugin(
    pl: Any, plugin: Any, bucket: str, tmp_path: pathlib.Path, boto3_client: Any
) -> None:
    prefix = f"s3://{bucket}/async/"
    io = pl.plugins.io.AsyncCheckpointIO(plugin)
    _, model = fit_saving_every_step(pl, tmp_path, io, prefix, 3)
    assert keys(boto3_client, bucket) == [f"async/step-{n}.ckpt" for n in (1, 2, 3)]
    saved_state(plugin, f"{prefix}step-3.ckpt", model, step=3)


def test_trainer_checkpoint_io_is_the_plugin(pl: Any, plugin: Any, tmp_path: pathlib.Path) -> None:
    from s3torch.lightning import S3LightningCheckpoint

    assert isinstance(plugin, pl.plugins.io.CheckpointIO)
    assert trainer(pl, tmp_path, plugin).strategy.checkpoint_io is plugin
    assert issubclass(S3LightningCheckpoint, pl.plugins.io.CheckpointIO)


def test_save_load_and_remove_a_checkpoint(plugin: Any, bucket: str, boto3_client: Any) -> None:
    uri = f"s3://{bucket}/manual/epoch=0.ckpt"
    state = {"state_dict": {"w": torch.randn(3, 3)}, "epoch": 0, "big": torch.randn(2 * PART // 4)}
    plugin.save_checkpoint(state, uri)
    loaded = plugin.load_checkpoint(uri)
    assert loaded["epoch"] == 0
    assert torch.equal(loaded["state_dict"]["w"], state["state_dict"]["w"])
    assert torch.equal(loaded["big"], state["big"])

    mapped: list[str] = []
    plugin.load_checkpoint(uri, map_location=lambda storage, location: mapped.append(location))
    assert mapped and set(mapped) == {"cpu"}

    plugin.remove_checkpoint(uri)
    assert keys(boto3_client, bucket) == []
    plugin.remove_checkpoint(uri)  # removing what is gone is fine
    with pytest.raises(FileNotFoundError):
        plugin.load_checkpoint(uri)
    plugin.teardown()


def test_load_checkpoint_passes_weights_only(plugin: Any, bucket: str) -> None:
    uri = f"s3://{bucket}/objects.ckpt"
    plugin.save_checkpoint({"path": pathlib.PurePosixPath("/data")}, uri)
    with pytest.raises(Exception, match=r"[Ww]eights only load failed"):
        plugin.load_checkpoint(uri, weights_only=True)
    assert plugin.load_checkpoint(uri, weights_only=False)["path"] == pathlib.PurePosixPath("/data")


def test_storage_options_set_the_storage_class(plugin: Any, bucket: str, boto3_client: Any) -> None:
    uri = f"s3://{bucket}/cold.ckpt"
    plugin.save_checkpoint({"a": 1}, uri, storage_options={"storage_class": "STANDARD_IA"})
    head = boto3_client.head_object(Bucket=bucket, Key="cold.ckpt")
    if "StorageClass" not in head:
        pytest.skip("this server does not report storage classes")
    assert head["StorageClass"] == "STANDARD_IA"


def test_failed_save_keeps_the_previous_checkpoint(
    plugin: Any, bucket: str, boto3_client: Any
) -> None:
    uri = f"s3://{bucket}/last.ckpt"
    plugin.save_checkpoint({"step": 1}, uri)
    before = boto3_client.get_object(Bucket=bucket, Key="last.ckpt")["Body"].read()
    with pytest.raises(TypeError, match="pickle"):
        plugin.save_checkpoint({"big": torch.randn(3 * PART // 4), "bad": threading.Lock()}, uri)
    assert boto3_client.get_object(Bucket=bucket, Key="last.ckpt")["Body"].read() == before
    assert not boto3_client.list_multipart_uploads(Bucket=bucket).get("Uploads")


@pytest.mark.parametrize(
    ("path", "error", "match"),
    [
        (pathlib.Path("/tmp/x.ckpt"), TypeError, "PosixPath"),
        ("/tmp/x.ckpt", ValueError, "'/tmp/x.ckpt'"),
        ("s3://my-bucket", ValueError, "no key"),
    ],
)
def test_bad_paths_are_rejected(plugin: Any, path: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        plugin.save_checkpoint({}, path)
    with pytest.raises(error, match=match):
        plugin.load_checkpoint(path)
    with pytest.raises(error, match=match):
        plugin.remove_checkpoint(path)


def test_plugin_finds_settings_the_aws_way_and_names_lightning_in_the_user_agent(
    s3_env: Any,
) -> None:
    import lightning

    from s3torch.lightning import S3LightningCheckpoint

    plugin = S3LightningCheckpoint()
    assert plugin.region == s3_env.region
    assert plugin.client.endpoint == s3_env.endpoint
    assert f"lightning/{lightning.__version__}" in plugin.client.user_agent


def test_import_without_lightning_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = ("lightning", "pytorch_lightning", "lightning_fabric")
    for name in list(sys.modules):
        if name.split(".")[0] in hidden or name.startswith("s3torch.lightning"):
            monkeypatch.delitem(sys.modules, name)
    for name in hidden:
        monkeypatch.setitem(sys.modules, name, None)  # None: "import name" raises ImportError
    monkeypatch.delattr(s3torch, "lightning", raising=False)
    with pytest.raises(ImportError, match=r"pip install s3torch\[lightning\]"):
        importlib.import_module("s3torch.lightning")


def test_checkpoint_directories_on_s3_with_s3fs(
    pl: Any, s3_env: Any, bucket: str, tmp_path: pathlib.Path
) -> None:
    # Lightning lists and checks checkpoint directories through fsspec, which needs s3fs for
    # s3:// directories; the checkpoint files themselves go through the plugin.
    pytest.importorskip("s3fs")
    from s3torch.lightning import S3LightningCheckpoint

    plugin = S3LightningCheckpoint()
    run_dir = f"s3://{bucket}/run"
    every_step = pl.callbacks.ModelCheckpoint(
        dirpath=f"{run_dir}/ckpt", every_n_train_steps=1, save_top_k=-1, save_last=True
    )
    options: dict[str, Any] = {
        "default_root_dir": run_dir,
        "plugins": [plugin],
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    pl.Trainer(max_steps=2, callbacks=[every_step], **options).fit(tiny_model(pl))
    found = [info.key for page in plugin.client.list_objects(bucket) for info in page.object_info]
    assert sorted(found) == [
        "run/ckpt/epoch=0-step=1.ckpt",
        "run/ckpt/epoch=0-step=2.ckpt",
        "run/ckpt/last.ckpt",
    ]

    resumed_model = tiny_model(pl)
    again = pl.callbacks.ModelCheckpoint(dirpath=f"{run_dir}/ckpt", save_last=True)
    resumed = pl.Trainer(max_steps=3, callbacks=[again], **options)
    # (ckpt_path="last" does not find s3:// checkpoints: Lightning drops the scheme on listing.)
    resumed.fit(resumed_model, ckpt_path=f"{run_dir}/ckpt/last.ckpt", weights_only=False)
    assert resumed.global_step == 3
    assert resumed_model.batches_seen == 1


def test_plugin_pickles_with_its_settings(plugin: Any) -> None:
    import pickle
    from multiprocessing.reduction import ForkingPickler

    # Handed to another process (ddp_spawn): its static credentials travel with it.
    copy = pickle.loads(ForkingPickler.dumps(plugin))
    assert copy.region == plugin.region
    assert copy.client.endpoint == plugin.client.endpoint
    assert copy.client.s3client_config == plugin.client.s3client_config
