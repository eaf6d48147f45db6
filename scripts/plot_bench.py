"""Plot GFLOP/s against the size of a call (flops) for each peer of a bench run.

    python -m lstmcore bench --shapes all --json bench.json
    python scripts/plot_bench.py bench.json -o docs/bench.png

One panel per work (inference, training step), one marker per peer, both axes logarithmic,
and the run's float32 GEMM ceiling as a dashed line; the first peer's points are labelled
with their shape names.
"""
import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

PEER_ORDER = ("lstmcore", "torch", "onnxruntime", "reference")
MARKERS = "o^sDvP"
WORK_TITLES = {"inference": "inference", "training": "training step (forward + backward)"}


def plot(document, title=None):
    """A figure from the document ``--json`` wrote."""
    # lstmcore on a variable-length shape's padded batch (lstmcore-padded) is timed beside it
    # for their ratio; as a point it would repeat lstmcore's on the padded shape.
    results = [r for r in document["results"] if r["peer"] != "lstmcore-padded"]
    works = [work for work in WORK_TITLES if any(r["work"] == work for r in results)]
    if not works:
        raise ValueError("the JSON file holds no results to plot")
    figure, axes = plt.subplots(1, len(works), figsize=(6.5 * len(works), 4.8), squeeze=False,
                                sharey=True)
    ceiling = document["ceiling"]["gflops"]
    peers = sorted({r["peer"] for r in results},
                   key=lambda p: PEER_ORDER.index(p) if p in PEER_ORDER else len(PEER_ORDER))
    for ax, work in zip(axes[0], works):
        # one marker and colour per peer in every panel (a peer missing from one keeps its own)
        for index, peer in enumerate(peers):
            marker, color = MARKERS[index % len(MARKERS)], f"C{index}"
            points = sorted((r["flops"], r["gflops"], r["shape"]) for r in results
                            if r["work"] == work and r["peer"] == peer)
            if not points:
                continue
            flops, gflops, names = zip(*points)
            # Points only: neighbouring sizes are different shapes, not one curve.
            ax.plot(flops, gflops, marker=marker, color=color, linestyle="none", markersize=7,
                    label=peer)
            if peer == peers[0]:
                for x, y, name in points:
                    ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4),
                                fontsize=7)
        ax.axhline(ceiling, color="gray", linestyle="--",
                   label=f"float32 GEMM ceiling ({ceiling:.0f})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("flops per call")
        ax.set_title(WORK_TITLES[work])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("GFLOP/s")
    machine = document["machine"]
    threads = document["settings"]["threads"]
    figure.suptitle(title or f"lstmcore and peers: {machine['cpu']}, {threads} threads, "
                             f"{machine['date'][:10]}")
    figure.tight_layout()
    return figure


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", help="a file written by python -m lstmcore bench --json")
    parser.add_argument("-o", "--output", default="bench.png", help="PNG to write (bench.png)")
    parser.add_argument("--title", help="figure title (default: machine, threads and date)")
    args = parser.parse_args(argv)
    try:
        with open(args.json) as source:
            document = json.load(source)
        figure = plot(document, args.title)
    except (OSError, ValueError, KeyError) as err:
        parser.error(f"{args.json}: {err}")
    figure.savefig(args.output, dpi=120)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
