"""One root exception for the package, like pyais's AISBaseException.

Errors that stop the program at start (a bad zone or config file) carry the file and, where there is
one, the feature id, so the command line can print one clear line and exit with EXIT_CONFIG.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # a run that could not complete (unreadable feed, broker gave up)
EXIT_USAGE = 2  # argparse's own code for bad command-line arguments
EXIT_CONFIG = 3  # a bad zone or config file: systemd's RestartPreventExitStatus=3


class MonitorError(Exception):
    """Root of every error this package raises on purpose."""


class StartupError(MonitorError):
    """A problem found before any input is processed; the process exits with `exit_code`."""

    exit_code = EXIT_FAILURE


class ConfigError(StartupError):
    """The configuration file (or an environment override) is invalid."""

    exit_code = EXIT_CONFIG

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ZoneFileError(StartupError):
    """The zone file is invalid; `problems` lists every problem found, each naming its feature id."""

    exit_code = EXIT_CONFIG

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        first = self.problems[0] if self.problems else "invalid zone file"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{path}: {first}{more}")


class FeedError(StartupError):
    """A feed given on the command line cannot be opened or read."""

    exit_code = EXIT_FAILURE
