"""Analysis records and jobs use Django: restore the project-wide fixtures that the
core tests' conftest (one folder up) replaces with Django-free ones."""

from tests.conftest import data_root, fast_password_hashing  # noqa: F401 — fixtures
from tests.studies.conftest import world  # noqa: F401 — the studies' small world of records
