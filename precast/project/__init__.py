"""The project library: precast.toml's loader, the Lambda asset builder, the cost model.

``cdk/``, ``optimize/`` and the command line import it; it imports only ``edge/`` and never
the command line (``precast.cli``, ``precast.commands``), so a build step or the CDK app
reads the project the same way ``precast`` does.
"""
