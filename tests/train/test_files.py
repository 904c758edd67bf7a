"""Model files and checkpoints load without running code: a crafted pickle given to every
entry point that loads one (``eval --checkpoint``, ``model.init``, ``model.teacher``,
``loop.resume`` and auto-resume) runs nothing and is one line, exit 2; what the trainer
writes is plain data, and checkpoints of the earlier layout (numpy generator state)
still load."""
from __future__ import annotations

import json
import os
import pickle
import shutil
from typing import NamedTuple

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.train.files import UnreadableTrainerFile, load_plain
from babelshard.train.loop.checkpoint import list_checkpoints, load_checkpoint, restore_rng
from babelshard.train.loop.steps import train
from babelshard.train.registry import load_model_file


class RunsACommand:
    """Unpickling this calls ``os.system`` (what a crafted file would do)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class OpensAFile:
    """Unpickling this creates a file with ``open`` (no shell needed)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class Crafted(NamedTuple):
    paths: dict[str, str]
    marker: str

    def nothing_ran(self) -> bool:
        return not os.path.exists(self.marker)


def crafted_files(folder, marker: str) -> dict[str, str]:
    """A model file, a checkpoint (both torch zip archives) and a bare pickle, each of which
    would create ``marker`` when unpickled without restriction."""
    paths = {name: os.path.join(folder, f"{name}.pt") for name in ("model", "checkpoint", "bare")}
    torch.save({"format": "babelshard-model", "version": 1, "model": {"kind": "clip"}, "vocab": {},
                "teacher_vocab": {}, "state_dict": RunsACommand(f"touch {marker}")}, paths["model"])
    torch.save({"format": "babelshard-checkpoint", "version": 1, "ranks": [{"rng": RunsACommand(f"touch {marker}")}]},
               paths["checkpoint"])
    with open(paths["bare"], "wb") as handle:
        pickle.dump(OpensAFile(marker), handle, protocol=2)  # torch's own protocol, so its unpickler reaches the call
    return paths


@pytest.fixture()
def crafted(tmp_path) -> Crafted:
    marker = str(tmp_path / "code-ran")
    return Crafted(crafted_files(tmp_path, marker), marker)


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def write_config(config, path) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config.model_dump(mode="json"), handle)
    return str(path)


@pytest.mark.parametrize("kind", ["model", "checkpoint", "bare"])
def test_a_crafted_file_is_refused_by_every_loader_and_runs_nothing(crafted, kind):
    path = crafted.paths[kind]
    with pytest.raises(UnreadableTrainerFile, match=f"^{path}: refused: it would call .*(system|open)"):
        load_plain(path, "model file")
    with pytest.raises(UnreadableTrainerFile, match="refused"):
        load_model_file(path)
    with pytest.raises(UnreadableTrainerFile, match="refused"):
        load_checkpoint(path)
    assert crafted.nothing_ran()


@pytest.mark.parametrize("kind", ["model", "checkpoint", "bare"])
def test_eval_of_a_crafted_checkpoint_exits_2_with_one_line(crafted, preset, tmp_path, kind):
    config = write_config(preset("clip-en", str(tmp_path / "run")), tmp_path / "run.yaml")
    result = CliRunner().invoke(app, ["eval", config, "--checkpoint", crafted.paths[kind]])
    line = one_line_error(result)
    assert f"{crafted.paths[kind]}: refused: it would call" in line and "nothing in the file was run" in line
    assert crafted.nothing_ran()


def test_model_init_and_teacher_and_resume_of_a_crafted_file_exit_2_with_one_line(crafted, preset, tiny_model, tmp_path):
    output = str(tmp_path / "run")
    clip = write_config(preset("clip-en", output, *tiny_model, "loop.max_steps=2"), tmp_path / "clip.yaml")
    mla = write_config(preset("mla-stage1", str(tmp_path / "mla"), "loop.max_steps=2", "data.workers=0"), tmp_path / "mla.yaml")
    attempts = {
        "model.init": ["train", clip, "-o", f"model.init={crafted.paths['model']}"],
        "model.teacher": ["train", mla, "-o", f"model.teacher={crafted.paths['model']}"],
        "loop.resume": ["train", clip, "-o", f"loop.resume={crafted.paths['checkpoint']}"],
    }
    for key, command in attempts.items():
        line = one_line_error(CliRunner().invoke(app, command))
        assert "refused: it would call" in line and crafted.nothing_ran(), (key, line)
    # auto-resume picks the latest checkpoint of the output folder: a crafted one put there
    os.makedirs(os.path.join(output, "checkpoints"))
    shutil.copy(crafted.paths["checkpoint"], os.path.join(output, "checkpoints", "ckpt-00000001.pt"))
    line = one_line_error(CliRunner().invoke(app, ["train", clip]))
    assert "ckpt-00000001.pt: refused: it would call" in line and crafted.nothing_ran()


def test_files_that_are_not_trainer_files_are_one_line(preset, tmp_path):
    torn = tmp_path / "torn.pt"
    torch.save({"format": "babelshard-model", "state_dict": {"w": torch.zeros(1000)}}, torn)
    torn.write_bytes(torn.read_bytes()[:2000])
    plain_list = tmp_path / "list.pt"
    torch.save([1, 2, 3], plain_list)
    no_weights = tmp_path / "no-weights.pt"
    torch.save({"format": "babelshard-model", "model": {"kind": "clip"}}, no_weights)
    text = tmp_path / "text.pt"
    text.write_text("not a torch file")
    cases = {torn: "not a readable model file", plain_list: "it holds a list", no_weights: "no vocab, teacher_vocab, state_dict",
             text: "not a readable model file"}
    config = write_config(preset("clip-en", str(tmp_path / "run")), tmp_path / "run.yaml")
    for path, expected in cases.items():
        line = one_line_error(CliRunner().invoke(app, ["eval", config, "--checkpoint", str(path)]))
        assert f"{path}: " in line and expected in line, line
    missing = one_line_error(CliRunner().invoke(app, ["eval", config, "--checkpoint", str(tmp_path / "absent.pt")]))
    assert "model file not found" in missing


def test_weights_that_do_not_fit_the_model_are_one_line(teacher, preset, tiny_model, tmp_path):
    config = write_config(preset("clip-en", str(tmp_path / "run"), *tiny_model, "model.embed_dim=48", f"model.init={teacher}"),
                          tmp_path / "run.yaml")
    line = one_line_error(CliRunner().invoke(app, ["train", config]))
    assert f"{teacher}: its weights do not fit the configured model: size mismatch for" in line


def test_what_the_trainer_writes_is_plain_data(teacher_run):
    """No global outside torch's weights-only defaults: not even numpy arrays."""
    written = [os.path.join(teacher_run, "model.pt"), *(path for _, path in list_checkpoints(teacher_run))]
    assert len(written) >= 2
    for path in written:
        assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == [], path
        torch.load(path, map_location="cpu", weights_only=True)


def test_a_checkpoint_with_numpys_legacy_generator_state_still_resumes_exactly(preset, tiny_model, tmp_path):
    """Checkpoints of the earlier layout held ``np.random.get_state()``'s tuple (a uint32 array)."""
    common = [*tiny_model, "loop.epochs=2", "model.text.dropout=0.1"]
    reference = str(tmp_path / "reference")
    train(preset("clip-en", reference, *common, "loop.stop_at_step=6"))
    resumed = str(tmp_path / "resumed")
    train(preset("clip-en", resumed, *common, "loop.stop_at_step=3"))
    path = list_checkpoints(resumed)[-1][1]
    data = load_checkpoint(path)
    plain = data["ranks"][0]["rng"]["numpy"]
    legacy = ("MT19937", np.asarray(plain["state"]["key"], dtype=np.uint32), plain["state"]["pos"], plain["has_gauss"],
              plain["gauss"])
    data["ranks"][0]["rng"]["numpy"] = legacy
    torch.save(data, path)
    assert "numpy.ndarray" in torch.serialization.get_unsafe_globals_in_checkpoint(path)
    restore_rng(load_checkpoint(path)["ranks"][0]["rng"])
    after_legacy = np.random.random(4)
    restore_rng({**data["ranks"][0]["rng"], "numpy": plain})
    assert np.array_equal(after_legacy, np.random.random(4))
    final = train(preset("clip-en", resumed, *common, "loop.stop_at_step=6"))
    with open(os.path.join(reference, "summary-rank0.json"), encoding="utf-8") as handle:
        expected = json.load(handle)
    assert final.data_digest == expected["state"]["data_digest"]
    with open(os.path.join(resumed, "summary-rank0.json"), encoding="utf-8") as handle:
        resumed_summary = json.load(handle)
    assert resumed_summary["parameters"] == expected["parameters"]
