"""iris-ops-sim: a simulated InterSystems IRIS, and the iris-ops test bed built around it.

* :mod:`iris_ops_sim.irissim`: the simulated instance (stdlib only, relocatable: it runs inside a
  container of the ``iris-ops-sim`` image, or installed on a host);
* :mod:`iris_ops_sim.tasks`: the ``iris-ops sim ...`` tasks, registered through the ``iris_ops``
  entry point like any third-party plugin;
* :mod:`iris_ops_sim.image` (with :mod:`~iris_ops_sim.rootfs` and :mod:`~iris_ops_sim.launchers`),
  :mod:`iris_ops_sim.engines` and :mod:`iris_ops_sim.dockerd`, :mod:`iris_ops_sim.simcontainer`,
  :mod:`iris_ops_sim.control`: the image, the engine, and containers or host installs of it;
* :mod:`iris_ops_sim.testbed`: pytest fixtures for iris-ops' own suite (``-p iris_ops_sim.testbed``);
* :mod:`iris_ops_sim.faults`: fault injection, for tests only.

iris-ops itself never imports this package.
"""

__all__: list[str] = []
