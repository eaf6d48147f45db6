"""The C model file (lstmcore.cexport) and the C example that runs it (examples/c/run_model)."""
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lstmcore import LSTM
from lstmcore.cexport import FORMAT_VERSION, MAGIC, save_c_model
from tolerances import TOL, assert_close

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "c"

CONFIGS = {  # LSTM keyword arguments besides the sizes
    "one layer": dict(num_layers=1),
    "stacked, projection": dict(num_layers=3, proj_size=2),
    "two layers, no bias": dict(num_layers=2, bias=False),
}


@pytest.fixture(scope="module")
def run_model():
    """Builds the example once (make -C examples/c) and returns the program's path."""
    if shutil.which(os.environ.get("CC", "cc")) is None or shutil.which("make") is None:
        pytest.skip("needs a C compiler and make")
    build = subprocess.run(["make", "-C", str(EXAMPLE)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    return EXAMPLE / "run_model"


def run(program, *args, stdin=""):
    result = subprocess.run([str(program), *map(str, args)], input=stdin, capture_output=True,
                            text=True, timeout=60)
    return result.returncode, result.stdout, result.stderr


def as_text(x):
    """(T, B, I) -> the example's input: one line per step, B*I numbers each."""
    return "\n".join(" ".join(repr(float(v)) for v in step.ravel()) for step in x) + "\n"


@pytest.mark.parametrize("mode", ["streaming", "--sequence"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("config", CONFIGS)
def test_example_prints_the_models_outputs(run_model, tmp_path, rng, config, batch, mode):
    model = LSTM(4, 5, seed=3, **CONFIGS[config])
    save_c_model(model, tmp_path / "model.lstm")
    x = rng.standard_normal((6, batch, 4)).astype(np.float32)
    args = [tmp_path / "model.lstm", "--batch", batch] + ([mode] if mode != "streaming" else [])
    code, out, err = run(run_model, *args, stdin=as_text(x))
    assert code == 0, err
    printed = np.array([line.split() for line in out.splitlines()], dtype=np.float32)
    y, _ = model(x)
    assert_close(printed, y.reshape(6, -1), TOL[np.float32], f"{config} {mode} y")


def test_example_reads_an_input_file(run_model, tmp_path, rng):
    model = LSTM(2, 3, seed=0)
    save_c_model(model, tmp_path / "model.lstm")
    x = rng.standard_normal((4, 1, 2)).astype(np.float32)
    (tmp_path / "x.txt").write_text(as_text(x))
    code, out, err = run(run_model, tmp_path / "model.lstm", tmp_path / "x.txt")
    assert code == 0, err
    assert_close(np.loadtxt(out.splitlines(), ndmin=2), model(x)[0][:, 0], TOL[np.float32], "y")


def test_example_streams_each_output_before_the_input_ends(run_model, tmp_path, rng):
    model = LSTM(2, 3, num_layers=2, seed=0)
    save_c_model(model, tmp_path / "model.lstm")
    x = rng.standard_normal((3, 1, 2)).astype(np.float32)
    y, _ = model(x)
    with subprocess.Popen([str(run_model), str(tmp_path / "model.lstm")], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as proc:
        for t in range(3):
            proc.stdin.write(as_text(x[t:t + 1]))
            proc.stdin.flush()
            line = proc.stdout.readline()  # printed while stdin is still open
            assert_close(np.array(line.split(), np.float32), y[t, 0], TOL[np.float32], f"y[{t}]")
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-4], "file size differs"),
    (lambda b: b + b"\0", "file size differs"),
    (lambda b: b"LSTMCORE" + b[8:], "not an lstmcore C model"),
    (lambda b: b[:8] + struct.pack("<I", FORMAT_VERSION + 1) + b[12:], "format version"),
    (lambda b: b[:12] + struct.pack("<I", 0) + b[16:], "bad header"),
])
def test_example_refuses_a_damaged_model_file(run_model, tmp_path, damage, message):
    save_c_model(LSTM(2, 3, seed=0), tmp_path / "model.lstm")
    (tmp_path / "bad.lstm").write_bytes(damage((tmp_path / "model.lstm").read_bytes()))
    code, out, err = run(run_model, tmp_path / "bad.lstm", stdin="1 2\n")
    assert code == 1 and out == ""
    assert message in err


def test_example_refuses_input_that_stops_inside_a_step(run_model, tmp_path):
    save_c_model(LSTM(2, 3, seed=0), tmp_path / "model.lstm")
    code, out, err = run(run_model, tmp_path / "model.lstm", stdin="0.5 1\n0.25\n")
    assert code == 1 and len(out.splitlines()) == 1
    assert "inside a time step" in err


@pytest.mark.parametrize("config", CONFIGS)
def test_file_holds_the_header_and_the_state_dict_in_order(tmp_path, config):
    model = LSTM(4, 5, seed=1, **CONFIGS[config])
    save_c_model(model, tmp_path / "model.lstm")
    data = (tmp_path / "model.lstm").read_bytes()
    magic, version, L, I, H, P, flags = struct.unpack_from("<8s6I", data)
    assert (magic, version) == (MAGIC, FORMAT_VERSION)
    assert (L, I, H, P, flags) == (model.num_layers, 4, 5, model.proj_size, int(model.bias))
    stored = np.frombuffer(data, "<f4", offset=32)
    # state_dict's order is PyTorch's, which the format follows
    expected = np.concatenate([a.ravel() for a in model.state_dict().values()])
    np.testing.assert_array_equal(stored, expected)


def test_save_replaces_the_file_atomically(tmp_path):
    path = tmp_path / "model.lstm"
    path.write_bytes(b"old")
    save_c_model(LSTM(2, 3, seed=0), path)
    assert os.listdir(tmp_path) == ["model.lstm"]
    assert path.read_bytes()[:8] == MAGIC


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.lstm"
    path.write_bytes(b"old")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        save_c_model(LSTM(2, 3, seed=0), path)
    assert os.listdir(tmp_path) == ["model.lstm"]
    assert path.read_bytes() == b"old"


@pytest.mark.parametrize("model, error, match", [
    (LSTM(2, 3, bidirectional=True), ValueError, "bidirectional"),
    (LSTM(2, 3, dtype=np.float64), ValueError, "float64"),
    ({"weight_ih_l0": np.zeros((12, 2))}, TypeError, "model must be an lstmcore.LSTM"),
])
def test_refuses_what_the_format_cannot_hold(tmp_path, model, error, match):
    with pytest.raises(error, match=match):
        save_c_model(model, tmp_path / "model.lstm")
    assert os.listdir(tmp_path) == []


def test_a_new_file_is_readable_by_others_and_a_replaced_one_keeps_its_mode(tmp_path):
    save_c_model(LSTM(2, 3, seed=0), tmp_path / "new.lstm")
    assert (tmp_path / "new.lstm").stat().st_mode & 0o777 == 0o644
    (tmp_path / "old.lstm").write_bytes(b"old")
    os.chmod(tmp_path / "old.lstm", 0o600)
    save_c_model(LSTM(2, 3, seed=0), tmp_path / "old.lstm")
    assert (tmp_path / "old.lstm").stat().st_mode & 0o777 == 0o600
