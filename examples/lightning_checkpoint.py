"""s3torch with PyTorch Lightning: Trainer checkpoints saved to, and resumed from, S3.

``S3LightningCheckpoint`` is the Trainer's ``CheckpointIO`` plugin: every checkpoint the Trainer
saves or loads under an ``s3://`` path goes through it. The script, checking each result:

1. trains for two epochs, saving a checkpoint to S3 at the end of each; the last one holds the
   trained weights;
2. resumes from the epoch-1 checkpoint in a fresh model and Trainer and trains two more epochs:
   only those two epochs run, and the step count goes on from the checkpoint's;
3. does the same with the saves in the background (Lightning's ``AsyncCheckpointIO``);
4. loads a checkpoint for evaluation, and deletes one through the plugin.

    python examples/lightning_checkpoint.py            # needs `pip install s3torch[lightning]`
    python examples/lightning_checkpoint.py --quick    # less data, for the tests

Checkpoint *directories* stay local here (``default_root_dir``); a callback saves to S3 through
``trainer.save_checkpoint``, and so through the plugin, which needs nothing else. To keep whole
``s3://`` checkpoint directories (``default_root_dir``, ``ModelCheckpoint(dirpath="s3://...")``)
use s3torch's fsspec filesystem and ``S3ModelCheckpoint``: see doc/fsspec.md.

Options (--bucket, --prefix, --keep, --quick): see examples/_common.py. With no bucket named it
starts a local S3 server for the run.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.plugins.io import AsyncCheckpointIO

import _common
from s3torch.lightning import S3LightningCheckpoint

BATCH = 32


class Regressor(pl.LightningModule):
    def __init__(self, width: int = 64, samples: int = 256) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(16, width), torch.nn.ReLU(), torch.nn.Linear(width, 1)
        )
        self.steps_run = 0  # in this process: tells a resumed run from a fresh one

    def training_step(self, batch: Any, batch_index: int) -> torch.Tensor:
        self.steps_run += 1
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=1e-2)

    def train_dataloader(self) -> Any:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(self.hparams.samples, 16, generator=generator)
        y = x.sum(dim=1, keepdim=True)
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=BATCH)


class SaveToS3EachEpoch(pl.Callback):
    """Save a checkpoint to S3 at the end of every epoch, through the trainer's CheckpointIO."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        trainer.save_checkpoint(f"{self.uri}epoch={trainer.current_epoch}.ckpt")


def trainer(plugin: Any, local_dir: str, epochs: int, uri: str) -> pl.Trainer:
    return pl.Trainer(
        plugins=[plugin],
        max_epochs=epochs,
        default_root_dir=local_dir,
        callbacks=[SaveToS3EachEpoch(uri)],
        enable_checkpointing=False,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def check_weights(state_dict: dict[str, torch.Tensor], module: pl.LightningModule) -> None:
    for name, tensor in module.state_dict().items():
        if not torch.equal(state_dict[name], tensor):
            raise SystemExit(f"the checkpoint's {name} differs from the model's")


def main() -> None:
    args = _common.parse_args(__doc__)
    samples = 128 if args.quick else 512
    steps_per_epoch = samples // BATCH
    # No banners. (Both names: s3torch.lightning imports pytorch_lightning too where it is
    # installed, and the last Lightning imported gets the messages.)
    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    torch.manual_seed(0)
    with _common.s3_place(args, "lightning") as place, tempfile.TemporaryDirectory() as local:
        checkpoint_io = S3LightningCheckpoint()  # region, endpoint, credentials: the AWS way

        # 1. Train for two epochs; each epoch's checkpoint goes to S3.
        model = Regressor(samples=samples)
        trainer(checkpoint_io, local, 2, place.uri()).fit(model)
        listed = sorted(
            info.key.rsplit("/", 1)[-1]
            for page in checkpoint_io.client.list_objects(place.bucket, place.prefix)
            for info in page.object_info
        )
        print(f"checkpoints in S3 after two epochs: {listed}")
        if listed != ["epoch=0.ckpt", "epoch=1.ckpt"]:
            raise SystemExit("expected one checkpoint per epoch")
        state = checkpoint_io.load_checkpoint(place.uri("epoch=1.ckpt"), weights_only=False)
        check_weights(state["state_dict"], model)
        print(f"epoch=1.ckpt holds the trained weights (global_step={state['global_step']})")

        # 2. Resume from it in a fresh model and trainer, and train two more epochs.
        resumed = Regressor(samples=samples)
        run = trainer(checkpoint_io, local, 4, place.uri())
        run.fit(resumed, ckpt_path=place.uri("epoch=1.ckpt"), weights_only=False)
        print(
            f"resumed at epoch 2, trained to epoch {run.current_epoch}: {resumed.steps_run} "
            f"steps run here, global_step={run.global_step}"
        )
        if resumed.steps_run != 2 * steps_per_epoch or run.global_step != 4 * steps_per_epoch:
            raise SystemExit("the resumed run did not pick up at the checkpoint's step")

        # 3. The same, with the saves running in the background (Lightning's AsyncCheckpointIO).
        background = Regressor(samples=samples)
        trainer(AsyncCheckpointIO(checkpoint_io), local, 2, place.uri("async/")).fit(background)
        # The end of fit waited for the saves still running.
        state = checkpoint_io.load_checkpoint(place.uri("async/epoch=1.ckpt"), weights_only=False)
        check_weights(state["state_dict"], background)
        print(f"background saves complete: epoch=1.ckpt at global_step={state['global_step']}")

        # 4. Checkpoints are plain objects: load one for evaluation, then delete one.
        state = checkpoint_io.load_checkpoint(place.uri("epoch=3.ckpt"), weights_only=False)
        evaluated = Regressor(**state["hyper_parameters"])
        evaluated.load_state_dict(state["state_dict"])
        check_weights(evaluated.state_dict(), resumed)
        print(f"loaded epoch 3 for evaluation (width={state['hyper_parameters']['width']})")
        checkpoint_io.remove_checkpoint(place.uri("epoch=0.ckpt"))
        try:
            checkpoint_io.client.head_object(place.bucket, place.key("epoch=0.ckpt"))
        except FileNotFoundError:
            print("removed epoch=0.ckpt")
        else:
            raise SystemExit("epoch=0.ckpt is still there after remove_checkpoint")
    print("lightning checkpoints: OK")


if __name__ == "__main__":
    main()
