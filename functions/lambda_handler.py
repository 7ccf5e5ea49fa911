"""AWS Lambda entry point (Function URL, payload format 2.0): ``functions.lambda_handler.handler``.

Everything happens at import, in Lambda's init phase: settings from the environment, the
model loaded and verified once, the app, powertools, then the Mangum adapter. No
business logic lives here. boto3 is imported only when ``PRECAST_CACHE_URL`` is a
``dynamodb:`` URL; torch and friends never are. With SnapStart this whole phase runs once
per published version; :mod:`functions.snapstart` registers the hooks that re-create the
cache connections and seeds in each restored environment.
"""

from __future__ import annotations

from mangum import Mangum

from functions import snapstart
from functions.app import create_app
from functions.lambda_host import (
    MetricsObserver,
    build_handler,
    make_logger,
    make_metrics,
    make_tracer,
)
from functions.registry import ModelRegistry
from functions.settings import resolve_settings

settings = resolve_settings(micro_batch=False)  # one request per environment: nothing to coalesce
registry = ModelRegistry.from_settings(settings)
logger = make_logger()
metrics = make_metrics()
tracer = make_tracer(patch_botocore=(settings.cache_url or "").startswith("dynamodb:"))
app = create_app(registry, settings=settings, observer=MetricsObserver(metrics))
snapshot = snapstart.register(registry, logger)  # None off Lambda: no snapshot is taken
handler = build_handler(Mangum(app, lifespan="off"), logger=logger, metrics=metrics, tracer=tracer)
