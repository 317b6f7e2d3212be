"""Drivers: one command over many programs (batch), many points, or many processes."""
