"""s3torch with PyTorch Lightning: Trainer checkpoints saved to, and resumed from, S3.

Run it with `python examples/lightning_checkpoint.py` (needs `pip install s3torch[lightning]`).
With no endpoint configured (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 unset) it starts a local S3
server (SeaweedFS) on 127.0.0.1 for the duration of the example; otherwise it uses your endpoint
and credentials, and the bucket named by S3TORCH_DEMO_BUCKET.

Checkpoint directories stay local here (Lightning lists `s3://` directories through fsspec,
which needs s3fs); a callback saves to S3 through the trainer, and so through the plugin.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.plugins.io import AsyncCheckpointIO

from s3torch.lightning import S3LightningCheckpoint


@contextlib.contextmanager
def s3_bucket() -> Iterator[str]:
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


class Regressor(pl.LightningModule):
    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(16, width), torch.nn.ReLU(), torch.nn.Linear(width, 1)
        )

    def training_step(self, batch: Any, batch_index: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=1e-2)

    def train_dataloader(self) -> Any:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(256, 16, generator=generator)
        y = x.sum(dim=1, keepdim=True)
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)


class SaveToS3EachEpoch(pl.Callback):
    """Save a checkpoint to S3 at the end of every epoch, through the trainer's CheckpointIO."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        trainer.save_checkpoint(f"{self.prefix}/epoch={trainer.current_epoch}.ckpt")


def trainer(plugin: Any, local_dir: str, epochs: int, prefix: str) -> pl.Trainer:
    return pl.Trainer(
        plugins=[plugin],
        max_epochs=epochs,
        default_root_dir=local_dir,
        callbacks=[SaveToS3EachEpoch(prefix)],
        enable_checkpointing=False,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def main() -> None:
    torch.manual_seed(0)
    with s3_bucket() as bucket, tempfile.TemporaryDirectory() as local_dir:
        prefix = f"s3://{bucket}/demo/lightning"
        checkpoint_io = S3LightningCheckpoint()  # region, endpoint, credentials: the AWS way

        # 1. Train for two epochs; each epoch's checkpoint goes to S3.
        model = Regressor()
        trainer(checkpoint_io, local_dir, 2, prefix).fit(model)
        listed = [
            info.key
            for page in checkpoint_io.client.list_objects(bucket, prefix="demo/lightning/")
            for info in page.object_info
        ]
        print(f"checkpoints in S3: {listed}")

        # 2. Resume from the last one in a fresh model and trainer, and train two more epochs.
        resumed = Regressor()
        run = trainer(checkpoint_io, local_dir, 4, prefix)
        run.fit(resumed, ckpt_path=f"{prefix}/epoch=1.ckpt", weights_only=False)
        print(f"resumed at epoch 2 and trained to epoch {run.current_epoch}")

        # 3. The same, with the saves running in the background (Lightning's AsyncCheckpointIO).
        async_run = trainer(AsyncCheckpointIO(checkpoint_io), local_dir, 2, f"{prefix}/async")
        async_run.fit(Regressor())  # the end of fit waits for the saves still running
        state = checkpoint_io.load_checkpoint(f"{prefix}/async/epoch=1.ckpt", weights_only=False)
        print(f"background save of epoch 1 is complete: global_step={state['global_step']}")

        # 4. Checkpoints are plain objects: load one for evaluation, then delete it.
        state = checkpoint_io.load_checkpoint(f"{prefix}/epoch=3.ckpt", weights_only=False)
        evaluated = Regressor(**state["hyper_parameters"])
        evaluated.load_state_dict(state["state_dict"])
        checkpoint_io.remove_checkpoint(f"{prefix}/epoch=0.ckpt")
        print(f"loaded epoch 3 for evaluation (width={state['hyper_parameters']['width']})")
    print("done")


if __name__ == "__main__":
    main()
