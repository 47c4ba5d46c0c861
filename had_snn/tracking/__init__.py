"""Cropping, pair sampling, the online tracker loop and OTB-style metrics."""
