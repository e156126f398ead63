from iris_ops.console import script

script()
