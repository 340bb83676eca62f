"""Serving: a FastAPI app (with micro-batching, Prometheus metrics and a web page) and an AWS Lambda handler.

Nothing here imports torch or Lightning when the model is an ONNX file (the bundled default carries one)."""
