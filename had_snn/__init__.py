"""had-snn: spiking event-camera trackers trained by Hierarchical Asymmetric Distillation, deployed through Lava.

Importing this package stays light (numpy only, never torch) so the Python 3.10 Lava venv can import
``had_snn.hardware``. Heavy parts are imported by the modules that need them.
"""

__version__ = "0.1.0"
