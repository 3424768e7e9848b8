"""The one exception type that reaches users as a one-line message (tracebacks only with --debug)."""


class ProbscopeError(Exception):
    """An error in the user's input or environment: the message names the path/row/field and a fix."""
