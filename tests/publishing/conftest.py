import pytest
from cryptography.fernet import Fernet

from tests.publishing.graph_server import GraphServer

PUBLIC = "https://studio.example.test"


@pytest.fixture
def graph(settings):
    server = GraphServer().start()
    settings.INSTAGRAM_GRAPH_BASE_URL = f"{server.url}/v23.0"
    settings.INSTAGRAM_OAUTH_BASE_URL = server.url
    settings.THREADS_GRAPH_BASE_URL = f"{server.url}/v1.0"
    settings.INSTAGRAM_APP_ID = settings.THREADS_APP_ID = "app-1"
    settings.INSTAGRAM_APP_SECRET = settings.THREADS_APP_SECRET = "secret-1"
    settings.INSTAGRAM_REDIRECT_URI = "https://studio.example.test/publishing/callback/instagram"
    settings.THREADS_REDIRECT_URI = "https://studio.example.test/publishing/callback/threads"
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.PUBLISHING_POLL_DELAYS = (0.01, 0.01, 0.01)
    settings.PUBLISHING_HTTP_TIMEOUT = 5
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _token_keys(settings):
    settings.PUBLISHING_TOKEN_KEYS = Fernet.generate_key().decode()
