"""World-map rendering (equirectangular) of the simulator state, as an RGB array.

Satellites are coloured by queue occupancy, up ISLs drawn as thin lines, user sites as grey dots sized by demand,
data centres as squares, the last job's site as a star and its route (site -> first satellite -> ISL hops -> node)
as a thick line. Uses matplotlib's Agg canvas only (no display needed).

``render_mode="human"`` shows the same frames in a matplotlib window (:class:`HumanWindow`), not gymnasium's pygame
window: matplotlib is already a dependency, so there is no extra to install. Where matplotlib cannot open a window
(its backend is a non-interactive one such as Agg: no display), :func:`check_human_display` says so at make.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from orbitcloud_env.geometry import ecef_to_geodetic

__all__ = ["HumanWindow", "check_human_display", "render_rgb", "render_title"]

_WIDTH_PX, _HEIGHT_PX, _DPI = 960, 480, 100


def _segments(lon_a: NDArray, lat_a: NDArray, lon_b: NDArray, lat_b: NDArray) -> NDArray:
    """Line segments, dropping those that wrap around the antimeridian."""
    keep = np.abs(lon_a - lon_b) < 180.0
    return np.stack([np.stack([lon_a[keep], lat_a[keep]], 1), np.stack([lon_b[keep], lat_b[keep]], 1)], 1)


def render_title(sim) -> str:
    """The frame's title: the simulated time since reset and the last job's class, site, outcome and latency
    (the outcome as its value, ``missed``, not the enum's name)."""
    title = f"t = {sim.elapsed_s:8.1f} s"
    out = sim.last_outcome
    if out is not None:
        title += (f"   job {out.job.job_id} ({sim.job_class_names[out.job.job_class]}) from "
                  f"{sim.sites.names[out.job.site]}: {out.outcome.value}, {out.latency_ms:.0f} ms")
    return title


def _draw_last_job(ax, sim, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> None:
    """The last job's site (a star) and its route to its node (satellites at ``lon``/``lat`` [deg], or the data
    centre), if any."""
    from matplotlib.collections import LineCollection

    sites = sim.sites
    out = sim.last_outcome
    if out is not None:
        s = out.job.site
        slat, slon = float(sites.lat_deg[s]), float(sites.lon_deg[s])
        ax.scatter([slon], [slat], marker="*", s=160, c="#ff3030", edgecolors="w", linewidths=0.7, zorder=5,
                   label="job site")
        if out.node >= sim.n_sat:
            d = out.node - sim.n_sat
            pts_lon = np.array([slon, sim.data_centres.lon_deg[d]])
            pts_lat = np.array([slat, sim.data_centres.lat_deg[d]])
        elif out.node >= 0 and out.route:
            route = np.asarray(out.route)
            pts_lon = np.concatenate([[slon], lon[route]])
            pts_lat = np.concatenate([[slat], lat[route]])
        else:
            pts_lon = pts_lat = np.zeros(0)
        if pts_lon.size > 1:
            segs = _segments(pts_lon[:-1], pts_lat[:-1], pts_lon[1:], pts_lat[1:])
            ax.add_collection(LineCollection(segs, colors="#ff3030", linewidths=2.5, zorder=4, label="job route"))
            ax.scatter(pts_lon[-1:], pts_lat[-1:], marker="o", s=70, facecolors="none", edgecolors="#ff3030",
                       linewidths=2.0, zorder=5)


def render_rgb(sim) -> NDArray[np.uint8]:
    """Render ``sim`` (a :class:`~orbitcloud_env.simulator.Simulator` after reset) to an (H, W, 3) uint8 image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_WIDTH_PX / _DPI, _HEIGHT_PX / _DPI), dpi=_DPI)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.07, 0.11, 0.80, 0.80))
    cax = fig.add_axes((0.885, 0.11, 0.015, 0.80))
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_facecolor("#0b1a2e")
    ax.set_xticks(range(-180, 181, 60))
    ax.set_yticks(range(-90, 91, 30))
    ax.grid(color="#2a3f5f", linewidth=0.5)
    ax.set_xlabel("longitude [deg]")
    ax.set_ylabel("latitude [deg]")

    snap = sim.snapshot
    lat, lon, _ = ecef_to_geodetic(snap.sat_ecef_km)
    # Up ISLs.
    pairs = snap.pairs[snap.isl_up]
    if pairs.size:
        segs = _segments(lon[pairs[:, 0]], lat[pairs[:, 0]], lon[pairs[:, 1]], lat[pairs[:, 1]])
        ax.add_collection(LineCollection(segs, colors="#3c6e91", linewidths=0.3, alpha=0.45, label="ISL up"))
    # Sites and data centres.
    sites = sim.sites
    ax.scatter(sites.lon_deg, sites.lat_deg, s=4 + 400 * sites.weight, c="#bbbbbb", alpha=0.6, linewidths=0,
               label="user site")
    if sim.n_dc:
        ax.scatter(sim.data_centres.lon_deg, sim.data_centres.lat_deg, marker="s", s=30, c="#f0a030",
                   edgecolors="k", linewidths=0.5, label="data centre")
    # Satellites by load.
    load = sim.compute.occupancy()[: sim.n_sat]
    # A bright colormap (cyan when idle -> magenta when full) stays visible on the dark background.
    sc = ax.scatter(lon, lat, s=9, c=load, cmap="cool", vmin=0.0, vmax=1.0, linewidths=0, zorder=3,
                    label="satellite")
    fig.colorbar(sc, cax=cax, label="satellite queue occupancy")
    _draw_last_job(ax, sim, lon, lat)
    ax.set_title(render_title(sim), fontsize=9)
    ax.legend(loc="lower left", fontsize=6, framealpha=0.6, markerscale=0.8)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[..., :3])


def check_human_display() -> None:
    """ValueError (one line) when matplotlib's backend cannot open a window here (``render_mode="human"``)."""
    import matplotlib

    backend = str(matplotlib.get_backend())
    try:  # matplotlib >= 3.9
        from matplotlib.backends import BackendFilter, backend_registry

        interactive = {b.lower() for b in backend_registry.list_builtin(BackendFilter.INTERACTIVE)}
    except ImportError:
        from matplotlib import rcsetup

        interactive = {b.lower() for b in rcsetup.interactive_bk}
    # a third-party backend (module://..., e.g. a notebook's) is the user's choice: trusted to show frames
    if backend.lower() not in interactive and not backend.startswith("module://"):
        raise ValueError(f"render_mode='human': matplotlib's backend here is {backend!r}, which cannot open a window "
                         "(no display?); use render_mode='rgb_array' for frames as arrays, or run where a display "
                         "and an interactive backend (e.g. MPLBACKEND=TkAgg) are available; no pygame is needed")


class HumanWindow:
    """A matplotlib window showing one frame after another (``render_mode="human"``), ``fps`` frames per second."""

    def __init__(self, fps: float) -> None:
        self.fps = float(fps)
        self._fig = None
        self._image = None

    def show(self, frame: NDArray[np.uint8]) -> None:
        import matplotlib.pyplot as plt

        if self._fig is None or not plt.fignum_exists(self._fig.number):
            self._fig = plt.figure(figsize=(frame.shape[1] / _DPI, frame.shape[0] / _DPI), dpi=_DPI)
            ax = self._fig.add_axes((0.0, 0.0, 1.0, 1.0))
            ax.set_axis_off()
            self._image = ax.imshow(frame)
            plt.show(block=False)
        else:
            self._image.set_data(frame)
        self._fig.canvas.draw_idle()
        plt.pause(1.0 / self.fps)

    def close(self) -> None:
        if self._fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self._fig)
            self._fig = self._image = None
