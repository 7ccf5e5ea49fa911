"""precast: the command line and the project config (precast.toml).

The runtime packages (``edge``, ``functions``, ``batch``) never import this package:
the CLI turns the config into explicit arguments and environment variables for them.
"""

__version__ = "0.1.0"
