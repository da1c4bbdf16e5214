"""stridesense: running gait from a pelvis and a trunk IMU.

    from stridesense import analyze
    result = analyze(pelvis="pelvis.csv", trunk="trunk.csv", mass_kg=70)
"""

__version__ = "0.1.0"


def analyze(*args, **kwargs):
    """Analyse a session; see :func:`stridesense.api.analyze`."""
    from stridesense.api import analyze as _analyze

    return _analyze(*args, **kwargs)
