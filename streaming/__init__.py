"""stridesense.streaming."""
