from collections.abc import Callable

import pytest
from pydantic import BaseModel, ValidationError


def _error_locs(excinfo: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {".".join(str(p) for p in err["loc"]) for err in excinfo.value.errors()}


@pytest.fixture
def rejects() -> Callable[..., set[str]]:
    """Validate `data` as `model`, expect a ValidationError, return the dotted field paths."""

    def check(model: type[BaseModel], data: object) -> set[str]:
        with pytest.raises(ValidationError) as excinfo:
            model.model_validate(data)
        return _error_locs(excinfo)

    return check
