"""The `wormchip episode` command: run a circuit in a world (closed loop) on brian2, emulator or lava."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be in 0 … 2³¹ − 1, got {value}")
    return value


def _episode(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from wormchip.closed_loop.episode import prepare_episode, run_prepared, summarize
    from wormchip.preflight import check_output

    out = check_output(args.out)  # before any work: a bad --out fails in a second
    network, binding, env, resolved = prepare_episode(args.circuit, args.world)
    episodes = []
    with Progress(transient=True, disable=args.json or not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"{binding.world} on {args.on}", total=args.episodes)
        for k in range(args.episodes):
            seed = args.seed + k
            episode = run_prepared(
                network,
                binding,
                env,
                resolved,
                args.on,
                seed,
                args.duration,
                report=lambda f, k=k: progress.update(task, completed=k + f),
            )
            episodes.append(episode)
            if out is not None:  # written as each episode ends: a later failure keeps these
                out.mkdir(parents=True, exist_ok=True)
                _save_episode(out, k, episode)
    summary = {
        "circuit": episodes[0].circuit,
        "world": binding.world,
        "on": args.on,
        **summarize(episodes),
        "wall_s": sum(e.wall_s for e in episodes),
    }
    if out is not None:
        from wormchip.closed_loop.figures import animate, trajectory_figure

        fig = trajectory_figure(episodes)
        fig.savefig(out / "trajectories.png", dpi=110)
        animate(episodes[0], out / "episode_0.gif")
        summary["files"] = {
            "summary": str(out / "episode.json"),
            "figure": str(out / "trajectories.png"),
            "animation": str(out / "episode_0.gif"),
        }
        (out / "episode.json").write_text(json.dumps(summary, indent=1))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(
        f"{summary['circuit']} in {summary['world']} on {args.on}: {len(episodes)} episode(s), "
        f"{summary['wall_s']:.1f} s"
    )
    print(f"  return {summary['return_mean']:.4g} ± {summary['return_std']:.2g}")
    for key, value in summary["metrics"].items():
        if not key.endswith("_std") and key != "return" and value is not None:
            print(f"  {key:<28} {value:.4g} ± {summary['metrics'][key + '_std']:.2g}")
    for kind, path in summary.get("files", {}).items():
        print(f"  {kind}: {path}")
    return 0


def _save_episode(out: Path, k: int, episode) -> None:
    """The episode's trajectory (CSV), metrics (JSON) and spikes (HDF5)."""
    from wormchip.closed_loop.figures import trajectory_table

    (out / f"episode_{k}_trajectory.csv").write_text(trajectory_table(episode.trajectory))
    record = {"seed": episode.seed, "return": episode.episode_return, "metrics": episode.metrics}
    (out / f"episode_{k}.json").write_text(json.dumps(record, indent=1))
    episode.result.save(out / f"episode_{k}_spikes.h5")


def add_episode(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "episode", help="run a circuit in a world (closed loop): klinotaxis, touch, body or gym:ID"
    )
    parser.add_argument("circuit", help="library circuit name or YAML spec file with `bindings`")
    parser.add_argument(
        "--world", help="klinotaxis, touch, body or gym:ID (default: the spec's first binding)"
    )
    parser.add_argument(
        "--on", default="brian2", choices=["brian2", "nengo", "emulator", "lava"], help="backend"
    )
    parser.add_argument("--episodes", type=_positive_int, default=1, help="episodes, seeds seed … seed+N−1")
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the first episode's world (default 0)")
    parser.add_argument("--duration", help="episode length in world time with unit (default: the binding's)")
    parser.add_argument("--out", help="folder for trajectories, spikes, figure and GIF")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_episode)
