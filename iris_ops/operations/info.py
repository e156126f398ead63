"""Built-in plugin: the `plugins` and `config` tasks."""

from __future__ import annotations

from iris_ops import hookimpl
from iris_ops.task import task

__all__ = ["plugins", "config", "register_tasks"]


@task(help={"json": "print the plugins as one JSON document"})
def plugins(c, json_=False):
    """List every plugin with its distribution, version and the hooks it implements.

    Examples:
        iris-ops plugins
        iris-ops plugins --json
    """
    from iris_ops.manager import get_plugin_manager, plugin_distribution

    pm = get_plugin_manager()
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        dist, version = plugin_distribution(pm, plugin)
        hooks = sorted(caller.name for caller in (pm.get_hookcallers(plugin) or []))
        rows.append({"name": name, "distribution": dist, "version": version, "hooks": hooks})
    broken = [{"name": b.name, "problem": b.problem, "fix": b.fix} for b in getattr(pm, "broken", [])]
    if json_:
        return {"plugins": rows, "broken": broken}
    width = max(len(r["name"]) for r in rows)
    dwidth = max(len(f"{r['distribution']} {r['version']}") for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['distribution'] + ' ' + r['version']:<{dwidth}}  {', '.join(r['hooks'])}")
    for b in broken:
        print(f"{b['name']:<{width}}  NOT LOADED: it {b['problem']}; fix: {b['fix']}")


@task(help={"json": "print the settings as one JSON document",
            "target": "the settings of this named target ([targets.NAME] in the project file)"})
def config(c, json_=False, target=None):
    """Print the effective settings and where each value came from.

    Examples:
        iris-ops config
        IRIS_OPS_CONTAINER=other iris-ops config --json
        iris-ops config --target ci-1
    """
    from iris_ops import config as config_module
    from iris_ops import redact
    from iris_ops.manager import get_plugin_manager, plugin_defaults

    settings = config_module.load(plugin_defaults(get_plugin_manager()))
    if target:
        from iris_ops.fleet import targets

        settings = targets.load(settings).settings_for(target, settings)
    rows = [{"name": k, "value": settings.display(k), "source": settings.source(k)} for k in settings]
    if json_:
        return {"settings": rows}
    width = max(len(r["name"]) for r in rows)
    vwidth = max(len(repr(r["value"])) for r in rows)
    for r in rows:  # masked as every output is: a secret may sit inside another setting's value
        print(redact.text(f"{r['name']:<{width}}  {r['value']!r:<{vwidth}}  {r['source']}"))


@hookimpl
def register_tasks(registrar):
    registrar.add_task(plugins)
    registrar.add_task(config)
