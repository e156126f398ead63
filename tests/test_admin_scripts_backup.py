"""What the backup scripts do on a simulated instance (tests/inproc_sim.py): the freeze and the
copies, the dismount and the copies, counting rows in the copies, the staging directory, the
write daemon checks and the command-line thaw."""

from __future__ import annotations

import io
import os

import pytest

from inproc_sim import fails, sim  # noqa: F401 - sim is a fixture
from iris_ops import script_builders as scripts

MGR = "/usr/irissys/mgr/"
STAGE = MGR + "iris-ops-backup-1/"
COPIES = [(MGR + "app_data/IRIS.DAT", STAGE + "APP_DATA/IRIS.DAT"),
          (MGR + "app_code/IRIS.DAT", STAGE + "APP_CODE/IRIS.DAT")]
WITHOUT_LIMIT = ["LogFile", "Text", "SwitchJournalFile", "TimeOut", "Hibernate", "Verbose", "ExternalFreezeTimeOut",
                 "Username", "Password", "RequiredFile"]


def _frozen(sim) -> int:
    return sim.run(scripts.wd_suspended())["suspended"]


def test_freeze_and_copy_copies_under_one_freeze_and_thaws(sim, monkeypatch):
    freezes = []
    real_freeze = sim.instance.freeze
    monkeypatch.setattr(sim.instance, "freeze", lambda **kw: freezes.append(kw) or real_freeze(**kw))
    sim.instance.open_transaction("APP")
    done = sim.run(scripts.freeze_and_copy(STAGE, COPIES, freeze_timeout=900, freeze_limit=240))
    assert freezes == [{"limit": 240.0, "timeout": 900.0}]  # ExternalFreezeTimeOut and WDSuspendLimit
    assert (done["frozen"], done["held"], done["thawed"], done["open_transactions"]) == (1, 1, 1, 1)
    assert done["copied"] == [{"file": target, "bytes": 1 << 20} for _, target in COPIES]
    for source, target in COPIES:
        assert sim.host(target).read_bytes() == sim.host(source).read_bytes()
    assert (done["known"], done["ExternalFreezeTimeOut"], done["WDSuspendLimit"]) == (1, 1, 1)
    assert _frozen(sim) == 0
    assert (done["recorded"], done["released"]) == (1, 1) and not sim.host(MGR + "iris-ops-freeze.json").exists()


def test_a_failed_copy_still_thaws_and_names_the_file(sim):
    copies = [COPIES[0], (MGR + "no_such/IRIS.DAT", STAGE + "NO_SUCH/IRIS.DAT")]
    error = fails(sim, scripts.freeze_and_copy(STAGE, copies, freeze_timeout=0, freeze_limit=300))
    assert error.details["step"] == "copy1"
    assert f"copying {MGR}no_such/IRIS.DAT to {STAGE}NO_SUCH/IRIS.DAT failed" in str(error)
    assert error.details["result"]["thawed"] == 1 and "held" not in error.details["result"]
    assert _frozen(sim) == 0


def test_someone_elses_freeze_is_refused_and_left_alone(sim):
    sim.session("Do ##class(Backup.General).ExternalFreeze()")
    error = fails(sim, scripts.freeze_and_copy(STAGE, COPIES, freeze_timeout=0, freeze_limit=300))
    assert error.details["step"] == "freeze" and scripts.ALREADY_FROZEN in str(error)
    assert "thawed" not in error.details["result"] and not sim.host(STAGE + "APP_DATA/IRIS.DAT").exists()
    assert _frozen(sim) == 1
    error = fails(sim, scripts.dismount_and_copy(STAGE, [MGR + "app_data/"], COPIES[:1]))
    assert error.details["step"] == "check" and scripts.ALREADY_FROZEN in str(error)
    assert sim.mounted(MGR + "app_data/")


def test_a_freeze_without_the_arguments_it_passes_is_refused_before_any_change(sim):
    sim.instance.set_version(sim.instance.version, WITHOUT_LIMIT)
    error = fails(sim, scripts.freeze_and_copy(STAGE, COPIES, freeze_timeout=0, freeze_limit=300))
    assert error.details["step"] == "arguments" and scripts.FREEZE_ARGUMENTS_MISSING in str(error)
    assert (error.details["result"]["WDSuspendLimit"], error.details["result"]["ExternalFreezeTimeOut"]) == (0, 1)
    assert not sim.host(STAGE).exists() and _frozen(sim) == 0
    checked = sim.run(scripts.freeze_arguments())
    assert (checked["known"], checked["WDSuspendLimit"], checked["ExternalFreezeTimeOut"]) == (1, 0, 1)
    assert checked["spec"].startswith("LogFile:%String") and "WDSuspendLimit" not in checked["spec"]


def test_freeze_arguments_of_a_version_that_has_them(sim):
    checked = sim.run(scripts.freeze_arguments())
    assert (checked["known"], checked["WDSuspendLimit"], checked["ExternalFreezeTimeOut"]) == (1, 1, 1)
    assert checked["spec"].split(",")[9].startswith("WDSuspendLimit:")


def test_the_staging_directory_that_cannot_be_made_fails_first(sim):
    sim.put(MGR + "iris-ops-backup-1", b"a file in the way")
    error = fails(sim, scripts.freeze_and_copy(STAGE, COPIES, freeze_timeout=0, freeze_limit=300))
    assert error.details["step"] == "stage" and f"cannot create staging directory {STAGE}" in str(error)
    assert _frozen(sim) == 0 and "frozen" not in error.details["result"]
    # the reflinking backup's first part (it copies nothing) says it is the freeze
    reflinking = fails(sim, scripts.freeze_and_copy(STAGE, COPIES, freeze_timeout=0, freeze_limit=300, reflink=True))
    assert str(reflinking).startswith("freeze failed at step 'stage'")
    assert str(error).startswith("freeze and copy failed at step 'stage'")


def test_one_copy_directory_that_cannot_be_made_names_it(sim):
    sim.put(STAGE + "APP_CODE", b"a file in the way")
    error = fails(sim, scripts.dismount_and_copy(STAGE, [MGR + "app_code/"], COPIES))
    assert error.details["step"] == "stage" and f"cannot create staging directory {STAGE}APP_CODE/" in str(error)


def test_dismount_and_copy_dismounts_what_was_mounted_and_mounts_it_again(sim):
    sim.instance.dismount(MGR + "app_code/")
    done = sim.run(scripts.dismount_and_copy(STAGE, [MGR + "app_data", MGR + "app_code/"], COPIES))
    assert done["dismounted"] == [MGR + "app_data/"] and done["remounted"] == 1
    assert done["copied"] == [{"file": target, "bytes": 1 << 20} for _, target in COPIES]
    assert sim.mounted(MGR + "app_data/") and not sim.mounted(MGR + "app_code/")
    assert sim.host(STAGE + "APP_CODE/IRIS.DAT").read_bytes() == sim.host(MGR + "app_code/IRIS.DAT").read_bytes()


def test_dismount_and_copy_mounts_again_after_a_failed_copy(sim):
    copies = [(MGR + "no_such/IRIS.DAT", STAGE + "X/IRIS.DAT")]
    error = fails(sim, scripts.dismount_and_copy(STAGE, [MGR + "app_data/"], copies))
    assert error.details["step"] == "copy0"
    assert error.details["result"]["dismounted"] == [MGR + "app_data/"]
    assert sim.mounted(MGR + "app_data/")


def test_a_database_that_cannot_be_opened_is_named(sim):
    error = fails(sim, scripts.dismount_and_copy(STAGE, [MGR + "app_data/", MGR + "nothing/"], COPIES))
    assert error.details["step"] == "dismount1" and f"cannot open database {MGR}nothing/" in str(error)
    assert sim.mounted(MGR + "app_data/")


def _staged(sim) -> None:
    sim.instance.sql("APP", "CREATE TABLE Demo.T (A INT)")
    for value in (1, 2, 3):
        sim.instance.sql("APP", f"INSERT INTO Demo.T (A) VALUES ({value})")
    sim.run(scripts.freeze_and_copy(STAGE, COPIES, freeze_timeout=0, freeze_limit=300))


STAGED = [("IRISOPS-COUNT-1-0", "globals", STAGE + "APP_DATA/", MGR + "app_data/"),
          ("IRISOPS-COUNT-1-1", "routines", STAGE + "APP_CODE/", MGR + "app_code/")]


def test_count_staged_counts_the_copies_and_leaves_nothing_behind(sim):
    _staged(sim)
    sim.instance.sql("APP", "INSERT INTO Demo.T (A) VALUES (4)")  # after the copy: not in it
    before = sim.host(STAGE + "APP_DATA/IRIS.DAT").read_bytes()
    done = sim.run(scripts.count_staged("IRISOPS-COUNT-1", STAGED))
    assert done["tables"] == [{"name": "Demo.T", "row_count": 3}] and "removed" not in done
    assert sim.host(STAGE + "APP_DATA/IRIS.DAT").read_bytes() == before
    config = sim.config()
    assert "IRISOPS-COUNT-1" not in config["Namespaces"]
    assert not {"IRISOPS-COUNT-1-0", "IRISOPS-COUNT-1-1"} & set(config["Databases"])
    assert not sim.mounted(STAGE + "APP_DATA/") and not sim.mounted(STAGE + "APP_CODE/")
    assert sim.host(STAGE).is_dir()


def test_count_staged_can_remove_the_staging_directory_in_the_same_session(sim):
    _staged(sim)
    done = sim.run(scripts.count_staged("IRISOPS-COUNT-1", STAGED, remove=STAGE))
    assert done["removed"] == 1 and not sim.host(STAGE).exists()


def test_count_staged_with_one_database_for_both_roles(sim):
    sim.instance.sql("USER", "CREATE TABLE Demo.U (A INT)")
    sim.instance.sql("USER", "INSERT INTO Demo.U (A) VALUES (1)")
    sim.run(scripts.freeze_and_copy(STAGE, [(MGR + "user/IRIS.DAT", STAGE + "USER/IRIS.DAT")],
                                    freeze_timeout=0, freeze_limit=300))
    done = sim.run(scripts.count_staged("IRISOPS-COUNT-2", [("IRISOPS-COUNT-2-0", "globals+routines", STAGE + "USER/", MGR + "user/")],
                                        remove=STAGE))
    assert done["tables"] == [{"name": "Demo.U", "row_count": 1}]


def test_remove_directory_removes_a_tree_and_tolerates_none(sim):
    sim.put(STAGE + "A/IRIS.DAT", b"x")
    assert sim.run(scripts.remove_directory(STAGE))["removed"] == 1
    assert not sim.host(STAGE).exists()
    assert sim.run(scripts.remove_directory(STAGE))["removed"] == 1


def test_a_tree_that_cannot_be_removed_is_named(sim):
    sim.put(STAGE + "A/IRIS.DAT", b"x")
    sim.host(STAGE + "A").chmod(0o500)
    try:
        error = fails(sim, scripts.remove_directory(STAGE))
    finally:
        sim.host(STAGE + "A").chmod(0o700)
    assert f"cannot remove {STAGE}" in str(error)


def test_the_command_line_thaw_thaws_with_exit_status_5_and_3_when_not_frozen(sim):
    from iris_ops_sim.irissim.objectscript.terminal import iris_main

    def thaw() -> int:
        return iris_main(sim.instance, ["session", "IRIS", "-U", "%SYS", scripts.thaw_entry()], io.BytesIO(b""),
                         lambda _: None)

    sim.session("Do ##class(Backup.General).ExternalFreeze()")
    assert thaw() == 5 and _frozen(sim) == 0
    assert thaw() == 3


def test_a_freeze_record_names_its_owner_until_its_owner_releases_it(sim):
    import json

    from iris_ops.objectscript import Script
    from iris_ops.script_builders.freeze import FREEZE_RECORD, FreezeOwner, record_freeze

    idle = sim.run(scripts.freeze_state())
    assert {k: idle[k] for k in ("suspended", "lock_owner")} == {"suspended": 0, "lock_owner": ""}
    assert "record" not in idle and "job" not in idle and idle["now"].count(",") == 1  # $ZTimeStamp
    owner = FreezeOwner("tok-freeze-1", "host-a", 4242)
    record = Script("%SYS", purpose="record")
    record.step("record", *record_freeze(owner, 240))
    assert sim.run(record)["recorded"] == 1
    written = json.loads(sim.host(MGR + FREEZE_RECORD).read_text())
    assert {k: written[k] for k in ("tool", "token", "host", "pid", "operation", "limit")} == {
        "tool": "iris-ops", "token": "tok-freeze-1", "host": "host-a", "pid": 4242, "operation": "backup", "limit": 240}
    state = sim.run(scripts.freeze_state())
    # in this process every session's $JOB is this pid, so the freezing job is still there
    assert (state["job"], state["job_alive"]) == (os.getpid(), 1) == (written["job"], 1)
    assert json.loads(state["record"])["token"] == "tok-freeze-1"
    sim.put(MGR + FREEZE_RECORD, json.dumps({**written, "job": 999999}).encode())
    assert (sim.run(scripts.freeze_state())["job_alive"]) == 0  # the session that froze is gone
    other = sim.run(scripts.release_freeze("tok-other"))
    assert ("released" in other, other["foreign"], other["suspended"]) == (False, 1, 0)
    assert sim.host(MGR + FREEZE_RECORD).exists()
    mine = sim.run(scripts.release_freeze("tok-freeze-1"))
    assert (mine["released"], "foreign" in mine) == (1, False) and not sim.host(MGR + FREEZE_RECORD).exists()
    assert scripts.freeze_state().purpose == "find who froze the instance"
    assert scripts.release_freeze("t").purpose == "release the freeze record"


def test_count_staged_cleans_up_when_a_copy_is_gone(sim):
    _staged(sim)
    os.remove(sim.host(STAGE + "APP_CODE/IRIS.DAT"))
    error = fails(sim, scripts.count_staged("IRISOPS-COUNT-1", STAGED, remove=STAGE))
    assert error.details["step"] == "attach1"
    assert f"cannot give the copy of {MGR}app_code/IRIS.DAT its mode" in str(error)
    config = sim.config()
    assert not {"IRISOPS-COUNT-1-0", "IRISOPS-COUNT-1-1"} & set(config["Databases"])
    assert "IRISOPS-COUNT-1" not in config["Namespaces"]
    assert not sim.mounted(STAGE + "APP_DATA/") and not sim.host(STAGE).exists()


def test_an_unsafe_staging_directory_is_refused_by_name():
    from iris_ops.errors import UsageError

    for build in (lambda: scripts.freeze_and_copy("relative/", [], freeze_timeout=0, freeze_limit=300),
                  lambda: scripts.dismount_and_copy("/a/../b/", [], [])):
        with pytest.raises(UsageError) as caught:
            build()
        assert caught.value.message.startswith("unsafe staging directory '")


def test_a_freeze_record_that_does_not_parse_is_nobody_s_and_stays(sim):
    from iris_ops.script_builders.freeze import FREEZE_RECORD

    sim.put(MGR + FREEZE_RECORD, b"{not json")
    found = sim.run(scripts.release_freeze("tok-freeze-1"))
    assert ("released" in found, found["foreign"], found["record"]) == (False, 1, "{not json")
    assert sim.host(MGR + FREEZE_RECORD).read_bytes() == b"{not json"


def test_a_freeze_whose_signature_cannot_be_read_goes_ahead(sim, monkeypatch):
    """An instance that does not let the session read ExternalFreeze's FormalSpec (its
    %Dictionary.CompiledMethod opens nothing here): the freeze is not refused for that, and
    ``known`` 0 lets the caller say so."""
    from iris_ops_sim.irissim.instance.classes.backup import DictionaryCompiledMethod

    monkeypatch.setattr(DictionaryCompiledMethod, "_pct_OpenId", lambda self, proc, *args: "")
    done = sim.run(scripts.freeze_and_copy(STAGE, COPIES, freeze_timeout=0, freeze_limit=300))
    assert (done["known"], done["spec"], done["frozen"], done["thawed"]) == (0, "", 1, 1)
    assert _frozen(sim) == 0


def test_a_freeze_whose_record_another_backup_took_over_is_not_thawed_by_this_one(sim, monkeypatch):
    """While the copies run, another process writes its own freeze record (the simulator's copy
    wrapped to let it in): the record is not this backup's any more, so it neither removes it nor
    thaws, and says whose it found."""
    import json

    from iris_ops.script_builders.freeze import FREEZE_RECORD
    from iris_ops_sim.irissim.instance.classes import files

    copy = files._copy_contents
    theirs = json.dumps({"tool": "iris-ops", "token": "tok-someone-else"}).encode()

    def copy_while_another_records(fin, fout):
        sim.host(MGR + FREEZE_RECORD).write_bytes(theirs)
        copy(fin, fout)

    monkeypatch.setattr(files, "_copy_contents", copy_while_another_records)
    done = sim.run(scripts.freeze_and_copy(STAGE, COPIES, freeze_timeout=0, freeze_limit=300))
    assert (done["recorded"], done["foreign"], "released" in done, "thawed" in done) == (1, 1, False, False)
    assert _frozen(sim) == 1 and sim.host(MGR + FREEZE_RECORD).read_bytes() == theirs


def _reflinking_backup(sim, reflinked: list[bool], placed: bool = True):
    """freeze_and_copy with reflink, then copy_and_thaw, in one session as the backup sends them;
    the transport's reflinks (made between the two while the instance is frozen) are in place
    beforehand here (unless not ``placed``), which the freeze does not touch.  The two results."""
    import dataclasses

    from iris_ops.script_builders.freeze import FreezeOwner

    owner = FreezeOwner("tok-reflink-1", "host-a", 4242)
    for (source, target), done in zip(COPIES, reflinked):
        if done and placed:
            sim.put(target, sim.host(source).read_bytes())
    first = scripts.freeze_and_copy(STAGE, COPIES, freeze_timeout=0, freeze_limit=300, owner=owner, reflink=True)
    second = scripts.copy_and_thaw(COPIES, reflinked, owner=owner)
    out = sim.runner.execute(first.render(final=False) + second.render(), "%SYS")
    # the session's exit status is the second script's: the first is read as if it had ended well
    kept = sim.runner.parse(first, dataclasses.replace(out, exit_code=0))
    return kept, lambda: sim.runner.parse(second, out)


def test_a_reflinking_backup_keeps_the_freeze_for_the_reflinks_then_copies_the_rest_and_thaws(sim):
    kept, second = _reflinking_backup(sim, [True, False])
    done = second()
    assert (kept["frozen"], kept["recorded"], kept["kept"], "thawed" in kept) == (1, 1, 1, False)
    assert (done["frozen"], done["recorded"], done["held"], done["released"], done["thawed"]) == (1, 1, 1, 1, 1)
    assert sorted(done["copied"], key=lambda c: c["file"]) == sorted(
        ({"file": target, "bytes": 1 << 20} for _, target in COPIES), key=lambda c: c["file"])
    for source, target in COPIES:
        assert sim.host(target).read_bytes() == sim.host(source).read_bytes()
    assert _frozen(sim) == 0 and not sim.host(MGR + "iris-ops-freeze.json").exists()


def test_a_reflink_that_is_missing_fails_the_backup_and_still_thaws(sim):
    from iris_ops.errors import ScriptError

    kept, second = _reflinking_backup(sim, [True, False], placed=False)
    assert kept["kept"] == 1
    with pytest.raises(ScriptError) as caught:
        second()
    error = caught.value
    assert str(error).startswith("copy and thaw failed at step 'reflinked0'")
    assert f"the reflinked copy {COPIES[0][1]} is missing" in str(error)
    assert {k: error.details["result"][k] for k in ("frozen", "recorded", "thawed")} == {
        "frozen": 1, "recorded": 1, "thawed": 1}
    assert _frozen(sim) == 0


def test_a_freeze_that_ended_during_the_copies_fails_the_backup(sim, monkeypatch):
    """The write daemon resumes while the files are copied (WDSuspendLimit reached, or someone
    thawed: the simulator's copy wrapped to let that happen): the copies are not consistent."""
    from iris_ops.errors import ScriptError
    from iris_ops.script_builders.backup import FREEZE_EXPIRED
    from iris_ops_sim.irissim.instance.classes import files

    copy = files._copy_contents

    def copy_while_the_freeze_ends(fin, fout):
        copy(fin, fout)
        sim.instance.thaw()

    monkeypatch.setattr(files, "_copy_contents", copy_while_the_freeze_ends)
    with pytest.raises(ScriptError) as caught:
        sim.run(scripts.freeze_and_copy(STAGE, COPIES, freeze_timeout=0, freeze_limit=300))
    assert caught.value.details["step"] == "held" and FREEZE_EXPIRED in str(caught.value)
    assert caught.value.details["result"]["held"] == 0


def test_a_freeze_whose_record_cannot_be_written_is_thawed(sim):
    from iris_ops.script_builders.freeze import FREEZE_RECORD

    sim.put(MGR + FREEZE_RECORD + "/inside", b"")  # a directory where the record goes
    error = fails(sim, scripts.freeze_and_copy(STAGE, COPIES, freeze_timeout=0, freeze_limit=300))
    assert error.details["step"] == "record"
    assert error.details["result"]["thawed"] == 1 and _frozen(sim) == 0
