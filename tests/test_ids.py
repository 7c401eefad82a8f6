"""Session ids: one module decides what a valid id is, for the CLI's ids and the server's."""

from __future__ import annotations

import pytest

from sessionlab.errors import InvalidSessionId
from sessionlab.ids import LOWERCASE_UUID, is_uuid, new_session_id, validate_session_id

CLI_ID = "21926f61-263e-4765-ac60-e66eba4b5f77"


def test_a_cli_session_id_is_any_hyphenated_uuid() -> None:
    assert is_uuid(CLI_ID) and is_uuid(CLI_ID.upper())
    for bad in ("21926f61", "../etc", CLI_ID + "\n", CLI_ID + "x", " " + CLI_ID, ""):
        assert not is_uuid(bad), bad


def test_the_cli_writes_lowercase() -> None:
    assert LOWERCASE_UUID.fullmatch(CLI_ID)
    assert not LOWERCASE_UUID.fullmatch(CLI_ID.upper())


def test_a_server_made_id_is_exactly_a_fresh_uuid4() -> None:
    made = new_session_id()
    assert validate_session_id(made) == made and made != new_session_id()
    version_1 = "21926f61-263e-1765-ac60-e66eba4b5f77"
    for bad in (CLI_ID.upper(), version_1, made + "\n", "../" + made, None, 7):
        with pytest.raises(InvalidSessionId, match="expected a lowercase UUID4"):
            validate_session_id(bad)
