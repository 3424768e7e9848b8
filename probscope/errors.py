"""The one exception type that reaches users as a one-line message (tracebacks only with --debug)."""


class ProbscopeError(Exception):
    """An error in the user's input or environment: the message names the path/row/field and a fix."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message: enough for a one-line report."""
    return (str(error).splitlines() or [""])[0]
