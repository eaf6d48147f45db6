"""The lstmcore command: subcommand dispatch, and ``python -m lstmcore demo`` end to end."""
import os
import subprocess
import sys

import pytest

import lstmcore
from lstmcore import cli


def test_demo_subcommand_runs_the_demo(tmp_path, capsys):
    assert cli.main(["demo", "--steps", "2", "--output", str(tmp_path / "d.png")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RMSE before training: ")
    assert "train step: 0, loss " in out and "RMSE after training: " in out


def test_bench_subcommand_hands_its_arguments_to_the_bench_module(monkeypatch):
    import lstmcore.bench

    calls = []
    monkeypatch.setattr(lstmcore.bench, "main", lambda argv: calls.append(argv) or 3)
    assert cli.main(["bench", "--shapes", "seed", "-q"]) == 3
    assert calls == [["--shapes", "seed", "-q"]]


@pytest.mark.parametrize("argv", [[], ["train"]])
def test_unknown_or_missing_subcommand_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "usage: lstmcore" in capsys.readouterr().err


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "demo" in out and "bench" in out


def test_python_dash_m_lstmcore_demo(tmp_path):
    pytest.importorskip("matplotlib")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(lstmcore.__file__)),
               MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-m", "lstmcore", "demo", "--steps", "3"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("RMSE before training: ")
    assert lines[-1] == f"Plot saved to {tmp_path / 'lstmcore_demo.png'}"
    assert (tmp_path / "lstmcore_demo.png").exists()
