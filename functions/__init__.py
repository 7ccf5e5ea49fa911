"""precast functions: one ASGI app (Starlette) served on Lambda, Modal and localhost.

Hosts: ``functions.lambda_handler.handler`` (Mangum + powertools), ``functions.modal_app``
(Modal GPU), ``functions.local_host`` (uvicorn; ``precast serve``). The app reaches models
and the prediction cache only through ``edge``.
"""
