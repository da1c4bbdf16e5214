"""stridesense.models."""
