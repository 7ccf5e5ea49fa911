"""precast's CDK app: one Construct per concern, composed by :class:`cdk.stack.PrecastStack`.

``cdk.json`` at the repository root runs ``cdk.app``; it reads ``precast.toml`` (through
:func:`precast.project.config.load_config`) and the built Lambda asset. Nothing here is
imported by the runtime packages (``edge``, ``functions``, ``batch``): the Lambda asset and
a device carry only what they run.
"""
