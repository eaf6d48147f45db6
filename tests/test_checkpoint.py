"""Checkpoints: exact round trips and resumption, atomic writes, damaged or mismatched files."""
import json
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from lstmcore.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from lstmcore.model import build_model
from lstmcore.optim import Adam
from lstmcore.trainer import Trainer


def make(hidden=5, dtype=np.float32, seed=0):
    model = build_model(2, hidden, num_layers=2, dtype=dtype, seed=seed)
    return model, Adam(model.parameters(), lr=0.01, amsgrad=True)


def data(rng):
    return rng.standard_normal((50, 6, 2)), rng.standard_normal((50, 1))


@pytest.fixture
def saved(tmp_path, rng):
    model, optimizer = make()
    Trainer(model, optimizer, seed=0).fit(*data(rng), steps=3)
    path = tmp_path / "run.ckpt"
    save_checkpoint(path, model, optimizer, step=3)
    return path, model, optimizer


def assert_same_state(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        a, e = actual[name], expected[name]
        assert type(a) is type(e) or isinstance(e, np.ndarray), name
        assert np.asarray(a).dtype == np.asarray(e).dtype, name
        np.testing.assert_array_equal(a, e, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_restores_model_optimizer_and_step_bit_for_bit(tmp_path, rng, dtype):
    model, optimizer = make(dtype=dtype)
    Trainer(model, optimizer, seed=0).fit(*data(rng), steps=3)
    save_checkpoint(tmp_path / "c", model, optimizer, step=3)
    fresh_model, fresh_optimizer = make(dtype=dtype, seed=9)
    loaded = load_checkpoint(tmp_path / "c", fresh_model, fresh_optimizer)
    assert loaded["step"] == 3 and loaded["version"] == FORMAT_VERSION
    assert_same_state(fresh_model.state_dict(), model.state_dict())
    assert_same_state(fresh_optimizer.state_dict(), optimizer.state_dict())


def test_extra_keeps_types_and_values_exactly(tmp_path):
    extra = {"ints": [0, -3, 2**80], "floats": (0.1, float("nan"), -float("inf")), "none": None,
             "flag": True, "text": "héllo/x", "scalar": np.float32(1.5), "i64": np.int64(-2),
             "array": np.arange(6, dtype=np.int16).reshape(2, 3), 7: "int key",
             "nested": {"a/b": {"c": [np.zeros(0), ()]}}}
    model, _ = make()
    save_checkpoint(tmp_path / "c", model, extra=extra)
    loaded = load_checkpoint(tmp_path / "c")["extra"]
    assert loaded.keys() == extra.keys()
    assert loaded["ints"] == extra["ints"] and loaded["none"] is None and loaded["flag"] is True
    assert isinstance(loaded["floats"], tuple) and loaded["floats"][0] == 0.1
    assert np.isnan(loaded["floats"][1]) and loaded["floats"][2] == -np.inf
    assert loaded["text"] == "héllo/x" and loaded[7] == "int key"
    assert type(loaded["scalar"]) is np.float32 and loaded["scalar"] == 1.5
    assert type(loaded["i64"]) is np.int64
    np.testing.assert_array_equal(loaded["array"], extra["array"])
    assert loaded["array"].dtype == np.int16
    assert loaded["nested"]["a/b"]["c"][1] == ()


def test_load_without_a_model_returns_the_state(saved):
    path, model, optimizer = saved
    loaded = load_checkpoint(path)
    assert_same_state(loaded["model"], model.state_dict())
    assert_same_state(loaded["optimizer"], optimizer.state_dict())


def run(steps, resume_from=None, save_to=None):
    """Losses and final weights of a training run that may resume from, or save to, a file."""
    X, y = data(np.random.default_rng(0))
    model, optimizer = make(seed=1)
    trainer = Trainer(model, optimizer, batch_size=8, seed=2)
    if resume_from is not None:
        loaded = load_checkpoint(resume_from, model, optimizer)
        trainer.load_state_dict(loaded["extra"]["trainer"])
        assert trainer.step == loaded["step"]
    losses = trainer.fit(X, y, steps=steps).loss
    if save_to is not None:
        save_checkpoint(save_to, model, optimizer, step=trainer.step,
                        extra={"trainer": trainer.state_dict()})
    return losses, model.state_dict()


def test_resumed_training_continues_exactly_as_if_it_had_not_stopped(tmp_path):
    path = tmp_path / "resume.ckpt"
    with threadpool_limits(1):
        uninterrupted, final = run(11)
        first, _ = run(4, save_to=path)
        resumed, resumed_final = run(7, resume_from=path)
    assert first + resumed == uninterrupted  # bit-equal floats
    for name in final:
        np.testing.assert_array_equal(resumed_final[name], final[name], err_msg=name)


def test_save_replaces_the_file_and_leaves_no_temporary_files(saved):
    path, model, optimizer = saved
    model.head.bias[...] = 42
    save_checkpoint(path, model, optimizer, step=4)
    assert os.listdir(path.parent) == [path.name]
    assert load_checkpoint(path)["step"] == 4
    assert (load_checkpoint(path)["model"]["head.bias"] == 42).all()


def test_a_failed_save_keeps_the_old_file(saved, monkeypatch):
    path, model, optimizer = saved
    before = path.read_bytes()

    def failing_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, optimizer, step=9)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]


def test_unsavable_extra_is_refused_before_writing(saved):
    path, model, _ = saved
    before = path.read_bytes()
    with pytest.raises(TypeError, match="set"):
        save_checkpoint(path, model, extra={"x": {1, 2}})
    assert path.read_bytes() == before


@pytest.mark.parametrize("keep", [0, 10, 0.5, -1], ids=["empty", "10 bytes", "half", "last byte"])
def test_truncated_file_is_refused(saved, keep):
    path, model, optimizer = saved
    raw = path.read_bytes()
    cut = int(len(raw) * keep) if isinstance(keep, float) else keep % len(raw)
    path.write_bytes(raw[:cut])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        load_checkpoint(path, model, optimizer)


def test_corrupted_array_bytes_are_refused(saved):
    path, model, _ = saved
    raw = bytearray(path.read_bytes())
    at = raw.find(model.state_dict()["lstm.weight_hh_l1"].tobytes())
    assert at > 0
    raw[at + 5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted"):
        load_checkpoint(path, model)


def rewrite(path, edit_meta=None, edit_arrays=None):
    """Rewrite a checkpoint as a valid zip with edited metadata or arrays."""
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(arrays["__meta__"].tobytes())
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(arrays)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_edited_arrays_fail_the_checksum(saved):
    path, model, _ = saved

    def edit(arrays):
        arrays["model/head.bias"] = arrays["model/head.bias"] + 1

    rewrite(path, edit_arrays=edit)
    with pytest.raises(ValueError, match="checksum"):
        load_checkpoint(path, model)


@pytest.mark.parametrize("field, value, match", [("version", FORMAT_VERSION + 1, "version 2"),
                                                 ("magic", "something-else", "magic")])
def test_other_formats_and_versions_are_refused(saved, field, value, match):
    path, model, _ = saved
    rewrite(path, edit_meta=lambda meta: meta.update({field: value}))
    with pytest.raises(ValueError, match=match):
        load_checkpoint(path, model)


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not an lstmcore checkpoint"):
        load_checkpoint(tmp_path / "plain.npz")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(ValueError, match="truncated or corrupted"):
        load_checkpoint(tmp_path / "text")


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "absent.ckpt")


def test_a_model_of_another_shape_is_refused_and_left_untouched(saved):
    path = saved[0]
    model, _ = make(hidden=6)
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"lstm.weight_hh_l0: \(20, 5\) float32 in the file, "
                                         r"\(24, 6\) float32 in the model"):
        load_checkpoint(path, model)
    assert_same_state(model.state_dict(), before)


def test_a_model_of_another_dtype_is_refused(saved):
    model, _ = make(dtype=np.float64)
    with pytest.raises(ValueError, match="float32 in the file.*float64 in the model"):
        load_checkpoint(saved[0], model)


def test_a_model_with_other_parameters_is_refused(saved):
    model = build_model(2, 5, num_layers=1)
    with pytest.raises(ValueError, match=r"unexpected \['lstm.bias_hh_l1'"):
        load_checkpoint(saved[0], model)


def test_an_optimizer_needs_saved_optimizer_state(tmp_path):
    model, optimizer = make()
    save_checkpoint(tmp_path / "c", model)
    with pytest.raises(ValueError, match="no optimizer state"):
        load_checkpoint(tmp_path / "c", model, optimizer)


def test_another_optimizer_is_refused(saved):
    from lstmcore.optim import SGD

    model, _ = make()
    with pytest.raises(ValueError, match="optimizer state does not match"):
        load_checkpoint(saved[0], model, SGD(model.parameters(), lr=0.1))
