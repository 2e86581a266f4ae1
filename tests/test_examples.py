"""Every program in examples/ runs to its success line, each as its own process.

The examples check their own results (restored weights equal the saved ones, a resumed epoch
equals the uninterrupted one, the model learned, ...) and exit non-zero when a check fails; their
last line says what passed. Each runs with ``--quick`` against the session's S3 server in a
fresh bucket, except one that runs with no AWS settings at all, to show that an example needs
no setup: it starts its own local server (and torchrun).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
TIMEOUT_S = 180  # per example; they take 5-15 s on an idle 2-core machine

# Each example and the last line it prints when every one of its checks passed.
SINGLE_PROCESS = {
    "quickstart.py": "quickstart: OK",
    "image_classification.py": "image classification: OK",
    "tar_shards.py": "tar shards: OK",
    "resume.py": "resume: OK",
    "checkpoint.py": "checkpoints: OK",
    "checkpoint_async.py": "async checkpoints: OK",
    "lightning_checkpoint.py": "lightning checkpoints: OK",
}
UNDER_TORCHRUN = {
    "map_dataset_ddp.py": "map dataset with DistributedSampler: OK",
    "checkpoint_dcp.py": "distributed checkpoints: OK",
}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]


def environment(server: Any | None) -> dict[str, str]:
    """This process's environment without AWS settings, plus the test server's if given."""
    if server is not None:
        env = server.environment()
    else:
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.pop("S3TORCH_DEMO_BUCKET", None)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO / "python"), os.environ.get("PYTHONPATH")])
    )
    env["OMP_NUM_THREADS"] = "1"
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"
    return env


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run a command in its own process group; return its status and output (both streams).

    On timeout the group gets SIGINT (so an example stops the local server it started), then
    SIGKILL, and the test fails.
    """
    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        pytest.fail(f"{command} ran past {TIMEOUT_S}s; output:\n{output[-6000:]}")
    return process.returncode, output


def check(status: int, output: str, success: str) -> None:
    assert status == 0, f"exit status {status}; output:\n{output[-6000:]}"
    assert success in output.splitlines(), f"no {success!r} line; output:\n{output[-6000:]}"


def keys(client: Any, bucket: str) -> list[str]:
    return [info.key for page in client.list_objects(bucket, "") for info in page.object_info]


@pytest.mark.parametrize("script", sorted(SINGLE_PROCESS))
def test_example_passes_its_checks_and_cleans_up(
    script: str, s3_server: Any, bucket: str, client: Any, tmp_path: Path
) -> None:
    command = [sys.executable, str(EXAMPLES / script), "--quick", "--bucket", bucket]
    status, output = run(command, environment(s3_server), tmp_path)
    check(status, output, SINGLE_PROCESS[script])
    assert keys(client, bucket) == [], "a successful run leaves nothing behind"


def test_ddp_example_passes_its_checks_under_torchrun(
    s3_server: Any, bucket: str, client: Any, tmp_path: Path
) -> None:
    script = "map_dataset_ddp.py"
    command = [*TORCHRUN, str(EXAMPLES / script), "--quick", "--bucket", bucket]
    status, output = run(command, environment(s3_server), tmp_path)
    check(status, output, UNDER_TORCHRUN[script])
    assert output.count("the 2 ranks read all 256 samples once") == 2  # one line per epoch
    assert keys(client, bucket) == [], "a successful run leaves nothing behind"


def test_dcp_example_needs_no_setup(tmp_path: Path) -> None:
    # No AWS settings and no bucket: the example starts a local S3 server, then torchrun with
    # two ranks on itself.
    script = "checkpoint_dcp.py"
    status, output = run(
        [sys.executable, str(EXAMPLES / script), "--quick"], environment(None), tmp_path
    )
    check(status, output, UNDER_TORCHRUN[script])
    assert "started a local S3 server" in output
    assert "[rank 1] loaded the weights only: equal" in output


def test_example_exits_non_zero_when_s3_refuses_it(
    s3_server: Any, bucket: str, tmp_path: Path
) -> None:
    env = {**environment(s3_server), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    command = [sys.executable, str(EXAMPLES / "checkpoint.py"), "--quick", "--bucket", bucket]
    status, output = run(command, env, tmp_path)
    assert status != 0, output
    assert "S3CredentialsError" in output, output[-6000:]  # SignatureDoesNotMatch
    assert "checkpoints: OK" not in output


def test_keep_keeps_what_the_run_wrote(
    s3_server: Any, bucket: str, client: Any, tmp_path: Path
) -> None:
    command = [sys.executable, str(EXAMPLES / "resume.py"), "--quick", "--bucket", bucket]
    status, output = run([*command, "--prefix", "mine", "--keep"], environment(s3_server), tmp_path)
    check(status, output, SINGLE_PROCESS["resume.py"])
    written = keys(client, bucket)
    assert len(written) == 100
    assert all(key.startswith("mine/resume-") for key in written)


def test_every_example_is_tested_and_listed_in_the_readme() -> None:
    scripts = {path.name for path in EXAMPLES.glob("*.py") if not path.name.startswith("_")}
    assert scripts == set(SINGLE_PROCESS) | set(UNDER_TORCHRUN)
    readme = (EXAMPLES / "README.md").read_text()
    for script in scripts:
        assert f"examples/{script}" in readme, script
