"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class BenchError(Exception):
    """A problem the user can fix: bad input, missing or corrupt files, no such device.

    The CLI prints `error: <message>` and exits with `exit_code`; nothing else
    should reach the user as a traceback.
    """

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def brief(error: BaseException, limit: int = 120) -> str:
    """An exception as `Type: first line of its message`, short enough for one error line."""
    text = str(error).strip().partition("\n")[0][:limit]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
