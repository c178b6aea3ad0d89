"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class BenchError(Exception):
    """A problem the user can fix: bad input, missing or corrupt files, no such device.

    The CLI prints `error: <message>` and exits with `exit_code`; nothing else
    should reach the user as a traceback.
    """

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code
