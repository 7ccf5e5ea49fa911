"""precast: the command line (``precast.cli``, ``precast.commands``) and, under it, the
project library ``precast.project`` (precast.toml's loader, the Lambda asset builder, the
cost model) that ``optimize`` and ``cdk`` import too.

The runtime packages (``edge``, ``functions``, ``batch``) never import this package:
the CLI turns the config into explicit arguments and environment variables for them.
"""

__version__ = "0.1.0"
