"""stridesense.streaming.devices."""
