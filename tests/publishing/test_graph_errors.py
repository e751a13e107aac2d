import pytest

from publishing.media import media_name_from_token, media_url
from publishing.platforms import graph as graph_http
from publishing.platforms.graph import MediaRejected, PermissionMissing, RateLimited, TokenExpired, Transient

USER = "42"


@pytest.mark.parametrize(("status", "code", "expected"), [
    (400, 190, TokenExpired), (403, 10, PermissionMissing), (403, 200, PermissionMissing),
    (429, 4, RateLimited), (400, 9, RateLimited), (500, 2, Transient), (400, 36003, MediaRejected),
])
def test_graph_error_bodies_map_to_typed_errors(graph, status, code, expected):
    token = graph.token_for(USER)
    graph.fail("create", status=status, code=code, message="The platform says no", subcode=2207026)
    with pytest.raises(expected) as caught:
        graph_http.graph_call("POST", f"{graph.url}/v23.0/{USER}/media", token=token, params={"caption": "x"})
    assert "The platform says no" in caught.value.message and f"code {code}" in caught.value.message
    assert token not in caught.value.message
    assert caught.value.retryable is issubclass(expected, Transient)


def test_no_answer_is_transient(settings):
    settings.PUBLISHING_HTTP_TIMEOUT = 0.5
    with pytest.raises(Transient, match="No answer"):
        graph_http.graph_call("GET", "http://127.0.0.1:9/v23.0/me", token="secret-token")


def test_signed_media_urls_expire(settings):
    settings.PUBLIC_BASE_URL = "https://studio.example.test"
    token = media_url(name="publishing/1/2/00-abc.jpg").rsplit("/", 1)[1]
    assert media_name_from_token(token) == "publishing/1/2/00-abc.jpg"
    settings.PUBLISHING_MEDIA_URL_MAX_AGE = -1
    assert media_name_from_token(token) is None
