"""Loading is running code: a pickle payload runs only with weights_only=False, writes only inside its folder;
the default torch.load and the course loader refuse it; safetensors is a JSON header plus raw bytes."""

import pickle
from pathlib import Path

import pytest
import torch

from course_utils.errors import BadInputError, CourseError
from course_utils.unsafe_loading import (MARKER_NAME, course_loader_refuses, load_safely, load_unsafely,
                                         make_payload_checkpoint, pickle_imports, safetensors_cannot_carry_code,
                                         write_marker)


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_the_payload_runs_only_with_weights_only_false_and_only_inside_its_folder(tmp_path, monkeypatch):
    folder, elsewhere = tmp_path / "checkpoint", tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a payload writing to a relative path would land here
    path = make_payload_checkpoint(folder)
    assert path == folder.resolve() / "pytorch_model.bin" and not (folder / MARKER_NAME).exists()

    before = files_under(tmp_path)
    safe = load_safely(path)
    assert safe["refused"] and not safe["marker_written"] and files_under(tmp_path) == before
    assert safe["call"] == "torch.load(path)"  # torch 2.13's default is weights_only=True
    assert safe["error"] == "UnpicklingError" and "Weights only load failed" in safe["message"]
    assert "course_utils.unsafe_loading.write_marker" in safe["reason"]

    assert load_unsafely(path) is True
    assert files_under(tmp_path) - before == {folder.resolve() / MARKER_NAME}  # one new file, in its folder
    assert not any(elsewhere.iterdir())


def test_the_payload_is_visible_without_running_it(tmp_path):
    path = make_payload_checkpoint(tmp_path)
    imports = pickle_imports(path)
    assert "course_utils.unsafe_loading.write_marker" in imports
    assert "torch._utils._rebuild_tensor_v2" in imports  # what an ordinary tensor needs
    assert not (tmp_path / MARKER_NAME).exists()
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"x": [1, 2]}))
    assert pickle_imports(plain) == []
    weights = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(2)}, weights)
    assert "course_utils.unsafe_loading.write_marker" not in pickle_imports(weights)
    assert torch.equal(torch.load(weights)["w"], torch.ones(2))  # plain weights load under the default


def test_the_payload_function_writes_nothing_outside_a_real_folder(tmp_path):
    target = tmp_path / "not-a-folder"
    assert write_marker(str(target)) == "" and not target.exists() and not any(tmp_path.iterdir())
    assert write_marker(str(tmp_path)) == str(tmp_path / MARKER_NAME)


def test_the_course_loader_refuses_a_folder_with_only_a_bin(tmp_path):
    result = course_loader_refuses(tmp_path / "model")
    assert result["refused"] and result["error"] == "BadInputError" and not result["marker_written"]
    assert "no .safetensors weights" in result["message"] and "can run code" in result["message"]

    from course_utils.loading import load_model

    bare = tmp_path / "bare"  # no config.json either: still refused, nothing runs
    make_payload_checkpoint(bare)
    with pytest.raises(CourseError):
        load_model(str(bare))
    assert not (bare / MARKER_NAME).exists()


def test_a_safetensors_file_is_a_json_header_and_raw_bytes(tmp_path, capsys):
    r = safetensors_cannot_carry_code(tmp_path)
    header = r["header"]
    assert set(header) == {"__metadata__", "weight", "bias"}
    assert header["weight"] == {"dtype": "F32", "shape": [3, 4], "data_offsets": header["weight"]["data_offsets"]}
    assert r["file_bytes"] == 8 + r["header_bytes"] + r["data_bytes"]
    assert r["data_bytes"] == r["tensor_bytes"] == (12 + 3) * 4 and r["contiguous"] and r["round_trip"]
    assert '"data_offsets"' in capsys.readouterr().out  # the header is printed
    raw = r["path"].read_bytes()
    assert not raw.startswith((b"\x80", b"PK"))  # neither a pickle nor a torch.save zip
    with pytest.raises(Exception):
        pickle.loads(raw)


def test_bad_input(tmp_path):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    with pytest.raises(BadInputError, match="is a file"):
        make_payload_checkpoint(a_file)
    with pytest.raises(BadInputError, match="No checkpoint"):
        load_unsafely(tmp_path / "missing.bin")
