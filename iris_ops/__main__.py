from iris_ops.cli import main

main()
