"""The ``lstmcore`` command (also ``python -m lstmcore``): one subcommand per job.

    lstmcore demo [--steps N] [--seed S] [--optimizer adagrad|adam|sgd|rmsprop]
                  [--layout comments|literal] [--output PNG] [--threads N]
    lstmcore bench [options]     (see ``lstmcore bench --help``)

Each subcommand parses its own options, so its module is imported only when it runs.
"""
import argparse
import sys

__all__ = ["main"]

COMMANDS = {
    "demo": "train an LSTM to continue cos(x): the seed experiment, with a plot",
    "bench": "time lstmcore against the NumPy reference, PyTorch and ONNX Runtime",
}


def _parser():
    parser = argparse.ArgumentParser(
        prog="lstmcore", description="A fast CPU LSTM.",
        epilog="\n".join(f"  {name:8s}{text}" for name, text in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="command",
                        help="one of: " + ", ".join(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="the command's options (lstmcore <command> --help)")
    return parser


def main(argv=None):
    """Runs a subcommand; returns its exit status."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "demo":
        from .demo import main as command
    else:
        from .bench import main as command
    return command(args.args)
