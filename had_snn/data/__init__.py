"""Event streams, sequence files, binning and the synthetic RGB+event tracking benchmark."""
