"""The simulated system classes load when a script first names one (irissim.instance.CLASS_MODULES):
the table must say exactly what each module registers, and a session must not load them all."""

from __future__ import annotations

import json
import subprocess
import sys

PACKAGE = "iris_ops_sim.irissim"


def _fresh(code: str) -> object:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_table_names_what_each_module_registers():
    found = _fresh(f"""
import importlib, json
from {PACKAGE}.instance import CLASS_MODULES
from {PACKAGE}.objectscript import runtime
for module in CLASS_MODULES:
    importlib.import_module("{PACKAGE}.instance." + module)
by_module = {{}}
for name, cls in runtime._registry.items():
    by_module.setdefault(type(cls).__module__, []).append(name)
for (cls_name, _query), fn in runtime._queries.items():
    by_module.setdefault(fn.__module__, []).append(cls_name)
print(json.dumps({{"table": {{k: sorted(v) for k, v in CLASS_MODULES.items()}}, "by_module": by_module}}))
""")
    table = found["table"]
    registered = {module.removeprefix(f"{PACKAGE}.instance."): sorted(names)
                  for module, names in found["by_module"].items() if module.startswith(f"{PACKAGE}.instance.")}
    assert registered == table


def test_a_session_loads_only_the_classes_it_names():
    loaded = _fresh(f"""
import json, sys
from {PACKAGE}.instance import CLASS_MODULES
from {PACKAGE}.objectscript import runtime
import {PACKAGE}.iris  # what `iris session` imports
before = sorted(m for m in CLASS_MODULES if "{PACKAGE}.instance." + m in sys.modules)
enc = "{PACKAGE}.objectscript.encryption" in sys.modules
runtime.lookup_class("Config.Databases")
after = sorted(m for m in CLASS_MODULES if "{PACKAGE}.instance." + m in sys.modules)
runtime.lookup_class("%SYSTEM.Encryption")
print(json.dumps([before, after, enc, "{PACKAGE}.objectscript.encryption" in sys.modules]))
""")
    before, after, encryption_before, encryption_after = loaded
    assert before == [] and not encryption_before
    assert "classes.config" in after and "classes.maps" not in after and "streams" not in after
    assert encryption_after


def test_every_class_resolves_in_a_fresh_process_and_unknown_ones_still_fail():
    result = _fresh(f"""
import json
from {PACKAGE}.instance import CLASS_MODULES
from {PACKAGE}.objectscript import runtime
import {PACKAGE}.iris
names = [n for names in CLASS_MODULES.values() for n in names if n != "%Library.SQLCatalogPriv"]
resolved = [runtime.lookup_class(n).name for n in names]
short = runtime.lookup_class("%File").name
try:
    runtime.lookup_class("Config.NoSuchClass")
    missing = None
except runtime.IrisError as e:
    missing = str(e)
print(json.dumps([len(names), len(resolved), short, missing, runtime.lookup_query("%Library.SQLCatalogPriv", "SQLUsers") is not None]))
""")
    count, resolved, short, missing, query = result
    assert count == resolved
    assert short == "%Library.File"
    assert missing is not None and "CLASS DOES NOT EXIST" in missing
    assert query
