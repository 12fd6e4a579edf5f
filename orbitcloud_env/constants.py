"""Physical constants used across OrbitCloud, each defined once.

Every other module imports from here; no module types a physical constant again.

Sources:
- Speed of light: exact SI definition (BIPM, SI Brochure 9th ed., 2019).
- Speed of light in optical fibre: about 2/3 of c (group index of silica fibre ~1.47; ITU-T G.652).
- Earth radii and flattening: WGS84 (NIMA TR8350.2, 3rd ed., 2000); mean radius 6,371 km (IUGG).
- Earth gravitational parameter: WGS84 GM = 398,600.4418 km^3/s^2 (NIMA TR8350.2).
- Earth rotation rate: WGS84 7.292115e-5 rad/s (NIMA TR8350.2).
"""

from __future__ import annotations

#: [km/s] Speed of light in vacuum (exact).
C_KM_S: float = 299_792.458
#: [km/s] Speed of light in optical fibre, about 2/3 of c.
C_FIBRE_KM_S: float = C_KM_S * 2.0 / 3.0
#: [km] Mean Earth radius (IUGG).
EARTH_RADIUS_MEAN_KM: float = 6_371.0
#: [km] WGS84 equatorial radius; altitudes of orbits are measured above it.
EARTH_RADIUS_EQ_KM: float = 6_378.137
#: [-] WGS84 flattening.
WGS84_FLATTENING: float = 1.0 / 298.257223563
#: [km^3/s^2] Earth's gravitational parameter (WGS84).
MU_EARTH_KM3_S2: float = 398_600.4418
#: [rad/s] Earth's rotation rate (WGS84).
EARTH_ROTATION_RAD_S: float = 7.292115e-5
#: [s] Seconds in an hour.
SECONDS_PER_HOUR: float = 3_600.0
#: [s] Seconds in a day.
SECONDS_PER_DAY: float = 86_400.0
#: [-] Laser ISL terminals per satellite: the +Grid topology's two intra-plane and two inter-plane links.
ISL_TERMINALS: int = 4
