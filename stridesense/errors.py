"""Typed errors of the library.

Library code raises these with a whole sentence saying what was wrong and what
to do; only the command line turns them into one line and an exit code.
"""

from __future__ import annotations


class StridesenseError(Exception):
    """Base of every error the library raises on purpose."""


class InputError(StridesenseError, ValueError):
    """Input data that cannot be analysed (file, columns, values, units).

    Parameters
    ----------
    message
        What is wrong and what to do.
    source
        The file or stream the problem was found in, if any.
    """

    def __init__(self, message: str, source: str | None = None):
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class CalibrationError(StridesenseError):
    """The sensor-to-segment calibration could not be done (no standing, no running)."""


class AnalysisError(StridesenseError):
    """The session could be read but not analysed (for example no running found)."""


class RecordingError(StridesenseError):
    """A session folder is missing, corrupt, or cannot be written."""


class ProtocolError(StridesenseError):
    """A device sent bytes that do not follow its documented protocol.

    Parameters
    ----------
    message
        What is wrong.
    payload
        The offending bytes, kept for the record.
    """

    def __init__(self, message: str, payload: bytes | None = None):
        self.payload = payload
        super().__init__(message)


class CommandRefused(ProtocolError):
    """A device answered a control-point command with an error status."""


class DeviceError(StridesenseError):
    """A Bluetooth device could not be found, connected or started."""

    def __init__(self, message: str, device: str | None = None):
        self.device = device
        super().__init__(message)
