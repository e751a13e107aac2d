import pytest


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # DEBUG is off in tests and the manifest storage needs `collectstatic`; pages only need the URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
