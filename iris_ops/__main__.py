from iris_ops.console import main

main()
