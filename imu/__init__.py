"""stridesense.imu."""
