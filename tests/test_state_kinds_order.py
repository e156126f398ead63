"""The order of the desired state's kinds (issue 26 points 4 and 6): iris-ops' own, and each kind a
plugin adds through ``state_kinds`` placed right after the last kind its ``after`` names (behind
the kinds placed there before it), or else at the end; a kind that cannot be placed stops the
program (exit 1), naming the plugin.  ``plan`` reads and ``apply`` changes in this order
(plugins/iris-ops-security/tests/test_security_state_apply.py shows it on an instance).

Throwaway plugins, registered on a manager without the installed ones."""

from __future__ import annotations

import pytest

from iris_ops import hookimpl
from iris_ops.manager import PluginError, new_plugin_manager, state_kinds
from iris_ops.state.kinds import CORE_KINDS, Kind
from iris_ops.state.model import Field, Schema

CORE = ["resources", "databases", "namespaces", "global_mappings", "routine_mappings", "package_mappings"]


def _kind(name: str, *after: str) -> Kind:
    return Kind(Schema(kind=name, title=name, key=("name",), fields=(Field("name", "Name", str, str, "its name",
                                                                           required=True),)),
                reader=lambda keys: [[] for _ in keys], after=after)


class _Plugin:
    def __init__(self, *kinds: Kind) -> None:
        self.kinds = list(kinds)

    @hookimpl
    def state_kinds(self):
        return self.kinds


def _order(*plugins: _Plugin) -> list[str]:
    pm = new_plugin_manager(load_entry_points=False)
    for index, plugin in enumerate(plugins):
        pm.register(plugin, name=f"plugin-{'abc'[index]}")
    return [kind.name for kind in state_kinds(pm)]


def _refused(*plugins: _Plugin) -> PluginError:
    with pytest.raises(PluginError) as caught:
        _order(*plugins)
    assert caught.value.exit_code == 1
    return caught.value


def test_without_plugins_the_core_kinds_come_in_their_own_order():
    assert _order() == CORE == [kind.name for kind in CORE_KINDS]


def test_a_kind_comes_right_after_the_last_kind_it_names_and_one_naming_none_last():
    assert _order(_Plugin(_kind("k1", "resources"), _kind("k2")),
                  _Plugin(_kind("k3", "resources"), _kind("k4", "k1"), _kind("k5", "k6")),
                  _Plugin(_kind("k6", "namespaces", "resources"))) == [
        # k3 after k1 (placed after resources before it) and k4 (placed after k1); k5 waits for
        # k6, which a plugin registered later adds; k2 names none
        "resources", "k1", "k4", "k3", "databases", "namespaces", "k6", "k5", "global_mappings", "routine_mappings",
        "package_mappings", "k2"]


def test_a_kind_naming_a_kind_that_is_not_installed_is_refused_naming_the_plugin():
    error = _refused(_Plugin(_kind("roles", "resources")), _Plugin(_kind("grants", "roles", "users", "resource")))
    assert error.message == ("plugin plugin-b: the state kind 'grants' is to come after 'users', 'resource', which "
                             "no installed kind is (kinds: " + ", ".join(CORE) + ", roles, grants)")
    assert error.fix == ("Install the plugin that adds 'users', 'resource'. Upgrade, fix or uninstall plugin "
                         "plugin-b, or set IRIS_OPS_DISABLE_PLUGINS=plugin-b.")


def test_kinds_that_wait_for_each_other_are_refused():
    error = _refused(_Plugin(_kind("k1", "k2")), _Plugin(_kind("k2", "k1"), _kind("k3")))
    assert error.message == ("plugin plugin-a, plugin-b: the state kinds 'k1', 'k2' cannot be ordered: each is to "
                             "come after one of them (Kind.after)")
    assert _refused(_Plugin(_kind("k1", "k1"))).message == (
        "plugin plugin-a: the state kinds 'k1' cannot be ordered: each is to come after one of them (Kind.after)")


def test_a_kind_that_clashes_or_is_no_kind_is_refused_naming_the_plugin():
    assert _refused(_Plugin(_kind("k1")), _Plugin(_kind("k1"))).message == (
        "plugin plugin-b: the state kind 'k1' exists already (from plugin-a)")
    assert _refused(_Plugin(_kind("databases"))).message == (
        "plugin plugin-a: the state kind 'databases' exists already (from iris-ops)")
    assert _refused(_Plugin("roles")).message == (
        "plugin plugin-a: state_kinds returned 'roles', not an iris_ops.state.kinds.Kind")
