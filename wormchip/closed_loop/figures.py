"""Figures of closed-loop episodes: the world trajectories (PNG) and an animation of one episode (GIF).

Each world draws itself (`WormWorld.draw`); gymnasium environments are drawn as their observations over
time. The GIF is written with matplotlib's `PillowWriter` (Pillow comes with matplotlib).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wormchip.closed_loop.episode import EpisodeResult
from wormchip.worlds.base import Trajectory, WormWorld

MAX_FRAMES = 60


def _draw(ax, episode: EpisodeResult, upto: int | None = None) -> None:
    env = episode.world_env
    if isinstance(env, WormWorld):
        env.draw(ax, episode.trajectory, upto)
        return
    obs = np.array(episode.trajectory.observations)[: None if upto is None else upto + 1]
    t = np.arange(len(obs)) * episode.trajectory.dt
    for k in range(obs.shape[1]):
        ax.plot(t, obs[:, k], lw=1, label=f"obs {k}")
    ax.set_xlabel("world time (s)")
    ax.set_ylabel("observation")
    ax.legend(fontsize=7, loc="upper right")


def trajectory_figure(episodes: list[EpisodeResult]):
    """Every episode's trajectory, overlaid on one axis (the world draws the plate, body or signals)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    for episode in episodes:
        _draw(ax, episode)
    first = episodes[0]
    ax.set_title(f"{first.circuit} in {first.world} on {first.on}: {len(episodes)} episode(s)", fontsize=10)
    fig.tight_layout()
    return fig


def animate(episode: EpisodeResult, path: str | Path, frames: int = MAX_FRAMES) -> Path:
    """A GIF of one episode, `frames` frames evenly spaced over its steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    steps = max(episode.trajectory.steps, 1)
    marks = np.unique(np.linspace(1, steps, min(frames, steps)).astype(int))
    fig, ax = plt.subplots(figsize=(4.5, 4))

    def frame(k: int) -> None:
        ax.clear()
        _draw(ax, episode, int(marks[k]))
        ax.set_title(f"{episode.world}: t = {marks[k] * episode.trajectory.dt:.1f} s", fontsize=9)

    animation = FuncAnimation(fig, frame, frames=len(marks))
    path = Path(path)
    animation.save(path, writer=PillowWriter(fps=12))
    plt.close(fig)
    return path


def trajectory_table(trajectory: Trajectory) -> str:
    """CSV text: one row per world step with the recorded state, the action and the reward."""
    keys = list(trajectory.states[0]) if trajectory.states else []
    n_act = len(trajectory.actions[0]) if trajectory.actions else 0
    header = ["step", "time_s", *keys, *(f"action_{i}" for i in range(n_act)), "reward"]
    rows = [",".join(header)]
    for k, state in enumerate(trajectory.states):
        action = trajectory.actions[k] if k < len(trajectory.actions) else np.full(n_act, np.nan)
        reward = trajectory.rewards[k] if k < len(trajectory.rewards) else np.nan
        values = [k, k * trajectory.dt, *(state[key] for key in keys), *action, reward]
        rows.append(",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in values))
    return "\n".join(rows) + "\n"
