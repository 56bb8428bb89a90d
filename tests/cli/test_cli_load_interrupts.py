"""A load stopped by a full disk or Ctrl-C says what happened and what is served now, and
never loses the snapshot being served.

Before: a full disk printed NumPy's ``error: 1425 requested and 496 written`` (or
``[Errno 28] …``) without naming the data dir or what stayed current; Ctrl-C exited 130
without a word; and an interrupt right after the new snapshot was made current made the
load's clean-up delete it: ``CURRENT`` then named a folder that was gone.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from geo_discovery.cli import app
from geo_discovery.snapshot import pipeline
from geo_discovery.snapshot.store import SnapshotStore

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "helsinki_osm_pois.csv"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A data dir with snapshot 000001 current."""
    result = CliRunner().invoke(app, ["load", str(SAMPLE), "--profile", "osm_poi",
                                      "--data-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp_path


def _load(store: Path) -> Any:
    return CliRunner().invoke(app, ["load", str(SAMPLE), "--profile", "osm_poi",
                                    "--data-dir", str(store)])  # fmt: skip


def _raiser(exc: BaseException) -> Callable[..., None]:
    def fail(*args: object, **kw: object) -> None:
        raise exc

    return fail


def _left(store: Path) -> list[str]:
    return sorted(p.name for p in (store / "snapshots").iterdir())


@pytest.mark.parametrize("exc", [
    OSError(errno.ENOSPC, "No space left on device"),
    OSError("1425 requested and 496 written"),  # NumPy's short write of an index array
])  # fmt: skip
def test_a_full_disk_names_the_data_dir_and_what_stays_current(
    store: Path, monkeypatch: pytest.MonkeyPatch, exc: OSError
) -> None:
    monkeypatch.setattr(pipeline, "write_merchant_table", _raiser(exc))
    result = _load(store)
    assert result.exit_code == 1
    line = result.stderr.strip()
    assert line.count("\n") == 0, line
    assert f"cannot write snapshot 000002 in {store}" in line
    assert "no space left on the device" in line
    assert "nothing was published: snapshot 000001 stays current" in line
    assert (store / "CURRENT").read_text().strip() == "000001"
    assert _left(store) == ["000001"]  # the half-written snapshot is gone


def test_a_rejects_file_that_cannot_be_written_says_so(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "write_rejects", _raiser(OSError(errno.EDQUOT, "Disk quota")))
    result = CliRunner().invoke(app, ["load", str(SAMPLE), "--profile", "osm_poi", "--rejects",
                                      str(store / "r.csv"), "--data-dir", str(store)])  # fmt: skip
    assert result.exit_code == 1
    assert "cannot write the rejects file" in result.stderr
    assert "snapshot 000001 stays current" in result.stderr


def test_ctrl_c_says_nothing_was_published(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "derive_all", _raiser(KeyboardInterrupt()))
    result = _load(store)
    assert result.exit_code == 130
    assert result.stderr.strip() == (
        "interrupted: nothing was published; snapshot 000001 stays current; its rejected "
        "rows, if any, were not written (load again to see them)"
    )
    assert _left(store) == ["000001"]


@pytest.mark.parametrize("named", [True, False])
def test_ctrl_c_after_the_rejects_were_written_names_their_file(
    store: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, named: bool
) -> None:
    """The rejects file is written before the snapshot is derived: an interrupted load
    said nothing of it, though it held the only list of that load's rejected rows."""
    bad = tmp_path / "bad.csv"
    bad.write_text("name,lat,lng\nok,60.17,24.94\nfar,91,24.94\n", encoding="utf-8")
    monkeypatch.setattr(pipeline, "derive_all", _raiser(KeyboardInterrupt()))
    extra = ["--rejects", str(tmp_path / "r.csv")] if named else []
    result = CliRunner().invoke(
        app, ["load", str(bad), "--data-dir", str(store), "--allow-shrink", *extra]
    )
    assert result.exit_code == 130, result.output
    written = tmp_path / "r.csv" if named else next((store / "rejects").glob("2*"))
    assert result.stderr.strip() == (
        "interrupted: nothing was published; snapshot 000001 stays current; its rejected "
        f"rows are in {written}"
    )
    assert "91" in written.read_text(encoding="utf-8")


def test_sigterm_is_taken_as_ctrl_c_with_its_own_exit_code(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM (systemd, Docker, Kubernetes) ended a load without a word, exit 143, and
    left its half-written snapshot folder (146 MB at 300k rows) until the next load."""
    import os
    import signal

    def terminated(*args: object, **kw: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # handled at once, in this (the main) thread
        raise AssertionError("SIGTERM did not stop the load")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(pipeline, "derive_all", terminated)
    result = _load(store)
    assert result.exit_code == 143, result.output
    assert result.stderr.strip().startswith(
        "terminated (SIGTERM): nothing was published; snapshot 000001 stays current; "
    )
    assert _left(store) == ["000001"]  # the half-written snapshot is gone
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is the load's only


def test_ctrl_c_just_after_publishing_keeps_the_new_snapshot(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = SnapshotStore.set_current

    def then_interrupted(self: SnapshotStore, snapshot_id: int) -> None:
        publish(self, snapshot_id)
        raise KeyboardInterrupt

    monkeypatch.setattr(SnapshotStore, "set_current", then_interrupted)
    result = _load(store)
    assert result.exit_code == 130
    assert "snapshot 000002 had been published and is current" in result.stderr
    assert (store / "CURRENT").read_text().strip() == "000002"
    assert (store / "snapshots" / "000002" / "manifest.json").is_file()  # not cleaned away


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_summary_prints_says_the_snapshot_was_published(
    store: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The summary printed after the interrupt handling had ended: a SIGTERM then ended
    the load without a word (a job runner retries it), a Ctrl-C said only "interrupted"."""
    import os
    import signal

    from geo_discovery.cli import load as load_command

    def signalled(*args: object, **kw: object) -> None:
        os.kill(os.getpid(), getattr(signal, how))  # handled at once, in the main thread
        raise AssertionError(f"{how} did not stop the summary")

    monkeypatch.setattr(load_command, "_print_load_report", signalled)
    result = _load(store)
    assert result.exit_code == (130 if how == "SIGINT" else 143), result.output
    said = "interrupted" if how == "SIGINT" else "terminated (SIGTERM)"
    assert result.stderr.strip() == (
        f"{said}: snapshot 000002 had been published and is current"), result.stderr
    assert (store / "CURRENT").read_text().strip() == "000002"


def test_a_load_whose_output_is_closed_says_it_published_and_exits_0(tmp_path: Path) -> None:
    """``load … | head -1``: rich ended the process with exit 1 and no word when the pipe
    closed, after the snapshot was published (exit 1 says nothing was)."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "geo_discovery.cli", "load", str(SAMPLE), "--profile",
         "osm_poi", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the summary is printed
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert err.strip().endswith(
        "note: standard output was closed: snapshot 000001 was published; its summary was "
        "not printed"), err
    assert (tmp_path / "CURRENT").read_text().strip() == "000001"


def test_snapshots_marks_one_a_stopped_load_never_published(store: Path) -> None:
    """A load SIGKILLed between writing its snapshot and moving CURRENT left a complete
    snapshot that `snapshots` listed like any other."""
    import shutil

    shutil.copytree(store / "snapshots" / "000001", store / "snapshots" / "000002")
    listing = CliRunner().invoke(app, ["snapshots", "--data-dir", str(store)],
                                 env={"COLUMNS": "240"})  # one line per snapshot
    assert listing.exit_code == 0, listing.output
    line = next(x for x in listing.stdout.splitlines() if "000002" in x)
    assert "never published" in line
    assert "never published" not in next(x for x in listing.stdout.splitlines() if "000001" in x)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize(("entry", "how"), [("console", "SIGINT"), ("python -m", "SIGINT"),
                                           ("console", "SIGTERM")])
def test_ctrl_c_while_the_command_line_starts_is_one_line_and_exit_130(
    tmp_path: Path, entry: str, how: str
) -> None:
    """The console entry (``geo_discovery.cli:run``) imports the commands, and with them
    NumPy, pyarrow and numba, for about a second. A Ctrl-C then printed a traceback of
    that import; it now ends with one line and exit 130. ``import geo_discovery.cli`` is
    light, so the signal is sent after it, once ``run`` is importing NumPy and the rest."""
    import signal
    import subprocess
    import sys
    import time

    light = subprocess.run([sys.executable, "-c", "import sys, geo_discovery, geo_discovery.cli; "
                            "print(sorted({'numpy', 'pyarrow', 'numba'} & set(sys.modules)))"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert light.stdout.strip() == "[]"  # the package's names are imported on first use
    code = ("import sys, geo_discovery.cli as cli; sys.argv[0] = 'geo-discovery'; "
            "print('started', file=sys.stderr, flush=True); cli.run()")  # fmt: skip
    # `python -m geo_discovery.cli` went to typer directly and printed the traceback
    launch = ["-c", code] if entry == "console" else ["-m", "geo_discovery.cli"]
    proc = subprocess.Popen(
        [sys.executable, *launch, "snapshots", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    if entry == "console":
        assert proc.stderr is not None and proc.stderr.readline() == "started\n"
    maps = Path(f"/proc/{proc.pid}/maps")  # wait until run() imports NumPy: then signal
    deadline = time.monotonic() + 60
    while "multiarray" not in maps.read_text() and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(getattr(signal, how))
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    said = "interrupted" if how == "SIGINT" else "terminated (SIGTERM)"  # (SIGTERM ended the
    assert err.strip() == f"{said} before the command started; nothing was changed", err
    assert proc.returncode == (130 if how == "SIGINT" else 143) and out == ""  # process mute)


def test_ctrl_c_during_a_command_says_so_and_after_it_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """typer turns a Ctrl-C into exit 130 without a word (a load says what it left
    itself); and one that arrived after a command had finished, while Python shut down,
    made a finished load or calibrate exit 130 as if it had stopped."""
    import signal
    import sys

    import geo_discovery.cli as cli
    from geo_discovery.snapshot.store import SnapshotStore

    def interrupted(self: Any) -> Any:
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGINT)
    try:
        argv = ["geo-discovery", "snapshots", "--data-dir", str(tmp_path)]
        monkeypatch.setattr(sys, "argv", argv)
        with monkeypatch.context() as patch:
            patch.setattr(SnapshotStore, "list", interrupted)
            with pytest.raises(SystemExit) as stopped:
                cli.run()
        assert stopped.value.code == 130
        assert capsys.readouterr().err == "interrupted (Ctrl-C) before the command finished\n"

        signal.signal(signal.SIGINT, previous)
        with pytest.raises(SystemExit) as done:
            cli.run()
        assert done.value.code == 0 and "no snapshots" in capsys.readouterr().out
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # from here to the exit
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_while_typer_builds_the_commands_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Typer builds the command tree (signatures, options) inside ``app()``, outside its
    own Ctrl-C handler: an interrupt there (about 1 in 16 Ctrl-Cs a second into a load)
    printed a traceback and died by the signal."""
    import signal
    import sys

    import typer.main

    import geo_discovery.cli as cli

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGINT)
    try:
        monkeypatch.setattr(sys, "argv", ["geo-discovery", "snapshots"])
        monkeypatch.setattr(typer.main, "get_command", interrupted)
        with pytest.raises(SystemExit) as stopped:
            cli.run()
        assert stopped.value.code == 130
        assert capsys.readouterr().err == "interrupted (Ctrl-C)\n"
    finally:
        signal.signal(signal.SIGINT, previous)
