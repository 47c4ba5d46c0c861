"""Evaluation of trackers: OTB/LaSOT metrics, one-pass evaluation over a split, success and precision plots."""
