"""The one exception type that cgviz raises for problems a user can cause and fix."""

from __future__ import annotations


class CgvizError(Exception):
    """A problem with the user's input or settings, with a message that says what to do.

    Raised for bad or mismatched files, NaN coordinates, too few frames, impossible
    settings and the like. Front ends (the Streamlit pages, the CLI, the notebooks) show
    ``str(error)`` to the user instead of a traceback. The optional ``hint`` is already
    part of the message; it is kept separately so a UI can show it on its own line.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.problem = message
        self.hint = hint
        super().__init__(f"{message} {hint}" if hint else message)
