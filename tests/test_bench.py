"""The benchmark harness: shapes and flops, the peers computing one LSTM, a tiny run of main()."""
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from lstmcore.bench import main, peers, report
from lstmcore.bench.shapes import (SHAPES, Shape, minimum_training_bytes, parse_shape,
                                   parse_shapes)

INSTALLED = [peer for peer in peers.PEERS if peers.missing_reason(peer) is None]
# Relative tolerance (max |diff| / max |ref|) per dtype; every peer computes in float32.
RTOL = {np.float32: 1e-5}

SMALL_CASES = [
    Shape("one layer", 6, 3, 4, 5),
    Shape("two layers bidirectional", 5, 4, 3, 6, num_layers=2, bidirectional=True),
    Shape("variable lengths", 7, 5, 3, 4, varlen=True),
    Shape("everything", 6, 4, 2, 3, num_layers=2, bidirectional=True, varlen=True),
]


def test_flops_follow_the_formula_forward_and_three_times_for_training():
    T, B, I, H = 10, 32, 1, 30
    seed = SHAPES["seed"]
    assert seed.flops("inference") == 2 * T * B * (I + H) * 4 * H
    assert seed.flops("training") == 3 * seed.flops("inference")


def test_flops_count_every_layer_and_direction():
    shape = SHAPES["bidir2"]
    T, B, I, H = 50, 64, 128, 128
    layer0 = 2 * (2 * T * B * (I + H) * 4 * H)
    layer1 = 2 * (2 * T * B * (2 * H + H) * 4 * H)
    assert shape.flops("inference") == layer0 + layer1


def test_variable_lengths_spread_over_1_to_T_and_count_only_valid_steps():
    varlen, padded = SHAPES["varlen"], SHAPES["padded"]
    lengths = varlen.lengths()
    assert lengths.shape == (varlen.B,)
    assert lengths.max() == varlen.T and lengths.min() == 1
    assert np.all(np.diff(lengths) <= 0)
    assert padded.lengths() is None
    assert varlen.flops("training") / padded.flops("training") == pytest.approx(0.5, abs=0.03)


def test_parse_shapes_takes_names_tuples_and_all():
    assert parse_shape("seed") is SHAPES["seed"]
    assert (parse_shape("7, 2,3,4").T, parse_shape("7,2,3,4").H) == (7, 4)
    assert [s.name for s in parse_shapes(["seed,small", "3,2,1,1"])] == ["seed", "small", "3,2,1,1"]
    assert parse_shapes(["all"]) == list(SHAPES.values())


@pytest.mark.parametrize("text", ["nonsense", "1,2,3", "0,1,1,1"])
def test_parse_shape_refuses_what_is_not_a_shape(text):
    with pytest.raises(ValueError, match="shape"):
        parse_shape(text)


def test_minimum_training_bytes_counts_weights_grads_data_and_saved_gates_and_cells():
    T, B, I, H = 10, 32, 1, 30
    weights = 4 * H * (I + H + 2)
    expected = 4 * (2 * weights + 2 * T * B * I + 2 * T * B * H + T * B * 5 * H)
    assert minimum_training_bytes(SHAPES["seed"]) == expected


@pytest.mark.parametrize("shape", SMALL_CASES, ids=lambda s: s.name)
@pytest.mark.parametrize("peer", INSTALLED)
def test_every_peer_computes_the_same_lstm_as_the_reference(peer, shape):
    expected = peers.build("reference", shape, "inference", threads=1)()
    got = peers.build(peer, shape, "inference", threads=1)()
    assert got.shape == (shape.T, shape.B, shape.directions * shape.H)
    assert np.abs(got - expected).max() / np.abs(expected).max() < RTOL[np.float32]


@pytest.mark.parametrize("peer", [p for p in INSTALLED if p in peers.TRAINING_PEERS])
def test_training_steps_run_forward_and_backward(peer):
    step = peers.build(peer, SMALL_CASES[-1], "training", threads=1)
    step()
    step()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    status = main(["--shapes", "seed", "--rounds", "1", "--json", str(folder / "run.json"),
                   "--markdown", str(folder / "run.md"), "--quiet"])
    return status, json.loads((folder / "run.json").read_text()), (folder / "run.md").read_text()


def test_tiny_run_succeeds_and_records_machine_and_settings(tiny_run):
    status, document, _ = tiny_run
    assert status == 0
    machine = document["machine"]
    for key in ("cpu", "logical_cores", "versions", "blas", "date"):
        assert machine[key]
    assert machine["versions"]["numpy"] == np.__version__
    assert document["settings"]["threads"] == 2
    assert document["ceiling"]["gflops"] > 0


def test_tiny_run_times_every_installed_peer_on_both_works(tiny_run):
    _, document, _ = tiny_run
    timed = {(r["work"], r["peer"]) for r in document["results"]}
    assert timed == ({("inference", p) for p in INSTALLED}
                     | {("training", p) for p in INSTALLED if p in peers.TRAINING_PEERS})
    assert document["skipped"] == []


def test_tiny_run_results_carry_times_rates_and_memory(tiny_run):
    _, document, _ = tiny_run
    for r in document["results"]:
        assert r["shape"] == "seed" and (r["T"], r["B"], r["I"], r["H"]) == (10, 32, 1, 30)
        assert len(r["times_ms"]) == 1 and r["median_ms"] == r["times_ms"][0] > 0
        assert r["gflops"] == pytest.approx(r["flops"] / (r["median_ms"] * 1e6))
        assert r["ceiling_pct"] == pytest.approx(100 * r["gflops"] / document["ceiling"]["gflops"])
        if "lstmcore" in INSTALLED:
            assert r["time_vs_lstmcore"] > 0
        # Linux counts them: a number, never negative (0 when every page was already there)
        assert r["faults_per_call"] is not None and r["faults_per_call"] >= 0
        if r["work"] == "training":
            assert r["minimum_bytes"] == minimum_training_bytes(SHAPES["seed"])
            assert r["peak_rss_bytes"] is None or r["peak_rss_bytes"] > 0
    assert "median ms" in report.results_table(document["results"])
    assert "faults/call" in report.results_table(document["results"])
    assert "peak / minimum" in report.memory_table(document["results"])


def test_tiny_run_writes_markdown_tables_with_the_machine(tiny_run):
    _, document, text = tiny_run
    assert document["machine"]["cpu"] in text
    assert "| shape | size | work | peer | median ms |" in text
    assert text.count("| seed |") == len(document["results"]) + sum(
        r["work"] == "training" for r in document["results"])


@pytest.mark.parametrize("argv, option", [
    (["--shapes", "nonsense"], "--shapes"),
    (["--threads", "0"], "--threads"),
    (["--rounds", "0"], "--rounds"),
    (["--peers", "tensorflow"], "--peers"),
    (["--work", "sleep"], "--work"),
    (["--json", "/no/such/directory/run.json"], "--json"),
    (["--markdown", "/no/such/directory/run.md"], "--markdown"),
])
def test_bad_options_exit_non_zero_naming_the_option(argv, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code != 0
    assert option in capsys.readouterr().err


def test_plot_script_draws_a_png_from_the_json(tiny_run, tmp_path):
    pytest.importorskip("matplotlib")
    script = Path(__file__).resolve().parents[1] / "scripts" / "plot_bench.py"
    spec = importlib.util.spec_from_file_location("plot_bench", script)
    plot_bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plot_bench)
    source, png = tmp_path / "run.json", tmp_path / "run.png"
    source.write_text(json.dumps(tiny_run[1]))
    assert plot_bench.main([str(source), "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_variable_length_shape_is_timed_beside_its_padded_batch_in_the_same_rounds():
    from lstmcore.bench import run

    varlen = SMALL_CASES[2]
    entries = run._entries(varlen, ["lstmcore", "reference"])
    assert entries["lstmcore"] == ("lstmcore", varlen)
    twin_peer, twin_shape = entries[run.PADDED_TWIN]
    assert twin_peer == "lstmcore" and not twin_shape.varlen
    assert (twin_shape.T, twin_shape.B, twin_shape.I, twin_shape.H) == (7, 5, 3, 4)
    # no twin for full-length shapes, nor without lstmcore
    assert run.PADDED_TWIN not in run._entries(SMALL_CASES[0], ["lstmcore"])
    assert run.PADDED_TWIN not in run._entries(varlen, ["reference"])

    results, skipped = run.measure(varlen, "inference", ["lstmcore"], threads=1, rounds=3,
                                   ceiling_gflops=100.0, log=lambda message: None)
    assert skipped == []
    by_peer = {r["peer"]: r for r in results}
    assert set(by_peer) == {"lstmcore", run.PADDED_TWIN}
    own, twin = by_peer["lstmcore"], by_peer[run.PADDED_TWIN]
    assert own["varlen"] and not twin["varlen"] and own["shape"] == twin["shape"]
    assert twin["flops"] == twin_shape.flops("inference") > own["flops"]
    assert len(own["times_ms"]) == len(twin["times_ms"]) == 3
    assert twin["time_vs_lstmcore"] == pytest.approx(twin["median_ms"] / own["median_ms"])
    [line] = report.padding_lines(results)
    share = np.median(np.array(own["times_ms"]) / np.array(twin["times_ms"]))
    assert line.startswith(f"variable lengths inference: {share:.2f} of the padded batch's time")
    assert f"{varlen.valid_steps() / (7 * 5):.2f} of its steps valid" in line


def test_padding_lines_pair_each_round_of_a_shape_and_work():
    def result(peer, work, times, varlen=True):
        return {"peer": peer, "work": work, "shape": "v", "times_ms": times, "T": 4, "B": 2,
                "valid_steps": 6 if varlen else 8}

    results = [result("lstmcore", "inference", [1.0, 5.0, 2.0]),
               result("lstmcore-padded", "inference", [4.0, 6.0, 3.0], varlen=False),
               result("lstmcore", "training", [1.0]),
               result("torch", "training", [9.0])]
    # per-round ratios 0.25, 0.83, 0.67: median 0.67, where the ratio of the medians is 0.5
    assert report.padding_lines(results) == [
        "v inference: 0.67 of the padded batch's time (median of per-round ratios), "
        "for 0.75 of its steps valid"]


def test_markdown_names_the_malloc_settings_when_the_run_had_any(tiny_run):
    _, document, text = tiny_run
    assert document["machine"]["glibc_tunables"] == os.environ.get("GLIBC_TUNABLES")
    tuned = json.loads(json.dumps(document))
    tuned["machine"]["glibc_tunables"] = "glibc.malloc.trim_threshold=268435456"
    assert "- GLIBC_TUNABLES=glibc.malloc.trim_threshold=268435456\n" in report.markdown(tuned)
    tuned["machine"]["glibc_tunables"] = None
    assert "GLIBC_TUNABLES" not in report.markdown(tuned)


def test_a_round_counts_the_page_faults_of_its_calls():
    import mmap

    from lstmcore.bench import worker

    pages = 64

    def step():  # writes one byte to each page of a fresh anonymous mapping: a fault a page
        mapping = mmap.mmap(-1, pages * mmap.PAGESIZE)
        for offset in range(0, pages * mmap.PAGESIZE, mmap.PAGESIZE):
            mapping[offset] = 1
        mapping.close()

    w = worker.Worker()
    w.step, w.number = step, 5
    reply = w.run_round({})
    assert reply["seconds"] > 0
    assert pages <= reply["faults"] < 4 * pages
