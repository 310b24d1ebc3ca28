import pytest


@pytest.fixture
def calendar(db):  # type: ignore[no-untyped-def]
    from tests.factories import CalendarFactory

    return CalendarFactory()
