"""optimize: export a model to ONNX, optimize, quantize with several recipes, measure, select.

Heavy dependencies (torch, transformers, optimum) live here and only here; install them
with the ``optimize`` extra. Steps are functions, one module each:
export -> graph -> recipes (quantize) -> evaluate -> select -> artifact (write).
"""
