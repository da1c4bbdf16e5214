"""What every sensor family's protocol module provides.

A family module is pure: UUIDs, the bytes that start streaming, and a
decoder from notification bytes to samples (no I/O, so it can be fuzzed).
The Bluetooth client (to come) drives it; tests drive it with encoded bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImuSamples:
    """Samples decoded from one notification.

    Attributes
    ----------
    kind
        "acc", "gyr" or "imu" (both).
    acc_mps2, gyr_radps
        (n, 3) in SI units, sensor frame, or None.
    device_time_s
        (n,) the device's own clock, s, or None when the protocol has none.
    counter
        A packet counter if the protocol has one.
    """

    kind: str
    acc_mps2: np.ndarray | None
    gyr_radps: np.ndarray | None
    device_time_s: np.ndarray | None = None
    counter: int | None = None

    @property
    def n(self) -> int:
        a = self.acc_mps2 if self.acc_mps2 is not None else self.gyr_radps
        return 0 if a is None else a.shape[0]


class DeviceFamily:
    """A sensor family: how to recognise, start and decode it (class attributes and methods)."""

    name: str = ""
    service_uuid: str = ""
    notify_uuids: tuple[str, ...] = ()
    control_uuid: str | None = None
    experimental: bool = True
    has_gyro: bool = True

    @classmethod
    def for_advert(cls, name: str | None) -> type[DeviceFamily]:
        """The model class for an advertised name (families with one model: the family itself)."""
        return cls

    @classmethod
    def rate(cls, rate_hz: float) -> float:
        """The sensor's own rate nearest a wanted one."""
        return rate_hz

    @classmethod
    def describe(cls, rate_hz: float) -> str:
        """What will be streamed for a wanted rate, in one line for the user."""
        rate = cls.rate(rate_hz)
        return f"{cls.name}: accelerometer{' + gyroscope' if cls.has_gyro else ''} at {rate:g} Hz"

    @classmethod
    def matches(cls, name: str | None, service_uuids: list[str]) -> bool:
        """True if an advertisement looks like this family."""
        raise NotImplementedError

    @classmethod
    def start_commands(cls, rate_hz: float) -> list[tuple[str, bytes]]:
        """(characteristic, bytes) writes that start accelerometer + gyroscope streaming."""
        raise NotImplementedError

    @classmethod
    def start_steps(cls, rate_hz: float) -> list[tuple[str, bytes, float]]:
        """:meth:`start_commands` with the seconds to wait after each write (the vendor's pauses)."""
        return [(char, payload, 0.0) for char, payload in cls.start_commands(rate_hz)]

    @classmethod
    def decoder(cls, rate_hz: float):
        """A stateful decoder: ``decode(char_uuid, payload) -> list[ImuSamples]``.

        Its ``rate_hz`` is the stream's nominal rate (the family's nearest to ``rate_hz``).
        """
        raise NotImplementedError

    @classmethod
    def encoder(cls, rate_hz: float, **options):
        """The inverse, for tests and the simulated device: samples -> notification bytes, answers to commands.

        ``options`` set the simulated device (a fake BlueZ spec's ``"device"`` entry).
        """
        raise NotImplementedError


def at_rate(data, rate_hz: float):
    """``data`` (SensorData) linearly resampled to ``rate_hz`` (unchanged when already at it): for simulations."""
    if abs(data.sampling_rate_hz - rate_hz) < 1e-6 * rate_hz:
        return data
    t = data.time_s[0] + np.arange(int(data.duration_s * rate_hz) + 1) / rate_hz
    t = t[t <= data.time_s[-1]]

    def interp(x):
        return None if x is None else np.column_stack([np.interp(t, data.time_s, x[:, i]) for i in range(3)])

    return type(data)(t, interp(data.acc_mps2), interp(data.gyr_radps), data.role, data.source, dict(data.meta))
