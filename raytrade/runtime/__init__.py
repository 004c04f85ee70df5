"""Ray, and only Ray, lives here: grids as Tune trials, actors, the FeatureService, and
starting or joining a cluster safely (DESIGN.md section 6).

Ray fixes its node address when it is imported (`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`), so the
loopback defaults are set here, before any module of this package imports ray. An operator's
explicit settings are kept. Tune's console reporter is turned off: raytrade prints its own
progress, and `--json` output must stay clean.
"""

import os

for _key, _value in {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
                     "RAY_AUTH_MODE": "disabled", "RAY_AIR_NEW_OUTPUT": "0"}.items():
    os.environ.setdefault(_key, _value)
