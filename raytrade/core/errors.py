"""One exception tree, organised by what the caller should do about it.

- `InputError`: the user must fix something they gave us (a file, a flag, their data). Exit 2.
- `ExternalError`: a system outside raytrade failed; `TransientError` may succeed on retry,
  `PermanentError` will not until someone changes something. Exit 1.
- `IntegrityError`: raytrade's own records disagree with reality (hash mismatch, incompatible
  metadata); stop and investigate. Exit 1.
Every message is one sentence a person can act on, naming the file, key or symbol at fault.
"""

from __future__ import annotations

from dataclasses import dataclass


class RaytradeError(Exception):
    """Base of every error raytrade raises on purpose."""

    exit_code = 1


class InputError(RaytradeError):
    """Something the user supplied is wrong; fixing the input fixes the error."""

    exit_code = 2


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a config: where, what was found and what was expected."""

    path: str
    found: str
    expected: str

    def render(self) -> str:
        where = self.path or "(top level)"
        return f"{where}: found {self.found}; expected {self.expected}"


class ConfigError(InputError):
    """A config file or object breaks the schema or a cross-field rule."""

    def __init__(self, problems: list[ConfigProblem], file: str | None = None) -> None:
        self.problems = problems
        self.file = file
        super().__init__(self._message())

    def _message(self) -> str:
        prefix = f"{self.file}: " if self.file else ""
        if len(self.problems) == 1:
            return prefix + self.problems[0].render()
        lines = "\n".join(f"  - {p.render()}" for p in self.problems)
        return f"{prefix}{len(self.problems)} problems:\n{lines}"

    def in_file(self, file: str) -> ConfigError:
        return ConfigError(self.problems, file=file)


class DataError(InputError):
    """Bars break a rule of the canonical schema; names the symbol, timestamp and rule."""

    def __init__(self, rule: str, symbol: str | None = None, ts: object | None = None) -> None:
        self.rule = rule
        self.symbol = symbol
        self.ts = ts
        parts = []
        if symbol is not None:
            parts.append(f"symbol {symbol}")
        if ts is not None:
            parts.append(f"bar {ts}")
        where = f" ({', '.join(parts)})" if parts else ""
        super().__init__(f"bad bars{where}: {rule}")


class MissingDataError(InputError):
    """The bars an experiment or command needs are not there."""


class ExternalError(RaytradeError):
    """A system outside raytrade (database, vendor, cluster) failed."""


class TransientError(ExternalError):
    """Worth retrying later: rate limits, timeouts, 5xx."""


class PermanentError(ExternalError):
    """Will fail again until someone changes something: bad key, unknown symbol."""


class IntegrityError(RaytradeError):
    """raytrade's own records do not match what is on disk or in the store."""
