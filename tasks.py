from iris_ops.cli import build_collection
ns = build_collection()
