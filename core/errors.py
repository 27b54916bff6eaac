"""The one base class for problems the user can fix (a wrong path, a bad checkpoint, a bad flag).

The CLIs print such an error as one line and exit non-zero (core.cli.run_cli); any other exception is a
bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, said in one line that names what to do."""

