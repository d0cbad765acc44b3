"""Job locks: a second job waits for the first, or fails naming it; a killed holder leaves no lock behind."""

import errno
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from molpipe.config import ConcurrencyOptions, load_settings
from molpipe.runtime import locks


def _settings(home, wait_s: float):
    return load_settings(environ={}).replace(home=str(home), concurrency=ConcurrencyOptions(lock_wait_s=wait_s))


def _holder(home, resource: str, seconds: float) -> subprocess.Popen:
    """Another process holding ``resource`` for ``seconds``; returns once it holds it."""
    code = textwrap.dedent(f"""
        import sys, time
        from molpipe.config import load_settings
        from molpipe.runtime import locks
        with locks.exclusive(load_settings(environ={{}}).replace(home={str(home)!r}), {resource!r}, job="featurize"):
            print("held", flush=True)
            time.sleep({seconds})
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_job_that_waits_too_long_fails_naming_the_holder(tmp_path):
    holder = _holder(tmp_path, "library-hiv", 60)
    try:
        started = time.monotonic()
        with pytest.raises(locks.Busy) as raised:
            with locks.exclusive(_settings(tmp_path, 0.5), "library-hiv", job="featurize"):
                pass
        assert 0.5 <= time.monotonic() - started < 5
        message = str(raised.value)
        assert "library-hiv is in use by featurize" in message and f"pid {holder.pid}" in message
        assert "MOLPIPE_CONCURRENCY__LOCK_WAIT_S" in message and "\n" not in message
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_job_goes_on_when_the_holder_ends_and_says_whom_it_waited_for(tmp_path, capsys):
    holder = _holder(tmp_path, "model-hiv_mlp", 1.0)
    started = time.monotonic()
    with locks.exclusive(_settings(tmp_path, 30), "model-hiv_mlp", job="promote"):
        assert time.monotonic() - started >= 0.8  # the holder's second, less the time it took to say so
    holder.wait()
    assert f"promote: waiting for model-hiv_mlp, in use by featurize (pid {holder.pid}" in capsys.readouterr().err


def test_a_killed_holder_leaves_no_lock(tmp_path):
    holder = _holder(tmp_path, "library-hiv", 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    started = time.monotonic()
    with locks.exclusive(_settings(tmp_path, 0), "library-hiv", job="featurize"):
        assert time.monotonic() - started < 1


def test_a_job_takes_its_own_lock_again_and_other_resources_are_independent(tmp_path):
    settings = _settings(tmp_path, 0)
    with locks.exclusive(settings, "landing-/data/inbox", job="landing"):
        with locks.exclusive(settings, "landing-/data/inbox", job="ingest"):  # its own nested step
            pass
        with locks.exclusive(settings, "ingest-hiv", job="ingest"):
            pass
    holder = _holder(tmp_path, "library-hiv", 60)
    try:
        with locks.exclusive(settings, "library-esol", job="featurize"):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_negative_wait_is_refused_naming_its_variable(tmp_path):
    with pytest.raises(ValueError, match="MOLPIPE_CONCURRENCY__LOCK_WAIT_S"):
        with locks.exclusive(_settings(tmp_path, -1), "library-hiv", job="featurize"):
            pass


def test_on_a_file_system_without_locks_the_job_goes_on_and_says_so(tmp_path, monkeypatch, capsys):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locks.fcntl, "flock", no_locks)
    with locks.exclusive(_settings(tmp_path, 0), "library-hiv", job="featurize"):
        pass
    assert "has no file locks (No locks available); library-hiv is not locked" in capsys.readouterr().err
