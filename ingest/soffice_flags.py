"""How soffice is started, for the cold converter (:mod:`ingest.office_convert`) and the warm
one's helper (:mod:`ingest.uno_helper`, which runs outside the project and receives them on its
command line from :mod:`ingest.office_warm`)."""

from __future__ import annotations

# soffice without a window, a splash, a first-start wizard, a lock check or a restore offer.
SOFFICE_FLAGS = (
    "--headless",
    "--invisible",
    "--nologo",
    "--nodefault",
    "--nofirststartwizard",
    "--nolockcheck",
    "--norestore",
)
