"""Ground segment: shipped tables, user sites, fibre delays, local time."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbitcloud_env.constants import C_FIBRE_KM_S
from orbitcloud_env.geometry import great_circle_km
from orbitcloud_env.ground import (
    DEFAULT_ROUTE_FACTOR,
    GroundSegment,
    Sites,
    fibre_delay_ms,
    load_cities,
    load_data_centres,
    load_gateways,
    local_hour,
    site_dc_delay_ms,
    user_sites,
    utc_offset_hours,
)

# Reference coordinates of city centres (independent look-up, WGS84, north/east positive).
KNOWN_CITIES = {
    "Tokyo": (35.68, 139.69),
    "São Paulo": (-23.55, -46.63),
    "Lagos": (6.45, 3.40),
    "New York-Newark": (40.71, -74.01),
    "Sydney": (-33.87, 151.21),
}

AMERICAS = {
    "United States", "Canada", "Mexico", "Brazil", "Argentina", "Colombia", "Peru", "Chile", "Venezuela",
    "Ecuador", "Paraguay", "Cuba", "Haiti", "Dominican Republic", "Guatemala",
}
SOUTHERN = {"Australia", "New Zealand", "Argentina", "Chile", "Paraguay", "South Africa", "Angola", "Madagascar",
            "Zambia"}


def _table_text(name: str) -> str:
    return resources.files("orbitcloud_env").joinpath("data", name).read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------------- tables
@pytest.mark.parametrize("name", ["cities.csv", "data_centres.csv", "gateways.csv"])
def test_tables_state_their_source_in_a_header_comment(name):
    first = _table_text(name).splitlines()[0]
    assert first.startswith("#")
    assert len(first) > 40


def test_cities_table_size_order_and_uniqueness():
    cities = load_cities()
    assert len(cities) >= 120
    assert len(set(cities.names)) == len(cities)
    assert np.all(np.diff(cities.population) <= 0), "table is sorted by population, largest first"
    assert cities.population[0] > 3e7 and np.all(cities.population > 1e6)


@pytest.mark.parametrize("name", sorted(KNOWN_CITIES))
def test_known_city_coordinates(name):
    cities = load_cities()
    i = cities.index(name)
    lat, lon = KNOWN_CITIES[name]
    assert abs(cities.lat_deg[i] - lat) < 0.5
    assert abs(cities.lon_deg[i] - lon) < 0.5


def test_city_coordinate_signs_by_country():
    cities = load_cities()
    for name, country, lat, lon in zip(cities.names, cities.countries, cities.lat_deg, cities.lon_deg):
        if country in AMERICAS:
            assert lon < 0, f"{name} ({country}) must have a western (negative) longitude"
        else:
            assert lon > -20, f"{name} ({country}) is not in the Americas; lon {lon}"
        if country in SOUTHERN:
            assert lat < 0, f"{name} ({country}) must have a southern (negative) latitude"


@pytest.mark.parametrize(
    "continent, lat_range, lon_range, minimum",
    [
        ("North America", (15, 60), (-130, -60), 10),
        ("South America", (-56, 12), (-82, -34), 8),
        ("Europe", (35, 70), (-10, 45), 8),
        ("Africa", (-35, 37), (-18, 52), 10),
        ("Asia", (0, 60), (45, 146), 40),
        ("Oceania", (-47, -10), (110, 180), 4),
    ],
)
def test_cities_cover_every_inhabited_continent(continent, lat_range, lon_range, minimum):
    c = load_cities()
    inside = (
        (c.lat_deg >= lat_range[0]) & (c.lat_deg <= lat_range[1])
        & (c.lon_deg >= lon_range[0]) & (c.lon_deg <= lon_range[1])
    )
    assert inside.sum() >= minimum, continent


def test_loaders_are_cached_and_read_only():
    assert load_cities() is load_cities()
    assert load_gateways() is load_gateways()
    with pytest.raises(ValueError):
        load_cities().lat_deg[0] = 0.0


def test_data_centres_all_and_selected_in_order():
    dcs = load_data_centres()
    assert len(dcs) == 10
    assert {"us-east-1", "eu-west-1", "ap-southeast-2", "af-south-1", "sa-east-1"} <= set(dcs.ids)
    va = dcs.index("us-east-1")
    assert abs(dcs.lat_deg[va] - 39.0) < 0.5 and abs(dcs.lon_deg[va] + 77.5) < 0.5
    pick = load_data_centres(["eu-central-1", "us-west-2"])
    assert pick.ids == ("eu-central-1", "us-west-2")
    assert load_data_centres("sa-east-1").ids == ("sa-east-1",)


def test_unknown_data_centre_names_nearest_and_lists_valid():
    with pytest.raises(ValueError) as err:
        load_data_centres(["us-east1"])
    msg = str(err.value)
    assert "ids" in msg and "'us-east-1'" in msg and "ap-southeast-2" in msg


@pytest.mark.parametrize("ids", [[], ["us-east-1", "us-east-1"]])
def test_data_centre_selection_errors(ids):
    with pytest.raises(ValueError, match="ids"):
        load_data_centres(ids)


def test_gateways_spread_worldwide():
    gw = load_gateways()
    assert 20 <= len(gw) <= 40
    assert len(set(gw.ids)) == len(gw)
    assert (gw.lat_deg < 0).sum() >= 8 and (gw.lat_deg > 0).sum() >= 8
    assert (gw.lon_deg < 0).sum() >= 8 and (gw.lon_deg > 0).sum() >= 8


# ----------------------------------------------------------------------------------------------- user sites
def test_user_sites_are_the_most_populous_with_population_weights():
    s = user_sites(10)
    assert len(s) == 10 and s.names[0] == "Tokyo"
    assert np.isclose(s.weight.sum(), 1.0)
    np.testing.assert_allclose(s.weight, s.population / s.population.sum())
    assert np.all(np.diff(s.population) <= 0)
    assert s.population[-1] >= np.sort(load_cities().population)[-10]
    assert user_sites(1).weight.tolist() == [1.0]
    assert len(user_sites(len(load_cities()))) == len(load_cities())


@pytest.mark.parametrize("bad", [0, -3, 10_000, 2.5, True, "3", None])
def test_user_sites_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match=r"n_sites.*\[1, \d+\]"):
        user_sites(bad)


# ----------------------------------------------------------------------------------------------- delays
def test_fibre_delay_new_york_london():
    d_km = great_circle_km(40.71, -74.01, 51.51, -0.13)
    assert 5500 < d_km < 5650
    got = fibre_delay_ms(40.71, -74.01, 51.51, -0.13)
    assert np.isclose(got, d_km * DEFAULT_ROUTE_FACTOR / C_FIBRE_KM_S * 1e3)
    assert 40 < got < 43  # ~5570 km x 1.5 at 2/3 c
    assert np.isclose(fibre_delay_ms(40.71, -74.01, 51.51, -0.13, route_factor=2.0), got * 2.0 / 1.5)
    assert fibre_delay_ms(10.0, 20.0, 10.0, 20.0) == 0.0


def test_fibre_delay_broadcasts():
    lat1 = np.array([0.0, 10.0, 20.0])[:, None]
    lon2 = np.array([0.0, 30.0, 60.0, 90.0])[None, :]
    out = fibre_delay_ms(lat1, 0.0, 0.0, lon2)
    assert out.shape == (3, 4)
    assert np.isclose(out[1, 2], fibre_delay_ms(10.0, 0.0, 0.0, 60.0))


@pytest.mark.parametrize("rf", [0.9, float("nan"), float("inf")])
def test_fibre_delay_rejects_bad_route_factor(rf):
    with pytest.raises(ValueError, match="route_factor"):
        fibre_delay_ms(0, 0, 1, 1, route_factor=rf)


def test_site_dc_delay_matrix():
    sites, dcs = user_sites(20), load_data_centres()
    m = site_dc_delay_ms(sites, dcs, route_factor=1.7)
    assert m.shape == (20, 10) and np.all(m >= 0)
    i, j = sites.index("São Paulo"), dcs.index("sa-east-1")
    assert m[i, j] < 1.0
    assert np.isclose(m[3, 4], fibre_delay_ms(sites.lat_deg[3], sites.lon_deg[3], dcs.lat_deg[4], dcs.lon_deg[4], 1.7))
    assert m.max() < 200.0  # antipodal bound: 20,015 km x 1.7 / (2/3 c) = 170 ms


# ----------------------------------------------------------------------------------------------- local time
def test_utc_offset_and_local_hour_examples():
    np.testing.assert_allclose(utc_offset_hours([180.0, -75.0, 0.0]), [12.0, -5.0, 0.0])
    assert local_hour(12.0, 90.0) == 18.0
    assert local_hour(2.0, -45.0) == 23.0
    assert local_hour(23.0, 180.0) == 11.0


@settings(max_examples=200, deadline=None)
@given(
    utc_hour=st.floats(-1e4, 1e4, allow_nan=False),
    lon=st.floats(-180.0, 180.0, allow_nan=False),
)
def test_local_hour_range_and_period(utc_hour, lon):
    h = local_hour(utc_hour, lon)
    assert 0.0 <= h < 24.0
    d = abs(local_hour(utc_hour + 24.0, lon) - h)
    assert min(d, 24.0 - d) < 1e-9


@pytest.mark.parametrize("lon", [180.5, -200.0, float("nan")])
def test_local_time_rejects_bad_longitude(lon):
    with pytest.raises(ValueError, match="lon_deg"):
        utc_offset_hours(lon)
    with pytest.raises(ValueError, match="lon_deg"):
        local_hour(0.0, lon)


# ----------------------------------------------------------------------------------------------- Sites, bundle
@pytest.mark.parametrize(
    "kwargs, arg",
    [
        (dict(names=("a",), lat_deg=[95.0], lon_deg=[0.0]), "lat_deg"),
        (dict(names=("a", "b"), lat_deg=[0.0], lon_deg=[0.0, 1.0]), "lat_deg"),
        (dict(names=("a",), lat_deg=[0.0], lon_deg=[181.0]), "lon_deg"),
        (dict(names=("a", "b"), ids=("x", "x"), lat_deg=[0.0, 1.0], lon_deg=[0.0, 1.0]), "ids"),
        (dict(names=("a",), lat_deg=[0.0], lon_deg=[0.0], weight=[0.5]), "weight"),
        (dict(names=("a",), lat_deg=[0.0], lon_deg=[0.0], population=[-1.0]), "population"),
        (dict(names=(), lat_deg=[], lon_deg=[]), "names"),
    ],
)
def test_sites_validation(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        Sites(**kwargs)


def test_sites_index_unknown_names_nearest():
    with pytest.raises(ValueError, match="did you mean 'Tokyo'"):
        load_cities().index("Tokio")


def test_ground_segment_default():
    g = GroundSegment.default()
    assert len(g.sites) == 100 and len(g.data_centres) == 10 and len(g.gateways) == len(load_gateways())
    assert g.site_dc_delay_ms.shape == (100, 10)
    g2 = GroundSegment.default(n_sites=5, data_centre_ids=["eu-west-1"], route_factor=2.0)
    np.testing.assert_allclose(g2.site_dc_delay_ms, site_dc_delay_ms(g2.sites, g2.data_centres, 2.0))
    with pytest.raises(ValueError, match="sites"):
        GroundSegment(sites=load_cities(), gateways=load_gateways(), data_centres=load_data_centres())
