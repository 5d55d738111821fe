"""Writing files so that a reader never sees half of one, and a run's files appear together.

Every file specc writes goes to a temporary file in the same folder, is flushed and fsynced,
then renamed over its target: a crash, a full disk or ``kill -9`` leaves the old file or the
new one, never a truncated mix. ``os.replace`` renames over a symbolic link instead of
writing through it, so a link planted where an output goes is replaced, its target untouched.

A run that writes several files (``specc train``'s model, weights and history; an export
bundle) writes them into a staging folder beside ``--out`` and swaps it in whole
(``staged_folder``), so the folder holds the previous complete run or the new one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO

# Temporary names start with a dot and carry the writer's pid, so that a later run can tell
# a leftover of a killed process (its pid gone) from one still being written.
_TEMP_TAG = ".specc-tmp-"
_STAGING_TAG = ".specc-staging-"
_OLD_TAG = ".specc-old-"


class OutputFolderError(Exception):
    """An output folder cannot be used: not writable, a file, or holding others' files."""


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_atomic(path: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """A handle whose content replaces ``path`` only when the block ends without error."""
    if mode not in ("wb", "w"):
        raise ValueError(f"open_atomic writes whole files ('wb' or 'w'), not {mode!r}")
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, temp_name = tempfile.mkstemp(
        dir=folder, prefix=f".{target.name[:64]}{_TEMP_TAG}{os.getpid()}-"
    )
    temp = Path(temp_name)
    try:
        text_encoding = (encoding or "utf-8") if mode == "w" else None
        with os.fdopen(fd, mode, encoding=text_encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_folder(folder)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with open_atomic(path, "wb") as handle:
        handle.write(data)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with open_atomic(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def copy_file(source: str | Path, target: str | Path) -> Path:
    """Copy ``source`` to ``target`` atomically; return ``target``."""
    with open(source, "rb") as reader, open_atomic(target, "wb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)
    return Path(target)


# ---------------------------------------------------------------------------- folders


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftover_pid(name: str, tag: str) -> int | None:
    """The pid in a temporary name ``.<out><tag><pid>-<random>``, if it is one."""
    _, _, rest = name.partition(tag)
    pid, _, _ = rest.partition("-")
    return int(pid) if pid.isdigit() else None


def sweep_leftovers(folder: Path, stem: str) -> None:
    """Remove staging and temporary entries for ``stem`` left in ``folder`` by killed runs."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        name = entry.name
        for tag in (_STAGING_TAG, _OLD_TAG, _TEMP_TAG):
            if not name.startswith(f".{stem[:64]}{tag}"):
                continue
            pid = _leftover_pid(name, tag)
            if pid is None or (pid != os.getpid() and _pid_alive(pid)):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()


def check_output_folder(out: Path, owned: Collection[str]) -> None:
    """Refuse an output folder that cannot take a run's files, before any work is done.

    ``out`` may be missing, empty, or hold only names in ``owned`` (what an earlier run of
    the same command wrote): the swap replaces the folder whole, and must never delete a
    user's other files. Its parent must be writable, since the staging folder goes there.
    """
    if out.is_symlink() and not out.exists():
        raise OutputFolderError(f"{out} is a broken symbolic link")
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"{out} is a file; give a folder")
    if out.is_dir():
        try:
            names = {entry.name for entry in out.iterdir()}
        except OSError as exc:
            raise OutputFolderError(f"cannot read {out}: {exc.strerror or exc}") from None
        foreign = sorted(names - set(owned))
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise OutputFolderError(
                f"{out} holds files specc did not write ({shown}); "
                "give a new or empty folder, or one an earlier run wrote"
            )
    # Nothing is created for a run that may still fail: probe the nearest folder that
    # exists, where the missing ones (and then the staging folder) will be made.
    parent = _parent(out)
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputFolderError(f"cannot write to {parent}: {existing} is not a folder")
    try:
        with _signals_held():
            prefix = f".{out.name[:64]}{_STAGING_TAG}{os.getpid()}-"
            Path(tempfile.mkdtemp(dir=existing, prefix=prefix)).rmdir()
    except OSError as exc:
        raise OutputFolderError(f"cannot write to {parent}: {exc.strerror or exc}") from None


def _parent(out: Path) -> Path:
    return out.absolute().parent


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the
    system has no such call."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(
        at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), rename_exchange
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextlib.contextmanager
def staged_folder(
    out: Path, owned: Collection[str], on_staging: Callable[[Path], None] | None = None
) -> Iterator[Path]:
    """A fresh folder to write a run's files into; when the block ends without error it
    replaces ``out`` in one step, else it is removed and ``out`` is left as it was.

    ``owned`` are the names the run may find in an existing ``out`` (see
    ``check_output_folder``). ``on_staging`` is told the staging folder, so a signal
    handler can remove it.
    """
    out = Path(out)
    check_output_folder(out, owned)
    with replaced_folder(out, on_staging) as staging:
        yield staging


@contextlib.contextmanager
def replaced_folder(
    target: Path, on_staging: Callable[[Path], None] | None = None
) -> Iterator[Path]:
    """A fresh folder beside ``target`` to fill (each file written atomically, so fsynced);
    when the block ends without error it replaces ``target`` in one step (Linux's
    ``renameat2`` exchange; elsewhere two renames), else it is removed and ``target`` is
    left as it was. Unlike ``staged_folder`` nothing is checked: ``target`` is the caller's
    own folder (a checkpoint). ``on_staging`` is told the staging folder, so a signal
    handler can remove it."""
    target = Path(target)
    parent = target.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(parent, target.name)
    staging: Path | None = None
    try:
        with _signals_held():
            prefix = f".{target.name[:64]}{_STAGING_TAG}{os.getpid()}-"
            staging = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
            if on_staging is not None:
                on_staging(staging)
        yield staging
        os.chmod(staging, 0o755)
        _fsync_folder(staging)
        with _signals_held():
            _swap_in(staging, parent / target.name)
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_in(staging: Path, target: Path) -> None:
    """Put ``staging`` where ``target`` is, and remove what was there."""
    parent = target.parent
    if target.is_dir() and not target.is_symlink() and _exchange(staging, target):
        # ``staging`` now holds the previous run's files.
        _fsync_folder(parent)
        shutil.rmtree(staging, ignore_errors=True)
    elif target.exists() or target.is_symlink():
        old = Path(
            tempfile.mkdtemp(dir=parent, prefix=f".{target.name[:64]}{_OLD_TAG}{os.getpid()}-")
        )
        os.rename(target, old / "previous")
        os.rename(staging, target)
        _fsync_folder(parent)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, target)
        _fsync_folder(parent)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block ends, so that a folder is made and handed
    to the code that removes it, or a swap is done, as one step: a signal in between
    would leave a folder no cleanup knows of, or no ``out`` at all."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# ---------------------------------------------------------------------------- scratch


def _sweep_scratch(parent: Path, prefix: str) -> None:
    """Remove ``<prefix><pid>-*`` folders in ``parent`` whose process is gone."""
    try:
        entries = [entry for entry in parent.iterdir() if entry.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        pid = _leftover_pid(entry.name, prefix)
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def new_scratch_folder(prefix: str, parent: Path | None = None) -> Path:
    """A new folder ``<prefix><pid>-<random>`` (in the system's temporary folder unless
    ``parent`` is given) for the caller to remove; those of processes that are gone are
    removed first."""
    where = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    _sweep_scratch(where, prefix)
    folder: Path | None = None
    try:
        with _signals_held():
            folder = Path(tempfile.mkdtemp(dir=where, prefix=f"{prefix}{os.getpid()}-"))
    except BaseException:
        # A signal held during mkdtemp is handled as the block ends, before the folder
        # reaches the caller: remove it here, or nobody will.
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def scratch_folder_on(stack: contextlib.ExitStack, prefix: str, parent: Path | None = None) -> Path:
    """A new scratch folder (as ``new_scratch_folder``) whose removal ``stack`` holds from
    the moment the folder exists. ``stack.enter_context(scratch_folder(...))`` leaves a
    gap: a signal handled after the generator yields and before the stack holds its exit
    leaves the folder to a generator that may never be closed."""
    with _signals_held():
        folder = new_scratch_folder(prefix, parent)
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
    return folder


@contextlib.contextmanager
def scratch_folder(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    """A temporary folder ``<prefix><pid>-<random>`` (in the system's temporary folder
    unless ``parent`` is given), removed when the block ends, however it ends.

    ``kill -9`` runs no cleanup: the pid in the name lets the next process that asks for a
    folder with the same prefix remove those whose writer is gone.
    """
    folder: Path | None = None
    try:
        folder = new_scratch_folder(prefix, parent)
        yield folder
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
