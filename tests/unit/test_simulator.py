"""The simulator core, driven without Gymnasium: reset order, clocks, power, determinism."""

import numpy as np
import pytest

from orbitcloud_env import simulator as simulator_module
from orbitcloud_env.config import load_config
from orbitcloud_env.simulator import Simulator


def _sim(**overrides):
    return Simulator(load_config("small-v0", overrides))


def test_reset_is_deterministic_for_a_seed():
    a, b = _sim(), _sim()
    ja, jb = a.reset(np.random.default_rng(1)), b.reset(np.random.default_rng(1))
    assert ja == jb and a.start_time_s == b.start_time_s
    np.testing.assert_array_equal(a.batteries.soc, b.batteries.soc)
    for _ in range(50):
        va, vb = a.node_view(), b.node_view()
        np.testing.assert_array_equal(va.latency_ms, vb.latency_ms)
        node = int(np.flatnonzero(va.valid)[0])
        oa, ob = a.place(node, va), b.place(node, vb)
        assert oa.latency_ms == ob.latency_ms and oa.outcome == ob.outcome


def test_clock_follows_arrivals_and_topology_refreshes_per_bucket():
    sim = _sim(**{"episode.topology_dt_s": 5.0})
    sim.reset(np.random.default_rng(0))
    buckets = set()
    last = sim.time_s
    for _ in range(200):
        sim.place(None)
        assert sim.time_s >= last
        last = sim.time_s
        assert sim.snapshot.time_s == pytest.approx(np.floor(sim.time_s / 5.0) * 5.0)
        buckets.add(int(sim.time_s // 5.0))
    assert len(buckets) > 3 and sim.topology_version >= len(buckets)


def test_batteries_drain_in_eclipse_and_charge_in_sun_over_an_orbit():
    # No jobs placed: only solar charging and the base load act on the batteries. A bucket's sunlight drives the
    # battery integration up to the next bucket's start, so every change of charge is checked against it.
    sim = _sim(**{"workload.arrival_rate_per_s": 0.05, "power.initial_soc_min": 0.5,
                  "power.initial_soc_max": 0.5})
    sim.reset(np.random.default_rng(0))
    fell_in_dark = np.zeros(sim.n_sat, bool)
    rose_in_sun = np.zeros(sim.n_sat, bool)
    while sim.elapsed_s < 6000.0:  # about one orbit at 780 km (100 min)
        bucket, sunlit, soc = sim.topology.bucket, sim.sunlit.copy(), sim.batteries.soc.copy()
        sim.place(None)
        if sim.topology.bucket == bucket:
            continue
        delta = sim.batteries.soc - soc
        dark = ~sunlit & (soc > 0.0)
        lit = sunlit & (soc < 1.0)
        assert np.all(delta[dark] < 0.0), "charge must fall in eclipse"
        assert np.all(delta[lit] > 0.0), "charge must rise in sunlight (until full)"
        assert np.all(delta[sunlit & (soc == 1.0)] == 0.0)
        fell_in_dark |= dark
        rose_in_sun |= lit
    # Over an orbit most satellites both crossed the shadow and charged in the Sun (planes near the terminator
    # can stay sunlit throughout).
    assert fell_in_dark.sum() > sim.n_sat // 2 and rose_in_sun.sum() > sim.n_sat // 2
    assert np.all((sim.batteries.soc >= 0) & (sim.batteries.soc <= 1))


def test_reachability_needs_compute_and_a_path():
    sim = _sim(**{"compute.satellite_fraction": 0.0})
    sim.reset(np.random.default_rng(0))
    v = sim.node_view()
    assert not v.valid[: sim.n_sat].any() and v.valid[sim.n_sat:].all()
    sim = _sim(**{"ground.data_centres": []})
    sim.reset(np.random.default_rng(0))
    assert sim.n_dc == 0 and sim.node_view().valid.shape == (sim.n_sat,)


def test_no_warm_up_starts_from_the_uniform_draw():
    sim = _sim(**{"power.warmup_orbits": 0.0, "power.initial_soc_min": 0.6, "power.initial_soc_max": 0.7})
    sim.reset(np.random.default_rng(0))
    soc = sim.batteries.soc
    assert np.all((soc >= 0.6) & (soc <= 0.7))


def test_warm_up_gives_a_charge_that_follows_the_eclipse_phase():
    # Starlink shell: 1,584 satellites. Those that left the Earth's shadow in the last 5 minutes drained through a
    # whole eclipse and have barely recharged; those about to enter it have charged through a whole day side.
    from orbitcloud_env.power import in_shadow

    sim = Simulator(load_config("starlink-v0", {"power.warmup_utilisation": 0.3}))
    sim.reset(np.random.default_rng(3))
    soc = sim.batteries.soc
    assert np.all((soc >= 0.0) & (soc <= 1.0))
    t0 = sim.start_time_s
    past, _, _ = sim.constellation.propagate(t0 - 300.0)
    future, _, _ = sim.constellation.propagate(t0 + 300.0)
    lit_now = ~in_shadow(sim.snapshot.sat_ecef_km, sim.sun_direction_ecef(t0))
    just_out = lit_now & in_shadow(past, sim.sun_direction_ecef(t0 - 300.0))
    about_in = lit_now & in_shadow(future, sim.sun_direction_ecef(t0 + 300.0))
    assert just_out.sum() > 20 and about_in.sum() > 20
    assert soc[just_out].mean() < soc[about_in].mean() - 0.1


def test_warm_up_is_seeded():
    a, b = _sim(), _sim()
    a.reset(np.random.default_rng(9))
    b.reset(np.random.default_rng(9))
    np.testing.assert_array_equal(a.batteries.soc, b.batteries.soc)


def _candidates_sim(route_ms: float | None):
    """A lazily routed candidates-mode simulator whose sites start at ``route_ms`` (None: the default; inf: every
    route complete)."""
    sim = Simulator(load_config("starlink", {"episode.action_mode": "candidates"}))
    if route_ms is not None:
        sim._site_route_ms[:] = route_ms
        if route_ms == np.inf:
            sim._partial_route_ms = np.inf
    return sim


def test_partial_routes_give_the_results_of_complete_routes():
    """The per-site route limit (remembered reach, widened when too few compute satellites lie within it) only
    sets the work: candidate pools, placements and every outcome equal those of complete routes."""
    sims = [_candidates_sim(None), _candidates_sim(0.5), _candidates_sim(np.inf)]
    for s in sims:
        s.reset(np.random.default_rng(3))
    assert sims[0].network.lazy_routing
    for _ in range(150):
        site = sims[0].job.site
        pools = [s.satellite_order(site) for s in sims]
        np.testing.assert_array_equal(pools[0], pools[2])
        np.testing.assert_array_equal(pools[1], pools[2])
        views = [s.node_view() for s in sims]
        node = int(pools[0][np.flatnonzero(views[0].valid[pools[0]])[0]])
        outs = [s.place(node, v) for s, v in zip(sims, views)]
        assert outs[0] == outs[1] == outs[2]
    # The default and the tiny start limit ended up routing partially (the remembered reach differs per site).
    assert np.isfinite(sims[0]._site_route_ms).all() and len(set(sims[0]._site_route_ms.tolist())) > 1
    assert sims[0].stats.outcomes == sims[2].stats.outcomes
    assert sims[0].stats.latencies_ms == sims[2].stats.latencies_ms


def test_a_site_short_of_its_pool_is_routed_completely_at_once(monkeypatch):
    """Kuiper has 57 compute satellites for a candidate pool of 64: a site's complete route never holds the pool,
    so its later first looks route completely at once instead of widening a partial route up to the same row.
    Against a simulator made to widen every time: the same pools, views and outcomes, and fewer searches."""
    from orbitcloud_env import snapshot as snapshot_module

    searches = {"count": 0}
    route_sites = snapshot_module.route_sites

    def counted(*args, **kwargs):
        searches["count"] += 1
        return route_sites(*args, **kwargs)

    monkeypatch.setattr(snapshot_module, "route_sites", counted)
    sims = [Simulator(load_config("kuiper")) for _ in range(2)]
    for s in sims:
        s.reset(np.random.default_rng(5))
    assert sims[0].candidate_pool_size > sims[0]._compute_sats.shape[0]
    counts = [0, 0]
    for _ in range(120):
        sims[1]._site_first_complete[:] = False  # the widening-every-time simulator
        site = sims[0].job.site
        views, pools = [], []
        for k, s in enumerate(sims):
            before = searches["count"]
            pools.append(s.satellite_order(site))
            views.append(s.node_view())
            counts[k] += searches["count"] - before
        np.testing.assert_array_equal(pools[0], pools[1])
        for name in ("inbound_ms", "latency_ms", "wait_ms", "compute_ms", "valid"):
            np.testing.assert_array_equal(getattr(views[0], name), getattr(views[1], name))
        valid = np.flatnonzero(views[0].valid[pools[0]])
        node = int(pools[0][valid[0]]) if valid.size else None
        outs = [s.place(node, v) for s, v in zip(sims, views)]
        assert outs[0] == outs[1]
    assert sims[0]._site_first_complete.any()
    assert counts[0] < 0.9 * counts[1], counts  # (the first look of each site still widens)


def test_warm_up_in_candidates_mode_covers_the_compute_satellites_only():
    """Candidates mode warms up the batteries of the satellites that can be rows exactly as all-nodes mode does;
    the others keep their initial draw."""
    cand = Simulator(load_config("starlink", {"episode.action_mode": "candidates"}))
    full = Simulator(load_config("starlink", {"episode.action_mode": "all_nodes"}))
    cand.reset(np.random.default_rng(5))
    full.reset(np.random.default_rng(5))
    rows = cand.sat_has_compute
    assert 0 < rows.sum() < rows.size
    np.testing.assert_array_equal(cand.batteries.soc[rows], full.batteries.soc[rows])
    p = cand.config.power
    others = cand.batteries.soc[~rows]
    assert ((others >= p.initial_soc_min) & (others <= p.initial_soc_max)).all()
    assert not np.array_equal(others, full.batteries.soc[~rows])  # all-nodes mode warms every satellite


def _view_arrays(view):
    return {k: getattr(view, k) for k in ("inbound_ms", "latency_ms", "wait_ms", "compute_ms", "direct", "valid")}


def test_node_view_at_a_few_nodes_equals_the_whole_view_there(monkeypatch):
    """A view read at some nodes only (the candidates mode's rows) gives, bit for bit, the values of the view
    computed over every node, with the energy check on (compute and plain satellites, data centres)."""
    monkeypatch.setattr(simulator_module, "_LAZY_VIEW_MIN_NODES", 0)  # the lazy view at this size too
    sim = Simulator(load_config("starlink", {"episode.action_mode": "candidates", "power.require_energy": True}))
    sim.reset(np.random.default_rng(2))
    rng = np.random.default_rng(0)
    assert 0 < sim.sat_has_compute.sum() < sim.n_sat
    for _ in range(60):
        whole = _view_arrays(sim.node_view())
        view = sim.node_view()
        assert view._parts is not None and not view._full  # nothing computed yet
        idx = np.concatenate([rng.integers(0, sim.n_nodes, 40), np.flatnonzero(whole["valid"])[:10]])
        part = _view_arrays(view.at(idx))
        for key, value in whole.items():
            np.testing.assert_array_equal(part[key], value[idx], err_msg=key)
        for key, value in _view_arrays(view).items():  # then the whole of this view, too
            np.testing.assert_array_equal(value, whole[key], err_msg=key)
        valid = np.flatnonzero(whole["valid"])
        sim.place(int(valid[0]) if valid.size else None, view)


def test_node_view_keeps_the_state_of_the_moment_it_was_made(monkeypatch):
    """Placing jobs after a view was made (the multi-agent env decides several jobs on one step's views) does not
    change what that view reads, however late it is first read."""
    monkeypatch.setattr(simulator_module, "_LAZY_VIEW_MIN_NODES", 0)
    sim = Simulator(load_config("starlink", {"episode.action_mode": "candidates", "power.require_energy": True}))
    sim.reset(np.random.default_rng(4))
    for _ in range(30):
        early = sim.node_view()
        eager = _view_arrays(sim.node_view())
        valid = np.flatnonzero(eager["valid"])
        sim.place(int(valid[0]) if valid.size else None, early)
        for key, value in _view_arrays(early).items():
            np.testing.assert_array_equal(value, eager[key], err_msg=key)


def test_satellite_order_among_the_compute_satellites_equals_the_search_over_all():
    """The candidate pool is searched among the compute satellites when that gives the same order as the search
    over every satellite; where it might not (ties, too few reachable), the search over every satellite runs."""
    sim = Simulator(load_config("starlink", {"episode.action_mode": "candidates"}))
    sim.reset(np.random.default_rng(1))
    count, checked = sim.candidate_pool_size, 0
    for _ in range(3):
        for site in range(len(sim.sites)):
            latency = sim._site_row(site)[1]
            base = np.where(sim.topology.sat_ok, latency[: sim.n_sat], np.inf)
            part = np.argpartition(base, count - 1)[:count]
            np.testing.assert_array_equal(sim.satellite_order(site), part[np.argsort(base[part], kind="stable")])
            checked += sim._order_among_compute(latency, sim.topology.sat_ok, count) is not None
        sim._advance_clock(sim.time_s + sim.config.episode.topology_dt_s)
    assert checked > 0
    tied = np.zeros(sim.n_nodes)  # equal latencies everywhere: the fast path declines
    assert sim._order_among_compute(tied, np.ones(sim.n_sat, bool), count) is None


def test_simulator_module_still_exports_the_view_and_the_outcome():
    """NodeView and Outcome moved to modules of their own (nodeview.py, outcome.py); the old imports still work."""
    import pickle

    from orbitcloud_env import nodeview, outcome, simulator

    assert simulator.NodeView is nodeview.NodeView and simulator.Outcome is outcome.Outcome
    assert {"Simulator", "NodeView", "Outcome", "TopologyState"} <= set(simulator.__all__)
    assert pickle.loads(b"corbitcloud_env.simulator\nOutcome\n.") is outcome.Outcome
