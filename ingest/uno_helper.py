"""The warm LibreOffice converter's helper: a small program run by the *system* Python (the one
Debian's ``python3-uno`` is built for; the project's venv cannot import ``uno``), never
imported by the project.

Arguments: soffice, the profile folder's URI, the pipe's name, then soffice's flags
(:mod:`ingest.soffice_flags`). It starts one ``soffice <flags> --accept=pipe,...`` on the
profile folder, connects to it over UNO, then converts one file per request line read from
stdin, answering one JSON line on stdout per request. It exits, and takes soffice with it, when
stdin closes (its parent, :mod:`ingest.office_warm`, ended or died). The parent runs it in a
process group of its own under an address-space limit (inherited by soffice) and kills the
group on a timeout.

Requests: ``{"src": path, "dst": path, "filter": "MS Word 2007 XML"}``.
Answers: ``{"ok": true}``, ``{"ok": false, "error": "..."}``; the first line is
``{"ready": true, "pid": soffice's pid}`` (or ``{"ready": false, "error": ...}``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

_START_TIMEOUT_S = 60.0


def _props(**values: Any) -> tuple[Any, ...]:
    from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]

    out = []
    for name, value in values.items():
        prop = PropertyValue()
        prop.Name, prop.Value = name, value
        out.append(prop)
    return tuple(out)


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _connect(office: subprocess.Popen[bytes], pipe: str) -> Any:
    import uno  # type: ignore[import-not-found]
    from com.sun.star.connection import NoConnectException  # type: ignore[import-not-found]

    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local
    )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            context = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            break
        except NoConnectException:
            if office.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("LibreOffice did not start") from None
            time.sleep(0.05)
    return context.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", context)


def _convert(desktop: Any, request: dict[str, str]) -> dict[str, Any]:
    import uno

    # Never run macros, never update links, never ask (no interaction handler: a password
    # prompt fails the load instead of waiting for an answer).
    document = desktop.loadComponentFromURL(
        uno.systemPathToFileUrl(request["src"]),
        "_blank",
        0,
        _props(Hidden=True, ReadOnly=True, MacroExecutionMode=0, UpdateDocMode=0),
    )
    if document is None:
        return {"ok": False, "error": "not loaded"}
    try:
        document.storeToURL(
            uno.systemPathToFileUrl(request["dst"]), _props(FilterName=request["filter"])
        )
    finally:
        try:
            document.close(True)
        except Exception:
            document.dispose()
    return {"ok": True}


def _alive(desktop: Any) -> bool:
    try:
        desktop.getComponents()
    except Exception:  # DisposedException: the bridge to a dead soffice
        return False
    return True


def _end_with_parent(parent: int) -> None:
    """Our parent killed (the parse child past its deadline, a server by SIGKILL): end soffice
    too, at once, even in the middle of a conversion."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.killpg(os.getpgid(0), signal.SIGKILL)


def main() -> int:
    # The flags come from the parent (ingest.soffice_flags): this program cannot import the
    # project.
    soffice, profile_uri, pipe, *flags = sys.argv[1:]
    if os.getpgid(0) == os.getpid():  # our own group (as the parent starts us): safe to end
        threading.Thread(target=_end_with_parent, args=(os.getppid(),), daemon=True).start()
    office = subprocess.Popen(
        [
            soffice,
            f"-env:UserInstallation={profile_uri}",
            *flags,
            f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        try:
            desktop = _connect(office, pipe)
        except Exception as exc:
            _say({"ready": False, "error": repr(exc)})
            return 1
        _say({"ready": True, "pid": office.pid})
        for line in sys.stdin:
            try:
                answer = _convert(desktop, json.loads(line))
            except Exception as exc:  # IllegalArgument (damaged, password), IOException...
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
                if office.poll() is not None or not _alive(desktop):
                    # soffice crashed (on this file or before it): the parent starts a new pair
                    _say({**answer, "crashed": True})
                    return 1
            _say(answer)
        return 0
    finally:
        # soffice is a script that starts soffice.bin: end the whole group (ours, as the parent
        # started us as a group leader), us included.
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
        office.kill()


if __name__ == "__main__":
    sys.exit(main())
