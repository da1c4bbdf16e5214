"""stridesense: running gait from a pelvis and a trunk IMU."""

__version__ = "0.1.0"
