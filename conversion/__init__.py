"""had_snn.conversion: Loihi fixed-point quantisation, the bit-exact torch emulator, NIR and netx HDF5 export."""
